"""The per-layer memory energy table of a training run (``bench energy``). [ALGORITHMS 3]"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError, user_errors
from bench.runs import training_run
from models.energy import EnergyModel, EnergyReport, deployed_eps, energy_report
from models.run_dir import LAYERS, RunDir, RunDirError

#: The energy model ``bench energy`` uses without options (``models.energy.EnergyModel``'s defaults).
DEFAULT_MODEL = EnergyModel()


@dataclass
class EnergyTable:
    report: EnergyReport
    source: str               # which eps the table uses, in words
    labels: dict[str, str]    # layer -> label for tables
    network: str = ""         # which network the table is of, in words (bench.runs.Network)


def run_energy(run: str | Path, E0: float = DEFAULT_MODEL.E0, beta: float = DEFAULT_MODEL.beta,
               eps_ref: float = DEFAULT_MODEL.eps_ref, network: str | None = None) -> EnergyTable:
    """``sum_l N_l b_l E(eps_l)`` of a run from its final eps (while it trains: its latest
    epoch's eps; a reliable run: every layer at ``eps_ref``); a bench run folder's ``network``
    (default its main network)."""
    used = training_run(run, network)
    run = used.path
    with user_errors(ValueError, prefix="energy model options: "):
        model = EnergyModel(E0, beta, eps_ref)
    with user_errors(RunDirError, json.JSONDecodeError, KeyError, prefix=f"{run}: "):
        rd = RunDir(run)
        rd.read_config()  # fails clearly when there is no run
        if not (rd.path / LAYERS).is_file():
            raise BenchError(f"{rd.path / LAYERS}: missing (the run did not start training)")
        layers = rd.layer_memory()
        eps, source = rd.final_eps(), "final eps"
        if eps is None and not rd.status()["complete"]:
            records = [r for r in rd.read_metrics() if r.get("eps")]
            if records:
                eps, source = records[-1]["eps"], f"eps of epoch {records[-1]['epoch']} (run not finished)"
        if eps is None:
            source = "reliable run: every layer at eps_ref"
        return EnergyTable(energy_report(layers, deployed_eps(layers, eps, model), model), source, rd.layer_labels(),
                           used.describe())
