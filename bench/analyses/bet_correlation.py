"""Accuracy over bit-error rate against the bit-error-tolerance metric, across runs.

Seed 2 Fig. 1: for a set of runs, the Monte-Carlo accuracy at each bit-error rate (every
layer at that rate, BSC, 95% CI [ALGORITHMS 5]) next to the run's network tolerance, and
per rate the Pearson correlation coefficient between tolerance and accuracy across runs.
Written as ``OUT/bet_correlation.{csv,md,json,png}``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from bench.analyses.bet import run_metric
from bench.analyses.common import Steps, open_run
from bench.errors import BenchError
from bench.output import TableResult, pct, write_table
from bench.runs import training_run
from models.evaluation import mc_accuracy
from models.layers import stored_layers
from models.plots import fit_title, plt, save_figure

DEFAULT_RATES = "0,0.001,0.005,0.01,0.02,0.05,0.1"


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
    fig.suptitle(fit_title(fig, title, 9), fontsize=9)
    save_figure(fig, path)


def bet_correlation(runs: Sequence[str | Path], out: str | Path = "analyses", rates: Sequence[float] | str = DEFAULT_RATES,
                    ci: float = 0.01, max_reps: int = 100, seed: int = 0, split: str = "test",
                    convention: str = "sign0", progress=None, network: str | None = None) -> TableResult:
    """Monte-Carlo accuracy of each run at each bit-error rate (BSC on every layer) beside its
    network tolerance, and the Pearson r between the two per rate."""
    if len(runs) < 2:
        raise BenchError("bet-correlation needs two or more runs (a correlation across one run is undefined)")
    if ci <= 0 or max_reps < 2:
        raise BenchError("--ci must be > 0 and --max-reps >= 2")
    rates = parse_rates(rates) if isinstance(rates, str) else list(rates)
    betas, acc = [], []
    steps = Steps(progress, "runs x rates", len(runs) * len(rates))
    for name in runs:
        net, _, extra = open_run(training_run(name, network).path)   # bench run folders: --network's
        data = extra["data"]
        betas.append(run_metric(net, data, split, convention, str(name)).network)
        gen = torch.Generator().manual_seed(seed)
        row = []
        for r in rates:
            layer_rates = {n: r for n, _ in stored_layers(net)}
            res = mc_accuracy(net, data.test_x, data.test_y, layer_rates, gen, target=ci,
                              min_reps=min(10, max_reps), max_reps=max_reps)
            row.append(res)
            steps.update(advance=1, status=f"{Path(name).name} @ {r:g}: {pct(res.mean, res.half_width)}")
        acc.append(row)
    corr = [pearson(betas, [acc[i][j].mean for i in range(len(betas))]) for j in range(len(rates))]
    header = ["run", "BET (flips)"] + [f"acc % @ {r:g}" for r in rates]
    rows = [[str(n), f"{b:.3f}"] + [pct(a.mean, a.half_width) for a in accs] for n, b, accs in zip(runs, betas, acc)]
    rows.append(["Pearson r (BET vs accuracy)", ""] + ["n/a" if math.isnan(c) else f"{c:.3f}" for c in corr])
    title = f"accuracy over bit-error rate vs bit-error tolerance ({len(runs)} runs, {split} split)"
    out = Path(out)
    meta = {"runs": [str(r) for r in runs], "rates": rates, "bet": betas, "pearson_r": corr,
            "convention": convention, "ci_target": ci, "seed": seed}
    files = write_table(out, "bet_correlation", header, rows, title, meta)
    plot([str(r) for r in runs], betas, rates, acc, corr, title, out / "bet_correlation.png")
    return TableResult(title, header, rows, files + [out / "bet_correlation.png"])
