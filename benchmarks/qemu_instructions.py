"""Cortex-M4 under QEMU: instructions per binary MAC for each layer kind.

Runs the mps2-an386 firmware under ``qemu-system-arm -icount shift=0`` (SysTick then counts
instructions, HARDWARE 3), deploys a BNN and a WAGE network with one layer of each kind and
reads the per-layer instruction counts INFER returns. Per layer: instructions per MAC and per
32 MACs (one 32-bit word of binary weights), against the ideal of about 7 instructions per
word of a Harley-Seal popcount (HARDWARE 4). Counts include the layer's weight read through
the memory HAL, im2col and the output stage.

    python benchmarks/qemu_instructions.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.board import Board  # noqa: E402
from drivers.firmware_process import start_qemu  # noqa: E402
from models import reference  # noqa: E402
from models.blob import BIN, CONV, FC, INT32, INT8, MAXPOOL, W_BINARY, W_NONE, W_TERNARY  # noqa: E402
from tests.firmware_nets import build_net, random_inputs  # noqa: E402

IDEAL_PER_WORD = 7.0
# (op, w_enc, out_type, out_c, kernel, stride, pad, pool_k, pool_stride, pool_ceil)
NETS = {
    "bnn": ((8, 16, 16), 127, [(CONV, W_BINARY, BIN, 32, 3, 1, 1, 0, 0, 0),
                               (CONV, W_BINARY, BIN, 64, 3, 1, 1, 0, 0, 0),
                               (CONV, W_BINARY, BIN, 64, 5, 1, 2, 2, 2, 0),
                               (MAXPOOL, W_NONE, BIN, 64, 0, 0, 0, 2, 2, 0),
                               (FC, W_BINARY, BIN, 256, 0, 0, 0, 0, 0, 0),
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


def measure() -> list[dict]:
    rows = []
    with start_qemu() as fw, Board(fw.url, timeout=20.0, wait_boot=10.0) as board:
        for name, (in_shape, levels, specs) in NETS.items():
            rng = np.random.default_rng(0)
            blob, words = build_net(in_shape, levels, specs, rng)
            board.deploy(blob.to_bytes(), words)
            x = random_inputs(blob, 1, rng)
            res = board.infer(x[0])
            assert np.array_equal(res.scores, reference.scores(blob, words, x)[0]), "firmware != reference"
            for i, (layer, count) in enumerate(zip(blob.layers, res.counts)):
                macs = layer_macs(layer)
                rows.append({"net": name, "layer": i, "kind": layer_kind(layer), "macs": macs,
                             "instructions": int(count), "per_mac": count / macs if macs else None,
                             "per_word": 32 * count / macs if macs else None})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    rows = measure()
    t = Table(title="mps2-an386 under QEMU -icount shift=0: instructions per layer")
    for col in ("net", "#", "kind", "MACs", "instructions", "instr/MAC", "instr/32 MACs", "vs ideal 7"):
        t.add_column(col, justify="right" if col not in ("net", "kind") else "left")
    for r in rows:
        pm = "-" if r["per_mac"] is None else f"{r['per_mac']:.3f}"
        pw = "-" if r["per_word"] is None else f"{r['per_word']:.1f}"
        ratio = "-" if r["per_word"] is None else f"{r['per_word'] / IDEAL_PER_WORD:.1f}x"
        t.add_row(r["net"], str(r["layer"]), r["kind"], f"{r['macs']:,}", f"{r['instructions']:,}", pm, pw, ratio)
    console = Console(width=120)
    console.print(t)
    console.print("counts resolve 40 instructions (one SysTick tick at 25 MHz under -icount shift=0)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
