"""Stage 3: Monte-Carlo accuracy with 95% CIs under the profile's fault model [ALGORITHMS 5]
for the main network at its operating points, the uniform-noise baseline at the point its
eps maps to, and the reliable baseline (fault-free); plus the main network on exactly the
board's test subset (the software prediction the board is compared with).

Repetitions draw a fresh chip each (``over chips``: a new chip seed per repetition, so the
CI covers chip-to-chip variation, which a board's single chip is one draw of). The main
network on the board subset is also evaluated on the run's fixed chip seed
(``main_board_subset_fixed_chip``: only transient faults vary; with a fully persistent
profile its CI is 0), labelled as such in the report."""

from __future__ import annotations

import numpy as np
import torch

from bench.pipeline import atomic, parts
from bench.pipeline.stages.common import board_subset, read_json


def _mc(ctx, label, net, x, y, points, seed, over_chips=True):
    ev = ctx.config["evaluation"]
    fault_model, rates = parts.eval_faults(ctx.config, points, over_chips)
    task = ctx.progress.add_task(f"Monte-Carlo {label}", total=ev["mc_max"]) if ctx.progress else None

    def progress(r):
        if task is not None:
            ctx.progress.update(task, completed=r.reps, description=f"Monte-Carlo {label}: {r.mean:.3f} +- {r.half_width:.3f}")

    gen = torch.Generator().manual_seed(int(seed))
    r = parts.mc_accuracy(net, x, y, rates, gen, fault_model, target=ev["ci_target"],
                          min_reps=max(2, ev["mc_min"]), max_reps=max(2, ev["mc_max"]), on_progress=progress)
    if task is not None:
        ctx.progress.update(task, total=r.reps, completed=r.reps)
    return {"mean": r.mean, "half_width": r.half_width, "reps": r.reps, "accuracies": r.accuracies}


def evaluate(ctx) -> dict:
    trained, base = ctx.input("train"), ctx.input("baselines")
    ops = read_json(ctx.input("operating_points") / "operating_points.json")
    baselines = read_json(base / "summary.json")
    profile = parts.profile_of(ctx.config)
    data = parts.load_data(ctx.config["train"], ctx.config.get("data_dir"), ctx.config["seeds"]["train"])
    x, y = data.test_x, data.test_y
    seed = ctx.config["seeds"]["evaluation"]
    model = parts.energy_model(profile)
    layers = ops["layers"]
    n_bits = {l["name"]: l["n_params"] * l["bits"] for l in layers}

    main_points = {l["name"]: {"name": l["operating_point"], "eps": l["eps"], "voltage": l["voltage"]} for l in layers}
    eps_u = baselines["uniform_eps"]
    uni_points = parts.choose_operating_points(profile, {name: eps_u for name in n_bits})
    uni_energy = sum(n_bits[name] * parts.point_energy_per_bit(op, model) for name, op in uni_points.items())

    results = {}
    net = parts.load_trained(trained / "main")
    results["main"] = {**_mc(ctx, "main", net, x, y, main_points, seed),
                       "energy_J": ops["predicted_total_J"], "points": {k: v["name"] for k, v in main_points.items()}}
    subset = board_subset(len(y), ctx.config["board"]["test_subset"], ctx.config["seeds"]["board_subset"])
    idx = torch.as_tensor(subset)
    results["main_board_subset"] = {**_mc(ctx, "main (board subset)", net, x[idx], y[idx], main_points, seed + 1),
                                    "n_inputs": int(len(subset)), "chips": "fresh per repetition"}
    results["main_board_subset_fixed_chip"] = {
        **_mc(ctx, "main (board subset, fixed chip)", net, x[idx], y[idx], main_points, seed + 4, over_chips=False),
        "n_inputs": int(len(subset)), "chips": f"fixed chip seed {ctx.config['seeds']['chip']}"}
    net_u = parts.load_trained(base / "uniform")
    results["uniform"] = {**_mc(ctx, "uniform", net_u, x, y, uni_points, seed + 2), "eps": eps_u,
                          "energy_J": uni_energy, "points": {k: v["name"] for k, v in uni_points.items()}}
    net_r = parts.load_trained(base / "reliable")
    results["reliable"] = {**_mc(ctx, "reliable", net_r, x, y, None, seed + 3), "energy_J": ops["reliable_total_J"]}
    results["n_test"] = int(len(y))
    atomic.write_json(ctx.out / "software_eval.json", results)
    np.save(ctx.out / "board_subset.npy", subset)
    return {k: f"{results[k]['mean']:.3f}+-{results[k]['half_width']:.3f}" for k in ("main", "uniform", "reliable")}
