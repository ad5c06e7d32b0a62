"""``bench train``: train a binary network under a noise method into a run directory."""

from __future__ import annotations

import argparse
from dataclasses import replace
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
    p.add_argument("--profile", type=Path, help="train under this memory error profile's fault model (profiles/*.yaml: "
                                                "asymmetric, persistent cells of its chip seed, transient re-drawn); "
                                                "the method's eps sets each layer's BER (default method: the profile's "
                                                "experiment.method); config.yaml records the file and its sha256")
    p.add_argument("--operating-point", help="with --profile: every layer reads at this point of the profile "
                                             "(method uniform, the default then)")
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


def apply_profile(config: TrainConfig, args) -> TrainConfig:
    """``config`` trained under ``--profile`` [``--operating-point``]: the profile's fault model
    (bench.profiles.training_faults), its energy model and LaNMax's eps bound for methods with
    those options (bench.pipeline.parts.profile_method_options; given options win)."""
    from bench.pipeline.parts import profile_method_options
    from bench.profiles import load_profile, mean_ber, training_faults

    if args.profile is None:
        if args.operating_point is not None:
            raise BenchError("--operating-point needs --profile FILE (a point of that profile)")
        return config
    profile = load_profile(args.profile)
    faults = training_faults(profile, operating_point=args.operating_point)  # one line if bad
    method = args.method or ("uniform" if args.operating_point else profile.experiment.get("method", "uniform"))
    if method == "reliable":
        raise BenchError(f"--method reliable trains without faults; --profile {args.profile} needs a noise method "
                         f"(uniform, lanmax, ...)")
    if args.operating_point is not None and method != "uniform":
        raise BenchError(f"--operating-point {args.operating_point} fixes every layer's faults, so the method's eps "
                         f"has no effect: use --method uniform (the default) or drop --operating-point")
    options = dict(config.method_options)
    ber = mean_ber(profile.operating_point(args.operating_point)) if args.operating_point is not None else 0.0
    if ber > 0:  # uniform's rate is the point's, for the record (the fixed point decides the faults)
        options.setdefault("eps", ber)
    if args.method is None and "lambda" in profile.experiment and method == profile.experiment.get("method"):
        options.setdefault("lambda", profile.experiment["lambda"])
    try:
        options = {**profile_method_options(profile, method), **options}
    except KeyError as exc:
        raise BenchError(f"--method: {exc.args[0]}") from None
    return replace(config, method=method, method_options=options, faults=faults)


def print_profile_points(console: Console, profile_path, eps: dict, labels: dict) -> None:
    """Per layer: its eps and the operating point it maps to (bench.pipeline.parts.choose_operating_points)."""
    from bench.pipeline.parts import choose_operating_points
    from bench.profiles import load_profile
    from models.energy import format_energy

    points = choose_operating_points(load_profile(profile_path), eps)
    table = Table(title=f"per-layer eps -> operating point of {profile_path} (at least as reliable)")
    for col in ("layer", "eps", "operating point", "point BER", "energy/bit"):
        table.add_column(col, overflow="fold", justify="left" if col in ("layer", "operating point") else "right")
    for name, p in points.items():
        mark = "" if p["meets_target"] else " (most reliable; above eps)"
        energy = "-" if p["energy_per_bit"] is None else format_energy(p["energy_per_bit"])
        table.add_row(labels.get(name, name), f"{eps[name]:.3g}", p["name"] + mark, f"{p['eps']:.3g}", energy)
    console.print(table)


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
            config = apply_profile(config_from_args(args), args).resolved()
        check_device(config.device)
        data = load_dataset(config.dataset, config.data_dir, seed=config.seed,
                            limit_train=config.limit_train, limit_test=config.limit_test)
        check_model_size(config, data.in_shape, data.n_classes)  # before a run directory exists
    except (ValueError, KeyError, FileNotFoundError) as exc:
        raise BenchError(str(exc.args[0] if exc.args else exc)) from None
    if args.resume:
        console.print(f"resuming {out} at epoch {RunDir(out).status()['epochs_done']} of {config.epochs}")
    if config.faults.get("kind") == "profile":
        from bench.profiles import fault_model_label

        console.print(f"method {config.method}, faults: {fault_model_label(config.faults)}")
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
        record = config.faults.get("profile") if config.faults.get("kind") == "profile" else None
        if record and not config.faults.get("operating_point") and Path(record["path"]).is_file():
            print_profile_points(console, record["path"], eps, RunDir(out).layer_labels())
    console.print(f"run directory: {out}")
    return 0
