"""``bench report runs/NAME``: regenerate report.md and report.html from results.json (no hardware)."""

from __future__ import annotations

from pathlib import Path

from bench.report.render import rebuild_report


def configure(p) -> None:
    p.description = ("Rebuild RUN/report/report.md and the self-contained report.html (context, verdict, contents, "
                     "figures with captions) from RUN/report/results.json alone: no hardware, no training. Use it "
                     "after upgrading faultbench or to restore a deleted report.")
    p.add_argument("run_dir", type=Path, help="run directory of bench run (holds report/results.json)")
    p.set_defaults(func=main)


def main(args) -> int:
    md, html = rebuild_report(args.run_dir)
    print(f"wrote {md} and {html}")
    return 0
