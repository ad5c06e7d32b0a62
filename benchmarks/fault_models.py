"""Cost of a fault draw: profile-driven and replay fault models side by side with the BSC.

Times ``flip_mask`` for one layer (default 1024 x 1024 binary weights) with ``--draws``
stacked draws, best of ``--repeat`` runs, and prints each model's time and its ratio to the
BSC measured in the same run (Monte-Carlo evaluation calls this once per layer and pass).

    OMP_NUM_THREADS=1 python benchmarks/fault_models.py [--rows 1024] [--cols 1024] [--draws 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.faultmap import FaultMap, write_faultmap  # noqa: E402
from drivers.memory_layout import memory_map  # noqa: E402
from models.faults import BinarySymmetric, FaultSite  # noqa: E402
from models.profile.faults import ProfileFaultModel  # noqa: E402
from models.profile.points import OperatingPoint  # noqa: E402
from models.replay import ReplayFaults  # noqa: E402


def best_time(fn, repeat: int) -> float:
    fn()  # warm-up (caches: cell draws, replay planes)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--cols", type=int, default=1024)
    ap.add_argument("--draws", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--eps", type=float, default=0.01)
    args = ap.parse_args()
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
        times = {name: best_time(lambda m=m: m.flip_mask(site, codes, args.eps, gen, args.draws), args.repeat)
                 for name, m in models.items()}
    table = Table(title=f"flip_mask, {shape[0]}x{shape[1]} binary weights, {args.draws} draws, best of {args.repeat}")
    for col in ("fault model", "time (ms)", "x BSC"):
        table.add_column(col, justify="right" if col != "fault model" else "left")
    for name, t in times.items():
        table.add_row(name, f"{1e3 * t:.1f}", f"{t / times['bsc']:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
