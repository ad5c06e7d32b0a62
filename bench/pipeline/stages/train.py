"""Stages 1a/1b: train the profile's method under the profile's fault model, then the
reliable and uniform-noise baselines it is compared against.

Uniform-noise eps [choice]: ``--uniform-eps``, else the geometric mean of the main method's
final per-layer eps (the same "average" reliability spread evenly), else
``FALLBACK_UNIFORM_EPS`` for a method without eps.
"""

from __future__ import annotations

from bench.pipeline import atomic, parts
from bench.pipeline.stages.common import geometric_mean, read_json

FALLBACK_UNIFORM_EPS = 1e-2


def _train(ctx, name: str, method: str, options: dict, seed: int) -> dict:
    cfg = ctx.config["train"]
    return parts.train_model(ctx.out / name, cfg, method=method, options=options,
                             faults=parts.training_faults(ctx.config), seed=seed,
                             data_dir=ctx.config.get("data_dir"), progress=ctx.progress)


def train_main(ctx) -> dict:
    cfg = ctx.config["train"]
    options = parts.method_options(ctx.config, cfg["method"])
    summary = _train(ctx, "main", cfg["method"], options, ctx.config["seeds"]["train"])
    atomic.write_json(ctx.out / "summary.json", summary)
    return {"method": cfg["method"], "test_acc": round(summary["final_epoch"].get("test_acc", float("nan")), 4)}


def uniform_eps(ctx, main: dict) -> float:
    if ctx.config["train"]["uniform_eps"] is not None:
        return float(ctx.config["train"]["uniform_eps"])
    if main["eps"]:
        return geometric_mean(main["eps"].values())
    return FALLBACK_UNIFORM_EPS


def train_baselines(ctx) -> dict:
    main = read_json(ctx.input("train") / "summary.json")
    eps_u = uniform_eps(ctx, main)
    seeds = ctx.config["seeds"]
    out = {"reliable": _train(ctx, "reliable", "reliable", {}, seeds["baseline_reliable"]),
           "uniform": _train(ctx, "uniform", "uniform", {"eps": eps_u}, seeds["baseline_uniform"])}
    out["uniform_eps"] = eps_u
    atomic.write_json(ctx.out / "summary.json", out)
    return {"uniform_eps": f"{eps_u:.3g}"}
