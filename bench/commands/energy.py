"""``bench energy runs/NAME``: the per-layer memory energy table of a run. [ALGORITHMS 3]"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.errors import BenchError
from models.energy import EnergyModel, EnergyReport, deployed_eps, energy_report, format_energy
from models.run_dir import LAYERS, RunDir, RunDirError

DEFAULTS = EnergyModel()


def register(subparsers) -> None:
    p = subparsers.add_parser("energy", help="per-layer memory energy table of a run",
                              description="Memory energy sum_l N_l b_l E(eps_l) with E(eps) = E0 + beta ln(1/eps), "
                                          "from the run's final per-layer eps, relative to the reliable network.")
    p.add_argument("run", help="run directory written by bench train")
    p.add_argument("--E0", type=float, default=DEFAULTS.E0, help=f"energy offset per bit in J (default {DEFAULTS.E0})")
    p.add_argument("--beta", type=float, default=DEFAULTS.beta, help=f"J per bit and neper (default {DEFAULTS.beta})")
    p.add_argument("--eps-ref", type=float, default=DEFAULTS.eps_ref,
                   help=f"eps of the reliable reference memory (default {DEFAULTS.eps_ref})")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(func=run)


def run_report(path: str | Path, model: EnergyModel) -> tuple[EnergyReport, str]:
    """Energy report of a run from its final eps (or, while running, its latest epoch's eps)."""
    run = RunDir(path)
    run.read_config()  # fails clearly when there is no run
    if not (run.path / LAYERS).is_file():
        raise BenchError(f"{run.path / LAYERS}: missing (the run did not start training)")
    layers = run.layer_memory()
    eps, source = run.final_eps(), "final eps"
    if eps is None and not run.status()["complete"]:
        records = [r for r in run.read_metrics() if r.get("eps")]
        if records:
            eps, source = records[-1]["eps"], f"eps of epoch {records[-1]['epoch']} (run not finished)"
    if eps is None:
        source = "reliable run: every layer at eps_ref"
    return energy_report(layers, deployed_eps(layers, eps, model), model), source


def energy_table(report: EnergyReport, title: str, labels: dict[str, str] | None = None) -> Table:
    """Rich table of ``report``; ``labels`` (``{name: label}``) name the rows."""
    labels = labels or {}
    table = Table(title=title)
    for col in ("layer", "N_l", "b_l", "eps_l", "E(eps_l)/bit", "energy", "share"):
        table.add_column(col, justify="left" if col == "layer" else "right", overflow="fold")
    for r in report.rows:
        table.add_row(labels.get(r.name, r.name), str(r.n_params), str(r.bits), f"{r.eps:.3g}",
                      format_energy(report.model.bit_energy(r.eps)), format_energy(r.energy), f"{100 * r.share:.1f}%")
    table.add_row("total", str(sum(r.n_params for r in report.rows)), "", "", "", format_energy(report.total), "100%",
                  style="bold")
    return table


def run(args) -> int:
    try:
        model = EnergyModel(args.E0, args.beta, args.eps_ref)
    except ValueError as exc:
        raise BenchError(f"energy model options: {exc}") from None
    try:
        report, source = run_report(args.run, model)
    except (RunDirError, json.JSONDecodeError, KeyError) as exc:
        raise BenchError(f"{args.run}: {exc}") from None
    if args.json:
        print(json.dumps({**report.to_dict(), "eps_source": source}, indent=1))
    else:
        console = Console()
        console.print(energy_table(report, f"memory energy of {args.run} ({source})", RunDir(args.run).layer_labels()))
        console.print(report.header())
    return 0
