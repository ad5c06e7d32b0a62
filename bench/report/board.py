"""Accuracy on the board against software, and the fault maps read back, replayed and checked."""

from __future__ import annotations

from models.plots import plt, png_bytes


def figures(results: dict) -> dict[str, bytes]:
    ber = results["compare"]["ber"]
    xs = range(len(ber))
    fig, ax = plt.subplots(figsize=(5, 3.6))
    width = 0.4
    ax.bar([i - width / 2 for i in xs], [b["ber_0to1"] for b in ber], width, label="0->1")
    ax.bar([i + width / 2 for i in xs], [b["ber_1to0"] for b in ber], width, label="1->0")
    ax.set_xticks(list(xs), [f"{b['name']}\n{b['voltage']:.3g} V" for b in ber], fontsize=7)
    ax.set_ylabel("BER on the board")
    ax.legend()
    return {"ber_per_layer": png_bytes(fig, dpi=110)}


def markdown(results: dict, image_src) -> list[str]:
    cmp_, s = results["compare"], results["sources"]
    acc, rp = cmp_["accuracy"], cmp_["replay"]
    lines = ["## Accuracy on the board vs software", f"Source: `{s['board']}`, `{s['compare']}`.", "",
             "| | accuracy | 95% interval | inputs / repetitions |", "|---|---:|---:|---:|",
             f"| board (Wilson) | {acc['board']['accuracy']:.4f} | [{acc['board']['ci_low']:.4f}, "
             f"{acc['board']['ci_high']:.4f}] | {acc['board']['n_inputs']} |",
             *[f"| software (Monte-Carlo, {label}) | {acc[k]['accuracy']:.4f} | [{acc[k]['ci_low']:.4f}, "
               f"{acc[k]['ci_high']:.4f}] | {acc[k]['reps']} |"
               for k, label in (("software", "over chips: " + (acc["software"].get("chips") or "fixed chip")),
                                ("software_fixed_chip", "one chip: " + acc.get("software_fixed_chip", {}).get("chips", "")))
               if k in acc],
             "", f"The board's interval and the software interval over chips {'overlap' if acc['overlap'] else 'do NOT overlap'} "
                 f"(the fixed-chip row varies only the transient faults of one chip: a CI of 0 under a persistent profile).", "",
             "## Fault maps read back and replayed in software",
             f"Weight image read back at each layer's operating point (`board/faultmaps/`), run through the reference "
             f"interpreter: {rp['same_scores']}/{rp['n_inputs']} inputs give exactly the board's scores, "
             f"{rp['same_prediction']}/{rp['n_inputs']} the same class; replay accuracy {rp['replay_accuracy']:.4f} vs "
             f"board {rp['board_accuracy']:.4f}.", "",
             "Errors per read of each layer's region against its operating point's rates (expected "
             "n0 p01 + n1 p10; 99% binomial interval):", "",
             "| layer | voltage | BER | 0->1 | 1->0 | point (BER) | errors / bits | expected | 99% interval | holds |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for b in cmp_["ber"]:
        check = (f"{b['point']} ({b['point_ber']:.3g}) | {b['errors']:.3g} / {b['bits']} | {b['expected_errors']:.3g} | "
                 f"[{b['bounds'][0]:.0f}, {b['bounds'][1]:.0f}] | {'yes' if b['within_bounds'] else '**NO**'}")
        lines.append(f"| {b['name']} | {b['voltage']:.3f} V | {b['ber']:.3g} | {b['ber_0to1']:.3g} | "
                     f"{b['ber_1to0']:.3g} | {check} |")
    if cmp_.get("ber_flagged"):
        lines += ["", f"**The operating points do not hold on the board** for layer(s) {', '.join(cmp_['ber_flagged'])}: "
                      f"the read-back errors fall outside the point's binomial interval."]
    return lines + ["", f"![BER per layer]({image_src('ber_per_layer')})", ""]
