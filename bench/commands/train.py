"""``bench train``: train a binary network under a noise method into a run directory."""

from __future__ import annotations

import contextlib
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.commands.common import add_device, add_download, add_profile, add_seed, download_progress, key_value
from bench.errors import BenchError
from bench.training import ARCHITECTURES, DATASETS, GRADIENT_MODES, MODES, OPTIMIZERS, method_help, train_run
from bench.output import format_energy


def configure(p) -> None:
    p.description = ("Train a BinaryConnect/BNN net; writes config, checkpoints, metrics, eps trajectory, energy "
                     "table and plots into --out (docs/RUN_DIRECTORY.md). Ctrl-C leaves a resumable run.")
    p.add_argument("--out", help="run directory (runs/NAME); required except with --method-help")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), help="architecture (default mlp)")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="data set (default digits)")
    p.add_argument("--data-dir", help="folder holding mnist/fashion-mnist idx files or cifar10 batches")
    add_download(p)
    p.add_argument("--width", type=float, help="width multiplier (wrn: widening factor k; default 1); refused when the "
                                               "parameters would exceed models.training.MAX_PARAM_BYTES (4 GiB)")
    p.add_argument("--mode", choices=MODES, help="bnn: binary activations (default); binaryconnect: float")
    p.add_argument("--method", help="noise method: reliable (default), uniform, lanmax, ... (see --method-help)")
    p.add_argument("--eps", type=float, help="method option eps (uniform: the bit-error rate of every layer, in (0, 0.5])")
    p.add_argument("--lambda", dest="lam", type=float, help="method option lambda (lanmax energy trade-off, >= 0)")
    p.add_argument("--bits", help="method option bits (wage: k_W-k_A-k_G-k_E, e.g. 2-8-8-8, 28ff, 28C8)")
    p.add_argument("-o", "--option", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                   help="any other method option (repeatable)")
    p.add_argument("--method-help", action="store_true", help="list the method's options and defaults, then exit")
    p.add_argument("--gradient", choices=GRADIENT_MODES, help="gradient under faults (default straight-through)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="adam (default; seed 2) or sgd (Nesterov; seed 1)")
    p.add_argument("--lr", type=float, help="learning rate (default: adam 1e-2, sgd 0.1)")
    p.add_argument("--lr-decay", type=float, help="factor every --lr-decay-every epochs (default adam 0.5, sgd 0.2)")
    p.add_argument("--lr-decay-every", type=int, help="epochs between decays (default adam 10, sgd 60)")
    add_seed(p, None, "seed of every random stream (default 0)")
    add_device(p)
    p.add_argument("--limit-train", type=int, help="use only the first N training examples")
    p.add_argument("--limit-test", type=int, help="use only the first N test examples")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log loss, accuracy, per-layer eps and energy ratio per epoch to OUT/tensorboard (needs "
                        "pip install 'faultbench[tensorboard]'; view: tensorboard --logdir OUT/tensorboard)")
    p.add_argument("--keep-checkpoints", type=int, help="keep only the newest N epoch checkpoints (default: all)")
    p.add_argument("--bet-reg", type=float, help="add the bit-error-tolerance hinge regulariser with target b "
                                                 "(BNN nets; models/bet.py)")
    p.add_argument("--bet-lambda", type=float, help="weight of the BET regulariser (default 0.01)")
    add_profile(p, "train under this memory error profile's fault model (profiles/*.yaml: asymmetric, persistent "
                   "cells of its chip seed, transient re-drawn); the method's eps sets each layer's BER (default "
                   "method: the profile's experiment.method); config.yaml records the file and its sha256")
    p.add_argument("--operating-point", help="with --profile: every layer reads at this point of the profile "
                                             "(method uniform, the default then)")
    p.set_defaults(func=run)


OPTIONS = ("arch", "dataset", "data_dir", "width", "mode", "method", "eps", "bits", "gradient", "epochs",
           "batch_size", "optimizer", "lr", "lr_decay", "lr_decay_every", "seed", "device", "limit_train",
           "limit_test", "keep_checkpoints", "bet_reg", "bet_lambda")


def run(args) -> int:
    console = Console()
    if args.method_help:
        table = Table(title=f"options of method {args.method or 'reliable'}")
        for col in ("option", "default", "meaning"):
            table.add_column(col, overflow="fold")
        for option, default, text in method_help(args.method or "reliable"):
            table.add_row(option, repr(default), text)
        console.print(table)
        return 0
    if args.out is None:
        raise BenchError("--out is required (the run directory, e.g. runs/NAME)")
    options = {k: getattr(args, k) for k in OPTIONS}
    options.update({"lambda": args.lam, "option": dict(args.option)})
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    progress = Progress(*columns, console=console)   # shown once training starts: a bad option is one line
    epochs = progress.add_task("epochs", total=None)
    batches = progress.add_task("batches", total=None)
    with contextlib.ExitStack() as stack:
        def on_batch(done, total):
            progress.update(batches, completed=done, total=total)

        def on_epoch(record):
            progress.advance(epochs)
            faulty = f", at eps {100 * record['test_acc_faulty']:.2f}%" if "test_acc_faulty" in record else ""
            progress.console.print(f"epoch {record['epoch']}: loss {record['train_loss']:.4f}, "
                                   f"test {100 * record['test_acc']:.2f}%{faulty}")

        def on_start(config, done):
            progress.start()
            stack.callback(progress.stop)
            progress.update(epochs, total=config.epochs, completed=done)
            if done:
                progress.console.print(f"resuming {args.out} at epoch {done} of {config.epochs}")

        result = train_run(Path(args.out), resume=args.resume, profile=args.profile,
                           operating_point=args.operating_point, download=args.download, mirror=args.mirror,
                           checksums=args.checksums, on_download=download_progress(progress),
                           on_start=on_start, on_batch=on_batch, on_epoch=on_epoch,
                           tensorboard=args.tensorboard, **options)
    if result.faults_label:
        console.print(f"method {result.config.method}, faults: {result.faults_label}")
    if result.eps:
        table = Table(title="final per-layer eps")
        table.add_column("layer", overflow="fold")
        table.add_column("eps", justify="right", overflow="fold")
        for name, value in result.eps.items():
            table.add_row(name, f"{value:.3g}")
        console.print(table)
    if result.points:
        record = result.config.faults["profile"]
        table = Table(title=f"per-layer eps -> operating point of {record['path']} (at least as reliable)")
        for col in ("layer", "eps", "operating point", "point BER", "energy/bit"):
            table.add_column(col, overflow="fold", justify="left" if col in ("layer", "operating point") else "right")
        for name, c in result.points.items():
            mark = "" if c.meets_target else " (most reliable; above eps)"
            table.add_row(result.labels.get(name, name), f"{result.eps[name]:.3g}", c.point.name + mark,
                          f"{c.point.ber:.3g}", format_energy(c.energy_per_bit))
        console.print(table)
    console.print(f"run directory: {result.out}")
    if args.tensorboard:
        console.print(f"TensorBoard: tensorboard --logdir {result.out / 'tensorboard'}")
    return 0
