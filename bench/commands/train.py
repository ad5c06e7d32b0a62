"""``bench train``: train a binary network under a noise method into a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.errors import BenchError
from models.architectures import ARCHITECTURES, MODES
from models.data import DATASETS, load_dataset
from models.faults import GRADIENT_MODES
from models.methods import option_help
from models.run_dir import CONFIG, RunDir, RunDirError
from models.training import OPTIMIZERS, TrainConfig, check_model_size, train


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    return key, value


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a binary network under faults into a run directory",
                              description="Train a BinaryConnect/BNN net; writes config, checkpoints, metrics, "
                                          "eps trajectory, energy table and plots into --out "
                                          "(docs/RUN_DIRECTORY.md). Ctrl-C leaves a resumable run.")
    p.add_argument("--out", help="run directory (runs/NAME); required except with --method-help")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), help="architecture (default mlp)")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="data set (default digits)")
    p.add_argument("--data-dir", help="folder holding mnist/fashion-mnist idx files or cifar10 batches")
    p.add_argument("--width", type=float, help="width multiplier (wrn: widening factor k; default 1); refused when the "
                                               "parameters would exceed models.training.MAX_PARAM_BYTES (4 GiB)")
    p.add_argument("--mode", choices=MODES, help="bnn: binary activations (default); binaryconnect: float")
    p.add_argument("--method", help="noise method: reliable (default), uniform, lanmax, ... (see --method-help)")
    p.add_argument("--eps", type=float, help="method option eps (uniform: the bit-error rate of every layer, in (0, 0.5])")
    p.add_argument("--lambda", dest="lam", type=float, help="method option lambda (lanmax energy trade-off, >= 0)")
    p.add_argument("--bits", help="method option bits (wage: k_W-k_A-k_G-k_E, e.g. 2-8-8-8, 28ff, 28C8)")
    p.add_argument("-o", "--option", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
                   help="any other method option (repeatable)")
    p.add_argument("--method-help", action="store_true", help="list the method's options and defaults, then exit")
    p.add_argument("--gradient", choices=GRADIENT_MODES, help="gradient under faults (default straight-through)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="adam (default; seed 2) or sgd (Nesterov; seed 1)")
    p.add_argument("--lr", type=float, help="learning rate (default: adam 1e-2, sgd 0.1)")
    p.add_argument("--lr-decay", type=float, help="factor every --lr-decay-every epochs (default adam 0.5, sgd 0.2)")
    p.add_argument("--lr-decay-every", type=int, help="epochs between decays (default adam 10, sgd 60)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu (default), cuda, cuda:N")
    p.add_argument("--limit-train", type=int, help="use only the first N training examples")
    p.add_argument("--limit-test", type=int, help="use only the first N test examples")
    p.add_argument("--keep-checkpoints", type=int, help="keep only the newest N epoch checkpoints (default: all)")
    p.add_argument("--bet-reg", type=float, help="add the bit-error-tolerance hinge regulariser with target b "
                                                 "(BNN nets; models/bet.py)")
    p.add_argument("--bet-lambda", type=float, help="weight of the BET regulariser (default 0.01)")
    p.set_defaults(func=run)


FIELDS = ("arch", "dataset", "data_dir", "width", "mode", "method", "gradient", "epochs", "batch_size",
          "optimizer", "lr", "lr_decay", "lr_decay_every", "seed", "device", "limit_train", "limit_test",
          "bet_reg", "bet_lambda", "keep_checkpoints")


def config_from_args(args) -> TrainConfig:
    values = {f: getattr(args, f) for f in FIELDS if getattr(args, f) is not None}
    options = dict(args.option)
    if args.eps is not None:
        options["eps"] = args.eps
    if args.lam is not None:
        options["lambda"] = args.lam
    if args.bits is not None:
        options["bits"] = args.bits
    return TrainConfig(**values, method_options=options)


def check_device(device: str) -> None:
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise BenchError(f"--device {device!r}: expected cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"--device {device}: CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise BenchError(f"--device {device}: only cpu and cuda are supported")


def print_method_help(name: str, console: Console) -> None:
    table = Table(title=f"options of method {name}")
    for col in ("option", "default", "meaning"):
        table.add_column(col, overflow="fold")
    for option, default, text in option_help(name):
        table.add_row(option, repr(default), text)
    console.print(table)


def run(args) -> int:
    console = Console()
    if args.method_help:
        try:
            print_method_help(args.method or "reliable", console)
        except KeyError as exc:
            raise BenchError(f"--method: {exc.args[0]}") from None
        return 0
    if args.out is None:
        raise BenchError("--out is required (the run directory, e.g. runs/NAME)")
    out = Path(args.out)
    try:
        if args.resume:
            config = TrainConfig.from_dict(RunDir(out).read_config())
        else:
            if (out / CONFIG).exists():
                raise BenchError(f"--out {out}: already holds a run; add --resume or choose another --out")
            config = config_from_args(args).resolved()
        check_device(config.device)
        data = load_dataset(config.dataset, config.data_dir, seed=config.seed,
                            limit_train=config.limit_train, limit_test=config.limit_test)
        check_model_size(config, data.in_shape, data.n_classes)  # before a run directory exists
    except (ValueError, KeyError, FileNotFoundError) as exc:
        raise BenchError(str(exc.args[0] if exc.args else exc)) from None
    if args.resume:
        console.print(f"resuming {out} at epoch {RunDir(out).status()['epochs_done']} of {config.epochs}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        epochs = progress.add_task("epochs", total=config.epochs, completed=RunDir(out).status()["epochs_done"] if args.resume else 0)
        batches = progress.add_task("batches", total=None)

        def on_batch(done, total):
            progress.update(batches, completed=done, total=total)

        def on_epoch(record):
            progress.advance(epochs)
            faulty = f", at eps {100 * record['test_acc_faulty']:.2f}%" if "test_acc_faulty" in record else ""
            progress.console.print(f"epoch {record['epoch']}: loss {record['train_loss']:.4f}, "
                                   f"test {100 * record['test_acc']:.2f}%{faulty}")

        try:
            session = train(config, out, resume=args.resume, data=data, on_batch=on_batch, on_epoch=on_epoch)
        except (RunDirError, ValueError) as exc:  # ValueError: a method's options don't fit the run (e.g. lanmax OLS)
            raise BenchError(str(exc)) from None
    eps = session.method.eps()
    if eps:
        table = Table(title="final per-layer eps")
        table.add_column("layer", overflow="fold")
        table.add_column("eps", justify="right", overflow="fold")
        for name, value in eps.items():
            table.add_row(name, f"{value:.3g}")
        console.print(table)
    console.print(f"run directory: {out}")
    return 0
