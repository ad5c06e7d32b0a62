"""Fault injection against its peers: faultbench, MRFI and PyTorchFI on the same network.

The network is an mlp on digits in BinaryConnect mode (binary weights, ReLU), untrained
(throughput does not depend on the weights' values). Every contender runs it with ``--threads``
torch threads (default 1), at the same bit-error rate ``--eps``:

* ``torch clean``: plain torch with the same shapes, no faults (``float_bound.float_bound``):
  the float bound;
* ``faultbench clean`` / ``faultbench BSC``: the network itself, without faults and with a
  ``FaultInjector(BinarySymmetric)`` attached (every stored bit flips with probability eps,
  fresh at every forward);
* ``mrfi`` (MRFI 2.1): the float twin wrapped by ``mrfi.MRFI`` with a weight fault injector on
  every ``nn.Linear``: ``RandomPositionByRate(rate=eps, poisson=True)`` selecting weights and
  ``FloatFixedBitFlip(bit=31)`` flipping the float32 sign bit of each, fresh at every forward;
* ``pytorchfi`` (0.6): the float twin; per forward, every weight is chosen with probability
  eps (``torch.rand < eps``, not timed as PyTorchFI's) and ``declare_weight_fi`` builds the
  corrupted copy with a function that negates each chosen weight.

The weights are +-1 in float32, so a sign-bit flip is exactly a binary weight read wrong: every
contender flips about eps times the weight count per forward (the table's last column counts
one forward's flips). Two measures, each timed in interleaved rounds (every contender once per
round, order rotating; short calls in blocks of at least ``--block-s``):

1. one forward pass of a ``--batch`` input batch (target: faultbench BSC <= 1.3x torch clean);
2. Monte-Carlo draws per second: one draw is one fault draw kept for the whole test set and
   the test set's accuracy under it; faultbench runs ``models.evaluation.mc_accuracy``
   (``--draws-per-pass`` draws per call), the peers one faulty forward of the whole test set
   per draw, the float bound one clean forward (targets: faultbench >= mrfi and >= 0.85x the
   float bound).

Ratios are per round; the table gives median [min-max] over the rounds. Times are the
process's CPU time by default (``--clock wall`` for wall time; benchmarks/rounds.py). The
peers are an optional extra: ``pip install "faultbench[peers]" torch==2.13.0`` (README).

    python benchmarks/fault_injection_peers.py [--width 0.25 1] [--eps 0.01] [--rounds 7]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch: no idle pool threads spinning

import argparse
import copy
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from float_bound import float_bound  # noqa: E402  (benchmarks/, the script's folder)
from models.architectures import build_model  # noqa: E402
from models.data import load_dataset  # noqa: E402
from models.evaluation import mc_accuracy  # noqa: E402
from models.faults import BinarySymmetric, FaultInjector  # noqa: E402
from models.layers import attach_faults, stored_layers  # noqa: E402
from rounds import CLOCKS, add_clock_arg, add_rounds_arg, calls_for, interleaved, per_round, spread, verdicts  # noqa: E402

FORWARD_TARGET, BOUND_TARGET = 1.3, 0.85
MRFI_CONFIG = """
faultinject:
  - type: weight
    name: [weight]
    enabled: True
    selector: {{method: RandomPositionByRate, poisson: True, rate: {eps}}}
    error_mode: {{method: FloatFixedBitFlip, bit: 31, floattype: float32}}
    module_type: [Linear]
"""


def linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def mrfi_model(bound: nn.Module, eps: float):
    from mrfi import MRFI, EasyConfig

    return MRFI(copy.deepcopy(bound), EasyConfig.load_string(MRFI_CONFIG.format(eps=eps)))


class PyTorchFI:
    """PyTorchFI's weight injection at rate eps: a new corrupted copy per forward."""

    def __init__(self, bound: nn.Module, in_shape, batch: int, eps: float, generator: torch.Generator):
        from pytorchfi.core import fault_injection

        self.fi = fault_injection(bound, batch, input_shape=list(in_shape), layer_types=[nn.Linear])
        self.shapes = [tuple(m.weight.shape) for m in linears(bound)]
        self.eps, self.generator = eps, generator

    def corrupted(self) -> nn.Module:
        layer, k, dim1 = [], [], []
        for i, shape in enumerate(self.shapes):
            pos = (torch.rand(shape, generator=self.generator) < self.eps).nonzero()
            layer += [i] * len(pos)
            k += pos[:, 0].tolist()
            dim1 += pos[:, 1].tolist()
        return self.fi.declare_weight_fi(function=lambda data, where: -data[where], layer_num=layer, k=k,
                                         dim1=dim1, dim2=[None] * len(k), dim3=[None] * len(k))

    def __call__(self, x):
        with torch.no_grad():
            return self.corrupted()(x)


def flip_counts(net, injector, bound, mrfi, pfi, x) -> dict[str, int]:
    """Weights read wrong in one forward of each contender."""
    clean = [m.weight.detach().clone() for m in linears(bound)]
    mrfi(x)
    counts = {"mrfi": sum(int((m.weight != c).sum()) for m, c in zip(linears(mrfi.model), clean))}
    counts["pytorchfi"] = sum(int((m.weight != c).sum()) for m, c in zip(linears(pfi.corrupted()), clean))
    counts["faultbench BSC"] = sum(int(injector.read_flips(m).index.numel()) for _, m in stored_layers(net))
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, nargs="+", default=[0.25, 1.0], help="mlp widths (default 0.25 1)")
    ap.add_argument("--eps", type=float, default=1e-2, help="bit-error rate (default 0.01)")
    ap.add_argument("--batch", type=int, default=64, help="batch of the single forward pass (default 64)")
    add_rounds_arg(ap, 7)
    ap.add_argument("--draws-per-pass", type=int, default=16, help="faultbench's draws per pass (default 16)")
    ap.add_argument("--block-s", type=float, default=0.2, help="shortest timed block of calls (default 0.2 s)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every contender (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    add_clock_arg(ap)
    args = ap.parse_args()
    clock = CLOCKS[args.clock]
    try:
        import mrfi  # noqa: F401
        import pytorchfi  # noqa: F401
    except ImportError as exc:
        sys.exit(f"fault_injection_peers: {exc.name} is not installed: pip install \"faultbench[peers]\" torch==2.13.0")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # MRFI draws from torch's and numpy's global generators
    np.random.seed(args.seed)
    data = load_dataset("digits", seed=args.seed)
    x, y = data.test_x, data.test_y
    xb = x[:args.batch]
    console = Console(width=140)
    table = Table(title=escape(f"mlp (BinaryConnect) on digits, eps {args.eps}, torch threads {args.threads}, "
                               f"{args.rounds} interleaved rounds, {args.clock} time: median [min-max]"))
    for col in ("width", "contender", f"forward, batch {args.batch} (ms)", "x torch clean",
                f"MC draws/s ({len(y)} inputs)", "x float bound", "flips per forward"):
        table.add_column(col, justify="left" if col == "contender" else "right")
    results = []
    for width in args.width:
        net = build_model("mlp", data.in_shape, data.n_classes, width, "binaryconnect",
                          generator=torch.Generator().manual_seed(args.seed)).eval()
        bound = float_bound(net)
        rates = {name: args.eps for name, _ in stored_layers(net)}
        injector = FaultInjector(BinarySymmetric(), torch.Generator().manual_seed(args.seed), default_rate=args.eps)
        mrfi_net = mrfi_model(bound, args.eps)
        pfi = PyTorchFI(bound, data.in_shape, args.batch, args.eps, torch.Generator().manual_seed(args.seed))
        mc_gen = torch.Generator().manual_seed(args.seed)
        k = args.draws_per_pass

        faulty = copy.deepcopy(net)  # the same weights, the injector attached once
        attach_faults(faulty, injector)

        def fb_mc(net=net, rates=rates):
            return mc_accuracy(net, x, y, rates, mc_gen, target=0.0, min_reps=k, max_reps=k, draws_per_pass=k)

        @torch.no_grad()
        def acc(model):
            return float((model(x).argmax(-1) == y).float().mean())

        forward = {name: torch.no_grad()(lambda m=m: m(xb))
                   for name, m in (("torch clean", bound), ("faultbench clean", net), ("faultbench BSC", faulty))}
        forward |= {"mrfi": lambda m=mrfi_net: m(xb),
                    "pytorchfi": lambda p=pfi: p(xb)}
        mc = {"torch clean": lambda bound=bound: acc(bound), "faultbench BSC": fb_mc,
              "mrfi": lambda m=mrfi_net: acc(m), "pytorchfi": lambda p=pfi: acc(p)}
        with console.status(f"width {width}: calibrating blocks"):
            calls = {name: calls_for(fn, args.block_s, clock) for name, fn in forward.items()}
            mc_calls = {name: calls_for(fn, args.block_s, clock) for name, fn in mc.items()}
        with console.status(f"width {width}: {args.rounds} rounds of forward passes"):
            t_fwd = interleaved(forward, args.rounds, calls, clock=clock)
        with console.status(f"width {width}: {args.rounds} rounds of Monte-Carlo draws"):
            t_mc = interleaved(mc, args.rounds, mc_calls, clock=clock)
        t_mc["faultbench BSC"] = [t / k for t in t_mc["faultbench BSC"]]  # one call: k draws
        flips = flip_counts(faulty, injector, bound, mrfi_net, pfi, xb)
        n_weights = sum(m.weight.numel() for _, m in stored_layers(net))
        for name in forward:
            rate = [1 / t for t in t_mc[name]] if name in t_mc else None
            table.add_row(f"{width:g}", name, spread(t_fwd[name], ".3f", 1e3),
                          spread(per_round(t_fwd[name], t_fwd["torch clean"]), ".2f"),
                          spread(rate, ".1f") if rate else "-",
                          spread(per_round(t_mc["torch clean"], t_mc[name]), ".2f") if rate else "-",
                          f"{flips[name]} (N eps {n_weights * args.eps:.0f})" if name in flips else "0")
        fwd_ratio = statistics.median(per_round(t_fwd["faultbench BSC"], t_fwd["torch clean"]))
        bound_ratio = statistics.median(per_round(t_mc["torch clean"], t_mc["faultbench BSC"]))
        mrfi_ratio = statistics.median(per_round(t_mc["mrfi"], t_mc["faultbench BSC"]))
        results += [(f"width {width:g}: faulty forward {fwd_ratio:.2f}x torch clean (target <= {FORWARD_TARGET})",
                      fwd_ratio <= FORWARD_TARGET),
                     (f"width {width:g}: MC draws/s {bound_ratio:.2f}x the float bound (target >= {BOUND_TARGET})",
                      bound_ratio >= BOUND_TARGET),
                     (f"width {width:g}: MC draws/s {mrfi_ratio:.2f}x mrfi's (target >= 1)", mrfi_ratio >= 1.0)]
        table.add_section()
    console.print(table)
    return verdicts(console, results)


if __name__ == "__main__":
    raise SystemExit(main())
