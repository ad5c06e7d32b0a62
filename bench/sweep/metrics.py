"""What a finished trial's run directory says: accuracy, its CI, predicted memory energy.

``bench train`` trials (docs/RUN_DIRECTORY.md): the last ``metrics.jsonl`` record (accuracy
under faults at the trained eps with its Monte-Carlo CI where the method has eps, else the
fault-free test accuracy) and ``energy.json`` (total predicted memory energy).

``bench run`` trials: ``report/results.json``: the main method's software evaluation under
the profile's faults, plus the run's own reliable and uniform baselines, so a sweep of runs
has reliable reference points for its iso-accuracy ratios.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from models.run_dir import RunDir


@dataclass(frozen=True)
class TrialPoint:
    suffix: str  # "" for the trial's own method, "/reliable" etc. for a run's baselines
    method: str | None  # None: the method the trial's parameters name
    accuracy: float
    ci: float
    energy_J: float


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}: missing or unreadable ({exc}); did the trial finish?") from None


def train_trial_points(run_dir: Path) -> list[TrialPoint]:
    records = RunDir(run_dir).read_metrics()
    if not records:
        raise BenchError(f"{run_dir}/metrics.jsonl has no epochs: the trial did not finish")
    last = records[-1]
    if last.get("test_acc_faulty") is not None:
        acc, ci = last["test_acc_faulty"], last.get("test_acc_faulty_ci") or 0.0
    else:
        acc, ci = last["test_acc"], 0.0
    energy = _read_json(Path(run_dir) / "energy.json").get("total_J")
    if energy is None:
        raise BenchError(f"{run_dir}/energy.json has no total_J")
    return [TrialPoint("", None, float(acc), float(ci), float(energy))]


def run_trial_points(run_dir: Path) -> list[TrialPoint]:
    results = _read_json(Path(run_dir) / "report" / "results.json")
    evals = results.get("software_eval", {})
    method = results.get("train", {}).get("method")
    points = []
    for key, suffix, name in (("main", "", method), ("reliable", "/reliable", "reliable"),
                              ("uniform", "/uniform", "uniform")):
        e = evals.get(key)
        if e and e.get("energy_J") is not None:
            points.append(TrialPoint(suffix, name, float(e["mean"]), float(e.get("half_width") or 0.0),
                                     float(e["energy_J"])))
    if not points:
        raise BenchError(f"{run_dir}/report/results.json has no software evaluation with energy")
    return points


def trial_points(run_dir: Path, command: str) -> list[TrialPoint]:
    """The points one finished trial contributes to the sweep report."""
    return run_trial_points(run_dir) if command == "run" else train_trial_points(run_dir)
