"""``bench report runs/NAME``: regenerate report.md and report.html from results.json (no hardware)."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.pipeline.report import render


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="regenerate a bench run's report from its results.json")
    p.add_argument("run_dir", type=Path, help="run directory of bench run (holds report/results.json)")
    p.set_defaults(func=main)


def main(args) -> int:
    report_dir = args.run_dir / "report"
    if not (report_dir / "results.json").is_file():
        raise BenchError(f"{report_dir / 'results.json'}: not found; finish the run first (bench run ... --out {args.run_dir})")
    try:
        md, html = render(report_dir)
    except (KeyError, ValueError) as exc:
        raise BenchError(f"{report_dir / 'results.json'}: malformed ({exc})") from None
    print(f"wrote {md} and {html}")
    return 0
