"""Sweep report: accuracy vs memory energy across methods (seed 1, Fig. 3).

Each finished trial gives one point (energy relative to the reliable network, accuracy).
The Pareto front keeps the points no other point beats in both. Iso-accuracy energy ratio
[our definition, as in benchmarks/energy_isoaccuracy.py]: for each method, the lowest
energy among its points whose accuracy is within ``tolerance`` (default 0.5 point) of the
best reliable accuracy, reported as ``E_reliable / E_method`` (how many times less energy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.sweep.executors import TRIAL_FILE
from bench.sweep.metrics import trial_points
from drivers import atomic
from models.plots import plt, save_figure


@dataclass(frozen=True)
class Point:
    trial: str
    method: str
    label: str
    accuracy: float
    accuracy_ci: float
    energy_J: float  # predicted memory energy of one inference (ALGORITHMS 3)


def pareto_front(points: list[Point]) -> list[Point]:
    """Points not dominated (lower-or-equal energy and higher-or-equal accuracy, one strictly)."""
    front = []
    for p in points:
        dominated = any(q.energy_J <= p.energy_J and q.accuracy >= p.accuracy
                        and (q.energy_J < p.energy_J or q.accuracy > p.accuracy) for q in points)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p.energy_J)


def iso_accuracy(points: list[Point], tolerance: float = 0.005) -> dict[str, dict]:
    """Per method: cheapest point within ``tolerance`` of the best reliable accuracy."""
    reliable = [p for p in points if p.method == "reliable"]
    if not reliable:
        return {}
    ref = max(reliable, key=lambda p: p.accuracy)
    target = ref.accuracy - tolerance
    out = {}
    for method in sorted({p.method for p in points}):
        ok = [p for p in points if p.method == method and p.accuracy >= target]
        if ok:
            best = min(ok, key=lambda p: p.energy_J)
            out[method] = {"trial": best.trial, "accuracy": best.accuracy, "energy_J": best.energy_J,
                           "energy_saving_x": ref.energy_J / best.energy_J}
        else:
            out[method] = {"trial": None, "accuracy": None, "energy_J": None, "energy_saving_x": None}
    return {"reference": {"trial": ref.trial, "accuracy": ref.accuracy, "energy_J": ref.energy_J,
                          "target": target}, "methods": out}


def collect(sweep_dir: Path, read_points) -> tuple[list[Point], list[dict]]:
    """Points of the sweep's finished trials, and the records of its failed or missing ones."""
    manifest = sweep_dir / "sweep.json"
    try:
        names = [t["name"] for t in json.loads(manifest.read_text())["trials"]]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        raise BenchError(f"{manifest} is missing or unreadable: is {sweep_dir} a sweep directory (bench sweep --out)?") from None
    points, failed = [], []
    for name in names:
        record_path = sweep_dir / "trials" / name / TRIAL_FILE
        try:
            record = json.loads(record_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            record = {"name": name, "status": "not run", "error": f"{record_path} missing"}
        if record["status"] != "done":
            failed.append(record)
            continue
        params = record["params"]
        for tp in read_points(record_path.parent, record.get("command", "train")):
            method = tp.method or params.get("method", "reliable")
            label = {"reliable": f"width {params.get('width', 1)}", "uniform": f"eps {params.get('eps', 'auto')}",
                     "lanmax": f"lambda {params.get('lambda', 'default')}"}.get(method, method)
            points.append(Point(name + tp.suffix, method, label, tp.accuracy, tp.ci, tp.energy_J))
    return points, failed


def plot(points: list[Point], front: list[Point], iso: dict, reference_J: float, path: Path) -> None:
    """Accuracy vs energy relative to the reference reliable network, one curve per method;
    the iso-accuracy target as a line and each method's iso-accuracy point with its ratio."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for method in sorted({p.method for p in points}):
        ps = sorted((p for p in points if p.method == method), key=lambda p: p.energy_J)
        ax.errorbar([p.energy_J / reference_J for p in ps], [100 * p.accuracy for p in ps],
                    yerr=[100 * p.accuracy_ci for p in ps], fmt="o-", capsize=3, label=method)
    ax.plot([p.energy_J / reference_J for p in front], [100 * p.accuracy for p in front], "--", color="0.4",
            lw=3, alpha=0.5, zorder=0, label="Pareto front")
    if iso:
        ax.axhline(100 * iso["reference"]["target"], color="0.6", lw=1, ls=":", label="iso-accuracy target")
        for method, r in iso["methods"].items():
            if r["trial"] is not None and method != "reliable":
                ax.annotate(f"{r['energy_saving_x']:.2f}x", (r["energy_J"] / reference_J, 100 * r["accuracy"]),
                            textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("memory energy relative to the reference reliable network")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy vs memory energy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path)


@dataclass
class SweepReport:
    """The sweep's points, Pareto front and iso-accuracy ratios, and the files written."""

    points: list[Point]
    front: list[Point]
    iso: dict
    reference_J: float
    failed: list[dict]
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    files: list[Path]


def report(sweep_dir: str | Path, tolerance: float = 0.005) -> SweepReport:
    """``bench sweep report``: collect the finished trials, write ``pareto.png``,
    ``report.md`` and ``report.json`` into ``sweep_dir``."""
    sweep_dir = Path(sweep_dir)
    points, failed = collect(sweep_dir, trial_points)
    if not points:
        raise BenchError(f"{sweep_dir}: no finished trials to report")
    front = pareto_front(points)
    iso = iso_accuracy(points, tolerance)
    reference_J = iso["reference"]["energy_J"] if iso else min(p.energy_J for p in points)
    on_front = {p.trial for p in front}
    columns = ("trial", "method", "setting", "accuracy %", "± CI", "energy / ref", "Pareto")
    rows = [(p.trial, p.method, p.label, f"{100 * p.accuracy:.2f}", f"{100 * p.accuracy_ci:.2f}",
             f"{p.energy_J / reference_J:.3f}", "*" if p.trial in on_front else "")
            for p in sorted(points, key=lambda p: (p.method, p.energy_J))]
    png = sweep_dir / "pareto.png"
    plot(points, front, iso, reference_J, png)
    summary = {"points": [p.__dict__ for p in points], "pareto_front": [p.trial for p in front],
               "iso_accuracy": iso, "tolerance": tolerance, "failed": [r["name"] for r in failed], "plot": png.name}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    files = [png, atomic.write_text(sweep_dir / "report.json", json.dumps(summary, indent=2)),
             atomic.write_text(sweep_dir / "report.md", "\n".join(lines) + f"\n\n![Pareto front]({png.name})\n")]
    return SweepReport(points, front, iso, reference_J, failed, columns, rows, files)
