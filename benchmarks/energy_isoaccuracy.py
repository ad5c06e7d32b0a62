"""Memory energy at iso-accuracy: reliable BinaryConnect vs uniform noise vs LaNMax.

Trains (same architecture, data and seed) a reliable net, ``uniform`` nets at several eps and
``lanmax`` nets at several lambda, evaluates each by Monte-Carlo at its own eps
[ALGORITHMS 5] and computes its memory energy relative to reliable [ALGORITHMS 3; default
EnergyModel: E0 = 0, eps_ref = 1e-12]. A point is *iso-accurate* when its mean accuracy is
within ``--tolerance`` (0.5 point) of reliable. Reports the energy of the cheapest
iso-accurate uniform and LaNMax points side by side. Targets (seed 1 on CIFAR10):
LaNMax >= 3.3x less energy than reliable, and less than the best uniform point.
Runs are kept (and reused) under ``--out/runs``; the plot is ``--out/accuracy_vs_energy.png``.

    OMP_NUM_THREADS=1 python benchmarks/energy_isoaccuracy.py --epochs 15
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from bench.analyses.eps_matrix import eps_list, trained_run
from models.energy import EnergyModel, LayerMemory, deployed_eps, energy_report
from models.evaluation import mc_accuracy
from models.training import TrainConfig
from settings import add_model_args  # benchmarks/settings.py (the script's folder)

TARGET_VS_RELIABLE = 3.3


def evaluate_point(label, method, options, args, model: EnergyModel) -> dict:
    cfg = TrainConfig(arch=args.arch, width=args.width, mode=args.mode, dataset=args.dataset,
                      data_dir=args.data_dir, method=method, method_options=options, epochs=args.epochs,
                      batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed,
                      limit_train=args.limit_train).resolved()
    net, _, extra = trained_run(cfg, Path(args.out) / "runs" / label)
    data = extra["data"]
    r = mc_accuracy(net, data.test_x, data.test_y, extra["eps"], torch.Generator().manual_seed(args.seed),
                    target=args.ci, max_reps=args.max_reps)
    layers = [LayerMemory(l["name"], l["n_params"], l["bits"]) for l in extra["layers"]]
    report = energy_report(layers, deployed_eps(layers, extra["eps"], model), model)
    point = {"label": label, "method": method, "options": options, "acc": r.mean, "ci": r.half_width,
             "reps": r.reps, "energy_ratio": report.ratio, "eps": extra["eps"]}
    print(f"{label:16s} acc {100 * r.mean:6.2f} +- {100 * r.half_width:4.2f} ({r.reps:3d} draws)  "
          f"energy {report.ratio:6.4f} x reliable"
          + ("" if not extra["eps"] else "  eps " + " ".join(f"{e:.2g}" for e in extra["eps"].values())), flush=True)
    return point


def plot(points, reliable, tolerance, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method, marker in (("uniform", "s"), ("lanmax", "o")):
        pts = sorted((p for p in points if p["method"] == method), key=lambda p: p["energy_ratio"])
        ax.errorbar([p["energy_ratio"] for p in pts], [100 * p["acc"] for p in pts],
                    yerr=[100 * p["ci"] for p in pts], marker=marker, capsize=3, label=method)
    ax.scatter([1.0], [100 * reliable["acc"]], marker="*", s=150, color="k", label="reliable", zorder=3)
    ax.axhline(100 * (reliable["acc"] - tolerance), color="g", ls="--",
               label=f"iso-accuracy threshold (reliable - {100 * tolerance:.1f} point)")
    ax.set_xscale("log")
    ax.set_xlabel("memory energy / reliable (E0 = 0, eps_ref = 1e-12)")
    ax.set_ylabel("test accuracy (%) with 95% CI")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    from models.plots import save_figure

    save_figure(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench_energy_isoaccuracy")
    add_model_args(p, mode="binaryconnect")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--limit-train", type=int)
    p.add_argument("--uniform-eps", type=eps_list, default=eps_list("1e-3,1e-2,3e-2,5e-2,7e-2,1e-1"),
                   help="uniform-noise eps values (comma-separated)")
    p.add_argument("--lambdas",
                   default="20,100,300,1000", help="LaNMax lambda values (comma-separated)")
    p.add_argument("--tolerance", type=float, default=0.005, help="iso-accuracy: within this of reliable (0.005)")
    p.add_argument("--ci", type=float, default=0.005, help="target 95%% CI half-width of each accuracy")
    p.add_argument("--max-reps", type=int, default=200)
    args = p.parse_args(argv)
    lambdas = [float(v) for v in args.lambdas.split(",")]
    model = EnergyModel()
    print(f"{args.arch} width {args.width} ({args.mode}) on {args.dataset}, {args.epochs} epochs, seed {args.seed}; "
          f"{model.describe()}", flush=True)
    reliable = evaluate_point("reliable", "reliable", {}, args, model)
    points = [evaluate_point(f"uniform_{e:g}", "uniform", {"eps": e}, args, model) for e in args.uniform_eps]
    points += [evaluate_point(f"lanmax_{l:g}", "lanmax", {"lambda": l}, args, model) for l in lambdas]

    def best(method):
        iso = [q for q in points if q["method"] == method and q["acc"] >= reliable["acc"] - args.tolerance]
        return min(iso, key=lambda q: q["energy_ratio"]) if iso else None

    b_uni, b_lan = best("uniform"), best("lanmax")
    print(f"\niso-accuracy: mean accuracy >= reliable {100 * reliable['acc']:.2f}% - {100 * args.tolerance:.1f} point")
    for name, b in (("uniform", b_uni), ("lanmax", b_lan)):
        print(f"best {name:8s}: " + ("none iso-accurate" if b is None else
              f"{b['label']} energy {b['energy_ratio']:.4f} x reliable = {1 / b['energy_ratio']:.2f}x less "
              f"(acc {100 * b['acc']:.2f} +- {100 * b['ci']:.2f})"))
    ok = b_lan is not None and 1 / b_lan["energy_ratio"] >= TARGET_VS_RELIABLE
    print(f"target LaNMax >= {TARGET_VS_RELIABLE}x less than reliable: {'PASS' if ok else 'FAIL'}")
    if b_lan is not None and b_uni is not None:
        beat = b_lan["energy_ratio"] < b_uni["energy_ratio"]
        print(f"target LaNMax < best uniform: {'PASS' if beat else 'FAIL'} "
              f"(best uniform / LaNMax energy = {b_uni['energy_ratio'] / b_lan['energy_ratio']:.2f}x)")
    else:
        beat = False
        print("target LaNMax < best uniform: not decidable (a method has no iso-accurate point)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(points, reliable, args.tolerance, out / "accuracy_vs_energy.png")
    (out / "results.json").write_text(json.dumps({"reliable": reliable, "points": points, "settings": vars(args)},
                                                 indent=1, default=str))
    print(f"written: {out}/accuracy_vs_energy.png, {out}/results.json")
    return 0 if ok and beat else 1


if __name__ == "__main__":
    raise SystemExit(main())
