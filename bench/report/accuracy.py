"""Software accuracy (Monte-Carlo, 95% CI) and memory energy: the deployed network, the
comparison's front (reliable, uniform noise at several operating points, the main method, each
over its training seeds) and the verdict at iso-accuracy (``bench.front``)."""

from __future__ import annotations

from bench.front import Point, draw
from bench.report.text import energy, energy_per, figure
from models.plots import fit_title, plt, png_bytes


def _points(results: dict) -> list[Point]:
    return [Point.from_dict(p) for p in results["software_eval"]["front"]]


def figures(results: dict) -> dict[str, bytes]:
    sw = results["software_eval"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    draw(ax, _points(results), sw["verdict"], sw["reference_J"])
    if sw["reference_J"]:
        ax.set_xlabel(f"memory energy per {energy_per(results)} / reliable network's")
    ax.set_title(fit_title(fig, "accuracy vs memory energy: uniform-noise front and "
                           f"{results['train']['method']} (mean over seeds, 95% intervals)", 9), fontsize=9)
    return {"accuracy_vs_energy": png_bytes(fig, dpi=110)}


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def markdown(results: dict, image_src) -> list[str]:
    sw, s = results["software_eval"], results["sources"]
    v, ref, per = sw["verdict"], sw["reference_J"], energy_per(results)
    seeds = results["seeds"].get("front", [results["seeds"]["train"]])
    lines = ["## Accuracy and energy against uniform noise (software, Monte-Carlo)",
             f"Source: `{s['software_eval']}`. Every network is trained with {len(seeds)} seed(s) "
             f"({', '.join(map(str, seeds))}) and evaluated on all {sw.get('n_test', '?')} test inputs by Monte-Carlo "
             f"over fault draws, each repetition a fresh chip (reliable networks fault-free: one exact evaluation). "
             f"Accuracy: mean over seeds; its 95% interval is the wider of the Student-t interval over the seeds and "
             f"the Monte-Carlo interval over the fault draws (both listed; they cover seeds and faults, not the choice "
             f"of test inputs). Memory energy: predicted energy per {per} of the weights at each network's operating "
             f"points (each layer's bits times its energy per bit), relative to the reliable network's.", "",
             f"**Verdict:** {v['text']}" + ("" if v["meets_target"] or not v.get("why") else
                                            f" **It does not meet the {v['target_x']:g}x target:** {v['why']}."), "",
             f"| method | setting | seeds | accuracy % | 95% interval | over seeds | over draws | energy / reliable | "
             f"memory energy per {per} |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p in sorted(_points(results), key=lambda p: (p.method, -p.energy_J)):
        rel = f"{p.energy_J / ref:.3f}" + (f" ± {p.energy_ci / ref:.3f}" if p.energy_ci else "") if ref else "n/a"
        lines.append(f"| {p.method} | {p.setting} | {p.seeds} | {_pct(p.accuracy)} | ± {_pct(p.accuracy_ci)} | "
                     + ("n/a" if p.ci_seeds is None else f"± {_pct(p.ci_seeds)}")
                     + f" | ± {_pct(p.ci_draws)} | {rel} | {energy(p.energy_J)} |")
    main = sw["main"]
    lines += ["", f"Deployed network ({results['train']['method']}, seed {results['seeds']['train']}): "
                  f"{_pct(main['mean'])}% ± {_pct(main['half_width'])} over {main['reps']} chips at "
                  f"{energy(main['energy_J'])}. Per-layer operating points of all networks: `{s['software_eval']}` "
                  f"(`networks`)."]
    return lines + ["", *figure("accuracy vs energy", image_src("accuracy_vs_energy"),
                                "Up and to the left is better: higher accuracy for less memory energy. The uniform-noise "
                                "front is one line; error bars are the 95% intervals over seeds and fault draws (and "
                                "over seeds of the energy); points whose bars overlap are not told apart.")]
