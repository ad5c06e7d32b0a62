"""Monte-Carlo evaluation: draws per second and peak memory of the in-place path against
stacking draws and against looping with an attached injector.

Every path evaluates the same untrained network (throughput does not depend on the weights'
values) on the same test set with fresh BSC draws [ALGORITHMS 5], one draw kept for the whole
test set:

* ``in place``: ``models.evaluation.mc_accuracy`` (sparse draws, ``--draws-per-pass`` sampled
  per call, each applied to the cached clean weights in place and undone);
* ``stacked xK``: the same draws as dense masks, ``K`` weight copies stacked on a leading
  axis and evaluated in one pass per input chunk (``FaultInjector(FixedMasks, draws=K)``,
  ``correct_counts(draws=K)``): batching the draws;
* ``injector loop``: a ``FaultInjector(BinarySymmetric)`` attached and the test set run once
  per draw (one read per forward pass; the test set is one chunk).

Timed in interleaved rounds (every path once per round, order rotating), ``--draws`` draws
per path and round (process CPU time by default, ``--clock wall``); the table gives
draws/s median [min-max] over the rounds and the ratio to ``in place`` within each round.
Then the peak resident memory of one pass of ``--draws-per-pass`` draws at
``--memory-width`` (default 2; target below 1 GB for the in-place path), each path in a
fresh process (``ru_maxrss``), beside the process's resident memory just before the pass.

    python benchmarks/mc_eval.py [--width 0.25] [--draws-per-pass 16] [--rounds 5] [--memory-width 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch: no idle pool threads spinning

import argparse
import multiprocessing
import resource
import statistics
import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.architectures import build_model  # noqa: E402
from models.data import load_dataset  # noqa: E402
from models.evaluation import correct_counts, faults_attached, mc_accuracy, sample_masks  # noqa: E402
from models.faults import BinarySymmetric, FaultInjector, FixedMasks  # noqa: E402
from models.layers import stored_layers  # noqa: E402
from rounds import CLOCKS, add_clock_arg, add_rounds_arg, interleaved, per_round, spread  # noqa: E402
from settings import add_model_args  # noqa: E402  (benchmarks/settings.py)

MEMORY_TARGET_GB = 1.0


def in_place(net, x, y, rates, generator, draws, per_pass):
    return mc_accuracy(net, x, y, rates, generator, target=0.0, min_reps=draws, max_reps=draws,
                       draws_per_pass=per_pass).accuracies


def stacked(net, x, y, rates, generator, draws, per_pass):
    accs = []
    for start in range(0, draws, per_pass):
        k = min(per_pass, draws - start)
        masks = sample_masks(net, BinarySymmetric(), rates, generator, k)
        with faults_attached(net, FaultInjector(FixedMasks(masks), generator, draws=k)):
            accs += (correct_counts(net, x, y, k).double() / len(y)).tolist()
    return accs


def injector_loop(net, x, y, rates, generator, draws, per_pass):
    with faults_attached(net, FaultInjector(BinarySymmetric(), generator, rates=rates)):
        return [float(correct_counts(net, x, y)[0]) / len(y) for _ in range(draws)]


PATHS = {"in place": in_place, "stacked": stacked, "injector loop": injector_loop}


def setup(args, width):
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.data_dir, seed=args.seed, limit_test=args.limit_test)
    net = build_model(args.arch, data.in_shape, data.n_classes, width, args.mode,
                      generator=torch.Generator().manual_seed(args.seed)).eval()
    return net, data.test_x, data.test_y, {name: args.eps for name, _ in stored_layers(net)}


def peak_memory(args, path: str, queue) -> None:
    """In a fresh process: resident memory before one pass of ``path`` and its peak (bytes)."""
    net, x, y, rates = setup(args, args.memory_width)
    with torch.no_grad():
        net(x[:2])  # the clean weights cached, as after any evaluation
    before = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()
    PATHS[path](net, x, y, rates, torch.Generator().manual_seed(args.seed), args.draws_per_pass, args.draws_per_pass)
    queue.put((before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(p, mode="binaryconnect")
    p.add_argument("--limit-test", type=int, default=None, help="first N test examples (default: all)")
    p.add_argument("--eps", type=float, default=1e-2)
    p.add_argument("--draws", type=int, default=32, help="fault draws per path and round (default 32)")
    p.add_argument("--draws-per-pass", type=int, default=16, help="draws sampled (in place) or stacked per pass (default 16)")
    add_rounds_arg(p, 5)
    p.add_argument("--memory-width", type=float, default=2.0, help="width of the peak-memory check (default 2; 0: skip)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    add_clock_arg(p)
    args = p.parse_args()
    console = Console(width=120)
    net, x, y, rates = setup(args, args.width)
    k = args.draws_per_pass
    gens = {name: torch.Generator().manual_seed(args.seed + i) for i, name in enumerate(PATHS)}
    paths = {name: (lambda f=f, name=name: f(net, x, y, rates, gens[name], args.draws, k)) for name, f in PATHS.items()}
    with console.status(f"{args.rounds} interleaved rounds of {args.draws} draws per path"):
        for fn in paths.values():  # warm-up: allocator, kernels, the clean-weight cache, scipy
            fn()
        times = interleaved(paths, args.rounds, clock=CLOCKS[args.clock])
    table = Table(title=escape(f"{args.arch} width {args.width:g} ({args.mode}) on {args.dataset}, {len(y)} test inputs, "
                               f"eps {args.eps}, {args.draws} draws x {args.rounds} rounds, torch threads "
                               f"{args.threads}, {args.clock} time: median [min-max]"))
    for col in ("path", "draws/s", "x in place"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for name, t in times.items():
        label = f"stacked x{k}" if name == "stacked" else name
        table.add_row(label, spread([args.draws / s for s in t], ".1f"), spread(per_round(times["in place"], t), ".2f"))
    console.print(table)
    gain = statistics.median(per_round(times["stacked"], times["in place"]))
    console.print(f"in place / stacked x{k}: {gain:.2f}x the draws/s: " +
                  ("batching the draws does not pay here" if gain >= 1 else "stacking pays here: the in-place path loses"))
    if not args.memory_width:
        return 0
    mem = Table(title=escape(f"peak resident memory, one pass of {k} draws, {args.arch} width {args.memory_width:g} "
                             "(a fresh process per path)"))
    for col in ("path", "before the pass (MB)", "peak (MB)", "peak - before (MB)"):
        mem.add_column(col, justify="left" if col == "path" else "right")
    ok = True
    ctx = multiprocessing.get_context("spawn")
    for name in PATHS:
        queue = ctx.Queue()
        with console.status(f"peak memory: {name}"):
            proc = ctx.Process(target=peak_memory, args=(args, name, queue))
            proc.start()
            before, peak = queue.get()
            proc.join()
        mem.add_row(f"stacked x{k}" if name == "stacked" else name, f"{before / 1e6:.0f}", f"{peak / 1e6:.0f}",
                    f"{(peak - before) / 1e6:.0f}")
        if name == "in place":
            ok = peak < MEMORY_TARGET_GB * 1e9
    console.print(mem)
    console.print(f"{'PASS' if ok else 'FAIL'}  in-place peak below {MEMORY_TARGET_GB:g} GB")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
