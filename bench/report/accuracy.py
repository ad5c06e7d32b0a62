"""Software accuracy (Monte-Carlo, 95% CI) and memory energy of the main method and its baselines."""

from __future__ import annotations

from bench.report.text import energy, energy_per, figure
from models.plots import plt, png_bytes


def figures(results: dict) -> dict[str, bytes]:
    sw = results["software_eval"]
    ref = sw["reliable"]["energy_J"]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for key, label, marker in (("reliable", "reliable", "s"), ("uniform", "uniform noise", "^"),
                               ("main", results["train"]["method"], "o")):
        e = sw[key]["energy_J"]
        x = e / ref if ref else e
        ax.errorbar([x], [sw[key]["mean"]], yerr=[sw[key]["half_width"]], fmt=marker, capsize=4, label=label)
    per = energy_per(results)
    ax.set_xlabel(f"memory energy per {per} / reliable network's" if ref else f"memory energy per {per} (J)")
    ax.set_ylabel("test accuracy (95% CI)")
    ax.legend()
    ax.grid(alpha=0.3)
    return {"accuracy_vs_energy": png_bytes(fig, dpi=110)}


def markdown(results: dict, image_src) -> list[str]:
    sw, s = results["software_eval"], results["sources"]
    lines = ["## Accuracy and energy (software, Monte-Carlo 95% CI)",
             f"Source: `{s['software_eval']}`. Each repetition is a fresh chip (a new chip seed for the persistent faults).", "",
             f"Accuracy on all {sw.get('n_test', '?')} test inputs; the CI half-width is the Student-t 95% interval of "
             f"the mean over the repetitions (fault draws) on those same inputs, so it covers the faults, not the "
             f"choice of inputs. The reliable network runs fault-free: one exact evaluation. Memory energy: predicted "
             f"energy per {energy_per(results)} of the weights (each layer's bits times its energy per bit).", "",
             f"| network | accuracy | CI half-width | repetitions | memory energy per {energy_per(results)} | vs reliable |",
             "|---|---:|---:|---:|---:|---:|"]
    ref = sw["reliable"]["energy_J"]
    for key in ("reliable", "uniform", "main"):
        r = sw[key]
        ratio = f"{r['energy_J'] / ref:.3f}" if ref else "n/a"
        label = key if key != "main" else results["train"]["method"]
        if key == "uniform":
            label += f" (eps {results['uniform_eps']:.3g})"
        lines.append(f"| {label} | {r['mean']:.4f} | {r['half_width']:.4f} | {r['reps']} | {energy(r['energy_J'])} | {ratio} |")
    return lines + ["", *figure("accuracy vs energy", image_src("accuracy_vs_energy"),
                                "Up and to the left is better: higher accuracy for less memory energy. Error bars are "
                                "the 95% Monte-Carlo intervals; points whose bars overlap are not told apart.")]
