"""Energy measured on the board against the predicted per-layer energy: values with their 95%
intervals, layers below the instrument's resolution, R^2 with its interval, residuals, and which
instrument and method produced each energy with how many repeats."""

from __future__ import annotations

from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from bench.report.text import energy, energy_unit, figure, layer_labels
from models.plots import plt, png_bytes

#: measured/predicted outside [1/SCALE_WARNING, SCALE_WARNING]: the profile does not describe this memory
SCALE_WARNING = 2.0


def r2_text(e: dict) -> str:
    if e["r2"] is None:
        return f"R^2 {e['r2_note']}"
    return f"R^2 = {e['r2']:.3f} [{e['r2_ci'][0]:.3f}, {e['r2_ci'][1]:.3f}]"


def measured_text(l: dict) -> str:
    if l["below_resolution"]:
        return f"below resolution: floor {energy(l['floor_J'])}"
    return f"{energy(l['measured_J'])} [{energy(l['ci_J'][0])}, {energy(l['ci_J'][1])}]"


def figures(results: dict) -> dict[str, bytes]:
    """Measured vs predicted with error bars (layers below resolution as a down-triangle at their
    floor), and the relative residuals with their intervals."""
    e = results["compare"]["energy"]
    scale, unit = energy_unit([l["predicted_J"] for l in e["layers"]] +
                              [l["floor_J"] if l["below_resolution"] else l["measured_J"] for l in e["layers"]])
    labels = layer_labels(results)
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(9.2, 4.4), gridspec_kw={"width_ratios": [1.1, 1]})
    done = [l for l in e["layers"] if not l["below_resolution"]]
    below = [l for l in e["layers"] if l["below_resolution"]]
    values = [l["predicted_J"] / scale for l in e["layers"]]
    if done:
        m = [l["measured_J"] / scale for l in done]
        ax.errorbar([l["predicted_J"] / scale for l in done], m,
                    yerr=[[y - l["ci_J"][0] / scale for y, l in zip(m, done)],
                          [l["ci_J"][1] / scale - y for y, l in zip(m, done)]],
                    fmt="o", capsize=3, label="measured (95% interval)")
        values += [l["ci_J"][0] / scale for l in done if l["ci_J"][0] > 0] + [l["ci_J"][1] / scale for l in done]
    if below:
        ax.plot([l["predicted_J"] / scale for l in below], [l["floor_J"] / scale for l in below], "v", mfc="none",
                label="below resolution (at the floor)")
        values += [l["floor_J"] / scale for l in below]
    for k, l in enumerate(e["layers"]):   # alternate sides so labels of close points do not overlap
        y = (l["floor_J"] if l["below_resolution"] else l["measured_J"]) / scale
        ax.annotate(labels.get(l["name"], l["name"]), (l["predicted_J"] / scale, y), fontsize=7,
                    textcoords="offset points", xytext=(5, -10) if k % 2 else (5, 4))
    lo, hi = min(values) * 0.8, max(values) * 1.25
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="measured = predicted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):   # plain 1-2-5 labels: minor log labels collide over a narrow range
        axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"predicted energy per {e['energy_per']} ({unit})", fontsize=8)
    ax.set_ylabel(f"measured energy per {e['energy_per']} ({unit})", fontsize=8)
    ax.set_title(r2_text(e), fontsize=9)
    ax.legend(fontsize=7)
    xs = list(range(len(done)))
    if done:
        axr.errorbar(xs, [100 * l["relative_error"] for l in done],
                     yerr=[[100 * (l["relative_error"] - l["relative_error_ci"][0]) for l in done],
                           [100 * (l["relative_error_ci"][1] - l["relative_error"]) for l in done]], fmt="o", capsize=3)
        axr.set_xticks(xs, [labels.get(l["name"], l["name"]) for l in done], fontsize=7, rotation=30)
    axr.axhline(0, color="k", lw=0.8)
    axr.set_xlabel("layer", fontsize=8)
    axr.set_ylabel("(measured - predicted) / predicted (%)", fontsize=8)
    axr.set_title(f"residuals (95% intervals); {e['n_below_resolution']} layer(s) below resolution", fontsize=9)
    axr.grid(True, alpha=0.3)
    fig.tight_layout()
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
    if scale is None or 1 / SCALE_WARNING <= scale <= SCALE_WARNING:
        return []
    return [f"**Note:** measured energy is {scale:.3g} x the prediction: the profile `{profile['name']}` "
            f"(provenance: {profile['provenance']}{', chip ' + profile['chip_id'] if profile.get('chip_id') else ''}) "
            f"does not describe the memory of {board}; calibrate a profile on it (bench characterize, bench calibrate) "
            f"for a meaningful energy comparison.", ""]


def markdown(results: dict, image_src) -> list[str]:
    en, s = results["compare"]["energy"], results["sources"]
    lines = ["## Energy on the board: measured vs predicted",
             f"Source: `{s['compare']}` (captures: `board/energy_captures.jsonl`, `board/energy_traces.npz`). "
             f"Every energy by **{en['instrument']}**, method `{en['energy_method']}`: the layer's work repeated N times "
             f"in one capture window, a baseline window of the same length with the board idle at the same voltage "
             f"subtracted, pairs of windows until the {100 * en['confidence']:.0f}% interval is within "
             f"+-{100 * en['target']:.0f}% (docs/ENERGY_CAPTURES.md).", "",
             f"Energies per layer and per {en['energy_per']} "
             f"({'read energy' if en['energy_kind'] == 'read' else 'write energy: programming of the weights'}).", "",
             f"| layer | voltage | predicted | measured [{100 * en['confidence']:.0f}% interval] | relative error [interval] "
             f"| repeats N x pairs | overruns | instrument floor |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    labels = layer_labels(results)
    for l in en["layers"]:
        v = "" if l["voltage"] is None else f"{l['voltage']:.3f} V"
        err = ("" if l["relative_error"] is None else
               f"{100 * l['relative_error']:+.2f}% [{100 * l['relative_error_ci'][0]:+.2f}, "
               f"{100 * l['relative_error_ci'][1]:+.2f}]")
        target = "" if l["target_met"] or l["below_resolution"] else " (target not reached)"
        lines.append(f"| {labels.get(l['name'], l['name'])} | {v} | {energy(l['predicted_J'])} | {measured_text(l)}"
                     f"{target} | {err} | {l['repeat']} x {l['pairs']} | {l['overruns']} | {energy(l['floor_J'])} |")
    lines += [f"| total | | {energy(en['predicted_total_J'])} | "
              f"{energy(en['measured_total_J'])}{' (measured layers)' if en['n_below_resolution'] else ''} | | | | |", ""]
    below = [labels.get(l["name"], l["name"]) for l in en["layers"] if l["below_resolution"]]
    if below:
        lines += [f"**Below resolution:** {', '.join(below)}: the instrument cannot resolve these layers' energy even "
                  f"with the repeats (its floor is given instead of a number); they are left out of R^2.", ""]
    lines += [f"Energy per {en['energy_per']} ({en['energy_kind']} energy). " + (
        f"R^2 of the prediction: **{en['r2_note']}**." if en["r2"] is None else
        f"R^2 of the prediction over the {en['n_measured']} measured layers: **{en['r2']:.4f}** "
        f"(95% interval [{en['r2_ci'][0]:.4f}, {en['r2_ci'][1]:.4f}] from the layers' intervals; squared Pearson "
        f"correlation {en['pearson_r2']:.4f})."), "",
        *chip_note(en.get("virtual_chip")),
        *([] if en["r2"] is None else scale_note(results["operating_points"]["profile"], en, results["board"]["board"])),
        *figure("measured vs predicted energy", image_src("energy_measured_vs_predicted"),
                "Left: each layer's measured energy with its 95% interval against the prediction; on the dashed line "
                "they are equal, and a constant offset from it means the profile's energy scale is not this "
                "memory's. A hollow triangle is a layer below the instrument's resolution, drawn at its floor. "
                "Right: the relative residual of each measured layer with its interval; intervals that miss 0 are "
                "layers the prediction gets wrong.")]
    return lines
