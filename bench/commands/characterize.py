"""``bench characterize``: voltage sweep of the memory under test (see ``bench/characterize.py``)."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.errors import BenchError


def _bits(n: int, total: int) -> str:
    return f"{n} ({n / total:.2g})" if total else str(n)


def sweep_table(summary: list[dict], title: str) -> Table:
    """Per voltage: BER, its split, persistent/transient bit counts with their fraction, energy."""
    table = Table(title=title, caption="persistent: bits flipped in every read of a pattern; transient: in some "
                                       "reads, not all; in brackets: the fraction of the bits tested (all patterns)")
    for col in ("V", "BER", "0->1", "1->0", "persistent bits", "transient bits", "energy/bit"):
        table.add_column(col, justify="right", overflow="fold")
    for s in summary:
        table.add_row(f"{s['voltage_V']:.3f}", f"{s['ber']:.3g}", f"{s['ber_0to1']:.3g}", f"{s['ber_1to0']:.3g}",
                      _bits(s["persistent_bits"], s["tested_bits"]), _bits(s["transient_bits"], s["tested_bits"]),
                      f"{s['energy_per_bit_J'] * 1e15:.4g} fJ")
    return table


def register(sub) -> None:
    p = sub.add_parser("characterize", help="sweep the supply voltage: fault maps, BER and energy per bit",
                       description="Voltage sweep (vmax down to vmin) writing/reading patterns; writes "
                                   "OUT/sweep.csv, OUT/sweep.json, OUT/faultmaps/*.npz and PNG plots. Without "
                                   "--board/--supply it starts the virtual lab. An interrupted sweep resumes.")
    p.add_argument("--board", help="board serial URL (e.g. /dev/ttyACM0, socket://127.0.0.1:PORT)")
    p.add_argument("--supply", help="VISA resource of the supply (e.g. TCPIP0::host::5025::SOCKET)")
    p.add_argument("--visa-backend", default="@py", help="pyvisa backend (default @py)")
    p.add_argument("--chip", help="chip file for the virtual lab (only without --board/--supply)")
    p.add_argument("--chip-id", help="name of the chip under test, stored in the fault maps (default: the "
                                     "virtual chip's id, else 'unknown-chip')")
    p.add_argument("--channel", type=int, default=1, help="supply output powering the memory (default 1)")
    p.add_argument("--vmin", type=float, required=True, help="lowest voltage (V)")
    p.add_argument("--vmax", type=float, required=True, help="highest voltage (V); also the supply's safety "
                                                                "limit and OVP level")
    p.add_argument("--steps", type=int, default=13, help="voltages from vmax down to vmin (default 13)")
    p.add_argument("--patterns", default="checkerboard,random", help="comma list: checkerboard,random,zeros,ones")
    p.add_argument("--repeats", type=int, default=5, help="write/read repeats per voltage and pattern (default 5)")
    p.add_argument("--base-word", type=int, default=0, help="first word under test (default 0)")
    p.add_argument("--words", type=int, default=1024, help="words under test (default 1024 = 4 KiB)")
    p.add_argument("--settle", type=float, default=0.05, help="seconds to wait after each voltage change (0.05)")
    p.add_argument("--imax", type=float, default=0.1, help="current limit in A (default 0.1)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random pattern (default 1)")
    p.add_argument("--technology", choices=("sram", "rram"),
                   help="memory technology, stored in sweep.json (default: the virtual chip's, else sram)")
    p.add_argument("--energy-of", choices=("read", "write"),
                   help="energy per bit of the read or of the write (programming energy); default: write for "
                        "rram, read otherwise")
    p.add_argument("--out", required=True, help="output directory, e.g. sweeps/NAME")
    p.set_defaults(func=run)


def _virtual_chip_technology(chip_file) -> str:
    from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip

    try:
        return Chip.load(chip_file or DEFAULT_CHIP).technology
    except ValueError as exc:
        raise BenchError(f"--chip: {exc}") from None


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    from bench.characterize import SweepError, SweepSettings, plot_sweep, read_rows, run_sweep, summarize
    from drivers.board import Board, BoardError
    from drivers.supplies import SupplyError, open_supply
    from drivers.virtual_lab.lab import LabError, VirtualLab

    if (args.board is None) != (args.supply is None):
        raise BenchError("give both --board and --supply, or neither (then the virtual lab is started)")
    technology = args.technology or (_virtual_chip_technology(args.chip) if args.board is None else "sram")
    try:
        settings = SweepSettings(vmin=args.vmin, vmax=args.vmax, steps=args.steps, channel=args.channel,
                                 patterns=tuple(p.strip() for p in args.patterns.split(",") if p.strip()),
                                 repeats=args.repeats, base_word=args.base_word, n_words=args.words,
                                 settle_s=args.settle, imax=args.imax, pattern_seed=args.seed,
                                 energy_of=args.energy_of or ("write" if technology == "rram" else "read"))
    except SweepError as exc:
        raise BenchError(str(exc)) from None
    console = Console()
    out = Path(args.out)
    with contextlib.ExitStack() as stack:
        # SIGTERM takes the same path as Ctrl-C: the supply is shut down, the sweep can resume
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        stack.callback(signal.signal, signal.SIGTERM, previous)
        board_url, resource, chip_id = args.board, args.supply, args.chip_id
        try:
            if board_url is None:
                lab = stack.enter_context(VirtualLab(args.chip))
                board_url, resource, chip_id = lab.board_url, lab.supply_resource, chip_id or lab.chip_id
                console.print(f"virtual lab: board {board_url}, supply {resource}")
            elif args.chip:
                raise BenchError("--chip only applies to the virtual lab (without --board/--supply)")
            board = stack.enter_context(Board(board_url))
            supply = stack.enter_context(open_supply(resource, backend=args.visa_backend, channel=args.channel,
                                                     vmax=args.vmax, imax=args.imax))
        except (LabError, ValueError) as exc:
            raise BenchError(f"virtual lab: {exc}") from None
        except BoardError as exc:
            raise BenchError(f"--board {board_url}: {exc}") from None
        except SupplyError as exc:
            raise BenchError(f"--supply {resource}: {exc}") from None
        if args.base_word + args.words > board.info.mem_words:
            raise BenchError(f"--base-word/--words: [{args.base_word}, {args.base_word + args.words}) exceeds the "
                             f"board's {board.info.mem_words}-word memory")
        meta = {"chip_id": chip_id or "unknown-chip", "technology": technology,
                "board": {"url": board_url, "fw_version": board.info.fw_version, "target": board.info.target,
                          "boot_id": board.info.boot_id, "mem_words": board.info.mem_words},
                "supply": {"resource": resource, "identity": supply.identify(), "driver": type(supply).__name__,
                           "channel": args.channel, "energy_method": supply.energy_method}}
        total = len(settings.voltages()) * len(settings.patterns) * settings.repeats
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        try:
            with Progress(*columns, console=console) as bar:
                task = bar.add_task("sweep", total=total)
                sweep = run_sweep(board, supply, settings, out, meta,
                                  progress=lambda n, what: bar.update(task, advance=n, description=what))
        except SweepError as exc:
            raise BenchError(str(exc)) from None
        except BoardError as exc:
            raise BenchError(f"board {board_url} lost mid-sweep: {exc}; supply output switched off; "
                             "run the same command again to resume") from None
        except SupplyError as exc:
            raise BenchError(f"supply {resource}: {exc}; run the same command again to resume") from None
    rows = read_rows(sweep.csv_path)
    console.print(sweep_table(summarize(rows, sweep.state["points"]), f"sweep {out} (chip {meta['chip_id']})"))
    for path in plot_sweep(rows, out):
        console.print(f"wrote {path}")
    console.print(f"wrote {sweep.csv_path}, {sweep.json_path}, {out / 'faultmaps'}; supply output is off")
    return 0
