"""Wall time per stage of ``bench run --quick`` and of a full default run on digits.

    python benchmarks/run_pipeline.py [--profile profiles/sram_lowvoltage.yaml] [--skip-full]

Each run goes into a fresh temporary directory; stage times come from the done-markers the
pipeline writes (``RUN/stages/NAME.json``), printed side by side with each stage's share.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.cli import main as bench
from bench.pipeline.stages import PIPELINE


def timed_run(profile: str, quick: bool) -> tuple[dict[str, float], float]:
    with tempfile.TemporaryDirectory(prefix="fb-bench-run-") as d:
        out = Path(d) / "run"
        t0 = time.perf_counter()
        args = ["run", "--profile", profile, "--out", str(out)] + (["--quick"] if quick else [])
        if bench(args) != 0:
            raise SystemExit(f"bench {' '.join(args)} failed")
        total = time.perf_counter() - t0
        return {s.name: json.loads((out / "stages" / f"{s.name}.json").read_text())["seconds"]
                for s in PIPELINE.stages}, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=str(Path(__file__).parents[1] / "profiles" / "sram_lowvoltage.yaml"))
    ap.add_argument("--skip-full", action="store_true", help="time only --quick")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    runs = {"--quick": timed_run(args.profile, True)}
    if not args.skip_full:
        runs["default"] = timed_run(args.profile, False)
    t = Table(title=f"bench run wall time per stage ({args.profile})")
    t.add_column("stage")
    for name in runs:
        t.add_column(f"{name} s", justify="right")
        t.add_column("share", justify="right")
    for s in PIPELINE.stages:
        row = [s.name]
        for stages, total in runs.values():
            row += [f"{stages[s.name]:.1f}", f"{100 * stages[s.name] / total:.0f}%"]
        t.add_row(*row)
    t.add_row("total (wall, incl. start-up)", *[x for _, total in runs.values() for x in (f"{total:.1f}", "100%")])
    Console().print(t)


if __name__ == "__main__":
    main()
