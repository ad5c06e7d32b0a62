"""Running a sweep (``bench sweep``): its trials, locally or on Ray, resumable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.errors import BenchError
from bench.sweep.executors import EXECUTORS, pending_trials, run_local, run_ray, write_manifest
from bench.sweep.spec import SweepSpec

__all__ = ["EXECUTORS", "SweepRun", "run_sweep"]


@dataclass
class SweepRun:
    out: Path
    total: int            # trials in the sweep
    ran: list[dict]       # records of the trials run now (done or failed)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.ran if r["status"] != "done"]


def run_sweep(spec: SweepSpec, out: str | Path, *, executor: str = "local", jobs: int = 1, address: str | None = None,
              cpus_per_trial: int = 1, gpus_per_trial: float = 0.0,
              on_plan: Callable[[int, int], None] | None = None,
              on_trial: Callable[[dict], None] | None = None) -> SweepRun:
    """Run every trial of ``spec`` not yet done in ``out`` (failed ones are retried);
    ``on_plan(total, to_run)`` before, ``on_trial(record)`` after each trial."""
    if executor not in EXECUTORS:
        raise BenchError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if cpus_per_trial < 1 or gpus_per_trial < 0 or jobs < 1:
        raise BenchError("--jobs and --cpus-per-trial must be >= 1, --gpus-per-trial >= 0")
    out = Path(out)
    trials = spec.trials()
    write_manifest(out, trials, {"executor": executor, "address": address, "jobs": jobs,
                                 "cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial})
    todo = pending_trials(trials, out)
    if on_plan:
        on_plan(len(trials), len(todo))
    done = on_trial or (lambda record: None)
    if executor == "local":
        results = run_local(todo, out, jobs, cpus_per_trial, done)
    else:
        results = run_ray(todo, out, address, cpus_per_trial, gpus_per_trial, done,
                          num_cpus=None if address else os.cpu_count())
    return SweepRun(out, len(trials), results)
