"""Cortex-M4 under QEMU: instructions per 32-bit weight word for each layer kind.

Runs the mps2-an386 firmware under ``qemu-system-arm -icount shift=0`` (SysTick then counts
instructions, HARDWARE 3), deploys a BNN, an MLP and a WAGE network with one layer of each
kind and reads the per-layer instruction counts INFER returns. Per layer: instructions per
MAC and per 32 MACs (one 32-bit word of binary weights). Counts are the whole layer as the
firmware runs it: the weight read through the memory HAL, the kernel, pooling and the output
stage (a binary conv with binary output runs fused with its threshold, bit-sliced over the
output channels: ``fb_bin_conv_sliced``); an FC layer after a conv also pays the runner's
flatten to torch order (``gather_chw`` in src/model.c, 32x32 bit-block transposes). Target:
at most 10 per word for binary FC and conv 3x3 / 5x5.

Then ``make -C firmware count-m4`` counts the kernels alone (same image, SysTick around each
call) for the same shapes, so the kernel's share is visible.

Counts resolve one SysTick tick (40 instructions under ``-icount shift=0``), too coarse for a
layer of a few hundred instructions, so each layer is measured by a repeated STEP: the layer
runs ``r`` times back to back and the count of all ``r`` runs together, divided by ``r``, is
its count, to within 40 / r instructions (PROTOCOL.md, STEP). ``r`` is chosen per layer from a
first INFER so that this is at most ``--resolution`` (default 0.1%) of the layer's count. The
INFER's scores are checked against the reference interpreter.

    python benchmarks/qemu_instructions.py [--resolution 0.001] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.board import Board  # noqa: E402
from drivers.firmware_process import FIRMWARE_DIR, start_qemu  # noqa: E402
from models import reference  # noqa: E402
from models.blob import BIN, CONV, FC, INT32, INT8, MAXPOOL, W_BINARY, W_NONE, W_TERNARY  # noqa: E402
from tests.firmware_nets import build_net, random_inputs  # noqa: E402

TARGET_PER_WORD = 10.0
TICK = 40  # instructions per SysTick count under -icount shift=0 (25 MHz)
MAX_RUNS = 65535  # STEP's largest repeat
# (op, w_enc, out_type, out_c, kernel, stride, pad, pool_k, pool_stride, pool_ceil)
NETS = {
    "bnn": ((8, 16, 16), 127, [(CONV, W_BINARY, BIN, 32, 3, 1, 1, 0, 0, 0),
                               (CONV, W_BINARY, BIN, 64, 3, 1, 1, 0, 0, 0),
                               (CONV, W_BINARY, BIN, 64, 5, 1, 2, 2, 2, 0),
                               (MAXPOOL, W_NONE, BIN, 64, 0, 0, 0, 2, 2, 0),
                               (FC, W_BINARY, BIN, 256, 0, 0, 0, 0, 0, 0),
                               (FC, W_BINARY, INT32, 10, 0, 0, 0, 0, 0, 0)]),
    "mlp": ((64, 1, 1), 127, [(FC, W_BINARY, BIN, 512, 0, 0, 0, 0, 0, 0),
                              (FC, W_BINARY, BIN, 512, 0, 0, 0, 0, 0, 0),
                              (FC, W_BINARY, BIN, 1024, 0, 0, 0, 0, 0, 0),
                              (FC, W_BINARY, INT32, 10, 0, 0, 0, 0, 0, 0)]),
    "wage": ((4, 12, 12), 128, [(CONV, W_TERNARY, INT8, 16, 3, 1, 1, 0, 0, 0),
                                (CONV, W_TERNARY, INT8, 32, 3, 1, 1, 2, 2, 0),
                                (FC, W_TERNARY, INT32, 10, 0, 0, 0, 0, 0, 0)]),
}


def layer_kind(l) -> str:
    names = {CONV: "conv", FC: "fc", MAXPOOL: "maxpool"}
    ins = {BIN: "bin", INT8: "int8"}[l.in_type]
    w = {W_BINARY: "bin", W_TERNARY: "tern", W_NONE: "-"}[l.w_enc]
    k = f"{l.kernel[0]}x{l.kernel[1]} " if l.op == CONV else ""
    return f"{names[l.op]} {k}{ins}x{w}"


def layer_macs(l) -> int:
    if l.op == MAXPOOL:
        return 0
    hc, wc = l.conv_shape()
    return l.row_length * l.out_shape[0] * hc * wc


def measure(resolution: float) -> list[dict]:
    rows = []
    with start_qemu() as fw, Board(fw.url, timeout=20.0, wait_boot=10.0) as board:
        for name, (in_shape, levels, specs) in NETS.items():
            rng = np.random.default_rng(0)
            blob, words = build_net(in_shape, levels, specs, rng)
            board.deploy(blob.to_bytes(), words)
            x = random_inputs(blob, 1, rng)
            first = board.infer(x[0])
            assert np.array_equal(first.scores, reference.scores(blob, words, x)[0]), "firmware != reference"
            board.step_input(x[0])
            for i, layer in enumerate(blob.layers):
                runs = min(MAX_RUNS, max(1, math.ceil(TICK / (resolution * max(int(first.counts[i]), TICK)))))
                step = board.step(repeat=runs, timeout=60.0)
                macs, count = layer_macs(layer), step.total_count / runs
                rows.append({"net": name, "layer": i, "kind": layer_kind(layer), "macs": macs,
                             "instructions": count, "runs": runs, "within": TICK / runs,
                             "per_mac": count / macs if macs else None,
                             "per_word": 32 * count / macs if macs else None})
    return rows


def kernel_counts() -> list[dict]:
    """``make count-m4``: the binary kernels alone, instructions per 32-bit weight word."""
    r = subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR), "count-m4"], check=True, capture_output=True, text=True)
    out = r.stdout + r.stderr  # semihosting writes to QEMU's stderr
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            rows.append({"case": parts[0], "words": int(parts[1]), "instructions": float(parts[2]),
                         "per_word": float(parts[2]) / int(parts[1])})
    return rows


def is_target(r: dict) -> bool:
    """Binary x binary FC and conv 3x3 / 5x5 layers carry the 10-per-word target."""
    return r["per_word"] is not None and "binxbin" in r["kind"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=float, default=1e-3,
                    help="largest count error as a fraction of the layer's count (default 0.001)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    if not 0 < args.resolution <= 1:
        ap.error("--resolution must be in (0, 1]")
    rows = measure(args.resolution)
    console = Console(width=120)
    t = Table(title="mps2-an386 under QEMU -icount shift=0: instructions per layer run (repeated STEPs)")
    for col in ("net", "#", "kind", "MACs", "instructions", "runs", "within", "instr/MAC", "instr/word",
                f"<= {TARGET_PER_WORD:.0f}"):
        t.add_column(col, justify="right" if col not in ("net", "kind") else "left")
    for r in rows:
        pm = "-" if r["per_mac"] is None else f"{r['per_mac']:.3f}"
        pw = "-" if r["per_word"] is None else f"{r['per_word']:.2f}"
        ok = "-" if not is_target(r) else ("[green]yes[/]" if r["per_word"] <= TARGET_PER_WORD else "[red]no[/]")
        t.add_row(r["net"], str(r["layer"]), r["kind"], f"{r['macs']:,}", f"{r['instructions']:,.1f}", str(r["runs"]),
                  f"{r['within']:.1f}", pm, pw, ok)
    console.print(t)
    console.print(f"a layer's count: its STEP's count over all runs / runs, within {TICK} / runs instructions "
                  f"(one SysTick tick is {TICK} instructions under -icount shift=0)")
    kernels = kernel_counts()
    k = Table(title="the kernels alone (make -C firmware count-m4)")
    for col in ("case", "words (threshold: outputs)", "instructions per call", "per word (output)"):
        k.add_column(col, justify="left" if col == "case" else "right")
    for r in kernels:
        k.add_row(r["case"], f"{r['words']:,}", f"{r['instructions']:,.0f}", f"{r['per_word']:.2f}")
    console.print(k)
    missed = [f"{r['net']} #{r['layer']} {r['kind']} ({r['per_word']:.1f})" for r in rows
              if is_target(r) and r["per_word"] > TARGET_PER_WORD]
    console.print(f"target <= {TARGET_PER_WORD:.0f} instructions per word for binary FC and conv layers: "
                  + ("met" if not missed else "NOT met for " + ", ".join(missed)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"layers": rows, "kernels": kernels}, f, indent=1)


if __name__ == "__main__":
    main()
