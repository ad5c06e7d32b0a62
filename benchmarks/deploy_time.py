"""Deploy time of a model over the QEMU UART: weight image (LOAD chunks) plus blob
(MODEL_CHUNK + MODEL_COMMIT), in bytes per second against the host->guest link rate
measured in HARDWARE 3 (about 30 KiB/s), with the host build over loopback TCP side by side.

    python benchmarks/deploy_time.py [--weight-kib 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.board import Board  # noqa: E402
from drivers.firmware_process import start_host, start_qemu  # noqa: E402
from models.blob import BIN, FC, INT32, W_BINARY  # noqa: E402
from tests.firmware_nets import build_net, random_inputs  # noqa: E402

LINK_KIB_S = 30.0  # HARDWARE 3: host -> guest over the QEMU UART


def make_net(weight_kib: float, rng):
    hidden = max(16, int(weight_kib * 1024 * 8 / 784))  # 784 x hidden binary weights ~ weight_kib
    specs = [(FC, W_BINARY, BIN, hidden, 0, 0, 0, 0, 0, 0), (FC, W_BINARY, INT32, 10, 0, 0, 0, 0, 0, 0)]
    return build_net((784, 1, 1), 127, specs, rng)


def deploy(board: Board, blob: bytes, words: np.ndarray, x) -> dict:
    t0 = time.perf_counter()
    board.load(0, words)
    t1 = time.perf_counter()
    board.load_model(blob)
    t2 = time.perf_counter()
    board.infer(x)
    t3 = time.perf_counter()
    n_w, n_b = 4 * len(words), len(blob)
    return {"weight_bytes": n_w, "blob_bytes": n_b, "load_s": t1 - t0, "model_s": t2 - t1,
            "total_s": t2 - t0, "bytes_per_s": (n_w + n_b) / (t2 - t0), "infer_s": t3 - t2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weight-kib", type=float, default=100.0, help="size of the weight image (default 100 KiB)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    blob, words = make_net(args.weight_kib, rng)
    data, x = blob.to_bytes(), random_inputs(blob, 1, rng)[0]
    rows = {}
    with start_qemu() as fw, Board(fw.url, timeout=30.0, wait_boot=10.0) as b:
        rows["mps2-an386 (QEMU UART)"] = deploy(b, data, words, x)
    with start_host() as fw, Board(fw.url) as b:
        rows["host (loopback TCP)"] = deploy(b, data, words, x)
    t = Table(title=f"deploy of a {len(words) * 4 / 1024:.0f} KiB weight image + {len(data)} B blob")
    for col in ("board", "LOAD s", "blob s", "total s", "KiB/s", "vs 30 KiB/s link", "one INFER s"):
        t.add_column(col, justify="left" if col == "board" else "right")
    for name, r in rows.items():
        kib = r["bytes_per_s"] / 1024
        t.add_row(name, f"{r['load_s']:.2f}", f"{r['model_s']:.3f}", f"{r['total_s']:.2f}", f"{kib:.1f}",
                  f"{kib / LINK_KIB_S:.2f}x", f"{r['infer_s']:.4f}")
    Console(width=120).print(t)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
