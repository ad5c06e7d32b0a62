"""How results are written and shown: a table as CSV, markdown and JSON, a rich table, progress
bars, numbers with units (``format_energy`` of ``models.energy``), per-layer bar plots."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from drivers.atomic import write_text
from models.energy import format_energy
from models.plots import fit_title, plt, save_figure

__all__ = ["TableResult", "format_energy", "layer_bar_figure", "layer_bar_plot", "pct", "progress", "rich_table",
           "write_table"]


@dataclass
class TableResult:
    """What an analysis computed: its table and the files it wrote."""

    title: str
    header: list[str]
    rows: list[list[Any]]
    files: list[Path] = field(default_factory=list)


def write_table(folder: Path, stem: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
                title: str, meta: dict) -> list[Path]:
    """``folder/stem.{csv,md,json}``; ``meta`` (settings, units) goes into the JSON and markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    md = [f"# {title}", "", *(f"- {k}: {v}" for k, v in meta.items()), "",
          "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
          *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]
    paths = [folder / f"{stem}.csv", folder / f"{stem}.md", folder / f"{stem}.json"]
    write_text(paths[0], buf.getvalue())
    write_text(paths[1], "\n".join(md) + "\n")
    write_text(paths[2], json.dumps({"title": title, **meta, "header": list(header),
                                            "rows": [list(r) for r in rows]}, indent=1))
    return paths


def rich_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(title=title)
    for i, col in enumerate(header):
        table.add_column(str(col), justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    return table


def progress(console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[status]}"), console=console, transient=True)


def pct(mean: float, half_width: float) -> str:
    """``'93.40 +- 0.52'`` (percent)."""
    return f"{100 * mean:.2f} +- {100 * half_width:.2f}"


def layer_bar_figure(names: Sequence[str], values: Sequence[float], title: str, ylabel: str,
                     errors: Sequence[float] | None = None,
                     lines: Sequence[tuple[float, str, str, str]] = ()):
    """One bar per layer (network order) plus horizontal reference ``lines`` ``(y, color, style, label)``."""
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(names) + 2), 3.8))
    ax.bar(range(len(names)), values, yerr=errors, capsize=3 if errors is not None else 0, color="tab:blue")
    for y, color, style, label in lines:
        ax.axhline(y, color=color, ls=style, label=label)
    ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center")
    ax.set_xlabel("layer (network order)")
    ax.set_ylabel(ylabel)
    ax.set_title(fit_title(fig, title, 9), fontsize=9)
    if lines:
        ax.legend(fontsize=8)
    return fig


def layer_bar_plot(names: Sequence[str], values: Sequence[float], path: Path, title: str, ylabel: str,
                   errors: Sequence[float] | None = None,
                   lines: Sequence[tuple[float, str, str, str]] = ()) -> None:
    """:func:`layer_bar_figure` saved to ``path`` (PNG)."""
    save_figure(layer_bar_figure(names, values, title, ylabel, errors, lines), path)
