"""``bench doctor``: check each configured piece of the bench and say how to fix what fails."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bench.commands.common import finite
from bench.doctor import run_checks


def configure(p) -> None:
    p.description = ("Connects to each configured piece, identifies it and reads back a pattern at the nominal "
                     "voltage. Exit status 1 when something fails.")
    p.add_argument("--board", help="board serial URL (e.g. /dev/ttyACM0, socket://127.0.0.1:PORT)")
    p.add_argument("--supply", help="VISA resource of the supply (e.g. TCPIP0::host::5025::SOCKET)")
    p.add_argument("--visa-backend", default="@py", help="pyvisa backend (default @py)")
    p.add_argument("--channel", type=int, default=1, help="supply output powering the memory (default 1)")
    p.add_argument("--nominal", type=finite, help="nominal memory voltage in V (default: that of --profile, else of "
                                                 "--chip; with neither the supply output stays off)")
    p.add_argument("--profile", help="profile of the memory: its nominal voltage and absolute maximum")
    p.add_argument("--chip", help="virtual-lab chip file of the memory (bench lab up --chip): its nominal_v and "
                                  "abs_max_v")
    p.add_argument("--imax", type=finite, default=0.1, help="current limit in A (default 0.1)")
    p.add_argument("--words", type=int, default=256, help="words read back in the pattern check (default 256)")
    p.set_defaults(func=run)


def run(args) -> int:
    checks = run_checks(args.board, args.supply, args.visa_backend, args.channel, args.nominal, args.imax, args.words,
                        args.profile, args.chip)
    table = Table(title="bench doctor")
    for col in ("check", "", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        mark = {True: "[green]OK[/]", False: "[red]FAIL[/]", None: "[yellow]skip[/]"}[c.ok]
        table.add_row(c.name, mark, c.detail, c.fix)
    console = Console()
    console.print(table)
    if not args.board and not args.supply:
        console.print("nothing to connect to: give --board and/or --supply (or start `bench lab up`)")
    return 1 if any(c.ok is False for c in checks) else 0
