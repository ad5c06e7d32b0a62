"""Sweep throughput: the same short trials on the local executor (sequential and a process
pool) and on a local Ray instance, side by side in one run.

Prints trials per minute, the ratio to sequential, and the per-trial overhead of each
executor: ``(wall * workers - sum of the trials' own seconds) / trials``, i.e. the time a
worker spends on anything but running a trial (process start, imports, Ray scheduling and
the tar round trip of the run directory).

    python benchmarks/sweep_throughput.py [--trials 8] [--epochs 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.sweep.executors import run_local, run_ray
from bench.sweep.spec import from_cli


def measure(name: str, run, trials, workers: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"sweep-bench-{name}-"))
    start = time.perf_counter()
    records = run(trials, out)
    wall = time.perf_counter() - start
    shutil.rmtree(out)
    failed = [r["name"] for r in records if r["status"] != "done"]
    if failed:
        raise SystemExit(f"{name}: trials failed: {failed}")
    own = sum(r["seconds"] for r in records)
    return {"executor": name, "workers": workers, "wall_s": wall, "trials_per_min": 60 * len(records) / wall,
            "overhead_per_trial_s": (wall * workers - own) / len(records), "mean_trial_s": own / len(records)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    seeds = list(range(args.trials))
    spec = from_cli([f"epochs={args.epochs}", "width=0.25",
                     "method=uniform", "eps=0.01"], [], seeds, "train")
    trials = spec.trials()
    quiet = lambda record: None  # noqa: E731

    import ray

    results = [
        measure("local, sequential", lambda t, o: run_local(t, o, 1, 1, quiet), trials, 1),
        measure(f"local, pool of {args.workers}", lambda t, o: run_local(t, o, args.workers, 1, quiet), trials,
                args.workers),
    ]
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    try:
        results.append(measure(f"ray, {args.workers} CPUs", lambda t, o: run_ray(t, o, None, 1, 0, quiet), trials,
                               args.workers))
    finally:
        ray.shutdown()

    base = results[0]["wall_s"]
    print(f"{args.trials} trials of `bench train` (mlp width 0.25, digits, {args.epochs} epochs), "
          f"{os.cpu_count()} cores")
    print(f"{'executor':<24}{'wall s':>9}{'trials/min':>12}{'speed-up':>10}{'overhead/trial s':>18}")
    for r in results:
        print(f"{r['executor']:<24}{r['wall_s']:>9.1f}{r['trials_per_min']:>12.1f}{base / r['wall_s']:>10.2f}"
              f"{r['overhead_per_trial_s']:>18.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
