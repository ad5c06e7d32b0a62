"""Cost of a fault draw: profile-driven and replay fault models side by side with the BSC.

Times ``flip_mask`` for one layer (default 1024 x 1024 binary weights) with ``--draws``
stacked draws (Monte-Carlo evaluation calls this once per layer and pass), in interleaved
rounds: per round each model is called for about ``--block-s`` seconds (the fast sparse BSC
many times), the models' calls taking turns one by one so that each sees the same load;
process CPU time by default (``--clock wall``). Each model's time is divided by the BSC's of
the same round; the table gives median [min-max] over the rounds.

    OMP_NUM_THREADS=1 python benchmarks/fault_models.py [--rows 1024] [--cols 1024] [--draws 16] [--rounds 7]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch: no idle pool threads spinning

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.faultmap import FaultMap, write_faultmap  # noqa: E402
from drivers.memory_layout import memory_map  # noqa: E402
from models.faults import BinarySymmetric, FaultSite  # noqa: E402
from models.profile.faults import ProfileFaultModel  # noqa: E402
from models.profile.points import OperatingPoint  # noqa: E402
from models.replay import ReplayFaults  # noqa: E402
from rounds import CLOCKS, add_clock_arg, add_rounds_arg, calls_for, interleaved, per_round, spread  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--cols", type=int, default=1024)
    ap.add_argument("--draws", type=int, default=16)
    add_rounds_arg(ap, 7)
    ap.add_argument("--block-s", type=float, default=0.5, help="calls per model and round: about this many seconds (default 0.5)")
    ap.add_argument("--eps", type=float, default=0.01)
    add_clock_arg(ap)
    args = ap.parse_args()
    clock = CLOCKS[args.clock]
    torch.set_num_threads(1)
    shape = (args.rows, args.cols)
    site = FaultSite("layer", 0, memory_map([("layer", shape, "binary")])[0])
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 2, shape, generator=gen).to(torch.uint8)
    op = OperatingPoint("op", 1.4 * args.eps, 0.6 * args.eps, 0.9, 1e-15)
    rng = np.random.default_rng(0)
    n_words = site.region.end_word
    written = rng.integers(0, 2**32, n_words, dtype=np.uint32)
    reads = [written ^ np.packbits(rng.random((n_words, 32)) < args.eps, axis=1, bitorder="little").view("<u4").ravel()
             for _ in range(args.draws)]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_faultmap(Path(tmp) / "m.npz", FaultMap.from_reads(written, reads, chip_id="bench", pattern="random",
                                                                      operating_point={"name": "op"}))
        models = {"bsc": BinarySymmetric(args.eps), "profile (persistent 90%)": ProfileFaultModel([op], 1, "op"),
                  f"replay ({args.draws} reads)": ReplayFaults.from_files([path])}
        paths = {name: (lambda m=m: m.flip_mask(site, codes, args.eps, gen, args.draws)) for name, m in models.items()}
        calls = {name: calls_for(fn, args.block_s, clock) for name, fn in paths.items()}  # warms the caches up
        times = interleaved(paths, args.rounds, calls, alternate=True, clock=clock)
    table = Table(title=escape(f"flip_mask, {shape[0]}x{shape[1]} binary weights, {args.draws} draws, eps {args.eps}, "
                               f"{args.rounds} interleaved rounds, 1 thread, {args.clock} time: median [min-max]"))
    for col in ("fault model", "time (ms)", "x BSC"):
        table.add_column(col, justify="right" if col != "fault model" else "left")
    for name, t in times.items():
        table.add_row(name, spread(t, ".1f", 1e3), spread(per_round(t, times["bsc"]), ".2f"))
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
