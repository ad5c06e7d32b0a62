"""``results.json`` (every number of the report, each with the run-directory file it comes
from) and its rendering as ``report.md`` and a self-contained ``report.html`` (PNG figures
embedded as base64). Rendering reads only ``results.json``, so ``bench report`` regenerates
the report without hardware."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

from bench.errors import BenchError, user_errors
from drivers import atomic
from models.energy import format_energy
from models.plots import plt, png_bytes

FIGURES = ("accuracy_vs_energy", "eps_per_layer", "energy_measured_vs_predicted", "ber_per_layer")


def _load(run_dir: Path, rel: str):
    return json.loads((run_dir / rel).read_text())


def build_results(run_dir: Path) -> dict:
    """Collect the numbers of every stage into one dict, each section naming its source file."""
    run_dir = Path(run_dir)
    src = {"config": "config.yaml", "seeds": "seeds.json", "train": "train/summary.json",
           "baselines": "baselines/summary.json", "operating_points": "operating_points/operating_points.json",
           "software_eval": "software_eval/software_eval.json", "deploy": "deploy/deploy.json",
           "board": "board/board.json", "compare": "compare/compare.json"}
    sw = _load(run_dir, src["software_eval"])
    for entry in sw.values():
        if isinstance(entry, dict):
            entry.pop("accuracies", None)  # the per-repetition list stays in its own file
    return {
        "sources": src,
        "seeds": _load(run_dir, src["seeds"]),
        "train": {k: v for k, v in _load(run_dir, src["train"]).items() if k != "final_epoch"},
        "uniform_eps": _load(run_dir, src["baselines"])["uniform_eps"],
        "operating_points": _load(run_dir, src["operating_points"]),
        "software_eval": sw,
        "deploy": _load(run_dir, src["deploy"]),
        "board": _load(run_dir, src["board"]),
        "compare": _load(run_dir, src["compare"]),
    }


# --- figures (matplotlib, Agg) -------------------------------------------------------------

def figures(results: dict) -> dict[str, bytes]:
    out = {}
    sw, ops, cmp_ = results["software_eval"], results["operating_points"], results["compare"]
    ref = sw["reliable"]["energy_J"]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for key, label, marker in (("reliable", "reliable", "s"), ("uniform", "uniform noise", "^"), ("main", results["train"]["method"], "o")):
        e = sw[key]["energy_J"]
        x = e / ref if ref else e
        ax.errorbar([x], [sw[key]["mean"]], yerr=[sw[key]["half_width"]], fmt=marker, capsize=4, label=label)
    ax.set_xlabel("memory energy / reliable" if ref else "memory energy (J)")
    ax.set_ylabel("test accuracy (95% CI)")
    ax.legend()
    ax.grid(alpha=0.3)
    out["accuracy_vs_energy"] = png_bytes(fig, dpi=110)

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
    out["eps_per_layer"] = png_bytes(fig, dpi=110)

    e = cmp_["energy"]
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    p = [l["predicted_J"] for l in e["layers"]]
    m = [l["measured_J"] for l in e["layers"]]
    ax.plot(p, m, "o")
    for l in e["layers"]:
        ax.annotate(l["name"], (l["predicted_J"], l["measured_J"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    lo, hi = min(p + m) * 0.8, max(p + m) * 1.25
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="measured = predicted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    per = "inference" if e["energy_kind"] == "read" else "programming"
    ax.set_xlabel(f"predicted energy per {per} (J)")
    ax.set_ylabel(f"measured energy per {per} (J)")
    ax.set_title(r2_text(e))
    ax.legend()
    out["energy_measured_vs_predicted"] = png_bytes(fig, dpi=110)

    fig, ax = plt.subplots(figsize=(5, 3.6))
    width = 0.4
    ax.bar([i - width / 2 for i in xs], [b["ber_0to1"] for b in cmp_["ber"]], width, label="0->1")
    ax.bar([i + width / 2 for i in xs], [b["ber_1to0"] for b in cmp_["ber"]], width, label="1->0")
    ax.set_xticks(list(xs), [f"{b['name']}\n{b['voltage']:.3g} V" for b in cmp_["ber"]], fontsize=7)
    ax.set_ylabel("BER on the board")
    ax.legend()
    out["ber_per_layer"] = png_bytes(fig, dpi=110)
    return out


# --- markdown -------------------------------------------------------------------------------

def _e(j: float | None) -> str:
    return "n/a" if j is None else format_energy(j)


def markdown(results: dict, image_src) -> str:
    """The report; ``image_src(name)`` gives each figure's link (file or data URI)."""
    sw, ops, cmp_, board = results["software_eval"], results["operating_points"], results["compare"], results["board"]
    s = results["sources"]
    acc = cmp_["accuracy"]
    en = cmp_["energy"]
    rp = cmp_["replay"]
    em = ops["energy_model"]
    lines = [f"# bench run report", "",
             f"Method **{results['train']['method']}**; seeds in `{s['seeds']}`, resolved config in `{s['config']}`.",
             f"Energy model: " + (f"E(eps) = E0 + beta ln(1/eps), E0 = {_e(em['E0'])}, beta = {_e(em['beta'])}, "
                                 f"eps_ref = {em['eps_ref']:.3g}" if em else "none (operating points' measured energy per bit)"),
             "", "## Accuracy and energy (software, Monte-Carlo 95% CI)",
             f"Source: `{s['software_eval']}`. Each repetition is a fresh chip (a new chip seed for the persistent faults).", "",
             "| network | accuracy | CI half-width | repetitions | memory energy | vs reliable |", "|---|---:|---:|---:|---:|---:|"]
    ref = sw["reliable"]["energy_J"]
    for key in ("reliable", "uniform", "main"):
        r = sw[key]
        ratio = f"{r['energy_J'] / ref:.3f}" if ref else "n/a"
        label = key if key != "main" else results["train"]["method"]
        if key == "uniform":
            label += f" (eps {results['uniform_eps']:.3g})"
        lines.append(f"| {label} | {r['mean']:.4f} | {r['half_width']:.4f} | {r['reps']} | {_e(r['energy_J'])} | {ratio} |")
    lines += ["", f"![accuracy vs energy]({image_src('accuracy_vs_energy')})", "",
              "## Operating points per layer", f"Source: `{s['operating_points']}` ({ops['source']}).", ""]
    lines.append("| layer | N_l x b_l | eps (method) | point | voltage | eps (point) | predicted energy |")
    lines.append("|---|---:|---:|---|---:|---:|---:|")
    for l in ops["layers"]:
        em_ = "" if l["eps_method"] is None else f"{l['eps_method']:.3g}"
        v = "" if l["voltage"] is None else f"{l['voltage']:.3f} V"
        lines.append(f"| {l['name']} | {l['n_params'] * l['bits']} | {em_} | {l['operating_point']} | {v} | {l['eps']:.3g} | {_e(l['predicted_energy_J'])} |")
    lines += ["", f"Predicted total {_e(ops['predicted_total_J'])}: {ops['ratio_to_nominal']:.3f} x the most reliable point "
              f"{ops['nominal_point']} ({_e(ops['nominal_total_J'])})"
              + (f", {ops['ratio_to_reliable']:.3f} x reliable at eps_ref ({_e(ops['reliable_total_J'])})." if ops["ratio_to_reliable"] else "."),
              "", f"![eps per layer]({image_src('eps_per_layer')})", "",
              "## Energy on the board: measured vs predicted", f"Source: `{s['compare']}` (measurements: `board/energy_per_layer.npy`, method `{en['energy_method']}`).", "",
              "| layer | voltage | predicted | measured (median) | mean of captures | outlier captures | relative error |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for l in en["layers"]:
        v = "" if l["voltage"] is None else f"{l['voltage']:.3f} V"
        lines.append(f"| {l['name']} | {v} | {_e(l['predicted_J'])} | {_e(l['measured_J'])} | {_e(l['measured_mean_J'])} | "
                     f"{l['outlier_captures']}/{l['captures']} | {100 * l['relative_error']:+.2f}% |")
    per = "inference" if en["energy_kind"] == "read" else "programming of the layer"
    lines += [f"| total | | {_e(en['predicted_total_J'])} | {_e(en['measured_total_J'])} | | {en['outlier_captures']}/{en['n_captures']} | |", "",
              f"Energy per {per} ({en['energy_kind']} energy). " + (
                  f"R^2 of the prediction: **{en['r2_note']}**." if en["r2"] is None else
                  f"R^2 of the prediction over the per-layer medians: **{en['r2']:.4f}** "
                  f"(over all {en['n_captures']} captures: {en['r2_all_captures']:.4f}; squared Pearson correlation {en['pearson_r2']:.4f})."), "",
              *chip_note(en.get("virtual_chip")),
              *([] if en["r2"] is None else scale_note(ops["profile"], en, results["board"]["board"])),
              f"![measured vs predicted energy]({image_src('energy_measured_vs_predicted')})", "",
              "## Accuracy on the board vs software", f"Source: `{s['board']}`, `{s['compare']}`.", "",
              "| | accuracy | 95% interval | inputs / repetitions |", "|---|---:|---:|---:|",
              f"| board (Wilson) | {acc['board']['accuracy']:.4f} | [{acc['board']['ci_low']:.4f}, {acc['board']['ci_high']:.4f}] | {acc['board']['n_inputs']} |",
              *[f"| software (Monte-Carlo, {label}) | {acc[k]['accuracy']:.4f} | [{acc[k]['ci_low']:.4f}, {acc[k]['ci_high']:.4f}] | {acc[k]['reps']} |"
                for k, label in (("software", "over chips: " + (acc["software"].get("chips") or "fixed chip")),
                                 ("software_fixed_chip", "one chip: " + acc.get("software_fixed_chip", {}).get("chips", "")))
                if k in acc],
              "", f"The board's interval and the software interval over chips {'overlap' if acc['overlap'] else 'do NOT overlap'} "
                  f"(the fixed-chip row varies only the transient faults of one chip: a CI of 0 under a persistent profile).", "",
              "## Fault maps read back and replayed in software",
              f"Weight image read back at each layer's operating point (`board/faultmaps/`), run through the reference interpreter: "
              f"{rp['same_scores']}/{rp['n_inputs']} inputs give exactly the board's scores, {rp['same_prediction']}/{rp['n_inputs']} the same class; "
              f"replay accuracy {rp['replay_accuracy']:.4f} vs board {rp['board_accuracy']:.4f}.", "",
              "Errors per read of each layer's region against its operating point's rates (expected "
              "n0 p01 + n1 p10; 99% binomial interval):", "",
              "| layer | voltage | BER | 0->1 | 1->0 | point (BER) | errors / bits | expected | 99% interval | holds |",
              "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for b in cmp_["ber"]:
        check = (f"{b['point']} ({b['point_ber']:.3g}) | {b['errors']:.3g} / {b['bits']} | {b['expected_errors']:.3g} | "
                 f"[{b['bounds'][0]:.0f}, {b['bounds'][1]:.0f}] | {'yes' if b['within_bounds'] else '**NO**'}"
                 if "point" in b else "| | | | not checked (run made before the check)")
        lines.append(f"| {b['name']} | {b['voltage']:.3f} V | {b['ber']:.3g} | {b['ber_0to1']:.3g} | {b['ber_1to0']:.3g} | {check} |")
    if cmp_.get("ber_flagged"):
        lines += ["", f"**The operating points do not hold on the board** for layer(s) {', '.join(cmp_['ber_flagged'])}: "
                      f"the read-back errors fall outside the point's binomial interval."]
    lines += ["", f"![BER per layer]({image_src('ber_per_layer')})", ""]
    return "\n".join(lines)


def r2_text(energy: dict) -> str:
    return "R^2 n/a (not the profile's chip)" if energy["r2"] is None else f"R^2 = {energy['r2']:.3f}"


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


SCALE_WARNING = 2.0  # measured/predicted outside [1/2, 2]: the profile does not describe this memory


def scale_note(profile: dict, energy: dict, board: str) -> list[str]:
    """A warning line when the profile's energies are not this board's (e.g. literature numbers)."""
    scale = energy["scale_measured_over_predicted"]
    if 1 / SCALE_WARNING <= scale <= SCALE_WARNING:
        return []
    return [f"**Note:** measured energy is {scale:.3g} x the prediction: the profile `{profile['name']}` "
            f"(provenance: {profile['provenance']}{', chip ' + profile['chip_id'] if profile.get('chip_id') else ''}) "
            f"does not describe the memory of {board}; calibrate a profile on it (bench characterize, bench calibrate) "
            f"for a meaningful energy comparison.", ""]


def rebuild_report(run: str | Path) -> tuple[Path, Path]:
    """``bench report``: regenerate ``RUN/report/report.{md,html}`` from ``results.json``
    (no hardware, no training)."""
    report_dir = Path(run) / "report"
    if not (report_dir / "results.json").is_file():
        raise BenchError(f"{report_dir / 'results.json'}: not found; finish the run first (bench run ... --out {run})")
    with user_errors(KeyError, ValueError, prefix=f"{report_dir / 'results.json'}: malformed "):
        return render(report_dir)


def render(run_dir: Path, results: dict | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` (figures as files under ``figures/``) and a self-contained ``report.html``."""
    run_dir = Path(run_dir)
    if results is None:
        results = json.loads((run_dir / "results.json").read_text())
    figs = figures(results)
    for name, data in figs.items():
        atomic.write_bytes(run_dir / "figures" / f"{name}.png", data)
    md = markdown(results, lambda n: f"figures/{n}.png")
    md_path = atomic.write_text(run_dir / "report.md", md)
    uris = {n: "data:image/png;base64," + base64.b64encode(d).decode("ascii") for n, d in figs.items()}
    html_path = atomic.write_text(run_dir / "report.html", to_html(markdown(results, lambda n: uris[n])))
    return md_path, html_path


def to_html(md: str) -> str:
    """The report's small markdown subset (headings, tables, images, paragraphs) as HTML."""
    body, table = [], []

    def flush_table():
        if table:
            rows = [r for r in table if not re.fullmatch(r"\|[-:| ]+\|", r)]
            cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
            body.append("<table>" + "".join(
                "<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{_inline(c)}</{'th' if i == 0 else 'td'}>" for c in row) + "</tr>"
                for i, row in enumerate(cells)) + "</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif m := re.fullmatch(r"!\[(.*)\]\((.*)\)", line):
            body.append(f'<p><img alt="{html.escape(m[1])}" src="{m[2]}"></p>')
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:36em}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>bench run report</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"


def _inline(text: str) -> str:
    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)
