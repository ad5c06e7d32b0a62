"""Stage 2: per-layer operating points from the main method's eps through the profile's
calibrated curve, and the predicted per-layer energy table at the points actually chosen.

Predicted energy of layer ``l`` [ALGORITHMS 3; seed 1 eq. 3]: ``N_l * b_l * E_l`` with ``E_l``
the energy per bit of the point chosen for the layer (``parts.point_energy_per_bit``); the
fitted model's ``E(eps)`` at the point's eps is listed beside it.
"""

from __future__ import annotations

from bench.pipeline import atomic, parts
from bench.pipeline.stages.common import read_json


def choose(ctx) -> dict:
    main = read_json(ctx.input("train") / "summary.json")
    profile = parts.profile_of(ctx.config)
    layers = main["layers"]
    if main["eps"]:
        eps = main["eps"]
        source = f"final per-layer eps of {main['method']}"
    else:  # a method without eps: the profile's most reliable point everywhere
        eps = {l["name"]: None for l in layers}
        source = "most reliable operating point (method has no eps)"
    points = parts.choose_operating_points(profile, eps)
    model = parts.energy_model(profile)
    rows, total = [], 0.0
    for layer in layers:
        op = points[layer["name"]]
        per_bit = parts.point_energy_per_bit(op, model)
        model_per_bit = model.bit_energy(op["eps"]) if model is not None and op["eps"] > 0 else None
        energy = layer["n_params"] * layer["bits"] * per_bit
        total += energy
        rows.append({**layer, "eps_method": eps[layer["name"]], "operating_point": op["name"],
                     "voltage": op.get("voltage"), "eps": op["eps"], "p01": op["p01"], "p10": op["p10"],
                     "energy_per_bit_J": per_bit, "model_energy_per_bit_J": model_per_bit,
                     "predicted_energy_J": energy})
    total_bits = sum(l["n_params"] * l["bits"] for l in layers)
    reliable = None if model is None else total_bits * model.bit_energy(model.eps_ref)
    nominal_op = parts.choose_operating_points(profile, {"all": None})["all"]
    nominal = total_bits * parts.point_energy_per_bit(nominal_op, model)
    for r in rows:
        r["share"] = r["predicted_energy_J"] / total if total > 0 else 0.0
    prov = profile.data.get("provenance", {})
    out = {"source": source, "profile": {"name": profile.data["name"], "technology": profile.data["technology"],
                                          "provenance": prov.get("source"), "chip_id": prov.get("chip_id")}, "energy_model": parts.energy_model_dict(model), "layers": rows,
           "predicted_total_J": total, "reliable_total_J": reliable,
           "ratio_to_reliable": (total / reliable) if reliable else None,
           "nominal_point": nominal_op["name"], "nominal_total_J": nominal, "ratio_to_nominal": total / nominal}
    atomic.write_json(ctx.out / "operating_points.json", out)
    atomic.write_text(ctx.out / "energy_table.md", energy_markdown(out))
    summary = {"points": " ".join(r["operating_point"] for r in rows), "energy_vs_nominal": f"{total / nominal:.3f}"}
    if out["ratio_to_reliable"]:
        summary["energy_vs_reliable"] = f"{out['ratio_to_reliable']:.3f}"
    return summary


def energy_markdown(ops: dict) -> str:
    from models.energy import format_energy

    lines = ["| layer | N_l | b_l | eps (method) | operating point | voltage | eps (point) | E/bit (point) | E(eps) model | predicted energy | share |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in ops["layers"]:
        v = "" if r["voltage"] is None else f"{r['voltage']:.3f} V"
        em = "" if r["eps_method"] is None else f"{r['eps_method']:.3g}"
        lines.append(f"| {r['name']} | {r['n_params']} | {r['bits']} | {em} | {r['operating_point']} | {v} | "
                     f"{r['eps']:.3g} | {format_energy(r['energy_per_bit_J'])} | "
                     f"{'' if r['model_energy_per_bit_J'] is None else format_energy(r['model_energy_per_bit_J'])} | {format_energy(r['predicted_energy_J'])} | "
                     f"{100 * r['share']:.1f}% |")
    lines.append(f"| total | | | | | | | | | {format_energy(ops['predicted_total_J'])} | 100% |")
    return "\n".join(lines) + "\n"
