"""Accuracy when one layer's weights are random.

Seed 1 Fig. 2 (sec. III-A): replace the parameters of one layer at a time with random
values and measure the accuracy; critical layers fall to chance, others barely move.
Randomising a layer = reading it through a BSC at ``eps = 0.5`` (every read bit is then an
independent fair coin, whatever was stored), re-drawn for every Monte-Carlo repetition
[ALGORITHMS 5]. The other layers read at the run's final per-layer eps (``--others run``,
default) or fault-free (``--others reliable``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import torch
import torch.nn as nn

from bench.analyses.common import Steps, open_run
from bench.errors import BenchError
from bench.output import TableResult, layer_bar_plot, pct, write_table
from bench.runs import training_run
from models.architectures import layer_labels
from models.evaluation import MCResult, mc_accuracy
from models.faults import BinarySymmetric
from models.layers import stored_layers

RANDOM_EPS = 0.5  # BSC(0.5): the read bit is independent of the stored bit


def layer_sensitivity(net: nn.Module, x: torch.Tensor, y: torch.Tensor, base: Mapping[str, float],
                      generator: torch.Generator, ci: float, max_reps: int,
                      on_layer: Callable[[str, MCResult], None] | None = None) -> dict[str, MCResult]:
    """``{"none": baseline, layer: accuracy with that layer randomised}`` (others at ``base``)."""
    results = {}
    for name in [None] + [n for n, _ in stored_layers(net)]:
        rates = dict(base)
        if name is not None:
            rates[name] = RANDOM_EPS
        r = mc_accuracy(net, x, y, rates, generator, BinarySymmetric(), target=ci,
                        min_reps=min(10, max_reps), max_reps=max_reps)
        results[name or "none"] = r
        if on_layer is not None:
            on_layer(name or "none", r)
    return results


def sensitivity(run: str | Path, out: str | Path | None = None, others: str = "run", ci: float = 0.01,
                max_reps: int = 200, seed: int = 0, progress=None, network: str | None = None) -> TableResult:
    """Accuracy of ``run`` with each stored layer randomised in turn; the other layers at the
    run's final eps (``others="run"``) or fault-free (``"reliable"``)."""
    if ci <= 0 or max_reps < 2:
        raise BenchError("--ci must be > 0 and --max-reps >= 2")
    used = training_run(run, network)   # a bench run folder: its main network, or --network
    run = used.path
    net, config, extra = open_run(run)
    data = extra["data"]
    base = dict(extra["eps"] or {}) if others == "run" else {}
    steps = Steps(progress, "layers", len(stored_layers(net)) + 1)
    results = layer_sensitivity(net, data.test_x, data.test_y, base, torch.Generator().manual_seed(seed), ci, max_reps,
                                lambda name, r: steps.update(advance=1, status=f"{name}: {pct(r.mean, r.half_width)}"))
    sizes, labels = {n: m.n_params for n, m in stored_layers(net)}, layer_labels(net)
    header = ["randomised layer", "N_l", "accuracy % +- CI", "drop (points)", "draws"]
    rows = [[labels.get(name, name), sizes.get(name, ""), pct(r.mean, r.half_width),
             f"{100 * (results['none'].mean - r.mean):.2f}", r.reps] for name, r in results.items()]
    others_text = "the run's final eps" if base else "fault-free"
    title = f"layer randomisation of {used.short()} ({config.arch} on {config.dataset}; other layers {others_text})"
    out = Path(out) if out else Path(run) / "analyses"
    meta = {"run": str(run), "others": others_text, "layer_labels": labels, "base_eps": base, "random_eps": RANDOM_EPS,
            "ci_target": ci, "seed": seed}
    files = write_table(out, "sensitivity", header, rows, title, meta)
    layers = [n for n in results if n != "none"]
    short = f"layer randomisation of {Path(run).name} ({config.arch}, {config.dataset}; others {others_text})"
    layer_bar_plot([labels[n] for n in layers], [100 * results[n].mean for n in layers], out / "sensitivity.png", short,
                   "accuracy (%) with 95% CI, layer randomised", errors=[100 * results[n].half_width for n in layers],
                   lines=[(100 * results["none"].mean, "tab:green", "--", "no layer randomised"),
                          (100 / data.n_classes, "tab:red", ":", "chance")])
    return TableResult(title, header, rows, files + [out / "sensitivity.png"])
