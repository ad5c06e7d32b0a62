"""Training overhead of noise injection: time per epoch of reliable, uniform and LaNMax.

The three methods train the same architecture on the same data with the same seed; epochs
are interleaved (reliable, uniform, lanmax, reliable, ...) so a busy shared machine slows
all three alike, and the median epoch time of each is compared. Timed: the training pass
and the method's end-of-epoch work (LaNMax: OLS and the SGDO step), not the evaluation.
Targets: lanmax <= 1.10x reliable (seed 1: "negligible overhead"), uniform
<= 1.10x reliable.

    OMP_NUM_THREADS=1 python benchmarks/train_overhead.py --arch mlp --width 0.25 --epochs 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from models.training import TrainConfig, build_session, train_epoch
from settings import add_model_args  # benchmarks/settings.py (the script's folder)

METHODS = {"reliable": {}, "uniform": {"eps": 1e-2}, "lanmax": {"t_stop": 1000}}
TARGET = 1.10


def epoch_seconds(session) -> float:
    start = time.perf_counter()
    train_epoch(session)
    session.method.end_epoch(session.epoch)
    session.epoch += 1
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(p)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per method (after one warm-up epoch)")
    p.add_argument("--limit-train", type=int)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    sessions = {}
    for name, options in METHODS.items():
        cfg = TrainConfig(arch=args.arch, width=args.width, mode=args.mode, dataset=args.dataset,
                          data_dir=args.data_dir, method=name, method_options=options,
                          epochs=args.epochs + 1, batch_size=args.batch_size, seed=args.seed,
                          limit_train=args.limit_train, device=args.device).resolved()
        sessions[name] = build_session(cfg)
    times = {name: [] for name in METHODS}
    for epoch in range(args.epochs + 1):
        for name, session in sessions.items():
            seconds = epoch_seconds(session)
            if epoch > 0:  # epoch 0 warms up allocator and kernels
                times[name].append(seconds)
    s = sessions["reliable"]
    print(f"{args.arch} width {args.width} ({args.mode}) on {args.dataset}: {len(s.data.train_y)} examples, "
          f"batch {args.batch_size}, {len(METHODS)} x {args.epochs} timed epochs interleaved, "
          f"torch threads {torch.get_num_threads()}, device {args.device}")
    base = statistics.median(times["reliable"])
    failed = False
    for name in METHODS:
        med = statistics.median(times[name])
        ratio = med / base
        verdict = "" if name == "reliable" else ("PASS" if ratio <= TARGET else "FAIL") + f" (target <= {TARGET:.2f}x)"
        failed |= verdict.startswith("FAIL")
        print(f"{name:9s} median {1000 * med:8.1f} ms/epoch  (min {1000 * min(times[name]):7.1f})  "
              f"{ratio:5.2f}x reliable  {verdict}")
    lanmax_vs_uniform = statistics.median(times["lanmax"]) / statistics.median(times["uniform"])
    print(f"lanmax / uniform: {lanmax_vs_uniform:.2f}x (LaNMax's own work: perturbations, loss log, OLS, SGDO; "
          f"the rest is fault injection, O(weights) per batch, so its share falls as the batch grows)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
