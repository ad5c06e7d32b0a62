"""Host binary kernels against popcount bounds over the same bytes, measured in the same run.

``firmware/tests/bench_kernels.c`` times, per case and interleaved (each round runs every path
once, the order rotating from round to round):

* ``fast``: the firmware's fast kernel (conv includes its im2col and border masking);
* ``pop64``: a scalar loop of 64-bit popcounts of ``x XOR w`` over the same rows (for conv
  over precomputed patches, so the bound has no im2col), built without vectorisation;
* ``avx2``: the same bytes through a 256-bit nibble-lookup popcount (VPSHUFB), where the CPU
  has AVX2;
* ``ref``: the reference kernel (first round only).

Ratios are taken per round (the paths of one round ran back to back) and summarised as the
median with the min-max spread over the rounds. Target: fast >= 0.8x the 64-bit popcount
bound on FC and conv shapes.

    python benchmarks/firmware_kernels.py [--rounds 7] [--min-seconds 0.05] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.firmware_process import FIRMWARE_DIR  # noqa: E402

TARGET = 0.8  # fast / pop64


def run(min_seconds: float, rounds: int) -> tuple[list[dict], bool]:
    subprocess.run(["make", "-C", str(FIRMWARE_DIR), "bench-kernels"], check=True, capture_output=True)
    out = subprocess.run([str(FIRMWARE_DIR / "build/host/bench_kernels"), str(min_seconds), str(rounds)],
                         check=True, capture_output=True, text=True).stdout
    times: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    macs, avx2 = {}, False
    for line in out.splitlines():
        if line.startswith("#"):
            avx2 = line.split()[-1] == "yes"
            continue
        case, path, rnd, t, m = line.split()
        times[case][path][int(rnd)] = float(t)
        macs[case] = int(m)
    rows = []
    for case, paths in times.items():
        fast = paths["fast"]
        row = {"case": case, "macs": macs[case], "rounds": len(fast),
               "fast_gmacs": statistics.median(macs[case] / t / 1e9 for t in fast.values()),
               "ref_over_fast": paths["ref"][0] / fast[0]}
        for bound in ("pop64", "avx2"):
            if bound in paths:
                ratios = [paths[bound][r] / fast[r] for r in fast]  # fast speed / bound speed, per round
                row[f"fast_over_{bound}"] = statistics.median(ratios)
                row[f"fast_over_{bound}_spread"] = (min(ratios), max(ratios))
                row[f"{bound}_gmacs"] = statistics.median(macs[case] / t / 1e9 for t in paths[bound].values())
        rows.append(row)
    return rows, avx2


def ratio_cell(r: dict, bound: str, target: float | None = None) -> str:
    if f"fast_over_{bound}" not in r:
        return "-"
    lo, hi = r[f"fast_over_{bound}_spread"]
    text = f"{r[f'fast_over_{bound}']:.2f} [{lo:.2f}-{hi:.2f}]"
    if target is None:
        return text
    return f"[{'green' if r[f'fast_over_{bound}'] >= target else 'red'}]{text}[/]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument("--min-seconds", type=float, default=0.05, help="minimum timing window per path and round (default 0.05)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    rows, avx2 = run(args.min_seconds, args.rounds)
    t = Table(title=f"host binary kernels, {args.rounds} interleaved rounds: median \\[min-max] of per-round ratios")
    for col in ("case", "fast GMAC/s", "pop64 GMAC/s", "fast / pop64", "avx2 GMAC/s", "fast / avx2", "fast / ref"):
        t.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        t.add_row(r["case"], f"{r['fast_gmacs']:.1f}", f"{r['pop64_gmacs']:.1f}", ratio_cell(r, "pop64", TARGET),
                  f"{r['avx2_gmacs']:.1f}" if "avx2_gmacs" in r else "-", ratio_cell(r, "avx2"),
                  f"{r['ref_over_fast']:.0f}x")
    console = Console(width=140)
    console.print(t)
    worst = min(r["fast_over_pop64"] for r in rows)
    verdict = "met" if worst >= TARGET else "NOT met"
    console.print(f"target fast >= {TARGET}x the 64-bit popcount bound: {verdict} (worst median {worst:.2f})")
    if avx2:
        below = [r["case"] for r in rows if r["fast_over_avx2"] < 1.0]
        if below:
            console.print(f"the AVX2 bound is faster than the fast kernel on {len(below)} of {len(rows)} cases")
    else:
        console.print("this CPU has no AVX2: no SIMD bound")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
