"""The README's first command timed as a user runs it: ``bench run --profile P --quick`` in a
fresh process and a fresh run directory, ``--repeat`` times one after the other, start-up,
imports and the virtual lab included. Prints each run's wall time with the machine's load
average at its start, then the median and the range, and the machine (cores, CPU, memory).

    python benchmarks/first_run.py [--profile profiles/rram_lowpower.yaml] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    mem = next((int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), float("nan"))
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="profiles/rram_lowpower.yaml")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    times = []
    for i in range(args.repeat):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="fb-first-run-") as d:
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "bench.cli", "run", "--profile", args.profile, "--quick",
                                "--out", str(Path(d) / "run")], cwd=ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"run {i + 1} failed:\n{r.stderr[-2000:]}")
        times.append(wall)
        print(f"run {i + 1}: {wall:.1f} s (load average {load:.2f} on {os.cpu_count()} cores at its start)", flush=True)
    print(f"{args.profile} --quick: median {statistics.median(times):.1f} s, range {min(times):.1f}-{max(times):.1f} s "
          f"over {len(times)} runs")


if __name__ == "__main__":
    main()
