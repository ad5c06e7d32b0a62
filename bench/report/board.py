"""Accuracy on the board against software, and the fault maps read back, replayed and checked.

Every accuracy says which inputs it counts: the board runs a seeded subset of the test set
(``n_inputs``); the software rows here use exactly those inputs, with the same interval as the
board (Wilson 95% over the inputs, ``bench.report.findings``); the Monte-Carlo interval over the
fault draws is listed beside it.
"""

from __future__ import annotations

from models.evaluation import wilson
from bench.report.findings import prediction_interval
from bench.report.text import figure, layer_labels
from models.plots import plt, png_bytes


def figures(results: dict) -> dict[str, bytes]:
    ber, labels = results["compare"]["ber"], layer_labels(results)
    points = {l["name"]: l for l in results["operating_points"]["layers"]}
    xs = range(len(ber))
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.4
    for offset, key, rate, label in ((-width / 2, "ber_0to1", "p01", "0->1"), (width / 2, "ber_1to0", "p10", "1->0")):
        ax.bar([i + offset for i in xs], [b[key] for b in ber], width, label=f"{label} read back")
        expected = [points[b["name"]].get(rate) for b in ber]
        ax.hlines([e for e in expected if e is not None],
                  [i + offset - width / 2 for i, e in zip(xs, expected) if e is not None],
                  [i + offset + width / 2 for i, e in zip(xs, expected) if e is not None],
                  colors="k", linestyles="--", linewidths=1.5,
                  label="expected at the operating point" if offset < 0 else None)
    ax.set_xticks(list(xs), [f"{labels.get(b['name'], b['name'])}\n{b['voltage']:.3g} V" for b in ber], fontsize=8)
    ax.set_xlabel("layer and its memory voltage")
    ax.set_ylabel("bit-error rate on the board")
    ax.margins(y=0.15)
    ax.legend(fontsize=8)
    return {"ber_per_layer": png_bytes(fig, dpi=110)}


def _software_row(label: str, entry: dict, n: int) -> str:
    lo, hi = wilson(round(entry["accuracy"] * n), n)
    return (f"| software, {label} | {entry['accuracy']:.4f} | [{lo:.4f}, {hi:.4f}] | "
            f"[{entry['ci_low']:.4f}, {entry['ci_high']:.4f}] over {entry['reps']} draws | {n} |")


def markdown(results: dict, image_src) -> list[str]:
    cmp_, s = results["compare"], results["sources"]
    acc, rp, labels = cmp_["accuracy"], cmp_["replay"], layer_labels(results)
    n = acc["board"]["n_inputs"]
    pi = prediction_interval(acc["software"])
    rows = [_software_row("over chips (" + (acc["software"].get("chips") or "fresh chips") + ")", acc["software"], n)]
    if "software_fixed_chip" in acc:
        rows.append(_software_row("one chip (" + acc["software_fixed_chip"].get("chips", "") + ")",
                                  acc["software_fixed_chip"], n))
    lines = ["## Accuracy on the board vs software", f"Source: `{s['board']}`, `{s['compare']}`.", "",
             f"All rows count the same {n} test inputs, the ones the board ran (a seeded subset of the test set; the "
             f"software accuracy on the whole test set is in the first table). Interval: the Wilson score 95% "
             f"interval over the {n} inputs, honest for few inputs (never zero-width). The Monte-Carlo column is the "
             f"Student-t 95% interval of the mean over the fault draws alone (zero-width when every draw gave the "
             f"same accuracy, as on one chip whose faults are persistent).", "",
             "| | accuracy | Wilson 95% over the inputs | Monte-Carlo 95% (fault draws) | inputs |",
             "|---|---:|---:|---:|---:|",
             f"| board | {acc['board']['accuracy']:.4f} | [{acc['board']['ci_low']:.4f}, {acc['board']['ci_high']:.4f}] "
             f"| one chip, one run | {n} |", *rows, "",
             f"The board's interval and the Monte-Carlo interval over chips "
             f"{'overlap' if acc['overlap'] else 'do NOT overlap'}"
             + (f"; one chip's accuracy falls in [{pi[0]:.4f}, {pi[1]:.4f}] with 95% probability (Student-t prediction "
                f"interval over the draws), which is what a single board should be held to" if pi else "") + ".", "",
             "## Fault maps read back and replayed in software",
             f"Weight image read back at each layer's operating point (`board/faultmaps/`), each cell's majority over "
             f"the reads (its persistent faults) run through the reference interpreter: {rp['same_scores']} of "
             f"{rp['n_inputs']} inputs give exactly the board's scores, {rp['same_prediction']} of {rp['n_inputs']} the "
             f"same class; replay accuracy {rp['replay_accuracy']:.4f} vs board {rp['board_accuracy']:.4f}. Inputs "
             f"whose scores differ met transient flips on the board, which change from read to read.", "",
             "Errors per read of each layer's region against its operating point's rates (expected "
             "n0 p01 + n1 p10 for n0 zeros and n1 ones written; 99% binomial interval):", "",
             "| layer | voltage | BER | 0->1 | 1->0 | point (BER) | errors / bits | expected | 99% interval | holds |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for b in cmp_["ber"]:
        check = (f"{b['point']} ({b['point_ber']:.3g}) | {b['errors']:.3g} / {b['bits']} | {b['expected_errors']:.3g} | "
                 f"[{b['bounds'][0]:.0f}, {b['bounds'][1]:.0f}] | {'yes' if b['within_bounds'] else '**NO**'}")
        lines.append(f"| {labels.get(b['name'], b['name'])} | {b['voltage']:.3f} V | {b['ber']:.3g} | "
                     f"{b['ber_0to1']:.3g} | {b['ber_1to0']:.3g} | {check} |")
    if cmp_.get("ber_flagged"):
        lines += ["", f"**The operating points do not hold on the board** for layer(s) "
                      f"{', '.join(labels.get(x, x) for x in cmp_['ber_flagged'])}: the read-back errors fall outside "
                      f"the point's binomial interval."]
    return lines + ["", *figure("BER per layer", image_src("ber_per_layer"),
                                "Each bar is a layer's measured flip rate in one direction; its dashed line is the "
                                "rate its operating point predicts. A bar far above its line is a memory worse than "
                                "the profile; the table's 99% interval says how far is too far for this many bits.")]
