"""``bench runs list [FOLDER]`` and ``bench runs compare RUN...``: key results of many run
directories (training runs and bench run folders) side by side (``bench/runs.py``)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.runs import COLUMNS, compare_runs, list_runs

def _exports(p) -> None:
    p.add_argument("--csv", type=Path, help="also write the table (every column) as CSV to this file")
    p.add_argument("--parquet", type=Path, help="also write it as Parquet (needs pandas and pyarrow: "
                                                "pip install 'faultbench[parquet]')")


def configure(p) -> None:
    p.description = ("Key results of run directories, both training runs (bench train) and bench run folders "
                     "(bench run), in one table: data set, network, method, accuracy fault-free and under faults "
                     "(with its 95 percent interval), energy relative to the reliable network, board results.")
    sub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="every run directory under a folder, one row each")
    ls.add_argument("folder", nargs="?", default="runs", help="folder searched recursively (default runs)")
    _exports(ls)
    ls.set_defaults(func=run_list)
    cmp_ = sub.add_parser("compare", help="the given runs side by side, one column each")
    cmp_.add_argument("runs", nargs="+", metavar="RUN", help="run directories (training runs or bench run folders)")
    _exports(cmp_)
    cmp_.set_defaults(func=run_compare)


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _accuracy(r: dict) -> str:
    faults = "-" if r["accuracy_under_faults"] is None else f"{r['accuracy_under_faults']:.4f}" + (
        "" if r["accuracy_ci95"] is None else f" +- {r['accuracy_ci95']:.4f}")
    return f"{cell(r['accuracy_fault_free'])} fault-free\n{faults} under faults"


def list_table(rows: list[dict], title: str) -> Table:
    """One row per run; the exports hold every column of ``bench.runs.COLUMNS``."""
    table = Table(title=title)
    for col in ("run", "method", "accuracy", "energy vs reliable", "board", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        what = " ".join(str(r[c]) for c in ("dataset", "arch") if r[c] is not None)
        board = "-" if r["board_accuracy"] is None else f"{r['board_accuracy']:.4f}; points hold: {r['points_hold']}"
        table.add_row(f"{r['run']}\n{r['kind']}, {what}", cell(r["method"]), _accuracy(r),
                      cell(r["energy_vs_reliable"]), board, cell(r["status"]))
    return table


def compare_table(rows: list[dict]) -> Table:
    table = Table(title=f"{len(rows)} run(s) side by side")
    table.add_column("", overflow="fold", style="bold")
    for i, _ in enumerate(rows, 1):
        table.add_column(f"#{i}", overflow="fold")
    for c in COLUMNS:
        table.add_row(c.replace("_", " "), *(cell(r[c]) for r in rows))
    return table


def _finish(console: Console, table) -> int:
    for why in table.skipped:
        console.print(f"[yellow]skipped[/] {why}")
    for path in table.files:
        console.print(f"wrote {path}")
    return 0


def run_list(args) -> int:
    table = list_runs(args.folder, csv=args.csv, parquet=args.parquet)
    console = Console()
    if not table.rows:
        console.print(f"no run directories under {args.folder} (start with: bench run --profile "
                      f"profiles/rram_lowpower.yaml --quick)")
    else:
        console.print(list_table(table.rows, f"runs under {args.folder}"))
    return _finish(console, table)


def run_compare(args) -> int:
    table = compare_runs(args.runs, csv=args.csv, parquet=args.parquet)
    console = Console()
    console.print(compare_table(table.rows))
    return _finish(console, table)
