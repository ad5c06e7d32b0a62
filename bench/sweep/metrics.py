"""What a finished trial's run directory says: accuracy, its CI, predicted memory energy.

``bench train`` trials (docs/RUN_DIRECTORY.md): the last ``metrics.jsonl`` record (accuracy
under faults at the trained eps with its Monte-Carlo CI where the method has eps, else the
fault-free test accuracy) and ``energy.json`` (total predicted memory energy).

``bench run`` trials: ``report/results.json``: the points of the run's own comparison
(``software_eval.front``: the main method at its lambda as the trial's own point, the other
settings, reliable and uniform noise at each operating point under their own names), so a
sweep of runs has reliable reference points for its iso-accuracy ratios.
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
    energy_ci: float = 0.0
    seeds: int = 1
    setting: str | None = None  # None: from the trial's parameters


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
    sw = results.get("software_eval", {})
    points = []
    for p in sw.get("front", []):
        own = p["name"] == sw.get("main_point")
        points.append(TrialPoint("" if own else "/" + p["name"].replace(" ", "-"), p["method"], float(p["accuracy"]),
                                 float(p["accuracy_ci"]), float(p["energy_J"]), float(p["energy_ci"]),
                                 int(p["seeds"]), p["setting"]))
    if not points:
        raise BenchError(f"{run_dir}/report/results.json has no software evaluation with energy")
    return points


def trial_points(run_dir: Path, command: str) -> list[TrialPoint]:
    """The points one finished trial contributes to the sweep report."""
    return run_trial_points(run_dir) if command == "run" else train_trial_points(run_dir)
