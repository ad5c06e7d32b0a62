"""Cost of the virtual chip and of energy capture, measured side by side in one run.

1. READ throughput of the host firmware: nominal memory (no --lab-state) vs the virtual chip
   (physics on every read) at 0.55 V with many faults.
2. A READ with and without an energy capture around it (digitiser arrays of the simulated
   N6705C: the capture waits for its whole window), per call.
3. Energy per bit from the capture vs the chip file's E(V) (the accuracy of the coupling).

The lab runs its ideal physics (exact readings, no leakage, no link latency): these are the
costs and the coupling of the simulation itself; benchmarks/energy_fidelity.py measures what
the bench gets under the realistic physics.

    OMP_NUM_THREADS=1 python benchmarks/virtual_lab.py [--words 16384] [--reads 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.board import Board  # noqa: E402
from drivers.firmware_process import start_host  # noqa: E402
from drivers.supplies import open_supply  # noqa: E402
from drivers.virtual_lab.lab import VirtualLab  # noqa: E402


def read_rate(url: str, words: int, reads: int) -> float:
    """Words per second of repeated READs (after one LOAD)."""
    with Board(url) as board:
        board.load(0, np.arange(words, dtype=np.uint32))
        t0 = time.perf_counter()
        for _ in range(reads):
            board.read(0, words)
        return words * reads / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=16384)
    ap.add_argument("--reads", type=int, default=20)
    args = ap.parse_args()
    console = Console()
    table = Table(title="virtual lab costs")
    for col in ("measurement", "value", "ratio"):
        table.add_column(col, justify="right")

    with start_host(["--mem-words", str(args.words)]) as fw:
        nominal = read_rate(fw.url, args.words, args.reads)
    with VirtualLab(physics="ideal") as lab:
        with open_supply(lab.supply_resource, vmax=1.2, imax=0.1) as supply:
            supply.volts = 0.55
            supply.output_enabled = True
            chip_rate = read_rate(lab.board_url, args.words, args.reads)
            with Board(lab.board_url) as board:
                n = 1024
                t0 = time.perf_counter()
                for _ in range(5):
                    board.read(0, n)
                plain = (time.perf_counter() - t0) / 5
                window = 0.2
                t0 = time.perf_counter()
                per_bit = []
                for _ in range(5):
                    with supply.energy(window) as e:
                        board.read(0, n)
                    per_bit.append(e.joules / (32 * n))
                captured = (time.perf_counter() - t0) / 5
            truth = lab.chip.read_energy(0.55)
    table.add_row("READ words/s, nominal memory", f"{nominal:,.0f}", "1.00")
    table.add_row("READ words/s, virtual chip at 0.55 V", f"{chip_rate:,.0f}", f"{chip_rate / nominal:.2f}")
    table.add_row("1024-word READ, no capture", f"{plain * 1e3:.1f} ms", "1.00")
    table.add_row(f"1024-word READ in a {window * 1e3:.0f} ms array capture", f"{captured * 1e3:.1f} ms",
                  f"{captured / plain:.1f}")
    table.add_row("energy/bit measured / chip E(0.55 V)", f"{np.mean(per_bit):.4e} J", f"{np.mean(per_bit) / truth:.6f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
