"""Monte-Carlo evaluation throughput: fault draws evaluated per second, batched vs one-by-one.

Both paths evaluate the same network on the same test set with fresh BSC draws
[ALGORITHMS 5]: *one-by-one* runs one full test-set pass per draw (one mask per layer,
re-attached each time); *batched* stacks ``--draws-per-pass`` draws on a leading axis and
evaluates them in one pass (``models.evaluation.accuracies_with_masks``). The network is
untrained (throughput does not depend on the weights' values). Prints draws/s for each and
the speed-up, measured side by side in one run.

    OMP_NUM_THREADS=1 python benchmarks/mc_eval.py --arch mlp --width 0.25 --draws 64
"""

from __future__ import annotations

import argparse
import time

import torch

from models.architectures import build_model
from models.data import load_dataset
from models.evaluation import accuracies_with_masks, sample_masks
from models.faults import BinarySymmetric
from models.layers import stored_layers
from settings import add_model_args  # benchmarks/settings.py (the script's folder)


def one_by_one(net, x, y, rates, generator, draws: int) -> torch.Tensor:
    """``draws`` independent test-set passes, each with its own freshly drawn faults."""
    accs = []
    for _ in range(draws):
        masks = sample_masks(net, BinarySymmetric(), rates, generator, 1)
        accs.append(accuracies_with_masks(net, x, y, masks, 1))
    return torch.cat(accs)


def batched(net, x, y, rates, generator, draws: int, per_pass: int) -> torch.Tensor:
    accs = []
    for start in range(0, draws, per_pass):
        k = min(per_pass, draws - start)
        accs.append(accuracies_with_masks(net, x, y, sample_masks(net, BinarySymmetric(), rates, generator, k), k))
    return torch.cat(accs)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(p)
    p.add_argument("--limit-test", type=int, default=None, help="first N test examples (default: all)")
    p.add_argument("--eps", type=float, default=1e-2)
    p.add_argument("--draws", type=int, default=64, help="fault draws evaluated by each path")
    p.add_argument("--draws-per-pass", type=lambda t: [int(v) for v in t.split(",")], default=[4, 16, 64],
                   help="draws stacked per batched pass, comma-separated (default 4,16,64)")
    args = p.parse_args(argv)

    data = load_dataset(args.dataset, args.data_dir, seed=args.seed, limit_test=args.limit_test)
    net = build_model(args.arch, data.in_shape, data.n_classes, args.width, args.mode,
                      generator=torch.Generator().manual_seed(args.seed))
    net.eval()
    rates = {name: args.eps for name, _ in stored_layers(net)}
    x, y = data.test_x, data.test_y
    # warm-up both paths (allocator, kernels)
    one_by_one(net, x, y, rates, torch.Generator().manual_seed(1), 1)
    batched(net, x, y, rates, torch.Generator().manual_seed(1), 4, 4)

    single, t_single = timed(lambda: one_by_one(net, x, y, rates, torch.Generator().manual_seed(2), args.draws))
    rate_single = args.draws / t_single
    print(f"{args.arch} width {args.width} on {args.dataset} ({len(y)} test examples), eps {args.eps}, "
          f"{args.draws} draws per path, torch threads {torch.get_num_threads()}")
    print(f"one-by-one    : {rate_single:9.1f} draws/s  (mean acc {float(single.mean()):.4f})")
    for per_pass in args.draws_per_pass:
        multi, t_multi = timed(lambda: batched(net, x, y, rates, torch.Generator().manual_seed(3), args.draws, per_pass))
        rate_multi = args.draws / t_multi
        print(f"batched x{per_pass:<5}: {rate_multi:9.1f} draws/s  (mean acc {float(multi.mean()):.4f})  "
              f"speed-up {rate_multi / rate_single:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
