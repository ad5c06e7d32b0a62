"""Training overhead of noise injection: time per epoch of reliable, uniform and LaNMax.

At each width the three methods train the same architecture on the same data with the same
seed; epochs are interleaved (one epoch of each method per round, the order rotating between
rounds) so a busy shared machine slows all three alike. Timed: the training pass and the
method's end-of-epoch work (LaNMax: OLS and the SGDO step), not the evaluation. Per round the
epoch of uniform and of LaNMax is divided by the reliable epoch of the same round; the table
gives median [min-max] over the rounds (process CPU time by default, ``--clock wall``), and
the share of each epoch spent in the fault injector's reads and the method's own hooks,
timed inside the epoch (what the ratio would be without the machine's noise).
Targets: lanmax <= 1.10x reliable (seed 1: "negligible overhead"), uniform <= 1.10x
reliable, at every width. glibc's malloc is tuned as ``bench`` tunes it (``drivers/allocator.py``;
``--malloc default`` keeps glibc's own thresholds, whose drift between two modes moves single
epochs of any method by 10-35% at width 1).

    OMP_NUM_THREADS=1 python benchmarks/train_overhead.py [--width 0.25 0.5 1 2] [--epochs 5]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch: no idle pool threads spinning

import argparse
import statistics
import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.allocator import tune_malloc  # noqa: E402
from models.training import TrainConfig, build_session, train_epoch  # noqa: E402
from rounds import CLOCKS, add_clock_arg, add_rounds_arg, interleaved, per_round, spread, verdicts  # noqa: E402

METHODS = {"reliable": {}, "uniform": {"eps": 1e-2}, "lanmax": {"t_stop": 1000}}
TARGET = 1.10


def timed(fn, spent: dict, clock):
    """``fn`` that adds its own time to ``spent["s"]``."""
    def call(*args, **kwargs):
        t0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            spent["s"] += clock() - t0
    return call


def epoch(session, spent: dict, shares: list, clock) -> None:
    """One timed epoch; appends the share of it spent in the injector and the method's hooks."""
    spent["s"] = 0.0
    t0 = clock()
    train_epoch(session)
    session.method.end_epoch(session.epoch)
    shares.append(spent["s"] / (clock() - t0))
    session.epoch += 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="mlp", help="architecture (default mlp)")
    p.add_argument("--width", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0], help="widths (default 0.25 0.5 1 2)")
    p.add_argument("--mode", default="bnn", help="bnn or binaryconnect (default bnn)")
    p.add_argument("--dataset", default="digits", help="data set (default digits: bundled, no download)")
    p.add_argument("--data-dir", help="folder of mnist/fashion-mnist/cifar10 files (with --dataset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    add_rounds_arg(p, 5, flag="--epochs", what="timed epochs per method, after one warm-up")
    p.add_argument("--limit-train", type=int)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                   help="glibc malloc thresholds: as bench sets them (default) or glibc's own")
    add_clock_arg(p)
    args = p.parse_args()
    malloc = "tuned" if args.malloc == "tuned" and tune_malloc() else "default"
    torch.set_num_threads(args.threads)
    console = Console(width=120)
    table = Table(title=escape(f"{args.arch} ({args.mode}) on {args.dataset}, batch {args.batch_size}, {args.epochs} "
                               f"interleaved epochs per method after a warm-up, torch threads {args.threads}, "
                               f"{args.clock} time, malloc {malloc}: median [min-max]"))
    for col in ("width", "method", "ms/epoch", "x reliable", "in faults + method"):
        table.add_column(col, justify="left" if col == "method" else "right")
    results = []
    for width in args.width:
        sessions = {}
        for name, options in METHODS.items():
            cfg = TrainConfig(arch=args.arch, width=width, mode=args.mode, dataset=args.dataset,
                              data_dir=args.data_dir, method=name, method_options=options,
                              epochs=args.epochs + 1, batch_size=args.batch_size, seed=args.seed,
                              limit_train=args.limit_train, device=args.device).resolved()
            sessions[name] = build_session(cfg)
        clock = CLOCKS[args.clock]
        spent, shares = {name: {"s": 0.0} for name in sessions}, {name: [] for name in sessions}
        for name, s in sessions.items():  # the injector's reads and the method's own work, timed inside
            s.injector.corrupt = timed(s.injector.corrupt, spent[name], clock)
            for hook in ("before_batch", "after_batch", "end_epoch"):
                setattr(s.method, hook, timed(getattr(s.method, hook), spent[name], clock))
        paths = {name: (lambda s=s, name=name: epoch(s, spent[name], shares[name], clock)) for name, s in sessions.items()}
        with console.status(f"width {width:g}: warm-up and {args.epochs} rounds"):
            for fn in paths.values():  # epoch 0 warms up allocator and kernels
                fn()
            times = interleaved(paths, args.epochs, clock=clock)
        shares = {name: v[1:] for name, v in shares.items()}  # the timed epochs
        ratios = {name: per_round(times[name], times["reliable"]) for name in ("uniform", "lanmax")}
        for name in METHODS:
            table.add_row(f"{width:g}", name, spread(times[name], ".0f", 1e3),
                          spread(ratios[name], ".2f") if name in ratios else "1.00", spread(shares[name], ".1%"))
        table.add_section()
        for name, r in ratios.items():
            med = statistics.median(r)
            results.append((f"width {width:g}: {name} {med:.2f}x reliable (target <= {TARGET:.2f}x)", med <= TARGET))
    console.print(table)
    return verdicts(console, results)


if __name__ == "__main__":
    raise SystemExit(main())
