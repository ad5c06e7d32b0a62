"""``bench sweep``: trade-off sweeps, locally or on a Ray cluster; ``bench sweep report``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.errors import BenchError
from bench.sweep.aggregate import report as sweep_report
from bench.sweep.run import EXECUTORS, run_sweep
from bench.sweep.spec import COMMANDS, from_cli, load_sweep_file


def configure(p) -> None:
    p.description = ("Run every trial of a sweep file or command-line grid; re-running skips finished trials and "
                     "retries failed ones. `bench sweep report SWEEP_DIR` builds the accuracy-vs-energy Pareto front.")
    p.add_argument("sweep_file", nargs="?", help="sweep YAML, or 'report' followed by a sweep directory")
    p.add_argument("report_dir", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--out", help="sweep directory (default sweeps/<sweep file stem>)")
    p.add_argument("--command", dest="trial_command", choices=COMMANDS, default="train",
                   help="bench command each trial runs (CLI grid)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="option shared by all trials")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", help="option crossed over values")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds crossed with the grid (default 0)")
    p.add_argument("--executor", choices=EXECUTORS, default="local")
    p.add_argument("--jobs", type=int, default=1, help="local: trials at once (capped at the core count)")
    p.add_argument("--address", default=None, help="ray: 'auto' or ray://HOST:PORT (default: start a local Ray)")
    p.add_argument("--cpus-per-trial", type=int, default=1)
    p.add_argument("--gpus-per-trial", type=float, default=0.0)
    p.add_argument("--tolerance", type=float, default=0.005, help="report: iso-accuracy tolerance (default 0.5 point)")
    p.set_defaults(func=main)


def main(args) -> int:
    if args.sweep_file == "report":
        if not args.report_dir:
            raise BenchError("usage: bench sweep report SWEEP_DIR")
        return report(Path(args.report_dir), args.tolerance)
    return run(args)


def run(args) -> int:
    if args.sweep_file:
        spec = load_sweep_file(Path(args.sweep_file))
        out = Path(args.out or Path("sweeps") / Path(args.sweep_file).stem)
    elif args.grid or args.set:
        spec = from_cli(args.set, args.grid, args.seeds or [], args.trial_command)
        if not args.out:
            raise BenchError("a command-line grid needs --out SWEEP_DIR")
        out = Path(args.out)
    else:
        raise BenchError("give a sweep file, or --set/--grid options with --out")
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("trials", total=None)

        def planned(total, todo):
            progress.update(task, total=todo)
            progress.console.print(f"sweep {out}: {total} trials, {total - todo} already done, "
                                   f"{todo} to run on the {args.executor} executor")

        def done(record: dict) -> None:
            mark = "[green]done" if record["status"] == "done" else "[red]failed"
            progress.console.print(f"  {mark}[/] {record['name']}")
            progress.advance(task)

        result = run_sweep(spec, out, executor=args.executor, jobs=args.jobs, address=args.address,
                           cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                           on_plan=planned, on_trial=done)
    for r in result.failed:
        console.print(f"[red]trial {r['name']} failed:[/] {(r['error'] or '').strip().splitlines()[-1:]}")
    console.print(f"sweep {out}: {len(result.ran) - len(result.failed)} ran, {len(result.failed)} failed "
                  f"(re-run the same command to retry); report: bench sweep report {out}")
    return 1 if result.failed else 0


def report(sweep_dir: Path, tolerance: float) -> int:
    r = sweep_report(sweep_dir, tolerance)
    table = Table(title=f"sweep {sweep_dir}: accuracy vs memory energy")
    for col in r.columns:
        table.add_column(col, overflow="fold")
    for row in r.rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    if r.iso:
        console.print(f"iso-accuracy: within {100 * tolerance:.1f} point of reliable "
                      f"{100 * r.iso['reference']['accuracy']:.2f}% ({r.iso['reference']['name']})")
        for method, m in r.iso["methods"].items():
            saving = "no point reaches it" if m["name"] is None else f"{m['energy_saving_x']:.2f}x less energy ({m['name']})"
            console.print(f"  {method}: {saving}")
        console.print(f"LaNMax against uniform noise: {r.verdict['text']}")
    for f in r.failed:
        console.print(f"[red]trial {f['name']} {f['status']}[/] (not in the report; re-run the sweep to retry)")
    console.print("wrote " + ", ".join(str(f) for f in r.files))
    return 0
