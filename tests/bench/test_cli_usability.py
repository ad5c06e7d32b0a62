"""What a newcomer meets first: the first steps, help that explains itself, typos answered
with the closest option under the typed command's usage, a torch-free ``bench --help``, and
terminal tables that fold at 60, 80 and 120 columns instead of cutting."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bench.cli import main
from bench.pipeline.display import make_progress, plan_table, summary_table
from bench.pipeline.framework import StageRecord
from bench.pipeline.stages import PIPELINE, headline

WIDTHS = (60, 80, 120)
DATA = Path(__file__).parents[1] / "data"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_first_steps_without_a_command(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 2
    assert "first steps:" in out and "bench run --profile profiles/rram_lowpower.yaml --quick" in out
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "first steps:" in out


@pytest.mark.parametrize("argv, usage, hint", [
    (["run", "--profle", "profiles/sram_lowvoltage.yaml"], "usage: bench run", "did you mean --profile?"),
    (["run", "--profile", "profiles/sram_lowvoltage.yaml", "--quik"], "usage: bench run", "did you mean --quick?"),
    (["evaluate", "runs/x", "--max-rpes", "3"], "usage: bench evaluate", "did you mean --max-reps?"),
    (["rnu"], "usage: bench [-h]", "did you mean 'run'?"),
    (["analyze", "bet", "runs/x", "--out", "a", "--spilt", "test"], "usage: bench analyze bet",
     "unknown option --spilt: did you mean --split?"),
    (["runs", "lsit"], "usage: bench runs", "did you mean 'list'?"),
])
def test_typos_suggest_the_closest_option(capsys, argv, usage, hint):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and usage in err and hint in err, err
    assert "usage: bench [-h] [-v] COMMAND" not in err or argv == ["rnu"]


def test_run_help_explains_defaults_without_markup(capsys):
    code, out, _ = run_cli(capsys, "run", "--help")
    text = " ".join(out.split())
    assert code == 0 and "``" not in out
    assert "built-in defaults < the profile's `experiment` section < --quick" in text
    assert "training epochs (default: the profile's experiment.epochs, else 30; --quick: 4)" in text


def test_report_help_has_a_description(capsys):
    code, out, _ = run_cli(capsys, "report", "--help")
    assert code == 0 and "from RUN/report/results.json alone" in " ".join(out.split())


def test_help_and_runs_help_stay_torch_free():
    for argv in (["--help"], ["runs", "--help"], ["run", "--help"]):
        code = ("import sys\nfrom bench.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
                "assert 'torch' not in sys.modules or %r != ['--help'], 'torch imported'\n" % (argv, argv))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           cwd=Path(__file__).parents[2])
        assert r.returncode == 0, r.stderr


def columns_text(text: str) -> str:
    """The text of a rendered output with every table's columns read top to bottom (folded
    cells joined), whitespace dropped: a string cut anywhere is missing from it."""
    parts, block, prose = [], [], []

    def flush():
        if block:
            width = max(len(row) for row in block)
            for i in range(width):
                parts.append("".join(row[i] for row in block if i < len(row)))
            block.clear()
        if prose:
            parts.append("".join(prose))
            prose.clear()

    for line in text.splitlines():
        table_line = "│" in line or "┃" in line
        if table_line != bool(block):
            flush()
        (block.append(re.split("[│┃]", line)) if table_line else prose.append(line))
    flush()
    return "\n".join(re.sub(r"\s+", "", p) for p in parts)


def assert_uncut(text: str, *expected: str) -> None:
    assert "…" not in text, text
    flat = columns_text(text)
    for e in expected:
        assert re.sub(r"\s+", "", e) in flat, (e, text)


def render(renderable, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


LONG = Path("/tmp/a-rather-long-folder-name/runs/sram_lowvoltage-quick-with-a-longer-name-than-fits")


@pytest.mark.parametrize("width", WIDTHS)
def test_run_tables_and_summary_fold(width, tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "results.json").write_text((DATA / "report" / "results_sram_quick.json").read_text())
    lines = {**headline(tmp_path), "report": str(LONG / "report" / "report.html")}
    assert "Operating points hold on the board" in lines and "Replay matches the board" in lines
    records = [StageRecord(s.name, "done", 12.345, {"report": str(LONG / "report" / "report.html"),
                                                     "energy_R2": "n/a (the virtual chip is not the profile's chip)"})
               for s in PIPELINE.stages]
    text = render(plan_table(PIPELINE, {s.name: "run" for s in PIPELINE.stages}, LONG), width)
    assert_uncut(text, str(LONG), *(s.title for s in PIPELINE.stages))
    text = render(summary_table(PIPELINE, records, LONG, lines), width)
    assert_uncut(text, str(LONG / "report" / "report.html"), "energy_R2=n/a (the virtual chip is not the profile's chip)",
                 *lines.keys(), *lines.values())


@pytest.mark.parametrize("width", WIDTHS)
def test_progress_keeps_counts_and_time(width):
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    with make_progress(console) as progress:
        task = progress.add_task("Monte-Carlo main (board subset, fixed chip): 0.900 +- 0.000", total=40)
        progress.update(task, completed=40)
    text = console.export_text()
    assert "…" not in text and "40/40" in text and re.search(r"\d:\d\d:\d\d", text)


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_tables_fold(width):
    from bench.commands.runs import compare_table, list_table
    from bench.runs import COLUMNS

    row = {c: None for c in COLUMNS} | {"run": str(LONG), "kind": "bench run", "method": "lanmax", "dataset": "digits",
                                        "arch": "mlp", "accuracy_fault_free": 0.913649, "accuracy_under_faults": 0.91156,
                                        "accuracy_ci95": 0.00263, "energy_vs_reliable": 0.651347,
                                        "board_accuracy": 0.9, "points_hold": "no: 8", "status": "complete"}
    assert_uncut(render(list_table([row, row], "runs"), width), str(LONG), "0.9116 +- 0.0026", "points hold: no: 8")
    assert_uncut(render(compare_table([row, row]), width), str(LONG), "0.6513")
