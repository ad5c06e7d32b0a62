"""``bench characterize``: voltage sweep of the memory under test (see ``bench/characterize.py``)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.characterize import characterize, pattern_list
from bench.commands.common import finite


def _bits(n: int, total: int) -> str:
    return f"{n} ({n / total:.2g})" if total else str(n)


def energy_text(e: dict | None) -> str:
    """A voltage's energy per bit with its 95% interval, or what the instrument resolves."""
    if e is None:
        return "not measured"
    if e["energy_per_bit_J"] is None:
        return f"below resolution: floor {e['floor_per_bit_J'] * 1e15:.3g} fJ"
    lo, hi = e["ci_per_bit_J"]
    return f"{e['energy_per_bit_J'] * 1e15:.4g} fJ [{lo * 1e15:.4g}, {hi * 1e15:.4g}] ({e['repeat']} x {e['pairs']})"


def sweep_table(summary: list[dict], title: str) -> Table:
    """Per voltage: BER, its split, persistent/transient bit counts with their fraction, energy."""
    table = Table(title=title, caption="persistent: bits flipped in every read of a pattern; transient: in some "
                                       "reads, not all; in brackets: the fraction of the bits tested (all patterns); "
                                       "energy/bit: 95% interval, repeats N x capture pairs")
    for col in ("V", "BER", "0->1", "1->0", "persistent bits", "transient bits", "energy/bit"):
        table.add_column(col, justify="right", overflow="fold")
    for s in summary:
        table.add_row(f"{s['voltage_V']:.3f}", f"{s['ber']:.3g}", f"{s['ber_0to1']:.3g}", f"{s['ber_1to0']:.3g}",
                      _bits(s["persistent_bits"], s["tested_bits"]), _bits(s["transient_bits"], s["tested_bits"]),
                      energy_text(s["energy"]))
    return table


def configure(p) -> None:
    p.description = ("Voltage sweep (vmax down to vmin) writing/reading patterns; writes OUT/sweep.csv, "
                     "OUT/sweep.json, OUT/faultmaps/*.npz, PNG plots and OUT/sweep.nc (NetCDF, with the "
                     "faultbench[xarray] extra). Without --board/--supply it starts the "
                     "virtual lab. An interrupted sweep resumes.")
    p.add_argument("--board", help="board serial URL (e.g. /dev/ttyACM0, socket://127.0.0.1:PORT)")
    p.add_argument("--supply", help="VISA resource of the supply (e.g. TCPIP0::host::5025::SOCKET), or ppk2:PORT "
                                    "(a Nordic PPK2 source meter powers the rail, 0.8-5 V); without --board: "
                                    "ppk2 uses the virtual lab's simulated PPK2")
    p.add_argument("--meter", help="energy meter beside the supply: ppk2:PORT (PPK2 ampere meter in series with "
                                   "the rail) or joulescope[:SERIAL]; without --board: ppk2 (the lab's simulated one)")
    p.add_argument("--visa-backend", default="@py", help="pyvisa backend (default @py)")
    p.add_argument("--chip", help="chip file for the virtual lab (only without --board/--supply)")
    p.add_argument("--chip-id", help="name of the chip under test, stored in the fault maps (default: what the "
                                     "board answers to IDENT, e.g. the virtual lab's chip id; else 'unknown-chip')")
    p.add_argument("--channel", type=int, default=1, help="supply output powering the memory (default 1)")
    p.add_argument("--vmin", type=finite, required=True, help="lowest voltage (V)")
    p.add_argument("--vmax", type=finite, required=True, help="highest voltage (V); also the supply's safety "
                                                                "limit and OVP level; refused above the absolute "
                                                                "maximum of the chip file or --profile")
    p.add_argument("--profile", help="profile of the memory under test: its absolute_max_voltage bounds --vmax "
                                     "(real hardware; the virtual lab's chip file states its own)")
    p.add_argument("--steps", type=int, default=13, help="voltages from vmax down to vmin (default 13)")
    p.add_argument("--patterns", default="checkerboard,random", help="comma list: checkerboard,random,zeros,ones")
    p.add_argument("--repeats", type=int, default=5, help="write/read repeats per voltage and pattern (default 5)")
    p.add_argument("--base-word", type=int, default=0, help="first word under test (default 0)")
    p.add_argument("--words", type=int, default=1024, help="words under test (default 1024 = 4 KiB)")
    p.add_argument("--settle", type=finite, default=0.05, help="seconds to wait after each voltage change (0.05)")
    p.add_argument("--imax", type=finite, default=0.1, help="current limit in A (default 0.1)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random pattern (default 1)")
    p.add_argument("--technology", choices=("sram", "rram"),
                   help="memory technology, stored in sweep.json (default: the virtual chip's, else sram)")
    p.add_argument("--energy-of", choices=("read", "write"),
                   help="energy per bit of the read or of the write (programming energy); default: write for "
                        "rram, read otherwise")
    p.add_argument("--energy-target", type=float, default=0.05,
                   help="energy per bit: capture until its 95%% interval is +- this fraction (default 0.05)")
    p.add_argument("--energy-words", type=int,
                   help="words read per energy request (default: the board's whole memory under test)")
    p.add_argument("--out", required=True, help="output directory, e.g. sweeps/NAME")
    p.set_defaults(func=run)


def run(args) -> int:
    console = Console()
    total = args.steps * len(pattern_list(args.patterns)) * args.repeats
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("sweep", total=total)
        c = characterize(args.out, args.vmin, args.vmax, args.steps, board=args.board, supply=args.supply, meter=args.meter,
                         visa_backend=args.visa_backend, chip=args.chip, chip_id=args.chip_id, channel=args.channel,
                         patterns=args.patterns, repeats=args.repeats, base_word=args.base_word, words=args.words,
                         settle=args.settle, imax=args.imax, seed=args.seed, technology=args.technology,
                         energy_of=args.energy_of, energy_target=args.energy_target, energy_words=args.energy_words,
                         profile=args.profile,
                         progress=lambda n, what: bar.update(task, advance=n, description=what),
                         on_lab=lambda url, res: bar.console.print(f"virtual lab: board {url}, supply {res}"))
    console.print(f"chip {c.chip_id} (from {c.chip_id_source})")
    console.print(sweep_table(c.summary, f"sweep {c.out} (chip {c.chip_id})"))
    for path in [*c.plots, *([c.netcdf] if c.netcdf else [])]:
        console.print(f"wrote {path}")
    console.print(f"wrote {c.sweep.csv_path}, {c.sweep.json_path}, {c.out / 'faultmaps'}, the energy captures; "
                  f"supply output is off")
    return 0
