"""``bench profile check FILE...`` and ``bench profile list``: memory error profiles."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.errors import BenchError
from bench.profiles import PROFILES_DIR, SCHEMA_PATH, check_profile, list_profiles, syntax_error


def register(subparsers) -> None:
    p = subparsers.add_parser("profile", help="check and list memory error profiles (profiles/*.yaml)")
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
    failed = []
    for path in args.files:
        profile, problems = check_profile(path)
        if syntax_error(problems):
            failed.append(str(problems[0]))
        elif problems:
            failed.append(f"{path}: {len(problems)} problem(s)\n  " + "\n  ".join(str(p) for p in problems))
        else:
            console.print(f"[green]OK[/green] {path}: {profile.name}: {profile.summary()}")
    if len(failed) == 1 and "\n" not in failed[0]:  # one YAML syntax error: its own line
        raise BenchError(failed[0])
    if failed:
        raise BenchError("invalid profile(s):\n" + "\n".join(failed))
    return 0


def run_list(args) -> int:
    paths = list_profiles(args.dir)
    if not paths:
        raise BenchError(f"no profiles (*.yaml) in {args.dir}")
    table = Table(title=f"profiles in {args.dir}")
    for col in ("file", "name", "summary"):
        table.add_column(col)
    for path in paths:
        profile, problems = check_profile(path)
        if problems:
            table.add_row(path.name, "-", f"[red]invalid: {len(problems)} problem(s), first: {problems[0]}[/red]")
        else:
            table.add_row(path.name, profile.name, profile.summary())
    Console(width=200).print(table)
    return 0
