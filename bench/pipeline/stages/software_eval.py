"""Stage 3: Monte-Carlo accuracy with 95% CIs under the profile's fault model [ALGORITHMS 5]
for every network of the comparison (stage 1b) at its operating points (the deployed one at
those stage 2 chose; reliable networks fault-free), the front and the verdict at
iso-accuracy built from them (``bench.front``); plus the deployed network on exactly the
board's test subset (the software prediction the board is compared with).

Repetitions draw a fresh chip each (``over chips``: a new chip seed per repetition, so the
CI covers chip-to-chip variation, which a board's single chip is one draw of). The main
network on the board subset is also evaluated on the run's fixed chip seed
(``main_board_subset_fixed_chip``: only transient faults vary; with a fully persistent
profile its CI is 0), labelled as such in the report.

Energy of a network: the predicted memory energy at its operating points (stage 2's
pricing); reliable networks are priced at stage 2's reference, ``reliable_total_J`` (the
energy model at ``eps_ref``), or the most reliable point's energy for a profile without an
energy model. ``floor_J``, every layer at the cheapest operating point, bounds what any
per-layer allocation can save (``bench.front.verdict``)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from bench.errors import user_errors
from bench.front import point_from_seeds, verdict
from bench.pipeline.stages.common import board_subset, dataset, read_json, trained_net
from drivers import atomic
from models.evaluation import mc_accuracy
from models.profile.faults import FreshChipPerDraw, fault_model_from_profile
from models.profile.points import eps_upper_bound
from models.run_dir import RunDirError
from models.training import load_run


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


def _network(ctx, base, entry: dict):
    """A comparison network and the test set it was trained with (its own run's data set)."""
    folder = (ctx.input("train") if entry.get("stage") == "train" else base) / entry["run_dir"]
    with user_errors(RunDirError):
        net, _config, extra = load_run(folder)
    return net.eval(), extra["data"]


def front_points(networks: list[dict]) -> list:
    """One :class:`bench.front.Point` per (method, setting), over its seeds."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for n in networks:
        groups[(n["method"], n["setting"])].append(n)
    return [point_from_seeds(f"{method} {setting}", method, setting, [n["mean"] for n in ns],
                             [n["half_width"] for n in ns], [n["energy_J"] for n in ns])
            for (method, setting), ns in groups.items()]


def evaluate(ctx) -> dict:
    trained, base = ctx.input("train"), ctx.input("baselines")
    ops = read_json(ctx.input("operating_points") / "operating_points.json")
    comparison = read_json(base / "summary.json")
    data = dataset(ctx)
    x, y = data.test_x, data.test_y
    seed = ctx.config["seeds"]["evaluation"]
    main_points = {l["name"]: l["operating_point"] for l in ops["layers"]}
    reference_J = ops["reliable_total_J"] if ops["reliable_total_J"] is not None else ops["nominal_total_J"]

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

    networks = []
    for i, entry in enumerate(comparison["networks"]):
        row = {k: entry[k] for k in ("key", "method", "setting", "seed")}
        if entry.get("stage") == "train":
            row.update(points=main_points, energy_J=ops["predicted_total_J"],
                       **{k: results["main"][k] for k in ("mean", "half_width", "reps")})
        else:
            net_i, data_i = _network(ctx, base, entry)
            r = _mc(ctx, entry["key"], net_i, data_i.test_x, data_i.test_y, entry["points"], seed + 10 + i)
            row.update(points=entry["points"], energy_J=entry.get("energy_J", reference_J),
                       **{k: r[k] for k in ("mean", "half_width", "reps")})
        networks.append(row)
    points = front_points(networks)
    total_bits = sum(l["n_params"] * l["bits"] for l in ops["layers"])
    floor_J = total_bits * ctx.profile.choose(eps_upper_bound(ctx.profile.operating_points)).energy_per_bit
    method = ctx.config["train"]["method"]
    results["networks"] = networks
    results["front"] = [p.to_dict() for p in points]
    results["main_point"] = next(p.name for p in points for n in networks
                                 if n["key"] == "main" and (p.method, p.setting) == (n["method"], n["setting"]))
    results["verdict"] = verdict(points, method=method, tolerance=ctx.config["evaluation"]["tolerance"],
                                 floor_J=floor_J)
    results["floor_J"] = floor_J
    results["reference_J"] = reference_J
    results["n_test"] = int(len(y))
    atomic.write_json(ctx.out / "software_eval.json", results)
    np.save(ctx.out / "board_subset.npy", subset)
    return {"main": f"{results['main']['mean']:.3f}+-{results['main']['half_width']:.3f}",
            "verdict": results["verdict"]["kind"]}
