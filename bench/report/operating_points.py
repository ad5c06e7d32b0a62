"""The operating point chosen for each layer and the energy predicted there."""

from __future__ import annotations

from bench.report.text import energy
from models.plots import plt, png_bytes


def figures(results: dict) -> dict[str, bytes]:
    ops, cmp_ = results["operating_points"], results["compare"]
    names = [l["name"] for l in ops["layers"]]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    xs = range(len(names))
    if any(l["eps_method"] is not None for l in ops["layers"]):
        ax.plot(xs, [l["eps_method"] or float("nan") for l in ops["layers"]], "o-", label="eps (method)")
    positive = lambda v: v if v and v > 0 else float("nan")  # a measured 0 has no place on a log axis
    ax.plot(xs, [positive(l["eps"]) for l in ops["layers"]], "s--", label="eps (operating point; 0 not drawn)")
    ax.plot(xs, [positive(b["ber"]) for b in cmp_["ber"]], "^:", label="BER read back on the board")
    ax.set_yscale("log")
    ax.set_xticks(list(xs), names, rotation=30)
    ax.set_ylabel("bit-error rate")
    ax.legend()
    ax.grid(alpha=0.3)
    return {"eps_per_layer": png_bytes(fig, dpi=110)}


def markdown(results: dict, image_src) -> list[str]:
    ops, s = results["operating_points"], results["sources"]
    lines = ["## Operating points per layer", f"Source: `{s['operating_points']}` ({ops['source']}).", "",
             "| layer | N_l x b_l | eps (method) | point | voltage | eps (point) | predicted energy |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for l in ops["layers"]:
        em_ = "" if l["eps_method"] is None else f"{l['eps_method']:.3g}"
        v = "" if l["voltage"] is None else f"{l['voltage']:.3f} V"
        lines.append(f"| {l['name']} | {l['n_params'] * l['bits']} | {em_} | {l['operating_point']} | {v} | "
                     f"{l['eps']:.3g} | {energy(l['predicted_energy_J'])} |")
    return lines + ["", f"Predicted total {energy(ops['predicted_total_J'])}: {ops['ratio_to_nominal']:.3f} x the most "
                        f"reliable point {ops['nominal_point']} ({energy(ops['nominal_total_J'])})"
                    + (f", {ops['ratio_to_reliable']:.3f} x reliable at eps_ref ({energy(ops['reliable_total_J'])})."
                       if ops["ratio_to_reliable"] else "."),
                    "", f"![eps per layer]({image_src('eps_per_layer')})", ""]
