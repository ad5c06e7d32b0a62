"""What a finished trial's run directory says: accuracy, its CI, predicted memory energy.

Read from the files documented in docs/RUN_DIRECTORY.md: the last ``metrics.jsonl`` record
(accuracy under faults at the trained eps with its Monte-Carlo CI where the method has eps,
else the fault-free test accuracy) and ``energy.json`` (total predicted memory energy).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.errors import BenchError
from models.run_dir import RunDir


def trial_metrics(run_dir: Path) -> tuple[float, float, float]:
    """``(accuracy, ci_half_width, energy_J)`` of one finished trial."""
    records = RunDir(run_dir).read_metrics()
    if not records:
        raise BenchError(f"{run_dir}/metrics.jsonl has no epochs: the trial did not finish")
    last = records[-1]
    if last.get("test_acc_faulty") is not None:
        acc, ci = last["test_acc_faulty"], last.get("test_acc_faulty_ci") or 0.0
    else:
        acc, ci = last["test_acc"], 0.0
    energy_path = Path(run_dir) / "energy.json"
    try:
        energy = json.loads(energy_path.read_text())["total_J"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as exc:
        raise BenchError(f"{energy_path}: missing or unreadable ({exc})") from None
    return float(acc), float(ci), float(energy)
