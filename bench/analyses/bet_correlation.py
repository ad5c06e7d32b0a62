"""``bench analyze bet-correlation RUN RUN ...``: accuracy over bit-error rate against the BET metric.

Seed 2 Fig. 1: for a set of runs, the Monte-Carlo accuracy at each bit-error rate (every
layer at that rate, BSC, 95% CI [ALGORITHMS 5]) next to the run's network tolerance, and
per rate the Pearson correlation coefficient between tolerance and accuracy across runs.
Written as ``OUT/bet_correlation.{csv,md,json,png}``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from bench.analyses.bet import add_metric_options, run_metric
from bench.analyses.output import pct, progress, rich_table, write_table
from bench.errors import BenchError
from bench.runs import load_run
from models.evaluation import mc_accuracy
from models.layers import stored_layers

DEFAULT_RATES = "0,0.001,0.005,0.01,0.02,0.05,0.1"


def register(subparsers) -> None:
    p = subparsers.add_parser("bet-correlation", help="accuracy over bit-error rate vs the BET metric for runs (seed 2 Fig. 1)",
                              description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run directories written by bench train (two or more)")
    p.add_argument("--out", default="analyses", help="output folder (default ./analyses)")
    p.add_argument("--rates", default=DEFAULT_RATES, help=f"comma-separated bit-error rates (default {DEFAULT_RATES})")
    p.add_argument("--ci", type=float, default=0.01, help="target 95%% CI half-width (fraction; default 0.01)")
    p.add_argument("--max-reps", type=int, default=100, help="most fault draws per rate (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault draws (default 0)")
    add_metric_options(p)
    p.set_defaults(func=run)


def parse_rates(text: str) -> list[float]:
    try:
        rates = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise BenchError(f"--rates {text!r}: expected comma-separated numbers") from None
    if not rates or any(not 0.0 <= r <= 1.0 for r in rates):
        raise BenchError(f"--rates {text!r}: bit-error rates lie in [0, 1]")
    return rates


def pearson(x, y) -> float:
    """Pearson correlation; NaN when either side is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def short_labels(names) -> list[str]:
    """Run paths without their common leading folders (unique, readable legend entries)."""
    paths = [Path(n).resolve() for n in names]
    common = Path(os.path.commonpath(paths))
    return [str(p.relative_to(common)) if p != common else p.name for p in paths]


def plot(names, betas, rates, acc, corr, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    cmap = plt.get_cmap("viridis")
    lo, hi = min(betas), max(betas)
    for i, name in enumerate(short_labels(names)):
        colour = cmap(0.5 if hi == lo else (betas[i] - lo) / (hi - lo))
        means = [100 * acc[i][j].mean for j in range(len(rates))]
        errs = [100 * acc[i][j].half_width for j in range(len(rates))]
        left.errorbar(range(len(rates)), means, yerr=errs, capsize=2, color=colour,
                      label=f"{name} (BET {betas[i]:.2f})")
    left.set_xticks(range(len(rates)), [f"{r:g}" for r in rates], rotation=45)
    left.set_xlabel("bit-error rate (every layer)")
    left.set_ylabel("accuracy (%) with 95% CI")
    left.legend(fontsize=7)
    for j, r in enumerate(rates):
        right.scatter(betas, [100 * acc[i][j].mean for i in range(len(names))],
                      label=f"BER {r:g}: r = {corr[j]:.2f}", s=18)
    right.set_xlabel("network bit-error tolerance (flips)")
    right.set_ylabel("accuracy (%)")
    right.legend(fontsize=7)
    from models.plots import fit_title, save_figure

    fig.suptitle(fit_title(fig, title, 9), fontsize=9)
    save_figure(fig, path)


def run(args) -> int:
    if len(args.runs) < 2:
        raise BenchError("bet-correlation needs two or more runs (a correlation across one run is undefined)")
    if args.ci <= 0 or args.max_reps < 2:
        raise BenchError("--ci must be > 0 and --max-reps >= 2")
    rates = parse_rates(args.rates)
    console = Console()
    betas, acc = [], []
    with progress(console) as bar:
        task = bar.add_task("runs x rates", total=len(args.runs) * len(rates), status="")
        for name in args.runs:
            net, _, extra = load_run(name)
            data = extra["data"]
            betas.append(run_metric(net, data, args.split, args.convention, name).network)
            gen = torch.Generator().manual_seed(args.seed)
            row = []
            for r in rates:
                layer_rates = {n: r for n, _ in stored_layers(net)}
                res = mc_accuracy(net, data.test_x, data.test_y, layer_rates, gen, target=args.ci,
                                  min_reps=min(10, args.max_reps), max_reps=args.max_reps)
                row.append(res)
                bar.update(task, advance=1, status=f"{Path(name).name} @ {r:g}: {pct(res.mean, res.half_width)}")
            acc.append(row)
    corr = [pearson(betas, [acc[i][j].mean for i in range(len(betas))]) for j in range(len(rates))]
    header = ["run", "BET (flips)"] + [f"acc % @ {r:g}" for r in rates]
    rows = [[n, f"{b:.3f}"] + [pct(a.mean, a.half_width) for a in accs] for n, b, accs in zip(args.runs, betas, acc)]
    rows.append(["Pearson r (BET vs accuracy)", ""] + ["n/a" if math.isnan(c) else f"{c:.3f}" for c in corr])
    title = f"accuracy over bit-error rate vs bit-error tolerance ({len(args.runs)} runs, {args.split} split)"
    out = Path(args.out)
    meta = {"runs": list(args.runs), "rates": rates, "bet": betas, "pearson_r": corr,
            "convention": args.convention, "ci_target": args.ci, "seed": args.seed}
    write_table(out, "bet_correlation", header, rows, title, meta)
    plot(args.runs, betas, rates, acc, corr, title, out / "bet_correlation.png")
    console.print(rich_table(title, header, rows))
    console.print(f"written: {out}/bet_correlation.{{csv,md,json,png}}")
    return 0
