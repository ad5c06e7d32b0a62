"""``bench evaluate runs/NAME``: test accuracy under faults, Monte-Carlo to a target CI."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from bench.commands.common import add_device, add_epoch, add_profile, add_run, add_seed
from bench.evaluation import MIN_REPS, evaluate_run


def configure(p) -> None:
    p.description = ("Fault-free accuracy, then Monte-Carlo accuracy with fresh fault draws until the half-width of "
                     "the 95 percent confidence interval is below --ci [ALGORITHMS 5]. Default rates: the run's final "
                     "per-layer eps (--per-layer).")
    add_run(p)
    rates = p.add_mutually_exclusive_group()
    rates.add_argument("--eps", type=float, help="evaluate every layer at this bit-error rate")
    rates.add_argument("--per-layer", action="store_true",
                       help="evaluate at the run's final per-layer eps (the default when the run has eps)")
    p.add_argument("--ci", type=float, default=0.01,
                   help="target half-width of the accuracy's 95 percent confidence interval, as a fraction (default 0.01)")
    p.add_argument("--min-reps", type=int,
                   help=f"minimum fault draws (default {MIN_REPS}, or --max-reps when that is smaller)")
    p.add_argument("--max-reps", type=int, default=1000, help="maximum fault draws (default 1000)")
    p.add_argument("--draws-per-pass", type=int, default=16,
                   help="fault draws sampled together; the interval is checked after each such pass (default 16)")
    add_epoch(p)
    add_seed(p, 0, "seed of the fault draws")
    add_device(p)
    add_profile(p, "evaluate under this memory error profile's fault model: at --operating-point on every layer, or "
                   "each layer's eps (the run's, or --eps) mapped to the cheapest point at least as reliable")
    p.add_argument("--operating-point", help="evaluate every layer at this point of --profile (default profile: the "
                                             "one the run was trained under)")
    p.add_argument("--json", dest="json_out", help="also write the result as JSON to this file")
    p.set_defaults(func=run)


def run(args) -> int:
    console = Console()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                  console=console, transient=True) as progress:
        task = progress.add_task("fault draws", total=args.max_reps, status="")

        def on_progress(r):
            progress.update(task, completed=r.reps, status=f"{100 * r.mean:.2f}% +- {100 * r.half_width:.2f}")

        e = evaluate_run(args.run, network=args.network, eps=args.eps, per_layer=args.per_layer, ci=args.ci,
                         min_reps=args.min_reps, max_reps=args.max_reps, draws_per_pass=args.draws_per_pass,
                         epoch=args.epoch,
                         seed=args.seed, device=args.device, profile=args.profile,
                         operating_point=args.operating_point, json_out=args.json_out, on_progress=on_progress)
    console.print(f"evaluating {e.network}")
    for note in e.notes:
        console.print(f"[yellow]note: {note}[/yellow]")
    if e.rates is not None:
        console.print(f"faults: {e.label}")
    table = Table(title=f"{args.run}: {e.config.arch} on {e.config.dataset}, epoch {e.epoch}, {e.n_test} test examples")
    for col, just in (("faults", "left"), ("accuracy", "right"), ("95% CI", "right"), ("draws", "right")):
        table.add_column(col, justify=just, overflow="fold")
    table.add_row("none", f"{100 * e.clean:.2f}%", "exact", "1")
    if e.result is not None:
        table.add_row(e.label, f"{100 * e.result.mean:.2f}%", f"+- {100 * e.result.half_width:.2f}", str(e.result.reps))
    console.print(table)
    if e.rates is not None and (args.eps is None or e.points):
        per_layer = Table(title="per-layer eps evaluated")
        per_layer.add_column("layer", overflow="fold")
        per_layer.add_column("eps", justify="right", overflow="fold")
        if e.points:
            per_layer.add_column("operating point", overflow="fold")
        for name, label in e.labels.items():
            per_layer.add_row(label, f"{e.rates[name]:.3g}", *([e.points[name]] if e.points else []))
        console.print(per_layer)
    if not e.reached:
        console.print(f"[yellow]CI target {args.ci} not reached within --max-reps {args.max_reps}[/yellow]")
    return 0
