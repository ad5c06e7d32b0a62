"""``bench doctor``: check each configured piece of the bench and say how to fix what fails."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.errors import BenchError


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    fix: str = ""


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check the board, the supply and the tools; print fixes",
                       description="Connects to each configured piece, identifies it and reads back a pattern at "
                                   "the nominal voltage. Exit status 1 when something fails.")
    p.add_argument("--board", help="board serial URL (e.g. /dev/ttyACM0, socket://127.0.0.1:PORT)")
    p.add_argument("--supply", help="VISA resource of the supply (e.g. TCPIP0::host::5025::SOCKET)")
    p.add_argument("--visa-backend", default="@py", help="pyvisa backend (default @py)")
    p.add_argument("--channel", type=int, default=1, help="supply output powering the memory (default 1)")
    p.add_argument("--nominal", type=float, default=1.1, help="nominal memory voltage in V (default 1.1)")
    p.add_argument("--imax", type=float, default=0.1, help="current limit in A (default 0.1)")
    p.add_argument("--words", type=int, default=256, help="words read back in the pattern check (default 256)")
    p.set_defaults(func=run)


def _tools() -> list[Check]:
    checks = []
    for tool, fix, needed in (("make", "apt-get install make", True), ("cc", "apt-get install gcc", True),
                              ("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi (MCU/QEMU builds)", False),
                              ("qemu-system-arm", "apt-get install qemu-system-arm (bench lab up --qemu)", False)):
        path = shutil.which(tool)
        ok = True if path else (False if needed else None)  # optional tools: skip, not fail
        checks.append(Check(f"tool {tool}", ok, path or "not on PATH", "" if path else fix))
    try:
        import pyvisa
        backends = pyvisa.highlevel.list_backends()
        checks.append(Check("pyvisa backends", "py" in backends, ", ".join(backends),
                            "" if "py" in backends else "pip install pyvisa-py"))
    except Exception as exc:  # a broken install must not stop the other checks
        checks.append(Check("pyvisa", False, str(exc), "pip install pyvisa pyvisa-py"))
    return checks


def _board_checks(args, checks: list[Check]):
    from drivers.board import Board, BoardError

    try:
        board = Board(args.board)
    except BoardError as exc:
        checks.append(Check("board connect", False, str(exc),
                            "is the board plugged in and running faultbench firmware? (virtual: bench lab up; "
                            "serial: check the port name and that no other program holds it)"))
        return None
    i = board.info
    checks.append(Check("board identify", True, f"{i.target} fw {i.fw_version}, protocol v{i.protocol_version}, "
                                                f"{i.mem_words} words, caps {','.join(sorted(i.capabilities))}"))
    return board


def _supply_checks(args, checks: list[Check]):
    from drivers.supplies import SupplyError, open_supply

    try:
        supply = open_supply(args.supply, backend=args.visa_backend, channel=args.channel, vmax=args.nominal,
                             imax=args.imax)
    except SupplyError as exc:
        checks.append(Check("supply connect", False, str(exc),
                            "check the VISA resource string (SOCKET needs host::port::SOCKET), the network/USB "
                            "cable, --visa-backend, and --channel against the model"))
        return None
    checks.append(Check("supply identify", True, f"{supply.identify()} -> {type(supply).__name__}, "
                                                 f"energy by {supply.energy_method}"))
    try:
        supply.configure()
        supply.volts = args.nominal
        supply.output_enabled = True
        measured = supply.measure_voltage()
        ok = abs(measured - args.nominal) <= 0.02 * args.nominal + 0.005
        checks.append(Check("supply nominal voltage", ok, f"set {args.nominal} V, measured {measured:.4f} V",
                            "" if ok else "check the load/wiring and the current limit (--imax)"))
    except SupplyError as exc:
        checks.append(Check("supply nominal voltage", False, str(exc),
                            "read the SCPI error above; --nominal within the model's range?"))
    return supply


def run(args) -> int:
    console = Console()
    checks = _tools()
    board = supply = None
    try:
        if args.board:
            board = _board_checks(args, checks)
        else:
            checks.append(Check("board", None, "no --board given", "bench lab up prints a board URL to try"))
        if args.supply:
            supply = _supply_checks(args, checks)
        else:
            checks.append(Check("supply", None, "no --supply given", "bench lab up prints a VISA resource to try"))
        if board is not None:
            _readback(args, board, supply, checks)
    finally:
        if supply is not None:
            off = supply.shutdown()
            checks.append(Check("supply shutdown", off, "output reads OFF" if off else "output did not read OFF",
                                "" if off else "switch the output off by hand and check the connection"))
            supply.close()
        if board is not None:
            board.close()
    table = Table(title="bench doctor")
    for col in ("check", "", "detail", "fix"):
        table.add_column(col)
    for c in checks:
        mark = {True: "[green]OK[/]", False: "[red]FAIL[/]", None: "[yellow]skip[/]"}[c.ok]
        table.add_row(c.name, mark, c.detail, c.fix)
    console.print(table)
    if not args.board and not args.supply:
        console.print("nothing to connect to: give --board and/or --supply (or start `bench lab up`)")
    return 1 if any(c.ok is False for c in checks) else 0


def _readback(args, board, supply, checks: list[Check]) -> None:
    from drivers.board import BoardError
    from drivers.supplies import SupplyError

    n = min(args.words, board.info.mem_words)
    if n < 1:
        raise BenchError("--words must be >= 1")
    where = f"at {args.nominal} V" if supply is not None else "(supply not checked)"
    try:
        if supply is not None and "pattern" in board.info.capabilities:
            with supply.energy(0.25) as e:
                result = board.pattern("checkerboard", 0, n)
            detail = f"{n} words {where}: {result.flips} flipped bits; {e.joules:.3g} J by {e.method}"
        else:
            result = board.pattern("checkerboard", 0, n)
            detail = f"{n} words {where}: {result.flips} flipped bits"
        ok = result.flips == 0
        checks.append(Check("pattern read-back", ok, detail,
                            "" if ok else "bit errors at nominal voltage: check --nominal, the supply channel "
                                          "wiring and the memory"))
    except (BoardError, SupplyError) as exc:
        checks.append(Check("pattern read-back", False, str(exc), "see the board/supply checks above"))
