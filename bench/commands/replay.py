"""``bench replay runs/NAME --faultmaps DIR``: accuracy under recorded fault maps, per map and aggregated."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bench.commands.common import add_epoch, add_run
from bench.replay import MODES, __doc__ as REPLAY_DOC, replay_run


def configure(p) -> None:
    p.description = REPLAY_DOC
    add_run(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--faultmaps", type=Path, help="fault-map file or folder (searched recursively; other .npz files are skipped)")
    src.add_argument("--profile", type=Path, help="replay the fault maps a profile links (all, or --operating-point's)")
    p.add_argument("--operating-point", help="only this operating point: a map's (e.g. '0.4500 V'), or with --profile "
                                             "a profile point's name")
    p.add_argument("--mode", choices=MODES, default="stuck",
                   help="stuck: cells that read wrong return the recorded value (default); xor: apply the flips")
    add_epoch(p)
    p.add_argument("--json", dest="json_out", type=Path, help="also write the results as JSON to this file")
    p.set_defaults(func=run)


def run(args) -> int:
    console = Console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("replaying", total=None)

        def on_job(done, total, description):
            progress.update(task, completed=done, total=total, description=description)

        r = replay_run(args.run, network=args.network, faultmaps=args.faultmaps, profile=args.profile,
                       operating_point=args.operating_point, mode=args.mode, epoch=args.epoch, json_out=args.json_out,
                       on_job=on_job)
    console.print(f"replaying on {r.network}")
    for note in r.notes:
        console.print(f"[yellow]note:[/] {note}")
    if r.skipped:
        console.print(f"skipped {len(r.skipped)} .npz file(s) that are not faultbench fault maps (first: {r.skipped[0]})")
    table = Table(title=f"{args.run}: replay of {len(r.files)} fault map(s) ({r.mode}), "
                        f"{r.n_test} test examples, fault-free {100 * r.fault_free:.2f}%")
    for col, just in (("operating point", "left"), ("maps", "left"), ("reads", "right"), ("accuracy", "right"),
                      ("95% CI", "right"), ("min..max", "right")):
        table.add_column(col, justify=just, overflow="fold")
    for row in r.results:
        ci = "-" if row["ci95"] is None else f"+-{100 * row['ci95']:.2f}"
        table.add_row(row["operating_point"], row["maps"], str(row["reads"]), f"{100 * row['accuracy']:.2f}%", ci,
                      f"{100 * min(row['per_read']):.2f}..{100 * max(row['per_read']):.2f}%")
    console.print(table)
    if args.json_out:
        console.print(f"wrote {args.json_out}")
    return 0
