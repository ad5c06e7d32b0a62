"""``bench train`` and ``bench evaluate`` end to end on tiny settings."""

import json

import pytest

from bench.cli import main

TINY = ["--arch", "mlp", "--width", "0.03125", "--limit-train", "300", "--limit-test", "150", "--batch-size", "50"]


def test_train_then_evaluate(tmp_path, capsys):
    out = tmp_path / "runs" / "u"
    assert main(["train", *TINY, "--method", "uniform", "--eps", "0.02", "--epochs", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "epoch 2:" in text and "0.02" in text
    assert (out / "checkpoints" / "epoch_0002.pt").is_file()

    result = tmp_path / "eval.json"
    assert main(["evaluate", str(out), "--ci", "0.05", "--min-reps", "4", "--json", str(result)]) == 0
    text = capsys.readouterr().out
    assert "the run's per-layer eps (uniform)" in text and "95% CI" in text
    res = json.loads(result.read_text())
    assert res["half_width"] < 0.05 and res["reps"] >= 4 and set(res["rates"].values()) == {0.02}

    assert main(["evaluate", str(out), "--eps", "0.2", "--ci", "0.05", "--min-reps", "4", "--max-reps", "8", "--json", str(result)]) == 0
    low = json.loads(result.read_text())
    assert low["mean"] < res["mean"] and set(low["rates"].values()) == {0.2} and low["reps"] <= 8

    # resume of a complete run: nothing to do, still fine
    assert main(["train", "--out", str(out), "--resume"]) == 0


def test_reliable_run_and_per_layer_error(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out), "--optimizer", "sgd", "--lr", "0.05"]) == 0
    assert main(["evaluate", str(out), "--per-layer"]) == 2
    assert "has no per-layer eps; give --eps" in capsys.readouterr().err
    assert main(["evaluate", str(out)]) == 0
    assert "none" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "X", "--method", "uniform", "--lambda", "1"], "method uniform: unknown option 'lambda'"),
    (["train", "--out", "X", "--method", "nope"], "unknown method 'nope'"),
    (["train", "--out", "X", "--dataset", "cifar10", "--data-dir", "."], "cifar10: expected test_batch"),
    (["train", "--out", "X", "--device", "tpu"], "--device 'tpu'"),
    (["train", "--out", "X", "--resume"], "X/config.yaml: no run here"),
    (["train", "--out", "X", "--epochs", "0"], "epochs must be >= 1"),
    (["evaluate", "X"], "X/config.yaml: no run here"),
    (["evaluate", "X", "--eps", "2"], "--eps 2.0: a bit-error rate lies in [0, 1]"),
])
def test_bad_options_give_one_clear_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_method_help_lists_options(capsys):
    assert main(["train", "--out", "unused", "--method", "uniform", "--method-help"]) == 0
    assert "eps" in capsys.readouterr().out
