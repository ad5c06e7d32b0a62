"""Monte-Carlo draws per second in BNN mode: the packed native path against the float bound.

Paths, on the same network, test set and eps (BSC), timed interleaved: each round runs every
path once (order rotating between rounds) for ``--draws`` fault draws:

* ``packed``: :func:`models.packed_eval.packed_mc_accuracy` (export, flips XORed into the
  packed weight image, the firmware's host kernels through ctypes);
* ``torch``: :func:`models.evaluation.mc_accuracy`, the torch path it must equal;
* ``float bound``: plain torch, clean: ``nn.Linear`` / ``nn.Conv2d`` of the same shapes with
  the same BatchNorm, max-pool and an elementwise activation (Hardtanh), one forward pass of
  the test set per draw (no faults, no quantisers): what no float path can beat.

The network is untrained (throughput does not depend on the weights) with BatchNorm statistics
drawn at random (``tests.netzoo.randomize_batchnorm``): at the initial statistics every
first-layer pre-activation of 0 is a tie that the float32 torch forward decides by rounding
residue (``models.export.torch_scores`` explains), so its accuracies would not be the integer
network's. torch runs with ``--threads`` threads (default 1); the native kernels are
single-threaded.
Per round the packed rate is divided by the bound's rate from the same round; the table gives
the median and the min-max over rounds. Target: packed >= 2x the float bound.

    python benchmarks/packed_eval.py [--arch mlp] [--width 0.25 1] [--eps 0.01] [--rounds 5] [--draws 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.architectures import build_model  # noqa: E402
from models.data import load_dataset  # noqa: E402
from models.evaluation import mc_accuracy  # noqa: E402
from models.layers import stored_layers  # noqa: E402
from models.packed_eval import packed_mc_accuracy  # noqa: E402
from tests.netzoo import randomize_batchnorm  # noqa: E402
from float_bound import float_bound  # noqa: E402  (benchmarks/, the script's folder)

TARGET = 2.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="mlp", help="architecture (default mlp)")
    ap.add_argument("--width", type=float, nargs="+", default=[0.25, 1.0], help="width multipliers (default 0.25 1)")
    ap.add_argument("--dataset", default="digits", help="data set (default digits: bundled)")
    ap.add_argument("--eps", type=float, default=1e-2, help="bit-error rate of every layer (default 0.01)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--draws", type=int, default=32, help="fault draws per path and round (default 32)")
    ap.add_argument("--draws-per-pass", type=int, default=16, help="draws per batched pass of both MC paths (default 16)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.rounds < 1 or args.draws < 2:
        ap.error("--rounds >= 1 and --draws >= 2 needed")
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, seed=args.seed)
    x, y = data.test_x, data.test_y
    console = Console(width=120)
    table = Table(title=escape(f"{args.arch} BNN on {args.dataset} ({len(y)} test inputs), eps {args.eps}, "
                               f"{args.draws} draws x {args.rounds} rounds, torch threads {args.threads}: "
                               f"draws/s median [min-max]"))
    for col in ("width", "packed", "torch path", "float bound", "packed / bound", "packed / torch"):
        table.add_column(col, justify="right")
    verdicts = []
    for width in args.width:
        g = torch.Generator().manual_seed(args.seed)
        net = randomize_batchnorm(build_model(args.arch, data.in_shape, data.n_classes, width, "bnn", generator=g), g)
        rates = {name: args.eps for name, _ in stored_layers(net)}
        bound = float_bound(net)
        mc_args = {"target": 0.0, "min_reps": args.draws, "max_reps": args.draws, "draws_per_pass": args.draws_per_pass}

        def packed(seed, net=net, rates=rates):
            return packed_mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(seed), **mc_args)

        def torch_path(seed, net=net, rates=rates):
            return mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(seed), **mc_args)

        @torch.no_grad()
        def clean_float(seed, bound=bound):
            for _ in range(args.draws):
                bound(x)

        paths = {"packed": packed, "torch": torch_path, "bound": clean_float}
        for fn in paths.values():  # warm-up: library build and load, allocator, kernels
            fn(args.seed)
        rates_per_round = {name: [] for name in paths}
        differ = 0
        names = list(paths)
        for r in range(args.rounds):
            results = {}
            for name in names[r % len(names):] + names[:r % len(names)]:
                start = time.perf_counter()
                results[name] = paths[name](args.seed + 1 + r)
                rates_per_round[name].append(args.draws / (time.perf_counter() - start))
            differ += sum(a != b for a, b in zip(results["packed"].accuracies, results["torch"].accuracies))
        ratio_bound = [p / b for p, b in zip(rates_per_round["packed"], rates_per_round["bound"])]
        ratio_torch = [p / t for p, t in zip(rates_per_round["packed"], rates_per_round["torch"])]

        def cell(v, fmt="{:.1f}"):
            return f"{fmt.format(statistics.median(v))} [{fmt.format(min(v))}-{fmt.format(max(v))}]"

        ok = statistics.median(ratio_bound) >= TARGET
        table.add_row(f"{width:g}", cell(rates_per_round["packed"]), cell(rates_per_round["torch"]),
                      cell(rates_per_round["bound"]),
                      f"[{'green' if ok else 'red'}]{escape(cell(ratio_bound, '{:.2f}'))}[/]", escape(cell(ratio_torch, "{:.2f}")))
        verdicts.append((width, ok, statistics.median(ratio_bound), differ))
    console.print(table)
    for width, ok, ratio, differ in verdicts:
        same = "identical accuracies to the torch path on every draw" if not differ else \
            f"accuracies differ from the torch path on {differ} of {args.rounds * args.draws} draws"
        console.print(f"width {width:g}: {same}; packed / float bound {ratio:.2f}x: "
                      f"target >= {TARGET}x {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
