"""``bench analyze eps-matrix``: accuracy of nets trained at ``eps_train`` tested at ``eps_test``.

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
from rich.console import Console

from bench.analyses.output import pct, progress, rich_table, write_table
from bench.errors import BenchError
from models.evaluation import MCResult, mc_accuracy
from models.faults import BinarySymmetric
from models.layers import stored_layers
from models.run_dir import RunDir, RunDirError, load_run
from models.training import TrainConfig, train

DEFAULT_EPS = "0,1e-3,1e-2,3e-2,1e-1"


def eps_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated rates, e.g. {DEFAULT_EPS}") from None
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: rates must lie in [0, 1]")
    return values


def register(subparsers) -> None:
    p = subparsers.add_parser("eps-matrix", help="train-eps x test-eps accuracy matrix (seed 1 Fig. 1)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/analyses/eps_matrix", help="output folder (default runs/analyses/eps_matrix)")
    p.add_argument("--train-eps", type=eps_list, default=eps_list(DEFAULT_EPS), help=f"default {DEFAULT_EPS}")
    p.add_argument("--test-eps", type=eps_list, default=eps_list(DEFAULT_EPS), help=f"default {DEFAULT_EPS}")
    p.add_argument("--arch", default="mlp")
    p.add_argument("--width", type=float, default=0.125, help="width multiplier (default 0.125: quick on a CPU)")
    p.add_argument("--mode", default="bnn")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-train", type=int)
    p.add_argument("--limit-test", type=int)
    p.add_argument("--ci", type=float, default=0.01, help="target 95%% CI half-width (fraction; default 0.01)")
    p.add_argument("--max-reps", type=int, default=200, help="most fault draws per cell (default 200)")
    p.set_defaults(func=run)


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


def train_config(args, eps: float) -> TrainConfig:
    method, options = ("uniform", {"eps": eps}) if eps > 0 else ("reliable", {})
    return TrainConfig(arch=args.arch, width=args.width, mode=args.mode, dataset=args.dataset,
                       data_dir=args.data_dir, method=method, method_options=options, epochs=args.epochs,
                       batch_size=args.batch_size, seed=args.seed, limit_train=args.limit_train,
                       limit_test=args.limit_test).resolved()


def trained_run(config: TrainConfig, folder: Path, on_batch=None):
    """Train into ``folder``, resume it, or reuse it when complete with the same config;
    returns :func:`models.run_dir.load_run`'s ``(net, config, extra)``."""
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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    from models.plots import save_figure

    fig.suptitle("accuracy: train eps x test eps (seed 1 Fig. 1)")
    save_figure(fig, path)


def run(args) -> int:
    if args.ci <= 0 or args.max_reps < 2 or args.epochs < 1:
        raise BenchError("--ci must be > 0, --max-reps >= 2, --epochs >= 1")
    out, console = Path(args.out), Console()
    nets = []
    try:
        with progress(console) as bar:
            runs = bar.add_task("training", total=len(args.train_eps), status="")
            batches = bar.add_task("batches", total=None, status="")
            for eps in args.train_eps:
                bar.update(runs, status=f"train eps {eps:g}")
                net, _, extra = trained_run(train_config(args, eps), out / "runs" / f"train_eps_{eps:g}",
                                            lambda done, total: bar.update(batches, completed=done, total=total))
                nets.append(net)
                if len(nets) == 1:  # the runs differ only in method: one data set (the first run's)
                    data = extra["data"]
                bar.advance(runs)
            cells = bar.add_task("evaluating", total=len(nets) * len(args.test_eps), status="")
            matrix = accuracy_matrix(nets, data.test_x, data.test_y, args.test_eps,
                                     torch.Generator().manual_seed(args.seed), args.ci, args.max_reps,
                                     lambda r: bar.update(cells, advance=1, status=pct(r.mean, r.half_width)))
    except (RunDirError, ValueError, KeyError, FileNotFoundError) as exc:
        raise BenchError(str(exc.args[0] if exc.args else exc)) from None
    header = ["train eps \\ test eps"] + [f"{e:g}" for e in args.test_eps]
    rows = [[f"{e:g}"] + [pct(r.mean, r.half_width) for r in row] for e, row in zip(args.train_eps, matrix)]
    meta = {"arch": args.arch, "width": args.width, "dataset": args.dataset, "epochs": args.epochs,
            "seed": args.seed, "units": "accuracy % +- 95% CI half-width", "ci_target": args.ci,
            "reps": [[r.reps for r in row] for row in matrix]}
    title = f"accuracy (%), {args.arch} on {args.dataset}: train eps x test eps"
    write_table(out, "eps_matrix", header, rows, title, meta)
    plot(args.train_eps, args.test_eps, matrix, out / "eps_matrix.png")
    console.print(rich_table(title, header, rows))
    console.print(f"written: {out}/eps_matrix.{{csv,md,json,png}}")
    return 0
