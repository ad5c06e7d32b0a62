"""What ``bench run`` shows: the stage list up front, progress per stage, a summary at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.pipeline.framework import Pipeline, StageRecord

PLAN_STYLE = {"reuse": "[green]reuse (done)[/]", "run": "[yellow]run[/]"}
STATUS_STYLE = {"done": "[green]ran[/]", "skipped": "[cyan]reused[/]"}


def plan_table(pipeline: Pipeline, plan: Mapping[str, str], run_dir: Path) -> Table:
    t = Table(title=f"bench run -> {run_dir}", title_justify="left")
    t.add_column("#", justify="right")
    t.add_column("stage")
    t.add_column("what")
    t.add_column("plan")
    for i, s in enumerate(pipeline.stages, 1):
        t.add_row(str(i), s.name, s.title, PLAN_STYLE[plan[s.name]])
    return t


def summary_table(pipeline: Pipeline, records: Sequence[StageRecord], run_dir: Path,
                  headline: Mapping[str, str]) -> Table:
    t = Table(title=f"run directory: {run_dir}", title_justify="left")
    t.add_column("stage")
    t.add_column("status")
    t.add_column("seconds", justify="right")
    t.add_column("result")
    for r in records:
        note = ", ".join(f"{k}={v}" for k, v in r.summary.items() if not isinstance(v, (dict, list)))
        t.add_row(r.name, STATUS_STYLE.get(r.status, r.status), f"{r.seconds:.1f}", note)
    for k, v in headline.items():
        t.add_row("", "", "", f"[bold]{k}[/]: {v}")
    return t


def make_progress(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)
