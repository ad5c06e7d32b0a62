"""What ``bench run`` shows: the stage list up front, progress per stage, a summary at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from rich import box
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from bench.pipeline.framework import Pipeline, StageRecord

PLAN_STYLE = {"reuse": "[green]reuse (done)[/]", "run": "[yellow]run[/]"}
STATUS_STYLE = {"done": "[green]ran[/]", "skipped": "[cyan]reused[/]"}


def plan_table(pipeline: Pipeline, plan: Mapping[str, str], run_dir: Path) -> Table:
    t = Table(title=f"bench run -> {run_dir}", title_justify="left")
    t.add_column("#", justify="right", overflow="fold")
    t.add_column("stage", overflow="fold")
    t.add_column("what", overflow="fold")
    t.add_column("plan", overflow="fold")
    for i, s in enumerate(pipeline.stages, 1):
        t.add_row(str(i), s.name, s.title, PLAN_STYLE[plan[s.name]])
    return t


def summary_table(pipeline: Pipeline, records: Sequence[StageRecord], run_dir: Path,
                  headline: Mapping[str, str]) -> Group:
    """The stages (status, seconds, result) and below them the verdict, each line wrapped to
    the terminal: long paths and numbers fold, nothing is cut."""
    t = Table(title=f"run directory: {run_dir}", title_justify="left")
    t.add_column("stage", overflow="fold")
    t.add_column("status", overflow="fold")
    t.add_column("seconds", justify="right", overflow="fold")
    t.add_column("result", overflow="fold", ratio=1)
    for r in records:
        note = ", ".join(f"{k}={v}" for k, v in r.summary.items() if not isinstance(v, (dict, list)))
        t.add_row(r.name, STATUS_STYLE.get(r.status, r.status), f"{r.seconds:.1f}", note)
    verdict = Table(box=box.MINIMAL, show_header=False, expand=True)
    verdict.add_column(style="bold", overflow="fold", max_width=26)
    verdict.add_column(overflow="fold", ratio=1)
    for k, v in headline.items():
        verdict.add_row(k, v)
    return Group(t, verdict)


def make_progress(console: Console) -> Progress:
    """Description and bar share the width left by the counts and the elapsed time, which never shrink."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}", table_column=Column(ratio=2, overflow="fold")),
                    BarColumn(bar_width=None, table_column=Column(ratio=1)),
                    MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=7)),
                    TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
                    console=console, transient=False, expand=True)
