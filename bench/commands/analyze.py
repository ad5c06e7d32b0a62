"""``bench analyze <analysis>``: the analyses listed in :data:`bench.analyses.ANALYSIS_MODULES`."""

from __future__ import annotations

import importlib

from bench.analyses import ANALYSIS_MODULES


def register(subparsers) -> None:
    parser = subparsers.add_parser("analyze", help="analyses of trained networks (tables and PNG plots)",
                                   description="Run one analysis; each writes a table and a PNG plot.")
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    for name in ANALYSIS_MODULES:
        importlib.import_module(f"bench.analyses.{name}").register(sub)
