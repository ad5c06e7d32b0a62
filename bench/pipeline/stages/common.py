"""Small helpers the stages share: reading earlier stages' JSON, the board's test subset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


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
