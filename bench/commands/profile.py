"""``bench profile check FILE...`` and ``bench profile list``: memory error profiles."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.profiles import PROFILES_DIR, SCHEMA_PATH, check_files, failures, list_folder


def configure(p) -> None:
    sub = p.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="validate profiles: every problem with file, line and field")
    c.add_argument("files", nargs="+", type=Path, metavar="FILE")
    c.set_defaults(func=run_check)
    ls = sub.add_parser("list", help="profiles in a folder with a one-line summary each")
    ls.add_argument("--dir", type=Path, default=PROFILES_DIR, help="folder to list (default: the shipped profiles)")
    ls.set_defaults(func=run_list)
    s = sub.add_parser("schema", help="print the path of the published JSON Schema")
    s.set_defaults(func=lambda args: print(SCHEMA_PATH))


def run_check(args) -> int:
    console = Console()
    checks = check_files(args.files)
    for c in checks:
        if c.ok:
            console.print(f"[green]OK[/green] {c.path}: {c.profile.name}: {c.summary()}")
    error = failures(checks)
    if error is not None:
        raise error
    return 0


def run_list(args) -> int:
    table = Table(title=f"profiles in {args.dir}")
    for col in ("file", "name", "summary"):
        table.add_column(col, overflow="fold")
    for c in list_folder(args.dir):
        table.add_row(c.path.name, c.profile.name if c.ok else "-",
                      c.summary() if c.ok else f"[red]{c.summary()}[/red]")
    Console().print(table)
    return 0
