"""``bench sweep``: trade-off sweeps, locally or on a Ray cluster; ``bench sweep report``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.errors import BenchError
from bench.sweep import aggregate
from bench.sweep.executors import EXECUTORS, pending_trials, run_local, run_ray, write_manifest
from bench.sweep.metrics import trial_points
from bench.sweep.spec import COMMANDS, from_cli, load_sweep_file


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid of trials (local or Ray); `bench sweep report DIR` aggregates",
                       description="Run every trial of a sweep file or command-line grid; re-running skips "
                                   "finished trials and retries failed ones. `bench sweep report SWEEP_DIR` "
                                   "builds the accuracy-vs-energy Pareto front.")
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
    p.set_defaults(func=_main)


def _main(args) -> int:
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
    if args.cpus_per_trial < 1 or args.gpus_per_trial < 0 or args.jobs < 1:
        raise BenchError("--jobs and --cpus-per-trial must be >= 1, --gpus-per-trial >= 0")
    trials = spec.trials()
    write_manifest(out, trials, {"executor": args.executor, "address": args.address, "jobs": args.jobs,
                                 "cpus_per_trial": args.cpus_per_trial, "gpus_per_trial": args.gpus_per_trial})
    todo = pending_trials(trials, out)
    console = Console(stderr=True)
    console.print(f"sweep {out}: {len(trials)} trials, {len(trials) - len(todo)} already done, "
                  f"{len(todo)} to run on the {args.executor} executor")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("trials", total=len(todo))

        def done(record: dict) -> None:
            mark = "[green]done" if record["status"] == "done" else "[red]failed"
            progress.console.print(f"  {mark}[/] {record['name']}")
            progress.advance(task)

        if args.executor == "local":
            results = run_local(todo, out, args.jobs, args.cpus_per_trial, done)
        else:
            results = run_ray(todo, out, args.address, args.cpus_per_trial, args.gpus_per_trial, done,
                              num_cpus=None if args.address else os.cpu_count())
    failed = [r for r in results if r["status"] != "done"]
    for r in failed:
        console.print(f"[red]trial {r['name']} failed:[/] {(r['error'] or '').strip().splitlines()[-1:]}")
    console.print(f"sweep {out}: {len(results) - len(failed)} ran, {len(failed)} failed "
                  f"(re-run the same command to retry); report: bench sweep report {out}")
    return 1 if failed else 0


def report(sweep_dir: Path, tolerance: float) -> int:
    points, failed = aggregate.collect(sweep_dir, trial_points)
    if not points:
        raise BenchError(f"{sweep_dir}: no finished trials to report")
    front = aggregate.pareto_front(points)
    iso = aggregate.iso_accuracy(points, tolerance)
    reference_J = iso["reference"]["energy_J"] if iso else min(p.energy_J for p in points)
    on_front = {p.trial for p in front}

    columns = ("trial", "method", "setting", "accuracy %", "± CI", "energy / ref", "Pareto")
    rows = [(p.trial, p.method, p.label, f"{100 * p.accuracy:.2f}", f"{100 * p.accuracy_ci:.2f}",
             f"{p.energy_J / reference_J:.3f}", "*" if p.trial in on_front else "")
            for p in sorted(points, key=lambda p: (p.method, p.energy_J))]
    table = Table(title=f"sweep {sweep_dir}: accuracy vs memory energy")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    if iso:
        console.print(f"iso-accuracy: within {100 * tolerance:.1f} point of reliable "
                      f"{100 * iso['reference']['accuracy']:.2f}% ({iso['reference']['trial']})")
        for method, r in iso["methods"].items():
            saving = "no point reaches it" if r["trial"] is None else f"{r['energy_saving_x']:.2f}x less energy ({r['trial']})"
            console.print(f"  {method}: {saving}")
    for r in failed:
        console.print(f"[red]trial {r['name']} {r['status']}[/] (not in the report; re-run the sweep to retry)")

    png = sweep_dir / "pareto.png"
    aggregate.plot(points, front, iso, reference_J, png)
    summary = {"points": [p.__dict__ for p in points], "pareto_front": [p.trial for p in front],
               "iso_accuracy": iso, "tolerance": tolerance, "failed": [r["name"] for r in failed], "plot": png.name}
    (sweep_dir / "report.json").write_text(json.dumps(summary, indent=2))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    (sweep_dir / "report.md").write_text("\n".join(lines) + f"\n\n![Pareto front]({png.name})\n")
    console.print(f"wrote {png}, {sweep_dir / 'report.md'}, {sweep_dir / 'report.json'}")
    return 0
