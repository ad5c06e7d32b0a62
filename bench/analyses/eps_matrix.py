"""Accuracy of nets trained at ``eps_train`` tested at ``eps_test``.

Seed 1 Fig. 1 (sec. III-A): one network per training rate (``uniform`` BSC noise on every
layer; ``eps_train = 0`` is the reliable net), each evaluated by Monte-Carlo [ALGORITHMS 5]
at every test rate (BSC on every layer). Shows noise overfitting (best accuracy at
``eps_test = eps_train`` for large rates) and the regularising effect of small noise.
The trained runs are kept under ``OUT/runs/`` and reused (resumed if interrupted).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn

from bench.analyses.common import Steps
from bench.errors import BenchError, user_errors
from bench.output import TableResult, pct, write_table
from models.evaluation import MCResult, mc_accuracy
from models.faults import BinarySymmetric
from models.layers import stored_layers
from models.plots import plt, save_figure
from models.run_dir import RunDir, RunDirError
from models.training import TrainConfig, load_run, train

DEFAULT_EPS = "0,1e-3,1e-2,3e-2,1e-1"


def eps_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated rates, e.g. {DEFAULT_EPS}") from None
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: rates must lie in [0, 1]")
    return values


def accuracy_matrix(nets: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor, test_eps: Sequence[float],
                    generator: torch.Generator, ci: float, max_reps: int,
                    on_cell: Callable[[MCResult], None] | None = None) -> list[list[MCResult]]:
    """``[i][j]``: net ``i`` at BSC rate ``test_eps[j]`` on every stored layer (MC to ``ci``)."""
    rows = []
    for net in nets:
        names = [n for n, _ in stored_layers(net)]
        row = []
        for eps in test_eps:
            r = mc_accuracy(net, x, y, {n: eps for n in names}, generator, BinarySymmetric(),
                            target=ci, min_reps=min(10, max_reps), max_reps=max_reps)
            row.append(r)
            if on_cell is not None:
                on_cell(r)
        rows.append(row)
    return rows


def train_config(eps: float, **settings) -> TrainConfig:
    method, options = ("uniform", {"eps": eps}) if eps > 0 else ("reliable", {})
    return TrainConfig(method=method, method_options=options, **settings).resolved()


def trained_run(config: TrainConfig, folder: Path, on_batch=None):
    """Train into ``folder``, resume it, or reuse it when complete with the same config;
    returns :func:`models.training.load_run`'s ``(net, config, extra)``."""
    run = RunDir(folder)
    if (folder / "config.yaml").exists():
        if TrainConfig.from_dict(run.read_config()).to_dict() != config.to_dict():  # new fields: defaults
            raise BenchError(f"{folder}: holds a run with other settings; delete it or choose another --out")
        if not run.status()["complete"]:
            train(config, folder, resume=True, on_batch=on_batch)
    else:
        train(config, folder, on_batch=on_batch)
    return load_run(folder)


def plot(train_eps, test_eps, matrix: list[list[MCResult]], path: Path) -> None:
    fig, (ax_lines, ax_map) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = list(range(len(test_eps)))
    for eps, row in zip(train_eps, matrix):
        ax_lines.errorbar(xs, [100 * r.mean for r in row], yerr=[100 * r.half_width for r in row],
                          marker="o", capsize=3, label=f"train eps {eps:g}")
    ax_lines.set_xticks(xs, [f"{e:g}" for e in test_eps])
    ax_lines.set_xlabel("test eps")
    ax_lines.set_ylabel("accuracy (%) with 95% CI")
    ax_lines.legend(fontsize=8)
    ax_lines.grid(alpha=0.3)
    values = [[100 * r.mean for r in row] for row in matrix]
    im = ax_map.imshow(values, cmap="viridis", aspect="auto")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax_map.text(j, i, f"{v:.1f}", ha="center", va="center", color="w", fontsize=8)
    ax_map.set_xticks(range(len(test_eps)), [f"{e:g}" for e in test_eps])
    ax_map.set_yticks(range(len(train_eps)), [f"{e:g}" for e in train_eps])
    ax_map.set_xlabel("test eps")
    ax_map.set_ylabel("train eps")
    fig.colorbar(im, ax=ax_map, label="accuracy (%)")
    fig.suptitle("accuracy: train eps x test eps (seed 1 Fig. 1)")
    save_figure(fig, path)


def eps_matrix(out: str | Path = "runs/analyses/eps_matrix", train_eps: Sequence[float] = eps_list(DEFAULT_EPS),
               test_eps: Sequence[float] = eps_list(DEFAULT_EPS), arch: str = "mlp", width: float = 0.125,
               mode: str = "bnn", dataset: str = "digits", data_dir: str | None = None, epochs: int = 10,
               batch_size: int = 64, seed: int = 0, limit_train: int | None = None, limit_test: int | None = None,
               ci: float = 0.01, max_reps: int = 200, progress=None) -> TableResult:
    """One network per training rate (uniform BSC noise; 0 = reliable), kept under
    ``out/runs/`` and reused, each evaluated by Monte-Carlo at every test rate."""
    if ci <= 0 or max_reps < 2 or epochs < 1:
        raise BenchError("--ci must be > 0, --max-reps >= 2, --epochs >= 1")
    out = Path(out)
    settings = dict(arch=arch, width=width, mode=mode, dataset=dataset, data_dir=data_dir, epochs=epochs,
                    batch_size=batch_size, seed=seed, limit_train=limit_train, limit_test=limit_test)
    nets = []
    with user_errors(RunDirError, ValueError, KeyError, FileNotFoundError):
        runs = Steps(progress, "training", len(train_eps))
        batches = Steps(progress, "batches", None)
        for eps in train_eps:
            runs.update(status=f"train eps {eps:g}")
            net, _, extra = trained_run(train_config(eps, **settings), out / "runs" / f"train_eps_{eps:g}",
                                        lambda done, total: batches.update(completed=done, total=total))
            nets.append(net)
            if len(nets) == 1:  # the runs differ only in method: one data set (the first run's)
                data = extra["data"]
            runs.update(advance=1)
        cells = Steps(progress, "evaluating", len(nets) * len(test_eps))
        matrix = accuracy_matrix(nets, data.test_x, data.test_y, test_eps, torch.Generator().manual_seed(seed), ci,
                                 max_reps, lambda r: cells.update(advance=1, status=pct(r.mean, r.half_width)))
    header = ["train eps \\ test eps"] + [f"{e:g}" for e in test_eps]
    rows = [[f"{e:g}"] + [pct(r.mean, r.half_width) for r in row] for e, row in zip(train_eps, matrix)]
    meta = {"arch": arch, "width": width, "dataset": dataset, "epochs": epochs,
            "seed": seed, "units": "accuracy % +- 95% CI half-width", "ci_target": ci,
            "reps": [[r.reps for r in row] for row in matrix]}
    title = f"accuracy (%), {arch} on {dataset}: train eps x test eps"
    files = write_table(out, "eps_matrix", header, rows, title, meta)
    plot(train_eps, test_eps, matrix, out / "eps_matrix.png")
    return TableResult(title, header, rows, files + [out / "eps_matrix.png"])
