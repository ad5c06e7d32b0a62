"""Memory energy at iso-accuracy: reliable BinaryConnect vs uniform noise vs LaNMax, over seeds.

For each training seed (``--seed`` .. ``--seed + --seeds - 1``; same architecture and data)
trains a reliable net, ``uniform`` nets at several eps and ``lanmax`` nets at several lambda,
evaluates each by Monte-Carlo at its own eps [ALGORITHMS 5] and computes its memory energy
relative to reliable [ALGORITHMS 3; default EnergyModel: E0 = 0, eps_ref = 1e-12]. The
points (mean over seeds, 95% intervals over seeds and over fault draws), the iso-accuracy
comparison (within ``--tolerance``, 0.5 point, of reliable) and the saving of LaNMax over the
best iso-accurate uniform point with its interval are ``bench.front``'s, the same code as
``bench run`` and ``bench sweep report``. ``floor``: every layer at LaNMax's least reliable
eps (``theta_max``), the lowest energy it can reach. Targets (seed 1 on CIFAR10): LaNMax >=
3.3x less energy than reliable; against uniform noise the verdict's 1.3x, met only when the
low end of the saving's interval reaches it, against the best iso-accurate uniform point and
against any cheaper one that is iso-accurate within its interval.
Runs are kept (and reused) under ``--out/runs``; the plot is ``--out/accuracy_vs_energy.png``.

    OMP_NUM_THREADS=1 python benchmarks/energy_isoaccuracy.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from bench.analyses.eps_matrix import eps_list, trained_run
from bench.front import TARGET_X, draw, point_from_seeds, verdict
from models.energy import EnergyModel, LayerMemory, deployed_eps, energy_report
from models.evaluation import mc_accuracy
from models.lanmax import LanmaxOptions
from models.plots import plt, save_figure
from models.training import TrainConfig
from settings import add_model_args  # benchmarks/settings.py (the script's folder)

TARGET_VS_RELIABLE = 3.3


def evaluate_network(label, method, options, seed, args, model: EnergyModel) -> dict:
    """Train (or reuse) one network and measure it: Monte-Carlo accuracy at its eps, energy ratio."""
    cfg = TrainConfig(arch=args.arch, width=args.width, mode=args.mode, dataset=args.dataset,
                      data_dir=args.data_dir, method=method, method_options=options, epochs=args.epochs,
                      batch_size=args.batch_size, optimizer=args.optimizer, seed=seed,
                      limit_train=args.limit_train).resolved()
    net, _, extra = trained_run(cfg, Path(args.out) / "runs" / label / f"seed-{seed}")
    data = extra["data"]
    r = mc_accuracy(net, data.test_x, data.test_y, extra["eps"], torch.Generator().manual_seed(1000 + seed),
                    target=args.ci, max_reps=args.max_reps)
    layers = [LayerMemory(l["name"], l["n_params"], l["bits"]) for l in extra["layers"]]
    report = energy_report(layers, deployed_eps(layers, extra["eps"], model), model)
    print(f"{label:14s} seed {seed}  acc {100 * r.mean:6.2f} +- {100 * r.half_width:4.2f} ({r.reps:3d} draws)  "
          f"energy {report.ratio:6.4f} x reliable"
          + ("" if not extra["eps"] else "  eps " + " ".join(f"{e:.2g}" for e in extra["eps"].values())), flush=True)
    return {"label": label, "method": method, "options": options, "seed": seed, "acc": r.mean, "ci": r.half_width,
            "reps": r.reps, "energy_ratio": report.ratio, "eps": extra["eps"], "n_bits": sum(l.n_bits for l in layers)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench_energy_isoaccuracy")
    add_model_args(p, mode="binaryconnect")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per setting, from --seed (default 3)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--limit-train", type=int)
    p.add_argument("--uniform-eps", type=eps_list, default=eps_list("1e-3,1e-2,3e-2,5e-2,7e-2,1e-1"),
                   help="uniform-noise eps values (comma-separated)")
    p.add_argument("--lambdas", default="0.3,1,3,10", help="LaNMax lambda values (comma-separated)")
    p.add_argument("--tolerance", type=float, default=0.005, help="iso-accuracy: within this of reliable (0.005)")
    p.add_argument("--ci", type=float, default=0.005, help="target 95%% CI half-width of each accuracy")
    p.add_argument("--max-reps", type=int, default=200)
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds {args.seeds}: must be at least 1")
    lambdas = [float(v) for v in args.lambdas.split(",")]
    seeds = list(range(args.seed, args.seed + args.seeds))
    model = EnergyModel()
    print(f"{args.arch} width {args.width} ({args.mode}) on {args.dataset}, {args.epochs} epochs, seeds "
          f"{seeds[0]}-{seeds[-1]}; {model.describe()}", flush=True)
    settings = [("reliable", "reliable", {}, "fault-free")]
    settings += [(f"uniform_{e:g}", "uniform", {"eps": e}, f"eps {e:g}") for e in args.uniform_eps]
    settings += [(f"lanmax_{l:g}", "lanmax", {"lambda": l}, f"lambda {l:g}") for l in lambdas]
    networks, points = [], []
    for label, method, options, setting in settings:
        runs = [evaluate_network(label, method, options, seed, args, model) for seed in seeds]
        networks += runs
        points.append(point_from_seeds(label, method, setting, [r["acc"] for r in runs], [r["ci"] for r in runs],
                                       [r["energy_ratio"] for r in runs]))
    n_bits = networks[0]["n_bits"]
    floor = model.bit_energy(10 ** LanmaxOptions().theta_max) * n_bits / (model.bit_energy(model.eps_ref) * n_bits)
    result = verdict(points, tolerance=args.tolerance, floor_J=floor)

    print(f"\n{'setting':16s} {'accuracy %':>11s} {'95% CI':>7s} {'seeds':>7s} {'draws':>7s}   energy x reliable")
    for q in points:
        print(f"{q.method + ' ' + q.setting:16s} {100 * q.accuracy:11.2f} {100 * q.accuracy_ci:7.2f} "
              f"{'n/a' if q.ci_seeds is None else f'{100 * q.ci_seeds:.2f}':>7s} {100 * q.ci_draws:7.2f}   "
              f"{q.energy_J:.4f} +- {q.energy_ci:.4f}")
    print(f"\n{result['text']}")
    m = result["method_point"]
    ok = result["kind"] in ("win", "no_baseline") and m is not None and 1 / (m["energy_J"] + m["energy_ci"]) >= TARGET_VS_RELIABLE
    if m is not None and result["target_accuracy"] is not None and m["accuracy"] >= result["target_accuracy"]:
        print(f"LaNMax vs reliable: {1 / m['energy_J']:.2f}x less energy (95% interval "
              f"{1 / (m['energy_J'] + m['energy_ci']):.2f}-{1 / max(m['energy_J'] - m['energy_ci'], 1e-12):.2f}x)")
    print(f"target LaNMax >= {TARGET_VS_RELIABLE}x less than reliable (interval's low end): {'PASS' if ok else 'FAIL'}")
    if result["saving_x"] is not None:
        lo, hi = result["saving_ci"]
        print(f"LaNMax vs best iso-accurate uniform point: {result['saving_x']:.2f}x less energy "
              f"(95% interval {lo:.2f}-{hi:.2f}x)")
        near = result["plausible_baseline_point"]
        if near["name"] != result["baseline_point"]["name"]:
            p_lo, p_hi = result["plausible_saving_ci"]
            print(f"LaNMax vs the cheapest uniform point iso-accurate within its interval ({near['setting']}): "
                  f"{result['plausible_saving_x']:.2f}x less energy (95% interval {p_lo:.2f}-{p_hi:.2f}x)")
    print(f"target LaNMax >= {TARGET_X}x less than the best uniform point (interval's low end): "
          f"{'PASS' if result['meets_target'] else 'FAIL'}" + ("" if result["meets_target"] else f" ({result['why']})"))
    out = Path(args.out)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    draw(ax, points, result, unit_J=1.0)
    ax.set_xlabel("memory energy / reliable (E0 = 0, eps_ref = 1e-12)")
    save_figure(fig, out / "accuracy_vs_energy.png")
    (out / "results.json").write_text(json.dumps({"networks": networks, "points": [q.to_dict() for q in points],
                                                  "verdict": result, "settings": vars(args)}, indent=1, default=str))
    print(f"written: {out}/accuracy_vs_energy.png, {out}/results.json")
    return 0 if ok and result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
