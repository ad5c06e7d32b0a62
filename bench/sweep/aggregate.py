"""Sweep report: accuracy vs memory energy across methods (seed 1, Fig. 3).

Each finished trial gives one point (energy relative to the reliable network, accuracy); a
``bench run`` trial gives the points of its own comparison. The Pareto front, the iso-accuracy
ratios per method (``E_reliable / E_method`` at the cheapest point within ``tolerance``,
default 0.5 point, of the best reliable accuracy) and the verdict of LaNMax against uniform
noise are ``bench.front``'s, the same as ``bench run`` reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.front import Point, draw, iso_accuracy, pareto_front, verdict
from bench.sweep.executors import TRIAL_FILE
from bench.sweep.metrics import trial_points
from drivers import atomic
from models.plots import plt, save_figure


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
            points.append(Point(name + tp.suffix, method, tp.setting or label, tp.accuracy, tp.ci, tp.energy_J,
                                tp.energy_ci, tp.seeds))
    return points, failed


def plot(points: list[Point], front: list[Point], result: dict, reference_J: float, path: Path) -> None:
    """Accuracy vs energy relative to the reference reliable network, one curve per method, the
    Pareto front, the iso-accuracy target and LaNMax's saving over uniform noise."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    draw(ax, points, result, reference_J)
    ax.plot([p.energy_J / reference_J for p in front], [100 * p.accuracy for p in front], "--", color="0.4",
            lw=3, alpha=0.5, zorder=0, label="Pareto front")
    ax.set_title("accuracy vs memory energy")
    ax.legend(fontsize=7)
    save_figure(fig, path)


@dataclass
class SweepReport:
    """The sweep's points, Pareto front, iso-accuracy ratios and verdict, and the files written."""

    points: list[Point]
    front: list[Point]
    iso: dict
    verdict: dict
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
    result = verdict(points, tolerance=tolerance)
    reference_J = iso["reference"]["energy_J"] if iso else min(p.energy_J for p in points)
    on_front = {p.name for p in front}
    columns = ("trial", "method", "setting", "accuracy %", "± CI", "energy / ref", "Pareto")
    rows = [(p.name, p.method, p.setting, f"{100 * p.accuracy:.2f}", f"{100 * p.accuracy_ci:.2f}",
             f"{p.energy_J / reference_J:.3f}", "*" if p.name in on_front else "")
            for p in sorted(points, key=lambda p: (p.method, p.energy_J))]
    png = sweep_dir / "pareto.png"
    plot(points, front, result, reference_J, png)
    summary = {"points": [p.to_dict() for p in points], "pareto_front": [p.name for p in front],
               "iso_accuracy": iso, "verdict": result, "tolerance": tolerance,
               "failed": [r["name"] for r in failed], "plot": png.name}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", f"**LaNMax against uniform noise:** {result['text']}"]
    files = [png, atomic.write_text(sweep_dir / "report.json", json.dumps(summary, indent=2)),
             atomic.write_text(sweep_dir / "report.md", "\n".join(lines) + f"\n\n![Pareto front]({png.name})\n")]
    return SweepReport(points, front, iso, result, reference_J, failed, columns, rows, files)
