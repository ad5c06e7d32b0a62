"""``bench analyze sensitivity runs/NAME``: accuracy when one layer's weights are random.

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
from rich.console import Console

from bench.analyses.output import layer_bar_plot, pct, progress, rich_table, write_table
from bench.errors import BenchError
from bench.runs import load_run
from models.architectures import layer_labels
from models.evaluation import MCResult, mc_accuracy
from models.faults import BinarySymmetric
from models.layers import stored_layers

RANDOM_EPS = 0.5  # BSC(0.5): the read bit is independent of the stored bit


def register(subparsers) -> None:
    p = subparsers.add_parser("sensitivity", help="layer-randomisation sensitivity of a run (seed 1 Fig. 2)",
                              description=__doc__.splitlines()[0])
    p.add_argument("run", help="run directory written by bench train")
    p.add_argument("--out", help="output folder (default RUN/analyses)")
    p.add_argument("--others", choices=("run", "reliable"), default="run",
                   help="rates of the layers not randomised: the run's final eps (default) or none")
    p.add_argument("--ci", type=float, default=0.01, help="target 95%% CI half-width (fraction; default 0.01)")
    p.add_argument("--max-reps", type=int, default=200, help="most fault draws per layer (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault draws (default 0)")
    p.set_defaults(func=run)


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


def run(args) -> int:
    if args.ci <= 0 or args.max_reps < 2:
        raise BenchError("--ci must be > 0 and --max-reps >= 2")
    net, config, extra = load_run(args.run)
    data, console = extra["data"], Console()
    base = dict(extra["eps"] or {}) if args.others == "run" else {}
    with progress(console) as bar:
        task = bar.add_task("layers", total=len(stored_layers(net)) + 1, status="")
        results = layer_sensitivity(net, data.test_x, data.test_y, base, torch.Generator().manual_seed(args.seed),
                                    args.ci, args.max_reps,
                                    lambda name, r: bar.update(task, advance=1, status=f"{name}: {pct(r.mean, r.half_width)}"))
    sizes, labels = {n: m.n_params for n, m in stored_layers(net)}, layer_labels(net)
    header = ["randomised layer", "N_l", "accuracy % +- CI", "drop (points)", "draws"]
    rows = [[labels.get(name, name), sizes.get(name, ""), pct(r.mean, r.half_width),
             f"{100 * (results['none'].mean - r.mean):.2f}", r.reps] for name, r in results.items()]
    others = "the run's final eps" if base else "fault-free"
    title = f"layer randomisation of {args.run} ({config.arch} on {config.dataset}; other layers {others})"
    out = Path(args.out) if args.out else Path(args.run) / "analyses"
    meta = {"run": str(args.run), "others": others, "layer_labels": labels, "base_eps": base, "random_eps": RANDOM_EPS,
            "ci_target": args.ci, "seed": args.seed}
    write_table(out, "sensitivity", header, rows, title, meta)
    layers = [n for n in results if n != "none"]
    short = f"layer randomisation of {Path(args.run).name} ({config.arch}, {config.dataset}; others {others})"
    layer_bar_plot([labels[n] for n in layers], [100 * results[n].mean for n in layers], out / "sensitivity.png", short,
                   "accuracy (%) with 95% CI, layer randomised", errors=[100 * results[n].half_width for n in layers],
                   lines=[(100 * results["none"].mean, "tab:green", "--", "no layer randomised"),
                          (100 / data.n_classes, "tab:red", ":", "chance")])
    console.print(rich_table(title, header, rows))
    console.print(f"written: {out}/sensitivity.{{csv,md,json,png}}")
    return 0
