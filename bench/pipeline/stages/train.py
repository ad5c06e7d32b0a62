"""Stages 1a/1b: train the profile's method under the profile's fault model (the network that
is deployed), then the networks it is compared against (``bench.front``).

The comparison [choice]: for every training seed of ``seeds.front`` (the first is the deployed
network's), the reliable network, uniform noise at each of ``front_points`` operating points
(trained at that point, :func:`front_operating_points`), and the main method at each of
``front.lambdas`` (the deployed network is the first seed at the first lambda, trained by
stage 1a and not again). Each network's per-layer operating points are chosen here once
(``Profile.choose_per_layer``, as stage 2 does for the deployed one) and priced as stage 2
prices them; later stages read them from ``baselines/summary.json``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bench.pipeline.stages.common import read_json
from bench.training import method_help, train_run
from drivers import atomic
from models.profile.points import OperatingPoint
from models.run_dir import CONFIG, RunDir

MAIN = "main"


def _train(ctx, rel: str, method: str, options: dict, seed: int, operating_point: str | None = None) -> dict:
    """Train one network into ``ctx.out/rel`` (an interrupted attempt there is resumed); its summary."""
    cfg, out = ctx.config["train"], ctx.out / rel
    resume = (out / CONFIG).is_file()
    task = None
    if ctx.progress:
        task = ctx.progress.add_task(f"train {rel}", total=cfg["epochs"],
                                     completed=RunDir(out).status()["epochs_done"] if resume else 0)

    def on_epoch(record):
        if task is not None:
            ctx.progress.update(task, advance=1, description=f"train {rel} (test acc {record.get('test_acc', 0):.3f})")

    profile = None if method == "reliable" else ctx.profile  # a reliable network trains without faults
    result = train_run(out, resume=resume, profile=profile, operating_point=operating_point,
                       chip_seed=ctx.config["seeds"]["chip"], plots=False, on_epoch=on_epoch, arch=cfg["arch"],
                       dataset=cfg["dataset"], data_dir=ctx.config.get("data_dir"), width=float(cfg["width"]),
                       method=method, option=options, epochs=int(cfg["epochs"]), batch_size=int(cfg["batch_size"]),
                       lr=cfg["lr"], seed=int(seed), limit_train=cfg["train_subset"])
    last = RunDir(out).read_metrics()[-1]
    return {"method": method, "options": dict(result.config.method_options), "run_dir": rel, "seed": int(seed),
            "eps": result.eps, "layers": RunDir(out).read_layers(),
            "final_epoch": {k: v for k, v in last.items() if not k.endswith("seconds")}}  # wall times are no result


def main_options(ctx, lambda_: float) -> dict:
    """The main method's options: its lambda when it has one."""
    known = {option for option, _, _ in method_help(ctx.config["train"]["method"])}
    return {"lambda": float(lambda_)} if "lambda" in known else {}


def train_main(ctx) -> dict:
    cfg = ctx.config["train"]
    summary = _train(ctx, MAIN, cfg["method"], main_options(ctx, cfg["lambda"]), ctx.config["seeds"]["train"])
    atomic.write_json(ctx.out / "summary.json", summary)
    return {"method": cfg["method"], "test_acc": round(summary["final_epoch"].get("test_acc", float("nan")), 4)}


def front_operating_points(points: Sequence[OperatingPoint], count: int) -> list[OperatingPoint]:
    """``count`` of the faulty points (BER > 0), most reliable first, evenly spread by index over
    them with both ends included [choice]; all of them when there are no more than ``count``."""
    faulty = sorted((p for p in points if p.ber > 0), key=lambda p: p.ber)
    if len(faulty) <= count:
        return faulty
    picks = sorted({int(round(i)) for i in np.linspace(0, len(faulty) - 1, count)})
    return [faulty[i] for i in picks]


def priced(ctx, net: dict) -> dict:
    """``net`` with its per-layer operating points and predicted energy (stage 2's pricing);
    a reliable network keeps ``points`` None and is priced by stage 2's reference."""
    if net["eps"] is None:
        return {**net, "points": None}
    choices = ctx.profile.choose_per_layer(net["eps"])
    energy = sum(l["n_params"] * l["bits"] * choices[l["name"]].energy_per_bit for l in net["layers"])
    return {**net, "points": {name: c.point.name for name, c in choices.items()}, "energy_J": energy}


def train_baselines(ctx) -> dict:
    main = read_json(ctx.input("train") / "summary.json")
    cfg, seeds = ctx.config["train"], ctx.config["seeds"]["front"]
    lambdas = ctx.config["front"]["lambdas"]
    uniform = front_operating_points(ctx.profile.operating_points, ctx.config["front"]["front_points"])
    networks = []
    for k, seed in enumerate(seeds):
        networks.append({"key": f"reliable/seed-{seed}", "setting": "fault-free",
                         **priced(ctx, _train(ctx, f"reliable/seed-{seed}", "reliable", {}, seed))})
        for point in uniform:
            key = f"uniform/{point.name}/seed-{seed}"
            networks.append({"key": key, "setting": point.name,
                             **priced(ctx, _train(ctx, key, "uniform", {}, seed, operating_point=point.name))})
        for j, lambda_ in enumerate(lambdas):
            setting = f"lambda {lambda_:g}" if main_options(ctx, lambda_) else "default"
            if k == 0 and j == 0:  # the deployed network (stage 1a); its points are stage 2's
                networks.append({"key": MAIN, "setting": setting, "stage": "train", **main, "points": None})
                continue
            key = f"{cfg['method']}/lambda-{lambda_:g}/seed-{seed}"
            networks.append({"key": key, "setting": setting,
                             **priced(ctx, _train(ctx, key, cfg["method"], main_options(ctx, lambda_), seed))})
    out = {"networks": networks, "uniform_points": [p.name for p in uniform], "lambdas": lambdas, "seeds": seeds}
    atomic.write_json(ctx.out / "summary.json", out)
    return {"networks": len(networks), "uniform_points": " ".join(out["uniform_points"]),
            "seeds": " ".join(str(s) for s in seeds)}
