"""The operating point chosen for each layer and the energy predicted there."""

from __future__ import annotations

import math

from bench.characterize import ZERO_ERRORS_UPPER
from bench.report.text import energy, energy_per, figure, layer_labels
from models.plots import plt, png_bytes


def figures(results: dict) -> dict[str, bytes]:
    """eps per layer on a log axis: the method's eps, the chosen point's BER and the BER read
    back on the board; a zero is drawn as a hollow marker (a read-back 0 at its 95% upper bound
    3/bits, a point without errors at the axis floor) instead of vanishing."""
    ops, cmp_ = results["operating_points"], results["compare"]
    labels = layer_labels(results)
    names = [labels[l["name"]] for l in ops["layers"]]
    xs = list(range(len(names)))
    fig, ax = plt.subplots(figsize=(6, 4))
    positive = [v for l in ops["layers"] for v in (l["eps_method"], l["eps"]) if v] + \
               [b["ber"] for b in cmp_["ber"] if b["ber"]] + [ZERO_ERRORS_UPPER / b["bits"] for b in cmp_["ber"]]
    floor = min(positive) / 10 if positive else 1e-6
    if any(l["eps_method"] is not None for l in ops["layers"]):
        ax.plot(xs, [l["eps_method"] or math.nan for l in ops["layers"]], "o-", label="eps of the method")
    point = [l["eps"] for l in ops["layers"]]
    line, = ax.plot(xs, [v if v > 0 else math.nan for v in point], "s--", label="BER of the chosen point")
    zeros = [x for x, v in zip(xs, point) if not v > 0]
    if zeros:
        ax.plot(zeros, [floor] * len(zeros), "s", mfc="none", color=line.get_color(),
                label="point without errors (drawn at the floor)")
    ber = [b["ber"] for b in cmp_["ber"]]
    line, = ax.plot(xs, [v if v > 0 else math.nan for v in ber], "^:", label="BER read back on the board")
    zeros = [(x, b) for x, b in zip(xs, cmp_["ber"]) if not b["ber"] > 0]
    if zeros:
        ax.plot([x for x, _ in zeros], [ZERO_ERRORS_UPPER / b["bits"] for _, b in zeros], "v", mfc="none",
                color=line.get_color(), label=f"board: 0 errors (95% upper bound {ZERO_ERRORS_UPPER:g}/bits)")
    ax.set_yscale("log")
    ax.margins(x=0.08, y=0.25)   # markers keep clear of the frame
    ax.set_xticks(xs, names, rotation=20 if len(names) > 4 else 0)
    ax.set_xlabel("layer (network order)")
    ax.set_ylabel("bit-error rate (errors per bit)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return {"eps_per_layer": png_bytes(fig, dpi=110)}


def markdown(results: dict, image_src) -> list[str]:
    ops, s = results["operating_points"], results["sources"]
    labels, per = layer_labels(results), energy_per(results)
    lines = ["## Operating points per layer", f"Source: `{s['operating_points']}` ({ops['source']}).", "",
             "Each layer's eps (from the method) is mapped to the cheapest operating point of the profile at least as "
             "reliable; the layer is priced at that point's energy per bit.", "",
             f"| layer | bits (N_l x b_l) | eps (method) | point | voltage | BER (point) | energy per bit | "
             f"predicted energy per {per} |", "|---|---:|---:|---|---:|---:|---:|---:|"]
    for l in ops["layers"]:
        em_ = "" if l["eps_method"] is None else f"{l['eps_method']:.3g}"
        v = "" if l["voltage"] is None else f"{l['voltage']:.3f} V"
        lines.append(f"| {labels[l['name']]} | {l['n_params'] * l['bits']} | {em_} | {l['operating_point']} | {v} | "
                     f"{l['eps']:.3g} | {energy(l.get('energy_per_bit_J'))} | {energy(l['predicted_energy_J'])} |")
    return lines + ["", f"Predicted total {energy(ops['predicted_total_J'])} per {per}: {ops['ratio_to_nominal']:.3f} x "
                        f"the most reliable point {ops['nominal_point']} ({energy(ops['nominal_total_J'])})"
                    + (f", {ops['ratio_to_reliable']:.3f} x reliable at eps_ref ({energy(ops['reliable_total_J'])})."
                       if ops["ratio_to_reliable"] else "."),
                    "", *figure("eps per layer", image_src("eps_per_layer"),
                                "Per layer, the chosen point's BER (squares) should lie at or below the method's eps "
                                "(circles), and the BER read back on the board (triangles) near the point's. Hollow "
                                "markers are zeros: a read-back 0 at its 95% upper bound, a point without errors at "
                                "the floor.")]
