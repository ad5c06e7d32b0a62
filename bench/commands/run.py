"""``bench run --profile FILE``: train, choose operating points, evaluate, deploy, measure on
the board, compare and report, as a resumable pipeline (``bench/pipeline``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import add_profile, add_seed
from bench.pipeline.config import DEFAULTS, QUICK
from bench.pipeline.display import make_progress, plan_table, summary_table
from bench.pipeline.run import execute, prepare
from bench.pipeline.stages import PIPELINE


def configure(p: argparse.ArgumentParser) -> None:
    p.description = (__doc__ + "\n\nStages: " + ", ".join(s.name for s in PIPELINE.stages)
                     + ". Re-running the same command skips finished stages.")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_profile(p, "error profile YAML (its `experiment` section gives the defaults)", required=True)
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
    add_seed(p, None, f"master seed; every other seed derives from it (default {DEFAULTS['seed']})")
    p.add_argument("--lambdas", type=lambda v: [float(x) for x in v.split(",")], metavar="L1,L2",
                   help="lambdas of the main method in the comparison with uniform noise (default: just --lambda)")
    p.add_argument("--train-seeds", type=int, help=f"training seeds of every network in the comparison "
                                                   f"(default {DEFAULTS['train_seeds']}, --quick {QUICK['train_seeds']})")
    p.add_argument("--front-points", type=int, help=f"operating points of the uniform-noise front "
                                                    f"(default {DEFAULTS['front_points']}, --quick {QUICK['front_points']})")
    p.add_argument("--tolerance", type=float, help=f"iso-accuracy: within this of reliable "
                                                   f"(default {DEFAULTS['tolerance']}: 0.5 point)")
    p.add_argument("--energy-inputs", type=int, help=f"board inputs with per-layer energy capture (default {DEFAULTS['energy_inputs']})")
    p.add_argument("--test-subset", type=int, help=f"test inputs run on the board (default {DEFAULTS['test_subset']})")
    p.set_defaults(func=main)


def main(args) -> int:
    console = Console()
    overrides = {"dataset": args.dataset, "arch": args.arch, "width": args.width, "method": args.method,
                 "lambda": args.lambda_, "epochs": args.epochs, "seed": args.seed, "hardware": args.hardware,
                 "lambdas": args.lambdas, "train_seeds": args.train_seeds, "front_points": args.front_points,
                 "tolerance": args.tolerance, "test_subset": args.test_subset,
                 "energy_inputs": args.energy_inputs}
    profile, run_dir, config = prepare(args.profile, args.out, quick=args.quick, data_dir=args.data_dir, **overrides)
    with make_progress(console) as progress:
        def started(name):
            progress.console.rule(f"[bold]{name}[/]: {PIPELINE.by_name[name].title}")

        result = execute(profile, run_dir, config, force=args.force, progress=progress, on_start=started,
                         on_plan=lambda plan, path: progress.console.print(plan_table(PIPELINE, plan, path)))
    console.print(summary_table(PIPELINE, result.records, result.run_dir, result.headline))
    return 0
