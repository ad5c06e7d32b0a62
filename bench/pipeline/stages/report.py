"""Stage 7: ``report/results.json`` (every number, with its source file), ``report/report.md``
with its figures, and the self-contained ``report/report.html``."""

from __future__ import annotations

from drivers import atomic
from bench.report.render import render
from bench.report.results import build_results


def write_report(ctx) -> dict:
    results = build_results(ctx.run_dir)
    atomic.write_json(ctx.out / "results.json", results)
    render(ctx.out, results)
    return {"report": "report/report.html"}
