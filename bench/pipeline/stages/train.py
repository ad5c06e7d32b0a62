"""Stages 1a/1b: train the profile's method under the profile's fault model, then the
reliable and uniform-noise baselines it is compared against.

Uniform-noise eps [choice]: ``--uniform-eps``, else the geometric mean of the main method's
final per-layer eps (the same "average" reliability spread evenly), else
``FALLBACK_UNIFORM_EPS`` for a method without eps.
"""

from __future__ import annotations

from bench.pipeline.stages.common import geometric_mean, read_json
from bench.training import method_help, train_run
from drivers import atomic
from models.run_dir import CONFIG, RunDir

FALLBACK_UNIFORM_EPS = 1e-2
SEED_KEYS = {"main": "train", "reliable": "baseline_reliable", "uniform": "baseline_uniform"}


def _train(ctx, name: str, method: str, options: dict) -> dict:
    """Train one network into ``ctx.out/name`` (an interrupted attempt there is resumed); its summary."""
    cfg, out = ctx.config["train"], ctx.out / name
    resume = (out / CONFIG).is_file()
    task = None
    if ctx.progress:
        task = ctx.progress.add_task(f"train {method}", total=cfg["epochs"],
                                     completed=RunDir(out).status()["epochs_done"] if resume else 0)

    def on_epoch(record):
        if task is not None:
            ctx.progress.update(task, advance=1, description=f"train {method} (test acc {record.get('test_acc', 0):.3f})")

    profile = None if method == "reliable" else ctx.profile  # a reliable network trains without faults
    result = train_run(out, resume=resume, profile=profile, chip_seed=ctx.config["seeds"]["chip"], plots=False,
                       on_epoch=on_epoch, arch=cfg["arch"], dataset=cfg["dataset"],
                       data_dir=ctx.config.get("data_dir"), width=float(cfg["width"]), method=method,
                       option=options, epochs=int(cfg["epochs"]), batch_size=int(cfg["batch_size"]),
                       lr=cfg["lr"], seed=int(ctx.config["seeds"][SEED_KEYS[name]]),
                       limit_train=cfg["train_subset"])
    last = RunDir(out).read_metrics()[-1]
    return {"method": method, "options": dict(result.config.method_options), "run_dir": out.name,
            "eps": result.eps,
            "layers": RunDir(out).read_layers(),
            "final_epoch": {k: v for k, v in last.items() if not k.endswith("seconds")}}  # wall times are no result


def train_main(ctx) -> dict:
    cfg = ctx.config["train"]
    known = {option for option, _, _ in method_help(cfg["method"])}
    options = {"lambda": float(cfg["lambda"])} if "lambda" in known else {}
    summary = _train(ctx, "main", cfg["method"], options)
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
    out = {"reliable": _train(ctx, "reliable", "reliable", {}),
           "uniform": _train(ctx, "uniform", "uniform", {"eps": eps_u})}
    out["uniform_eps"] = eps_u
    atomic.write_json(ctx.out / "summary.json", out)
    return {"uniform_eps": f"{eps_u:.3g}"}
