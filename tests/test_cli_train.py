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
    (["train", "--out", "X", "--width", "0"], "width 0.0: must be > 0"),
    (["train", "--out", "X", "--arch", "wrn", "--width", "2.5"], "width 2.5: must be > 0 (wrn"),
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


def test_ctrl_c_leaves_a_resumable_run(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "c"
    argv = [sys.executable, "-m", "bench.cli", "train", *TINY, "--limit-train", "100", "--epochs", "12",
            "--method", "uniform", "--eps", "0.01", "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not list((out / "checkpoints").glob("epoch_*.pt")) and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = json.loads((out / "status.json").read_text())
    assert proc.returncode == 130 and "can be resumed" in err and not status["complete"]
    assert 1 <= status["epochs_done"] < 12
    assert main(["train", "--out", str(out), "--resume"]) == 0
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == list(range(1, 13))
