"""Energy measured on the board against the predicted per-layer energy."""

from __future__ import annotations

from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from bench.report.text import energy, energy_unit, figure, layer_labels
from models.plots import plt, png_bytes

#: measured/predicted outside [1/SCALE_WARNING, SCALE_WARNING]: the profile does not describe this memory
SCALE_WARNING = 2.0


def r2_text(e: dict) -> str:
    return "R^2 n/a (not the profile's chip)" if e["r2"] is None else f"R^2 = {e['r2']:.3f}"


def figures(results: dict) -> dict[str, bytes]:
    e = results["compare"]["energy"]
    fig, ax = plt.subplots(figsize=(5, 4.4))
    scale, unit = energy_unit([l["predicted_J"] for l in e["layers"]] + [l["measured_J"] for l in e["layers"]])
    p = [l["predicted_J"] / scale for l in e["layers"]]
    m = [l["measured_J"] / scale for l in e["layers"]]
    ax.plot(p, m, "o")
    labels = layer_labels(results)
    for k, l in enumerate(e["layers"]):   # alternate sides so labels of close points do not overlap
        ax.annotate(labels.get(l["name"], l["name"]), (p[k], m[k]), fontsize=7, textcoords="offset points",
                    xytext=(5, -10) if k % 2 else (5, 4))
    lo, hi = min(p + m) * 0.8, max(p + m) * 1.25
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="measured = predicted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    per = "inference" if e["energy_kind"] == "read" else "programming"
    ax.set_xlabel(f"predicted energy per {per} ({unit})")
    ax.set_ylabel(f"measured energy per {per} ({unit})")
    for axis in (ax.xaxis, ax.yaxis):   # plain 1-2-5 labels: minor log labels collide over a narrow range
        axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    ax.set_title(r2_text(e))
    ax.legend()
    return {"energy_measured_vs_predicted": png_bytes(fig, dpi=110)}


def chip_note(chip: dict | None) -> list[str]:
    """Which virtual chip the lab emulated, and a warning when it is not the profile's."""
    if chip is None:
        return []
    if chip["matches_profile"]:
        return [f"Virtual lab chip `{chip['chip_id']}` (`{chip['chip_file']}`): {chip['why']}.", ""]
    return [f"**Warning: the virtual chip is not the profile's chip.** The lab emulated `{chip['chip_id']}` "
            f"(`{chip['chip_file']}`): {chip['why']}. Measured energies and board BERs are that chip's, so they are "
            f"not compared with the profile's predictions; link a chip file in the profile "
            f"(`experiment: hardware: {{kind: virtual, chip: FILE}}`) or calibrate a profile on this chip.", ""]


def scale_note(profile: dict, e: dict, board: str) -> list[str]:
    """A warning line when the profile's energies are not this board's (e.g. literature numbers)."""
    scale = e["scale_measured_over_predicted"]
    if 1 / SCALE_WARNING <= scale <= SCALE_WARNING:
        return []
    return [f"**Note:** measured energy is {scale:.3g} x the prediction: the profile `{profile['name']}` "
            f"(provenance: {profile['provenance']}{', chip ' + profile['chip_id'] if profile.get('chip_id') else ''}) "
            f"does not describe the memory of {board}; calibrate a profile on it (bench characterize, bench calibrate) "
            f"for a meaningful energy comparison.", ""]


def markdown(results: dict, image_src) -> list[str]:
    en, s = results["compare"]["energy"], results["sources"]
    lines = ["## Energy on the board: measured vs predicted",
             f"Source: `{s['compare']}` (measurements: `board/energy_per_layer.npy`, method `{en['energy_method']}`).", "",
             "Energies per layer and per " + ("inference (read energy)" if en["energy_kind"] == "read" else
                                              "programming of the layer's weights (write energy)") + ".", "",
             "| layer | voltage | predicted | measured (median) | mean of captures | outlier captures | relative error |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for l in en["layers"]:
        v = "" if l["voltage"] is None else f"{l['voltage']:.3f} V"
        lines.append(f"| {layer_labels(results).get(l['name'], l['name'])} | {v} | {energy(l['predicted_J'])} | {energy(l['measured_J'])} | "
                     f"{energy(l['measured_mean_J'])} | {l['outlier_captures']}/{l['captures']} | "
                     f"{100 * l['relative_error']:+.2f}% |")
    per = "inference" if en["energy_kind"] == "read" else "programming of the layer"
    return lines + [
        f"| total | | {energy(en['predicted_total_J'])} | {energy(en['measured_total_J'])} | | "
        f"{en['outlier_captures']}/{en['n_captures']} | |", "",
        f"Energy per {per} ({en['energy_kind']} energy). " + (
            f"R^2 of the prediction: **{en['r2_note']}**." if en["r2"] is None else
            f"R^2 of the prediction over the per-layer medians: **{en['r2']:.4f}** "
            f"(over all {en['n_captures']} captures: {en['r2_all_captures']:.4f}; squared Pearson correlation "
            f"{en['pearson_r2']:.4f})."), "",
        *chip_note(en.get("virtual_chip")),
        *([] if en["r2"] is None else scale_note(results["operating_points"]["profile"], en, results["board"]["board"])),
        *figure("measured vs predicted energy", image_src("energy_measured_vs_predicted"),
                "Each point is a layer; on the dashed line the measurement equals the prediction. Points above it "
                "cost more than predicted; a constant offset from the line means the profile's energy scale is not "
                "this memory's.")]
