"""``bench energy runs/NAME``: the per-layer memory energy table of a run. [ALGORITHMS 3]"""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from bench.commands.common import add_run
from bench.energy import DEFAULT_MODEL, EnergyTable, run_energy
from bench.output import format_energy


def configure(p) -> None:
    p.description = ("Memory energy sum_l N_l b_l E(eps_l) with E(eps) = E0 + beta ln(1/eps), from the run's final "
                     "per-layer eps, relative to the reliable network.")
    add_run(p)
    p.add_argument("--E0", type=float, default=DEFAULT_MODEL.E0, help=f"energy offset per bit in J (default {DEFAULT_MODEL.E0})")
    p.add_argument("--beta", type=float, default=DEFAULT_MODEL.beta, help=f"J per bit and neper (default {DEFAULT_MODEL.beta})")
    p.add_argument("--eps-ref", type=float, default=DEFAULT_MODEL.eps_ref,
                   help=f"eps of the reliable reference memory (default {DEFAULT_MODEL.eps_ref})")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(func=run)


def energy_table(table: EnergyTable, title: str) -> Table:
    """Rich table of a run's energy report, rows named by the layers' labels."""
    report, labels = table.report, table.labels
    t = Table(title=title)
    for col in ("layer", "N_l", "b_l", "eps_l", "E(eps_l)/bit", "energy", "share"):
        t.add_column(col, justify="left" if col == "layer" else "right", overflow="fold")
    for r in report.rows:
        t.add_row(labels.get(r.name, r.name), str(r.n_params), str(r.bits), f"{r.eps:.3g}",
                  format_energy(report.model.bit_energy(r.eps)), format_energy(r.energy), f"{100 * r.share:.1f}%")
    t.add_row("total", str(sum(r.n_params for r in report.rows)), "", "", "", format_energy(report.total), "100%",
              style="bold")
    return t


def run(args) -> int:
    table = run_energy(args.run, args.E0, args.beta, args.eps_ref, network=args.network)
    if args.json:
        print(json.dumps({**table.report.to_dict(), "eps_source": table.source, "network": table.network}, indent=1))
    else:
        console = Console()
        console.print(f"energy of {table.network}")
        console.print(energy_table(table, f"memory energy of {args.run} ({table.source})"))
        console.print(table.report.header())
    return 0
