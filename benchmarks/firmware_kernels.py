"""Host kernel throughput in binary MACs/s against the machine's popcount bound.

The bound is a bare XOR+popcount loop over the same weight rows and activation words (for
conv over precomputed patches, so it excludes im2col), measured side by side in the same run
(firmware/tests/bench_kernels.c). Target: the fast kernel at >= 50% of the bound; the
fast/reference speed-up is printed too.

    python benchmarks/firmware_kernels.py [--min-seconds 0.2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess

from rich.console import Console
from rich.table import Table

from drivers.firmware_process import FIRMWARE_DIR

TARGET = 0.5


def run(min_seconds: float) -> list[dict]:
    subprocess.run(["make", "-C", str(FIRMWARE_DIR), "bench-kernels"], check=True, capture_output=True)
    out = subprocess.run([str(FIRMWARE_DIR / "build/host/bench_kernels"), str(min_seconds)],
                         check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        name, macs, tf, tr, tb = line.split()
        macs, tf, tr, tb = int(macs), float(tf), float(tr), float(tb)
        rows.append({"case": name, "macs": macs, "fast_macs_per_s": macs / tf, "ref_macs_per_s": macs / tr,
                     "bound_macs_per_s": macs / tb, "fast_over_bound": tb / tf, "fast_over_ref": tr / tf})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-seconds", type=float, default=0.2, help="minimum timing window per kernel (default 0.2)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    rows = run(args.min_seconds)
    t = Table(title="host binary kernels (GMAC/s)")
    for col in ("case", "fast", "bound", "fast/bound", "reference", "fast/ref"):
        t.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        ok = "green" if r["fast_over_bound"] >= TARGET else "red"
        t.add_row(r["case"], f"{r['fast_macs_per_s'] / 1e9:.2f}", f"{r['bound_macs_per_s'] / 1e9:.2f}",
                  f"[{ok}]{100 * r['fast_over_bound']:.0f}%[/]", f"{r['ref_macs_per_s'] / 1e9:.3f}",
                  f"{r['fast_over_ref']:.0f}x")
    console = Console(width=120)
    console.print(t)
    console.print(f"target: fast >= {100 * TARGET:.0f}% of the XOR+popcount bound")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
