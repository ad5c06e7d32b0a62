"""``bench run --profile FILE``: train, choose operating points, evaluate, deploy, measure on
the board, compare and report, as a resumable pipeline (``bench/pipeline``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import add_download, add_profile, add_seed, download_progress, finite
from bench.pipeline.config import DEFAULTS, QUICK
from bench.pipeline.display import make_progress, plan_table, summary_table
from bench.pipeline.run import execute, prepare
from bench.pipeline.stages import PIPELINE


DESCRIPTION = """Train, choose operating points, evaluate, deploy, measure on the board, compare and write
a report, as a resumable pipeline.

Stages: {stages}.
Re-running the same command skips finished stages; --force STAGE redoes one. The report
lands in OUT/report/report.html.

Where the settings come from, later ones winning: built-in defaults < the profile's
`experiment` section < --quick (built-in quick settings < the profile's experiment.quick)
< the options below. Each option's help names the built-in default and the quick value;
the run directory's config.yaml records what was used."""


def _default(key: str, what: str) -> str:
    """``what (default: the profile's experiment.KEY, else D; --quick: Q)``."""
    quick = f"; --quick: {QUICK[key]:g}" if key in QUICK and isinstance(QUICK[key], float) else \
        f"; --quick: {QUICK[key]}" if key in QUICK else ""
    return f"{what} (default: the profile's experiment.{key}, else {DEFAULTS[key]}{quick})"


def configure(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION.format(stages=", ".join(s.name for s in PIPELINE.stages))
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_profile(p, "error profile YAML, e.g. profiles/rram_lowpower.yaml (its `experiment` section gives the "
                   "defaults)", required=True)
    p.add_argument("--out", type=Path, help="run directory (default: runs/<profile name>[-quick])")
    p.add_argument("--hardware", help=_default("hardware", "'virtual' (start the virtual lab) or a YAML file with "
                                                           "board: URL, supply: RESOURCE, channel:, vmax:, watchdog_s:"))
    p.add_argument("--quick", action="store_true",
                   help=f"small settings for CI and a first try: {', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in QUICK.items())}")
    p.add_argument("--force", action="append", default=[], metavar="STAGE",
                   help="redo STAGE and every stage after it that uses its outputs (repeatable)")
    p.add_argument("--dataset", help=_default("dataset", "data set"))
    p.add_argument("--data-dir", type=Path, help="folder with the data set files (mnist, fashion-mnist, cifar10)")
    add_download(p)
    p.add_argument("--arch", help=_default("arch", "architecture"))
    p.add_argument("--width", type=finite, help=_default("width", "width multiplier"))
    p.add_argument("--method", help=_default("method", "training method"))
    p.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=finite,
                   help=_default("lambda", "LaNMax accuracy/energy trade-off"))
    p.add_argument("--epochs", type=int, help=_default("epochs", "training epochs"))
    add_seed(p, None, _default("seed", "master seed; every other seed derives from it"))
    p.add_argument("--lambdas", type=lambda v: [finite(x) for x in v.split(",")], metavar="L1,L2",
                   help="lambdas of the main method in the comparison with uniform noise (default: the profile's "
                        "experiment.lambdas, else just --lambda)")
    p.add_argument("--train-seeds", type=int, help=_default("train_seeds", "training seeds of every network in the "
                                                                           "comparison"))
    p.add_argument("--front-points", type=int, help=_default("front_points", "operating points of the uniform-noise "
                                                                             "front"))
    p.add_argument("--tolerance", type=finite, help=_default("tolerance", "iso-accuracy: within this accuracy "
                                                                          "fraction of reliable"))
    p.add_argument("--energy-target", type=finite,
                   help=_default("energy_target", "per-layer energy: capture until its 95%% interval is +- this fraction"))
    p.add_argument("--test-subset", type=int, help=_default("test_subset", "test inputs run on the board"))
    p.set_defaults(func=main)


def main(args) -> int:
    console = Console()
    overrides = {"dataset": args.dataset, "arch": args.arch, "width": args.width, "method": args.method,
                 "lambda": args.lambda_, "epochs": args.epochs, "seed": args.seed, "hardware": args.hardware,
                 "lambdas": args.lambdas, "train_seeds": args.train_seeds, "front_points": args.front_points,
                 "tolerance": args.tolerance, "test_subset": args.test_subset,
                 "energy_target": args.energy_target}
    with make_progress(console) as progress:
        profile, run_dir, config = prepare(args.profile, args.out, quick=args.quick, data_dir=args.data_dir,
                                           download=args.download, mirror=args.mirror, checksums=args.checksums,
                                           on_download=download_progress(progress), **overrides)
    with make_progress(console) as progress:
        def started(name):
            progress.console.rule(f"[bold]{name}[/]: {PIPELINE.by_name[name].title}")

        result = execute(profile, run_dir, config, force=args.force, progress=progress, on_start=started,
                         on_plan=lambda plan, path: progress.console.print(plan_table(PIPELINE, plan, path)))
    console.print(summary_table(PIPELINE, result.records, result.run_dir, result.headline))
    return 0
