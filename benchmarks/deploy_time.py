"""Deploy time of a model against the host->guest link rate measured in the same run.

A deploy is the weight image (LOAD chunks) plus the blob (MODEL_CHUNK + MODEL_COMMIT), as
``Board.deploy`` sends it: LOADs pipelined (up to ``Board.load_window`` in flight), and, side
by side, one LOAD at a time (``window=1``: each waits for its reply). The link rate is
measured on the same connection: as many bytes as the deploy carries, as one oversized
frame that the firmware drops as it reads it and answers once (OVERSIZE), when all were
read. Every round runs the three measurements (order rotating); the table gives median
[min-max] over the rounds and the per-round ratio of each deploy's rate (weights + blob bytes
per second) to the link rate. Target: the pipelined QEMU deploy at least 0.8x the link rate.

    python benchmarks/deploy_time.py [--weight-kib 100] [--rounds 5] [--targets mps2-an386 host] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.board import ERROR_FIELDS, ERRORS, MSG_ERROR, Board  # noqa: E402
from drivers.framing import FrameError  # noqa: E402
from drivers.firmware_process import start_host, start_qemu  # noqa: E402
from models.blob import BIN, FC, INT32, W_BINARY  # noqa: E402
from rounds import add_rounds_arg, interleaved, per_round, spread, verdicts  # noqa: E402
from tests.firmware_nets import build_net  # noqa: E402

TARGET = 0.8
WRITE_CHUNK = 4096  # bytes per socket write of the link-rate filler
OVERSIZE = next(code for code, name in ERRORS.items() if name == "OVERSIZE")


def make_net(weight_kib: float, rng):
    hidden = max(16, int(weight_kib * 1024 * 8 / 784))  # 784 x hidden binary weights ~ weight_kib
    specs = [(FC, W_BINARY, BIN, hidden, 0, 0, 0, 0, 0, 0), (FC, W_BINARY, INT32, 10, 0, 0, 0, 0, 0, 0)]
    return build_net((784, 1, 1), 127, specs, rng)


def link_seconds(board: Board, n_bytes: int) -> float:
    """Seconds for the firmware to read ``n_bytes``: one frame of ``n_bytes - 1`` non-zero
    bytes and its delimiter, which the firmware drops as they arrive and answers with one
    OVERSIZE error (PROTOCOL.md "Framing" step 2): the link's rate with the least work per byte."""
    filler = b"\x01" * (n_bytes - 1) + b"\x00"
    last = (n_bytes - 1) // WRITE_CHUNK * WRITE_CHUNK  # the chunk with the delimiter
    t0 = time.perf_counter()
    for i in range(0, last, WRITE_CHUNK):
        board.exchange_raw(filler[i:i + WRITE_CHUNK], wait=0)
    frames = board.exchange_raw(filler[last:], wait=board.timeout)
    seconds = time.perf_counter() - t0
    if len(frames) != 1 or isinstance(frames[0], FrameError) or frames[0][0] != MSG_ERROR or \
            ERROR_FIELDS.unpack_from(frames[0], 3)[0] != OVERSIZE:
        raise SystemExit(f"link rate: expected the OVERSIZE reply to {n_bytes} filler bytes, got {frames}")
    return seconds


def measure(board: Board, blob: bytes, words: np.ndarray, rounds: int) -> dict:
    payload = 4 * len(words) + len(blob)
    paths = {"link": lambda: link_seconds(board, payload),
             "pipelined": lambda: board.deploy(blob, words),
             "one at a time": lambda: (board.load(0, words, window=1), board.load_model(blob))}
    for fn in paths.values():  # warm-up: connection, the firmware's first writes
        fn()
    times = interleaved(paths, rounds)
    np.testing.assert_array_equal(board.read(0, len(words)), words)  # the deploys wrote the image
    return {"payload_bytes": payload, "window": board.load_window, "seconds": times,
            "ratio": {name: per_round(times["link"], times[name]) for name in ("pipelined", "one at a time")}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weight-kib", type=float, default=100.0, help="size of the weight image (default 100 KiB)")
    add_rounds_arg(ap, 5)
    ap.add_argument("--targets", nargs="+", default=["mps2-an386", "host"],
                    help="firmware targets: host (loopback TCP) or a QEMU target (default mps2-an386 host)")
    ap.add_argument("--json", help="also write the measurements as JSON here")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    blob, words = make_net(args.weight_kib, rng)
    data = blob.to_bytes()
    console = Console(width=120)
    rows = {}
    for target in args.targets:
        with console.status(f"{target}: {args.rounds} rounds"):
            if target == "host":
                with start_host() as fw, Board(fw.url) as b:
                    rows[target] = measure(b, data, words, args.rounds)
            else:
                with start_qemu(target) as fw, Board(fw.url, timeout=30.0, wait_boot=10.0) as b:
                    rows[target] = measure(b, data, words, args.rounds)
    t = Table(title=escape(f"deploy of a {len(words) * 4 / 1024:.0f} KiB weight image + {len(data)} B blob, "
                           f"{args.rounds} interleaved rounds: median [min-max]"))
    for col in ("target", "link KiB/s", "deploy", "s", "KiB/s", "x link"):
        t.add_column(col, justify="left" if col in ("target", "deploy") else "right")
    results = []
    for target, r in rows.items():
        kib = r["payload_bytes"] / 1024
        t.add_row(target, spread([kib / s for s in r["seconds"]["link"]], ".1f"), "", "", "", "")
        for name in ("pipelined", "one at a time"):
            label = f"{name} (window {r['window'] if name == 'pipelined' else 1})"
            t.add_row("", "", label, spread(r["seconds"][name], ".2f"), spread([kib / s for s in r["seconds"][name]], ".1f"),
                      spread(r["ratio"][name], ".2f"))
        if target != "host":
            ratio = statistics.median(r["ratio"]["pipelined"])
            results.append((f"{target}: pipelined deploy {ratio:.2f}x the link rate (target >= {TARGET})",
                            ratio >= TARGET))
    console.print(t)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return verdicts(console, results)


if __name__ == "__main__":
    raise SystemExit(main())
