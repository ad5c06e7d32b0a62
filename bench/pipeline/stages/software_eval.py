"""Stage 3: Monte-Carlo accuracy with 95% CIs under the profile's fault model [ALGORITHMS 5]
for the main network at the operating points stage 2 chose, the uniform-noise baseline at the
points its eps chooses, and the reliable baseline (fault-free); plus the main network on
exactly the board's test subset (the software prediction the board is compared with).

Repetitions draw a fresh chip each (``over chips``: a new chip seed per repetition, so the
CI covers chip-to-chip variation, which a board's single chip is one draw of). The main
network on the board subset is also evaluated on the run's fixed chip seed
(``main_board_subset_fixed_chip``: only transient faults vary; with a fully persistent
profile its CI is 0), labelled as such in the report."""

from __future__ import annotations

import numpy as np
import torch

from bench.pipeline.stages.common import board_subset, dataset, read_json, trained_net
from drivers import atomic
from models.evaluation import mc_accuracy
from models.profile.faults import FreshChipPerDraw, fault_model_from_profile


def _mc(ctx, label, net, x, y, points: dict[str, str] | None, seed, over_chips=True):
    """Monte-Carlo accuracy with every layer at its named point (``None``: fault-free)."""
    ev = ctx.config["evaluation"]
    task = ctx.progress.add_task(f"Monte-Carlo {label}", total=ev["mc_max"]) if ctx.progress else None

    def progress(r):
        if task is not None:
            ctx.progress.update(task, completed=r.reps, description=f"Monte-Carlo {label}: {r.mean:.3f} +- {r.half_width:.3f}")

    model = rates = None
    if points is not None:
        model = fault_model_from_profile(ctx.profile, chip_seed=ctx.config["seeds"]["chip"], layer_points=points)
        model = FreshChipPerDraw(model) if over_chips else model
        rates = {name: ctx.profile.operating_point(p).ber for name, p in points.items()}  # for the record
    gen = torch.Generator().manual_seed(int(seed))
    r = mc_accuracy(net, x, y, rates, gen, model, target=ev["ci_target"],
                    min_reps=max(2, ev["mc_min"]), max_reps=max(2, ev["mc_max"]), on_progress=progress)
    if task is not None:
        ctx.progress.update(task, total=r.reps, completed=r.reps)
    return {"mean": r.mean, "half_width": r.half_width, "reps": r.reps, "accuracies": r.accuracies}


def evaluate(ctx) -> dict:
    trained, base = ctx.input("train"), ctx.input("baselines")
    ops = read_json(ctx.input("operating_points") / "operating_points.json")
    baselines = read_json(base / "summary.json")
    data = dataset(ctx)
    x, y = data.test_x, data.test_y
    seed = ctx.config["seeds"]["evaluation"]
    layers = ops["layers"]
    main_points = {l["name"]: l["operating_point"] for l in layers}
    eps_u = baselines["uniform_eps"]
    uniform = ctx.profile.choose_per_layer({l["name"]: eps_u for l in layers})
    uni_points = {name: c.point.name for name, c in uniform.items()}
    uni_energy = sum(l["n_params"] * l["bits"] * uniform[l["name"]].energy_per_bit for l in layers)

    results = {}
    net = trained_net(trained / "main")
    results["main"] = {**_mc(ctx, "main", net, x, y, main_points, seed),
                       "energy_J": ops["predicted_total_J"], "points": main_points}
    subset = board_subset(len(y), ctx.config["board"]["test_subset"], ctx.config["seeds"]["board_subset"])
    idx = torch.as_tensor(subset)
    results["main_board_subset"] = {**_mc(ctx, "main (board subset)", net, x[idx], y[idx], main_points, seed + 1),
                                    "n_inputs": int(len(subset)), "chips": "fresh per repetition"}
    results["main_board_subset_fixed_chip"] = {
        **_mc(ctx, "main (board subset, fixed chip)", net, x[idx], y[idx], main_points, seed + 4, over_chips=False),
        "n_inputs": int(len(subset)), "chips": f"fixed chip seed {ctx.config['seeds']['chip']}"}
    results["uniform"] = {**_mc(ctx, "uniform", trained_net(base / "uniform"), x, y, uni_points, seed + 2),
                          "eps": eps_u, "energy_J": uni_energy, "points": uni_points}
    results["reliable"] = {**_mc(ctx, "reliable", trained_net(base / "reliable"), x, y, None, seed + 3),
                           "energy_J": ops["reliable_total_J"]}
    results["n_test"] = int(len(y))
    atomic.write_json(ctx.out / "software_eval.json", results)
    np.save(ctx.out / "board_subset.npy", subset)
    return {k: f"{results[k]['mean']:.3f}+-{results[k]['half_width']:.3f}" for k in ("main", "uniform", "reliable")}
