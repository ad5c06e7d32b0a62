"""LaNMax's lambda: where the noise levels end, per shipped profile, architecture and balance.

Trains LaNMax under each profile as ``bench run`` does (the profile's fault model, energy
model and eps bounds, ``theta`` starting mid-range) at every ``--lambdas`` value and prints,
per run, the *noise position* ``P = sum_l N_l b_l (theta_l - theta_min) / (theta_max -
theta_min) / sum_l N_l b_l`` (0: every bit at the most reliable eps, 1: every bit at the
least reliable; 0.5 at the start), the energy ``E_net / E_ref`` of the final eps, and the
Monte-Carlo test accuracy at the operating points those eps choose, a fresh chip per
repetition (as ``bench run`` evaluates; the training chip's own persistent faults, which the
network learns around, would flatter it).
The useful range of lambda is where ``P`` climbs from its low end to 1. For ``--balance
best`` it also shows why that balance drifts: ``L_best`` after the first and the last SGDO
epoch (the loss term's weight is ``1 / L_best``).

    OMP_NUM_THREADS=1 python benchmarks/lanmax_lambda.py
    OMP_NUM_THREADS=1 python benchmarks/lanmax_lambda.py --archs mlp:0.125 --balance best --lambdas 0.1,1,10,100,1000

Runs are kept (and reused) under ``--out/runs``; the table is ``--out/lanmax_lambda.{csv,md,json}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

from bench.analyses.eps_matrix import trained_run
from bench.output import rich_table, write_table
from models.evaluation import mc_accuracy
from models.lanmax import energy_ratio
from models.profile import load_profile
from models.profile.faults import FreshChipPerDraw, fault_model_from_profile, training_faults
from models.profile.method_options import profile_method_options
from models.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def noise_position(theta: torch.Tensor, n_bits: torch.Tensor, theta_min: float, theta_max: float) -> float:
    """Bit-weighted mean of ``(theta_l - theta_min) / (theta_max - theta_min)``."""
    return float(((theta - theta_min) / (theta_max - theta_min) * n_bits).sum() / n_bits.sum())


def run(profile, arch: str, width: float, lambda_: float, args) -> dict:
    options = {**profile_method_options(profile, "lanmax"), "lambda": lambda_, "balance": args.balance}
    cfg = TrainConfig(arch=arch, width=width, dataset="digits", method="lanmax", method_options=options,
                      epochs=args.epochs, faults=training_faults(profile), seed=args.seed).resolved()
    folder = Path(args.out) / "runs" / f"{profile.name}_{arch}{width:g}_{args.balance}_lambda{lambda_:g}_s{args.seed}"
    net, config, extra = trained_run(cfg, folder)
    m, o = extra["method"], config.method_options
    points = {name: c.point for name, c in profile.choose_per_layer(extra["eps"]).items()}
    faults = FreshChipPerDraw(fault_model_from_profile(profile, layer_points={n: p.name for n, p in points.items()}))
    acc = mc_accuracy(net, extra["data"].test_x, extra["data"].test_y, {n: p.ber for n, p in points.items()},
                      torch.Generator().manual_seed(1000 + args.seed), faults, target=0.01, min_reps=8, max_reps=32)
    l_best = [r["lanmax_L_best"] for r in extra["metrics"] if "lanmax_L_best" in r]
    return {"profile": profile.name, "arch": f"{arch} {width:g}", "balance": args.balance, "lambda": lambda_,
            "position": noise_position(m.theta, m.n_bits, o["theta_min"], o["theta_max"]),
            "energy_ratio": energy_ratio(m.theta, m.n_bits, m.model), "accuracy": acc.mean,
            "accuracy_ci": acc.half_width, "points": {n: p.name for n, p in points.items()},
            "L_best_first": l_best[0] if l_best else None, "L_best_last": l_best[-1] if l_best else None,
            "bits": [l["n_params"] * l["bits"] for l in extra["layers"]],
            "eps": extra["eps"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profiles", default=",".join(str(f.relative_to(ROOT)) for f in sorted((ROOT / "profiles").glob("*.yaml"))),
                   help="comma-separated profile files (default: every shipped profile)")
    p.add_argument("--archs", default="mlp:0.125,lenet5:4", help="ARCH:WIDTH,... (default mlp:0.125,lenet5:4)")
    p.add_argument("--lambdas", default="0.03,0.1,0.3,1,3,10,30")
    p.add_argument("--balance", default="absolute", choices=("absolute", "best"))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/bench_lanmax_lambda")
    args = p.parse_args(argv)
    lambdas = [float(v) for v in args.lambdas.split(",")]
    archs = [(a.split(":")[0], float(a.split(":")[1])) for a in args.archs.split(",")]
    rows, records = [], []
    for path in args.profiles.split(","):
        profile = load_profile(ROOT / path if not Path(path).is_absolute() else path)
        for arch, width in archs:
            runs = [run(profile, arch, width, lam, args) for lam in lambdas]
            records += runs
            for key, fmt in (("position", "{:.2f}"), ("energy_ratio", "{:.3f}"), ("accuracy", "{:.3f}")):
                rows.append([profile.name, f"{arch} {width:g}", key] + [fmt.format(r[key]) for r in runs])
            if args.balance == "best":
                rows.append([profile.name, f"{arch} {width:g}", "L_best first/last"]
                            + [f"{r['L_best_first']:.3g}/{r['L_best_last']:.3g}" for r in runs])
            print(f"{profile.name} {arch} {width:g}: positions "
                  + " ".join(f"{r['lambda']:g}:{r['position']:.2f}" for r in runs), flush=True)
    header = ["profile", "arch", f"quantity ({args.balance})"] + [f"lambda {l:g}" for l in lambdas]
    title = f"LaNMax lambda sweep, balance {args.balance}, {args.epochs} epochs, seed {args.seed}"
    out = Path(args.out)
    write_table(out, f"lanmax_lambda_{args.balance}", header, rows, title,
                {"epochs": args.epochs, "seed": args.seed, "balance": args.balance, "runs": records})
    Console().print(rich_table(title, header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
