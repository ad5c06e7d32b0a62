"""Sweep throughput: the same short trials on the local executor (sequential and a process
pool) and, when Ray is installed, on a local Ray instance, side by side in one run.

Each round runs the whole set of trials once on every executor (the order rotating between
rounds); the table gives, as median [min-max] over the rounds, trials per minute, the speed-up
over sequential within the round, and the per-trial overhead of each executor:
``(wall * workers - sum of the trials' own seconds) / trials``, i.e. the time a worker spends
on anything but running a trial (process start, imports, Ray scheduling and the tar round
trip of the run directory). Without Ray the local executors are measured alone. Ray's workers
import faultbench as installed, or from ``PYTHONPATH`` (set it to a checkout to measure that).

    python benchmarks/sweep_throughput.py [--trials 4] [--epochs 5] [--workers 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.sweep.executors import run_local, run_ray  # noqa: E402
from bench.sweep.spec import from_cli  # noqa: E402
from rounds import add_rounds_arg, interleaved, per_round, spread  # noqa: E402


def timed_sweep(run, trials, workers: int, overheads: list) -> None:
    """One sweep into a fresh folder; appends its per-trial overhead to ``overheads``."""
    out = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    try:
        start = time.perf_counter()
        records = run(trials, out)
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(out)
    failed = [r for r in records if r["status"] != "done"]
    if failed:
        raise SystemExit(f"{len(failed)} trials failed; {failed[0]['name']}: {failed[0]['error']}")
    overheads.append((wall * workers - sum(r["seconds"] for r in records)) / len(records))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4, help="trials per sweep (default 4)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs per trial (default 5)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    add_rounds_arg(ap, 5)
    args = ap.parse_args()
    spec = from_cli([f"epochs={args.epochs}", "width=0.25", "method=uniform", "eps=0.01"], [],
                    list(range(args.trials)), "train")
    trials = spec.trials()
    quiet = lambda record: None  # noqa: E731
    console = Console(width=120)
    executors = {"local, sequential": (lambda t, o: run_local(t, o, 1, 1, quiet), 1),
                 f"local, pool of {args.workers}": (lambda t, o: run_local(t, o, args.workers, 1, quiet), args.workers)}
    try:
        import ray
    except ImportError:
        ray = None
        console.print(escape('Ray is not installed (pip install "faultbench[ray]"): the local executors only'))
    if ray is not None:
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        executors[f"ray, {args.workers} CPUs"] = (lambda t, o: run_ray(t, o, None, 1, 0, quiet), args.workers)
    overheads = {name: [] for name in executors}
    try:
        with console.status(f"{args.rounds} rounds of {args.trials} trials per executor"):
            times = interleaved({name: (lambda run=run, w=w, name=name: timed_sweep(run, trials, w, overheads[name]))
                                 for name, (run, w) in executors.items()}, args.rounds)
    finally:
        if ray is not None:
            ray.shutdown()
    table = Table(title=escape(f"{args.trials} trials of `bench train` (mlp width 0.25, digits, {args.epochs} epochs), "
                               f"{os.cpu_count()} cores, {args.rounds} interleaved rounds: median [min-max]"))
    for col in ("executor", "trials/min", "speed-up", "overhead per trial (s)"):
        table.add_column(col, justify="left" if col == "executor" else "right")
    base = times["local, sequential"]
    for name, t in times.items():
        table.add_row(name, spread([60 * args.trials / s for s in t], ".1f"), spread(per_round(base, t), ".2f"),
                      spread(overheads[name], ".2f"))
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
