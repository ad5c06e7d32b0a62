"""``bench evaluate runs/NAME``: test accuracy under faults, Monte-Carlo to a target CI."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from bench.commands.train import check_device
from bench.errors import BenchError
from bench.runs import load_run
from models.architectures import layer_labels
from models.evaluation import accuracy, mc_accuracy
from models.layers import stored_layers

MIN_REPS = 10  # default --min-reps


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="accuracy of a trained run under faults, with its 95 percent confidence interval",
                              description="Fault-free accuracy, then Monte-Carlo accuracy with fresh fault draws "
                                          "until the half-width of the 95 percent confidence interval is below --ci [ALGORITHMS 5]. Default "
                                          "rates: the run's final per-layer eps (--per-layer).")
    p.add_argument("run", help="run directory written by bench train")
    rates = p.add_mutually_exclusive_group()
    rates.add_argument("--eps", type=float, help="evaluate every layer at this bit-error rate")
    rates.add_argument("--per-layer", action="store_true",
                       help="evaluate at the run's final per-layer eps (the default when the run has eps)")
    p.add_argument("--ci", type=float, default=0.01,
                   help="target half-width of the accuracy's 95 percent confidence interval, as a fraction (default 0.01)")
    p.add_argument("--min-reps", type=int,
                   help=f"minimum fault draws (default {MIN_REPS}, or --max-reps when that is smaller)")
    p.add_argument("--max-reps", type=int, default=1000, help="maximum fault draws (default 1000)")
    p.add_argument("--draws-per-pass", type=int, default=16, help="fault draws evaluated in one batched pass (default 16)")
    p.add_argument("--epoch", type=int, help="evaluate this epoch's checkpoint (default: the last)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault draws (default 0)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--profile", type=Path, help="evaluate under this memory error profile's fault model: at "
                                                "--operating-point on every layer, or each layer's eps (the run's, or "
                                                "--eps) mapped to the cheapest point at least as reliable")
    p.add_argument("--operating-point", help="evaluate every layer at this point of --profile (default profile: the "
                                             "one the run was trained under)")
    p.add_argument("--json", dest="json_out", help="also write the result as JSON to this file")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.eps is not None and not 0.0 <= args.eps <= 1.0:
        raise BenchError(f"--eps {args.eps}: a bit-error rate lies in [0, 1]")
    if args.ci <= 0:
        raise BenchError(f"--ci {args.ci}: must be > 0")
    if args.max_reps < 2:
        raise BenchError(f"--max-reps {args.max_reps}: must be >= 2")
    if args.min_reps is None:  # not given: the default, clamped to --max-reps
        args.min_reps = min(MIN_REPS, args.max_reps)
    if args.min_reps < 2 or args.max_reps < args.min_reps:
        raise BenchError(f"--min-reps {args.min_reps} and --max-reps {args.max_reps}: need 2 <= --min-reps <= --max-reps")
    if args.draws_per_pass < 1:
        raise BenchError(f"--draws-per-pass {args.draws_per_pass}: must be >= 1")
    check_device(args.device)
    net, config, extra = load_run(args.run, epoch=args.epoch, device=args.device)
    data = extra["data"]
    names = [layer["name"] for layer in extra["layers"]]
    console = Console()
    if args.profile is not None or args.operating_point is not None:
        fault_model, rates, label = _profile_faults(args, config, names, extra["eps"], console)
    else:
        fault_model, rates, label = _run_faults(args, net, config, names, extra["eps"])
    if rates is not None:
        console.print(f"faults: {label}")
    clean = accuracy(net, data.test_x, data.test_y)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                  console=console, transient=True) as progress:
        task = progress.add_task("fault draws", total=args.max_reps, status="")

        def on_progress(r):
            progress.update(task, completed=r.reps, status=f"{100 * r.mean:.2f}% +- {100 * r.half_width:.2f}")

        result = mc_accuracy(net, data.test_x, data.test_y, rates, generator, fault_model,
                             target=args.ci, min_reps=args.min_reps, max_reps=args.max_reps,
                             draws_per_pass=args.draws_per_pass, on_progress=on_progress)
    table = Table(title=f"{args.run}: {config.arch} on {config.dataset}, epoch {extra['epoch']}, {len(data.test_y)} test examples")
    for col, just in (("faults", "left"), ("accuracy", "right"), ("95% CI", "right"), ("draws", "right")):
        table.add_column(col, justify=just, overflow="fold")
    table.add_row("none", f"{100 * clean:.2f}%", "exact", "1")
    if rates is not None:
        table.add_row(label, f"{100 * result.mean:.2f}%", f"+- {100 * result.half_width:.2f}", str(result.reps))
    console.print(table)
    points = _points(fault_model, rates)
    if rates is not None and (args.eps is None or points):
        per_layer = Table(title="per-layer eps evaluated")
        per_layer.add_column("layer", overflow="fold")
        per_layer.add_column("eps", justify="right", overflow="fold")
        if points:
            per_layer.add_column("operating point", overflow="fold")
        for name, layer in layer_labels(net).items():
            per_layer.add_row(layer, f"{rates[name]:.3g}", *([points[name]] if points else []))
        console.print(per_layer)
    if rates is not None and result.half_width >= args.ci:
        console.print(f"[yellow]CI target {args.ci} not reached within --max-reps {args.max_reps}[/yellow]")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"run": str(args.run), "epoch": extra["epoch"], "clean_accuracy": clean, "rates": rates,
                       "faults": label, "operating_points": points or None,
                       "target_half_width": args.ci, **result.to_dict()}, fh, indent=1)
    return 0


def _run_faults(args, net, config, names, run_eps):
    """``(model, rates, label)`` with the run's own fault model (config.yaml ``faults``); the label
    says what eps means under it (bench.profiles.fault_model_label) unless it is the BSC."""
    from bench.profiles import fault_model_label
    from models.faults import build_fault_model

    model, faults = stored_layers(net)[0][1].fault_injector.model, config.faults
    if args.eps is not None:
        rates, text = {n: args.eps for n in names}, f"eps {args.eps:g} on every layer"
        if faults.get("kind") == "profile" and faults.get("operating_point"):
            # trained at a fixed point: --eps sets each layer's BER with the profile's shape instead
            faults = {**faults, "operating_point": None, "rate_mapping": "scale"}
            model = build_fault_model(faults)
    elif run_eps:
        rates, text = run_eps, f"the run's per-layer eps ({config.method})"
    else:
        if args.per_layer:
            raise BenchError(f"--per-layer: run {args.run} (method {config.method}) has no per-layer eps; give --eps")
        return model, None, "fault-free"
    return model, rates, text if faults.get("kind", "bsc") == "bsc" else f"{text} under {fault_model_label(faults)}"


def _profile_faults(args, config, names, run_eps, console):
    """``(model, rates, label)`` for ``--profile`` / ``--operating-point`` (bench.profiles.evaluation_faults).
    Without ``--profile``: the profile the run was trained under (its path in config.yaml)."""
    from bench.profiles import evaluation_faults, load_profile, profile_record

    record = config.faults.get("profile") if config.faults.get("kind") == "profile" else None
    if args.profile is None:
        if record is None:
            raise BenchError(f"--operating-point needs --profile FILE (run {args.run} was not trained under a profile)")
        args.profile = Path(record["path"])
        if not args.profile.is_file():
            raise BenchError(f"--operating-point: the run's profile {args.profile} is gone; give --profile FILE")
    if args.eps is not None and args.operating_point is not None:
        raise BenchError("--eps and --operating-point: give one (the point fixes every layer's BER)")
    profile = load_profile(args.profile)
    chip_seed = None
    if record is not None and record["sha256"] == profile_record(profile)["sha256"]:
        chip_seed = config.faults.get("chip_seed")  # the run's own chip
    elif record is not None:
        console.print(f"[yellow]note: {args.profile} is not the profile the run was trained under "
                      f"({record['path']}, sha256 {record['sha256'][:12]})[/yellow]")
    rates = {n: args.eps for n in names} if args.eps is not None else run_eps
    model, rates, label = evaluation_faults(profile, names, rates, args.operating_point, chip_seed)
    return model, rates, f"profile {label} ({args.profile}, chip seed {model.chip_seed})"


def _points(model, rates) -> dict:
    """Per layer: the profile operating point its rate reads at (empty for other fault models)."""
    from models.profile_faults import ProfileFaultModel

    if rates is None or not isinstance(model, ProfileFaultModel):
        return {}
    scaled = " (shape; rates scaled to eps)" if model.operating_point is None and model.rate_mapping == "scale" else ""
    return {n: model.point_for(r).name + scaled for n, r in rates.items()}
