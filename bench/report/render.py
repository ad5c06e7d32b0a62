"""The sections of the report in order, written as ``report.md`` (figures as files under
``figures/``) and a self-contained ``report.html`` (figures as data URIs)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from bench.errors import BenchError, user_errors
from bench.report import accuracy, board, energy, header, operating_points
from bench.report.text import slug, to_html
from drivers import atomic

SECTIONS = (header, accuracy, operating_points, energy, board)
CONTENTS = "Contents"


def contents(lines: list[str]) -> list[str]:
    """The table of contents: a link to each ``##`` heading of ``lines``."""
    titles = [line[3:] for line in lines if line.startswith("## ")]
    return [f"## {CONTENTS}", *(f"- [{t}](#{slug(t)})" for t in titles), ""]


def markdown(results: dict, image_src) -> str:
    """The report: the header (context and verdict), the table of contents, the sections;
    ``image_src(name)`` gives each figure's link (file or data URI)."""
    head, *rest = [section.markdown(results, image_src) for section in SECTIONS]
    body = [line for lines in rest for line in lines]
    return "\n".join(head + contents(body) + body)


def render(report_dir: Path, results: dict | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``report_dir`` (from its ``results.json``
    unless ``results`` is given); returns their paths."""
    report_dir = Path(report_dir)
    if results is None:
        results = json.loads((report_dir / "results.json").read_text())
    figs = {name: png for section in SECTIONS for name, png in section.figures(results).items()}
    for name, data in figs.items():
        atomic.write_bytes(report_dir / "figures" / f"{name}.png", data)
    md_path = atomic.write_text(report_dir / "report.md", markdown(results, lambda n: f"figures/{n}.png"))
    uris = {n: "data:image/png;base64," + base64.b64encode(d).decode("ascii") for n, d in figs.items()}
    html_path = atomic.write_text(report_dir / "report.html",
                                  to_html(markdown(results, lambda n: uris[n]), header.title(results)))
    return md_path, html_path


def rebuild_report(run: str | Path) -> tuple[Path, Path]:
    """``bench report``: regenerate ``RUN/report/report.{md,html}`` from ``results.json``
    (no hardware, no training)."""
    report_dir = Path(run) / "report"
    if not (report_dir / "results.json").is_file():
        raise BenchError(f"{report_dir / 'results.json'}: not found; finish the run first (bench run ... --out {run})")
    with user_errors(KeyError, ValueError, prefix=f"{report_dir / 'results.json'}: malformed "):
        return render(report_dir)
