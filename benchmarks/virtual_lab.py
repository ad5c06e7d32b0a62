"""Cost of the virtual chip and of energy capture, measured side by side in one run.

1. READ throughput of the host firmware: nominal memory (no --lab-state) vs the virtual chip
   (physics on every read) at 0.55 V with many faults.
2. A 1024-word READ with and without an energy capture around it (digitiser arrays of the
   simulated N6705C: the capture waits for its whole window), per call.
3. Energy per bit from the captures vs the chip file's E(V) (the accuracy of the coupling).

The lab runs its ideal physics (exact readings, no leakage, no link latency): these are the
costs and the coupling of the simulation itself; benchmarks/energy_fidelity.py measures what
the bench gets under the realistic physics. Both firmware processes run at once; each
comparison is timed in interleaved rounds (every path once per round, the order rotating) and
reported as median [min-max] over the rounds, the ratios per round.

    OMP_NUM_THREADS=1 python benchmarks/virtual_lab.py [--words 16384] [--reads 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drivers.board import Board  # noqa: E402
from drivers.firmware_process import start_host  # noqa: E402
from drivers.supplies import open_supply  # noqa: E402
from drivers.virtual_lab.lab import VirtualLab  # noqa: E402
from rounds import add_rounds_arg, interleaved, per_round, spread  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=16384)
    ap.add_argument("--reads", type=int, default=20, help="READs of --words words per path and round (default 20)")
    ap.add_argument("--captures", type=int, default=5, help="captured READs per round (default 5)")
    add_rounds_arg(ap, 5)
    args = ap.parse_args()
    console = Console(width=120)
    table = Table(title=escape(f"virtual lab costs, {args.rounds} interleaved rounds: median [min-max]"))
    for col in ("measurement", "value", "ratio"):
        table.add_column(col, justify="right")
    n, window = 1024, 0.2
    with start_host(["--mem-words", str(args.words)]) as fw, Board(fw.url) as nominal, VirtualLab(physics="ideal") as lab, \
            open_supply(lab.supply_resource, vmax=1.2, imax=0.1) as supply, Board(lab.board_url) as chip:
        supply.volts = 0.55
        supply.output_enabled = True
        for board in (nominal, chip):
            board.load(0, np.arange(args.words, dtype=np.uint32))
        per_bit = []

        def captured():
            with supply.energy(window) as e:
                chip.read(0, n)
            per_bit.append(e.joules / (32 * n))

        with console.status(f"{args.rounds} rounds of READs"):
            reads = interleaved({"nominal": lambda: nominal.read(0, args.words), "chip": lambda: chip.read(0, args.words)},
                                args.rounds, {"nominal": args.reads, "chip": args.reads})
        with console.status(f"{args.rounds} rounds of captured READs"):
            capture = interleaved({"plain": lambda: chip.read(0, n), "captured": captured}, args.rounds,
                                  {"plain": args.captures, "captured": args.captures})
        truth = lab.chip.read_energy(0.55)
    rate = {name: [args.words / t for t in times] for name, times in reads.items()}
    table.add_row("READ words/s, nominal memory", spread(rate["nominal"], ",.0f"), "1.00")
    table.add_row("READ words/s, virtual chip at 0.55 V", spread(rate["chip"], ",.0f"),
                  spread(per_round(reads["nominal"], reads["chip"]), ".2f"))
    table.add_row(f"{n}-word READ, no capture", spread(capture["plain"], ".1f", 1e3) + " ms", "1.00")
    table.add_row(f"{n}-word READ in a {window * 1e3:.0f} ms array capture", spread(capture["captured"], ".1f", 1e3) + " ms",
                  spread(per_round(capture["captured"], capture["plain"]), ".1f"))
    table.add_row("energy/bit measured / chip E(0.55 V)", f"{np.mean(per_bit):.4e} J",
                  spread([e / truth for e in per_bit], ".6f"))
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
