"""Stage 2: per-layer operating points from the main method's eps through the profile's
calibrated curve, and the predicted per-layer energy table at the points actually chosen.

Predicted energy of layer ``l`` [ALGORITHMS 3; seed 1 eq. 3]: ``N_l * b_l * E_l`` with ``E_l``
the energy per bit of the point chosen for the layer (``models.profile.points.point_energy_per_bit``);
the fitted model's ``E(eps)`` at the point's eps is listed beside it. Later stages read the
chosen points from ``operating_points.json``; none maps an eps to a point again.
"""

from __future__ import annotations

from bench.pipeline.stages.common import read_json
from drivers import atomic
from models.energy import format_energy


def choose(ctx) -> dict:
    main = read_json(ctx.input("train") / "summary.json")
    profile = ctx.profile
    layers = main["layers"]
    if main["eps"]:
        eps = main["eps"]
        source = f"final per-layer eps of {main['method']}"
    else:  # a method without eps: the profile's most reliable point everywhere
        eps = {l["name"]: None for l in layers}
        source = "most reliable operating point (method has no eps)"
    choices = profile.choose_per_layer(eps)
    model = profile.energy_model
    rows, total = [], 0.0
    for layer in layers:
        c = choices[layer["name"]]
        p = c.point
        energy = layer["n_params"] * layer["bits"] * c.energy_per_bit
        total += energy
        rows.append({**layer, "eps_method": eps[layer["name"]], "operating_point": p.name,
                     "voltage": p.voltage, "eps": p.ber, "p01": p.ber_0to1, "p10": p.ber_1to0,
                     "energy_per_bit_J": c.energy_per_bit,
                     "model_energy_per_bit_J": model.bit_energy(p.ber) if model is not None and p.ber > 0 else None,
                     "predicted_energy_J": energy})
    total_bits = sum(l["n_params"] * l["bits"] for l in layers)
    reliable = None if model is None else total_bits * model.bit_energy(model.eps_ref)
    nominal = profile.choose(None)
    nominal_total = total_bits * nominal.energy_per_bit
    for r in rows:
        r["share"] = r["predicted_energy_J"] / total if total > 0 else 0.0
    prov = profile.data.get("provenance", {})
    out = {"source": source,
           "profile": {"name": profile.name, "technology": profile.technology,
                       "provenance": prov.get("source"), "chip_id": prov.get("chip_id")},
           "energy_model": None if model is None else {"E0": model.E0, "beta": model.beta, "eps_ref": model.eps_ref},
           "energy_kind": profile.energy_kind, "layers": rows,
           "predicted_total_J": total, "reliable_total_J": reliable,
           "ratio_to_reliable": (total / reliable) if reliable else None,
           "nominal_point": nominal.point.name, "nominal_total_J": nominal_total,
           "ratio_to_nominal": total / nominal_total}
    atomic.write_json(ctx.out / "operating_points.json", out)
    atomic.write_text(ctx.out / "energy_table.md", energy_markdown(out))
    summary = {"points": " ".join(r["operating_point"] for r in rows), "energy_vs_nominal": f"{total / nominal_total:.3f}"}
    if out["ratio_to_reliable"]:
        summary["energy_vs_reliable"] = f"{out['ratio_to_reliable']:.3f}"
    return summary


def energy_markdown(ops: dict) -> str:
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
