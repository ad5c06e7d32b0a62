"""Commands that take a run accept a training run and a ``bench run`` folder alike and say which
network they used; ``bench replay`` chooses among several sweeps; ``bench runs list/compare``
with CSV and Parquet; TensorBoard logging of training. All on a real quick bench run."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.runs import compare_runs, list_runs, training_run
from tests.bench.test_cli_usability import assert_uncut, columns_text

pytestmark = pytest.mark.slow
FAULTMAPS = Path(__file__).parents[1] / "data" / "faultmaps"
WIDTHS = (60, 80, 120)


def run_cli(capsys, monkeypatch, width, *argv) -> tuple[int, str]:
    monkeypatch.setenv("COLUMNS", str(width))
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def flat(text: str) -> str:
    """The output with tables read column by column and whitespace dropped (folded cells joined)."""
    return columns_text(text).replace("\n", "")


def test_training_run_resolves_both_kinds(sram_quick_run):
    main_net = training_run(sram_quick_run)
    assert main_net.path == sram_quick_run / "train" / "main" and main_net.name == "main"
    assert set(main_net.others) == {"reliable/seed-0", "uniform/vmin/seed-0", "uniform/v056/seed-0",
                                    "uniform/v054/seed-0"}   # --quick: one seed, three uniform points
    assert training_run(sram_quick_run, "reliable/seed-0").path == sram_quick_run / "baselines" / "reliable" / "seed-0"
    assert training_run(main_net.path).bench_run is None
    with pytest.raises(BenchError, match="has: main, reliable/seed-0, uniform/v054/seed-0"):
        training_run(sram_quick_run, "wage")
    with pytest.raises(BenchError, match="not a bench run folder"):
        training_run(main_net.path, "main")


@pytest.mark.parametrize("width", WIDTHS)
def test_commands_take_a_bench_run_folder_and_say_which_network(sram_quick_run, tmp_path, capsys, monkeypatch, width):
    run = sram_quick_run
    code, out = run_cli(capsys, monkeypatch, width, "energy", run, "--network", "uniform/v054/seed-0")
    assert code == 0 and "…" not in out
    assert f"networkuniform/v054/seed-0ofbenchrun{flat(str(run))}" in flat(out)
    code, out = run_cli(capsys, monkeypatch, width, "export", run, "-o", tmp_path / "m.fbm", "--check", "16")
    assert code == 0 and "…" not in out and f"networkmainofbenchrun{flat(str(run))}" in flat(out)
    assert (tmp_path / "m.fbm").stat().st_size > 0
    code, out = run_cli(capsys, monkeypatch, width, "evaluate", run, "--max-reps", "2", "--min-reps", "2")
    assert code == 0 and "…" not in out and f"evaluatingnetworkmainofbenchrun{flat(str(run))}" in flat(out)


def test_replay_and_analyze_on_a_bench_run_folder(sram_quick_run, tmp_path, capsys, monkeypatch):
    code, out = run_cli(capsys, monkeypatch, 80, "replay", sram_quick_run, "--faultmaps", FAULTMAPS)
    assert code == 0 and "networkmainofbenchrun" in flat(out)
    # the folder holds two sweeps: the one that covers the model's 276 words is used, and said
    assert "holds2sweeps;replaying" in flat(out) and "sweep_sram_demo" in out
    assert "sram_demo_256w(words0..255)" in flat(out)
    code, out = run_cli(capsys, monkeypatch, 80, "analyze", "bet", sram_quick_run, "--network", "reliable/seed-0",
                        "--out", tmp_path / "bet")
    assert code == 0 and "(networkreliable/seed-0)" in flat(out) and (tmp_path / "bet" / "bet.csv").is_file()


def test_replay_lists_the_sweeps_when_none_or_several_cover(sram_quick_run, tmp_path):
    from bench.replay import replay_run

    two = tmp_path / "two"
    for name in ("a", "b"):
        shutil.copytree(FAULTMAPS / "sweep_sram_demo", two / name)
    with pytest.raises(BenchError, match=r"2 sweeps cover the model .*give one of them"):
        replay_run(sram_quick_run, faultmaps=two)
    small = tmp_path / "small"
    for name in ("a", "b"):
        shutil.copytree(FAULTMAPS / "sram_demo_256w", small / name)
    with pytest.raises(BenchError, match=r"none of its 2 sweeps covers the model.*words 0\.\.255.*bench characterize"):
        replay_run(sram_quick_run, faultmaps=small)


def test_runs_list_and_compare_export(sram_quick_run, tmp_path, capsys, monkeypatch):
    table = list_runs(sram_quick_run.parent, csv=tmp_path / "runs.csv", parquet=tmp_path / "runs.parquet")
    assert [r["run"] for r in table.rows] == [str(sram_quick_run)]   # its networks are part of it
    row = table.rows[0]
    assert row["kind"] == "bench run" and row["profile"] == "sram_lowvoltage" and row["quick"] is True
    assert 0 < row["accuracy_under_faults"] <= 1 and row["points_hold"].split(":")[0] in ("yes", "no")
    with open(tmp_path / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["run"] == str(sram_quick_run) and float(rows[0]["board_accuracy"]) == row["board_accuracy"]
    pd = pytest.importorskip("pandas")
    frame = pd.read_parquet(tmp_path / "runs.parquet")
    assert list(frame["run"]) == [str(sram_quick_run)] and frame["accuracy_under_faults"][0] == row["accuracy_under_faults"]

    both = compare_runs([sram_quick_run, sram_quick_run / "baselines" / "uniform" / "v054" / "seed-0"])
    assert [r["kind"] for r in both.rows] == ["bench run", "training"]
    assert both.rows[1]["method"] == "uniform" and both.rows[1]["accuracy_fault_free"] > 0
    with pytest.raises(BenchError, match="not a run directory"):
        compare_runs([tmp_path])
    for width in WIDTHS:
        code, out = run_cli(capsys, monkeypatch, width, "runs", "compare", sram_quick_run,
                            sram_quick_run / "baselines" / "uniform" / "v054" / "seed-0", "--csv", tmp_path / "c.csv")
        assert code == 0
        assert_uncut(out, str(sram_quick_run / "baselines" / "uniform" / "v054" / "seed-0"), str(tmp_path / "c.csv"))
        code, out = run_cli(capsys, monkeypatch, width, "runs", "list", sram_quick_run.parent)
        assert code == 0
        assert_uncut(out, str(sram_quick_run))


def test_parquet_without_pandas_says_how(sram_quick_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)   # import pandas fails
    with pytest.raises(BenchError, match=r"--parquet .*pip install 'faultbench\[parquet\]'"):
        list_runs(sram_quick_run.parent, parquet=tmp_path / "x.parquet")


def test_tensorboard_logs_what_metrics_jsonl_holds(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from bench.training import train_run
    from models.run_dir import RunDir

    out = tmp_path / "tb"
    train_run(out, arch="mlp", width=0.03125, method="lanmax", epochs=2, limit_train=400, limit_test=100, batch_size=32,
              tensorboard=True, plots=False)
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    metrics = RunDir(out).read_metrics()
    tags = events.Tags()["scalars"]
    for tag in ("loss/train", "accuracy/test", "accuracy/test_at_eps", "energy/ratio_to_reliable",
                "eps/fc1 (2)", "eps/fc3 (8)"):
        assert tag in tags, tags
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("accuracy/test")] == \
        [(m["epoch"], round(m["test_acc"], 6)) for m in metrics]
    assert [round(e.value, 6) for e in events.Scalars("eps/fc1 (2)")] == [round(m["eps"]["2"], 6) for m in metrics]


def test_tensorboard_missing_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    from bench.training import train_run

    with pytest.raises(BenchError, match=r"--tensorboard needs the tensorboard package: pip install "
                                         r"'faultbench\[tensorboard\]'"):
        train_run(tmp_path / "x", arch="mlp", width=0.03125, epochs=1, limit_train=50, tensorboard=True)
    assert not (tmp_path / "x" / "config.yaml").exists()   # nothing trained
