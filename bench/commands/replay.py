"""``bench replay runs/NAME --faultmaps DIR``: accuracy under recorded fault maps, per map and aggregated."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bench.errors import BenchError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "replay", help="accuracy of a trained run under recorded fault maps (pure-software replay)",
        description="Applies recorded fault maps (drivers/faultmap.py) to the run's weights through the shared "
                    "memory layout, deterministically: each map alone (its reads), then per operating point all "
                    "maps merged by repeat (e.g. zeros + ones patterns), cycling through the recorded reads. "
                    "Accuracy is the mean over reads with its 95 percent confidence interval. A folder is searched recursively for files that claim to be fault maps (their zip members, or a name v<volts>_<pattern>.npz); other .npz files are skipped and counted.")
    p.add_argument("run", help="run directory written by bench train")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--faultmaps", type=Path, help="fault-map file or folder (searched recursively; other .npz files are skipped)")
    src.add_argument("--profile", type=Path, help="replay the fault maps a profile links (all, or --operating-point's)")
    p.add_argument("--operating-point", help="only this operating point: a map's (e.g. '0.4500 V'), or with --profile "
                                             "a profile point's name")
    p.add_argument("--mode", choices=["stuck", "xor"], default="stuck",
                   help="stuck: cells that read wrong return the recorded value (default); xor: apply the flips")
    p.add_argument("--epoch", type=int, help="use this epoch's checkpoint (default: the last)")
    p.add_argument("--json", dest="json_out", type=Path, help="also write the results as JSON to this file")
    p.set_defaults(func=run)


def run(args) -> int:
    from drivers.faultmap import FaultMapError, read_faultmap, scan_faultmaps
    from models.evaluation import accuracy
    from models.replay import ReplayFaults, operating_point_name, recorded_reads, replay_accuracies
    from bench.runs import load_run

    # the run first: a wrong run directory is named before any folder is scanned
    net, config, extra = load_run(args.run, epoch=args.epoch)
    if args.profile is not None:
        from bench.profiles import load_profile

        profile = load_profile(args.profile)
        if args.operating_point is not None:
            profile.operating_point(args.operating_point)  # names the profile's points if unknown
        sources, where = profile.fault_map_paths(args.operating_point), f"--profile {args.profile}"
        args.operating_point = None  # the profile point's links are its maps, whatever their own names
    else:
        sources, where = [args.faultmaps], f"--faultmaps {args.faultmaps}"
    files, skipped = [], []
    for src in sources:
        found, other = scan_faultmaps(src) if src.is_dir() else ([src], [])
        files += found
        skipped += other
    if not files or not all(f.exists() for f in files):
        raise BenchError(f"{where}: no fault maps (*.npz) there" +
                         (f" ({len(skipped)} other .npz file(s) skipped: not faultbench fault maps)" if skipped else ""))
    try:
        maps = {f: read_faultmap(f) for f in files}
    except FaultMapError as exc:
        raise BenchError(str(exc)) from None
    groups: dict[str, list[Path]] = {}
    for f, m in maps.items():
        groups.setdefault(operating_point_name(m), []).append(f)
    if args.operating_point is not None:
        if args.operating_point not in groups:
            raise BenchError(f"--operating-point {args.operating_point!r}: no map there (have: {', '.join(groups)})")
        groups = {args.operating_point: groups[args.operating_point]}
    data = extra["data"]
    console = Console()
    if skipped:
        console.print(f"skipped {len(skipped)} .npz file(s) under {where} that are not faultbench fault maps "
                      f"(first: {skipped[0]})")
    clean = accuracy(net, data.test_x, data.test_y)
    results = []
    jobs = [job for op, fs in groups.items()
            for job in ([(op, [f], f.name) for f in fs] + [(op, fs, "all maps")] if len(fs) > 1 else [(op, fs, fs[0].name)])]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("replaying", total=len(jobs))
        for op, fs, label in jobs:
            progress.update(task, description=f"{op}: {label}")
            model = ReplayFaults(recorded_reads([maps[f] for f in fs]), args.mode, [str(f) for f in fs])
            try:
                accs = replay_accuracies(net, data.test_x, data.test_y, model)
            except ValueError as exc:
                raise BenchError(f"{where}: {exc}") from None
            results.append(_summary(op, label, fs, accs))
            progress.advance(task)
    table = Table(title=f"{args.run}: replay of {len(files)} fault map(s) ({args.mode}), "
                        f"{len(data.test_y)} test examples, fault-free {100 * clean:.2f}%")
    for col, just in (("operating point", "left"), ("maps", "left"), ("reads", "right"), ("accuracy", "right"),
                      ("95% CI", "right"), ("min..max", "right")):
        table.add_column(col, justify=just)
    for r in results:
        ci = "-" if r["ci95"] is None else f"+-{100 * r['ci95']:.2f}"
        table.add_row(r["operating_point"], r["maps"], str(r["reads"]), f"{100 * r['accuracy']:.2f}%", ci,
                      f"{100 * min(r['per_read']):.2f}..{100 * max(r['per_read']):.2f}%")
    console.print(table)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"run": str(args.run), "mode": args.mode, "fault_free": clean,
                                             "results": results}, indent=2))
        console.print(f"wrote {args.json_out}")
    return 0


def _summary(op: str, label: str, files: list[Path], accs: list[float]) -> dict:
    import math

    import torch

    from models.evaluation import ci_half_width

    hw = ci_half_width(torch.tensor(accs, dtype=torch.float64)) if len(accs) > 1 else None
    return {"operating_point": op, "maps": label, "files": [str(f) for f in files], "reads": len(accs),
            "accuracy": sum(accs) / len(accs), "ci95": None if hw is None or math.isinf(hw) else hw, "per_read": accs}
