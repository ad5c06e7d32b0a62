"""What the stages share: earlier stages' JSON, the run's data set and trained networks, the
board's test subset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch.nn as nn

from bench.errors import user_errors
from models.data import Dataset, DatasetError, load_dataset
from models.run_dir import RunDirError
from models.training import load_run


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def dataset(ctx) -> Dataset:
    """The run's data set, loaded once per command (a shared resource of the stages)."""
    cfg = ctx.config["train"]

    def load(_stack) -> Dataset:
        with user_errors(DatasetError, prefix=f"--dataset {cfg['dataset']}: "):
            return load_dataset(cfg["dataset"], ctx.config.get("data_dir"), seed=ctx.config["seeds"]["train"],
                                limit_train=cfg["train_subset"])

    return ctx.resources.get("dataset", load)


def trained_net(run_dir: Path) -> nn.Module:
    """The trained network of a training run directory, in eval mode."""
    with user_errors(RunDirError):
        net, _config, _extra = load_run(run_dir)
    return net.eval()


def board_subset(n_test: int, size: int, seed: int) -> np.ndarray:
    """The test inputs run on the board: ``size`` indices of a seeded permutation, sorted.

    Software evaluation uses the same indices, so the board and its software prediction
    see the same inputs.
    """
    order = np.random.default_rng(seed).permutation(n_test)[: min(size, n_test)]
    return np.sort(order)


def geometric_mean(values) -> float:
    v = np.asarray(list(values), dtype=np.float64)
    return float(np.exp(np.log(v).mean()))
