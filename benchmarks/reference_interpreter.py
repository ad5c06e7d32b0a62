"""Reference interpreter throughput: inputs per second of ``models.reference.scores`` (numpy,
integer semantics of the firmware) against the PyTorch forward pass of the same network,
measured side by side in one run, plus the export time. The two must agree bit for bit
(checked here too); the interpreter is what replays fault maps over corrupted words.

    OMP_NUM_THREADS=1 python benchmarks/reference_interpreter.py --arch cnn --width 1 --shape 1,28,28
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from models import reference
from models.architectures import build_model
from models.export import export_model, torch_scores


def rate(fn, n_inputs: int, repeats: int) -> float:
    """Best-of-``repeats`` inputs per second."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_inputs / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="cnn", help="architecture (default cnn)")
    p.add_argument("--width", type=float, default=0.5, help="width multiplier (default 0.5)")
    p.add_argument("--shape", default="1,28,28", help="input shape C,H,W (default 1,28,28)")
    p.add_argument("--inputs", type=int, default=256, help="batch of inputs (default 256)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    g = torch.Generator().manual_seed(args.seed)
    net = build_model(args.arch, shape, 10, width=args.width, generator=g).eval()
    x = torch.rand(args.inputs, *shape, generator=g) * 2 - 1

    t0 = time.perf_counter()
    ex = export_model(net, shape)
    export_s = time.perf_counter() - t0
    codes = reference.quantize_input(x.numpy(), ex.blob.input_levels)
    if not np.array_equal(reference.scores(ex.blob, ex.image, codes), torch_scores(net, x, torch.float32)):
        raise SystemExit("interpreter and PyTorch disagree: benchmark void")

    interp = rate(lambda: reference.scores(ex.blob, ex.image, codes), args.inputs, args.repeats)
    with torch.no_grad():
        fwd = rate(lambda: net(x), args.inputs, args.repeats)
    table = Table(title=f"{args.arch} width {args.width} on {shape}: {ex.blob.weight_words} weight words, "
                        f"{len(ex.blob.layers)} layers, {torch.get_num_threads()} thread(s)")
    for col in ("path", "inputs/s", "relative to PyTorch"):
        table.add_column(col, justify="left" if col == "path" else "right")
    table.add_row("PyTorch forward (float32)", f"{fwd:.0f}", "1.00")
    table.add_row("reference interpreter (numpy)", f"{interp:.0f}", f"{interp / fwd:.2f}")
    console = Console()
    console.print(table)
    console.print(f"export (fold + pack + blob): {1e3 * export_s:.1f} ms")


if __name__ == "__main__":
    main()
