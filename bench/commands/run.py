"""``bench run --profile FILE``: train, choose operating points, evaluate, deploy, measure on
the board, compare and report, as a resumable pipeline (``bench/pipeline``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.errors import BenchError
from bench.pipeline import atomic
from bench.pipeline.config import DEFAULTS, QUICK, resolve
from bench.pipeline.hardware import preflight
from bench.pipeline.display import make_progress, plan_table, summary_table
from bench.pipeline.parts import load_profile
from bench.pipeline.stages import PIPELINE, headline


def _hardware_errors() -> tuple[type[BaseException], ...]:
    from drivers.board import BoardError
    from drivers.supplies import SupplyError

    return BoardError, SupplyError, ConnectionError


HARDWARE_ERRORS = _hardware_errors()


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="the whole loop: train, operating points, evaluate, deploy, board energy, report",
        description=__doc__ + "\n\nStages: " + ", ".join(s.name for s in PIPELINE.stages)
        + ". Re-running the same command skips finished stages.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", required=True, type=Path, help="error profile YAML (its `experiment` section gives the defaults)")
    p.add_argument("--out", type=Path, help="run directory (default: runs/<profile name>[-quick])")
    p.add_argument("--hardware", help="'virtual' (start the virtual lab) or a YAML file with board: URL, supply: RESOURCE, channel:")
    p.add_argument("--quick", action="store_true",
                   help=f"small settings for CI and a first try: {', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in QUICK.items())}")
    p.add_argument("--force", action="append", default=[], metavar="STAGE",
                   help="redo STAGE and every stage after it that uses its outputs (repeatable)")
    p.add_argument("--dataset", help=f"data set (default {DEFAULTS['dataset']})")
    p.add_argument("--data-dir", type=Path, help="folder with the data set files (mnist, fashion-mnist, cifar10)")
    p.add_argument("--arch", help=f"architecture (default {DEFAULTS['arch']})")
    p.add_argument("--width", type=float, help=f"width multiplier (default {DEFAULTS['width']})")
    p.add_argument("--method", help=f"training method (default {DEFAULTS['method']})")
    p.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=float, help=f"LaNMax accuracy/energy trade-off (default {DEFAULTS['lambda']})")
    p.add_argument("--epochs", type=int, help=f"training epochs (default {DEFAULTS['epochs']})")
    p.add_argument("--seed", type=int, help=f"master seed; every other seed derives from it (default {DEFAULTS['seed']})")
    p.add_argument("--uniform-eps", type=float, help="eps of the uniform-noise baseline (default: geometric mean of LaNMax's eps)")
    p.add_argument("--energy-inputs", type=int, help=f"board inputs with per-layer energy capture (default {DEFAULTS['energy_inputs']})")
    p.add_argument("--test-subset", type=int, help=f"test inputs run on the board (default {DEFAULTS['test_subset']})")
    p.set_defaults(func=main)


def main(args) -> int:
    console = Console()
    if not args.profile.is_file():
        raise BenchError(f"--profile {args.profile}: no such file")
    profile = load_profile(args.profile)
    overrides = {"dataset": args.dataset, "arch": args.arch, "width": args.width, "method": args.method,
                 "lambda": args.lambda_, "epochs": args.epochs, "seed": args.seed, "hardware": args.hardware,
                 "uniform_eps": args.uniform_eps, "test_subset": args.test_subset,
                 "energy_inputs": args.energy_inputs}
    config = resolve(args.profile, profile.experiment, overrides, args.quick, profile.technology)
    config["data_dir"] = str(args.data_dir) if args.data_dir else None
    run_dir = args.out or Path("runs") / (args.profile.stem + ("-quick" if args.quick else ""))
    preflight(config)
    return execute(run_dir, config, force=args.force, console=console)


def execute(run_dir: Path, config: dict, force=(), console: Console | None = None, on_start=None, on_done=None) -> int:
    """Save the resolved config and seeds, show the plan, run every stage, print the summary."""
    console = console or Console()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_yaml(run_dir / "config.yaml", config)
    atomic.write_json(run_dir / "seeds.json", config["seeds"])
    plan = PIPELINE.plan(run_dir, config, force)
    console.print(plan_table(PIPELINE, plan, run_dir))
    with make_progress(console) as progress:
        def started(name):
            progress.console.rule(f"[bold]{name}[/]: {PIPELINE.by_name[name].title}")
            if on_start:
                on_start(name)
        try:
            records = PIPELINE.run(run_dir, config, force=force, progress=progress, on_start=started, on_done=on_done)
        except HARDWARE_ERRORS as exc:
            raise BenchError(f"{exc}; the supply was switched off and the finished stages are kept: "
                             f"run the same command again to resume") from exc
    console.print(summary_table(PIPELINE, records, run_dir, headline(run_dir)))
    return 0
