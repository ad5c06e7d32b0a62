"""``bench train`` and ``bench evaluate`` end to end on tiny settings."""

import json
import os
import signal
import threading
import time

import pytest

from bench.cli import main
from tests.processes import interrupt_bench

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
    assert "│ fc1 (2) │ 0.02 │" in text and "│ fc3 (8) │ 0.02 │" in text  # per-layer table, human labels
    res = json.loads(result.read_text())
    assert res["half_width"] < 0.05 and res["reps"] >= 4 and set(res["rates"].values()) == {0.02}

    assert main(["evaluate", str(out), "--eps", "0.2", "--ci", "0.05", "--min-reps", "4", "--max-reps", "8", "--json", str(result)]) == 0
    low = json.loads(result.read_text())
    assert low["mean"] < res["mean"] and set(low["rates"].values()) == {0.2} and low["reps"] <= 8

    # --max-reps below the default --min-reps (not given): the minimum follows the maximum
    assert main(["evaluate", str(out), "--eps", "0.2", "--ci", "1e-6", "--max-reps", "3", "--draws-per-pass", "1",
                 "--json", str(result)]) == 0
    assert json.loads(result.read_text())["reps"] == 3

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
    (["train", "--out", "X", "--method", "uniform", "--eps", "0.7"], "method uniform: option eps=0.7 (--eps) must lie in (0, 0.5]"),
    (["train", "--out", "X", "--method", "uniform", "--eps", "0"], "option eps=0 (--eps) must lie in (0, 0.5]"),
    (["train", "--out", "X", "--method", "lanmax", "--lambda", "-1"], "method lanmax: option lambda=-1 (--lambda) must be >= 0"),
    (["train", "--out", "X", "--method", "lanmax", "-o", "theta_init=-0.5"], "option theta_init=-0.5 must lie in"),
    (["train", "--out", "X", "--width", "64"], "width 64: mlp on digits would need 64.0 GiB of parameters"),
    (["evaluate", "X"], "X/config.yaml: no run here"),
    (["evaluate", "X", "--eps", "2"], "--eps 2.0: a bit-error rate lies in [0, 1]"),
    (["evaluate", "X", "--min-reps", "9", "--max-reps", "8"], "--min-reps 9 and --max-reps 8: need 2 <= --min-reps <= --max-reps"),
    (["evaluate", "X", "--max-reps", "1"], "--max-reps 1: must be >= 2"),
])
def test_bad_options_give_one_clear_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "X" / "config.yaml").exists() or argv[-1] == "--resume"


def test_out_of_memory_while_building_is_one_line(tmp_path):
    """A width under MAX_PARAM_BYTES that the machine cannot hold: a real allocation failure
    (address space capped with RLIMIT_AS in a child process) becomes a ValueError naming width."""
    script = """
import resource, sys
import torch
from models.training import MAX_PARAM_BYTES, TrainConfig, build_session, param_bytes
config = TrainConfig(width=11.0).resolved()
need = param_bytes(config, (64,), 10)
assert 1 << 30 < need < MAX_PARAM_BYTES, need
with open("/proc/self/status") as fh:
    vm = next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (512 << 20), resource.RLIM_INFINITY))
try:
    build_session(config)
except ValueError as exc:
    print(exc)
    sys.exit(3)
"""
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 3, r.stderr[-2000:]
    assert r.stdout.startswith("width 11: out of memory building mlp on cpu") and len(r.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize("width", ["1e6", "1e300", "inf", "nan"])
def test_absurd_width_is_one_line_and_nothing_else(width, tmp_path, capsys):
    """Above the documented cap (even past what torch can count), or not a number: one line."""
    assert main(["train", "--width", width, "--epochs", "1", "--out", str(tmp_path / "w")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "", captured.out
    err = captured.err.strip()
    assert "\n" not in err and err.startswith(f"bench train: error: width "), err
    assert ("MAX_PARAM_BYTES" in err) == (width in ("1e6", "1e300")), err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("option", [["--lambda", "nan"], ["--lambda", "inf"], ["-o", "lambda=nan"]])
def test_non_finite_method_option_is_one_line(option, tmp_path, capsys):
    assert main(["train", "--method", "lanmax", *option, "--epochs", "1", "--out", str(tmp_path / "l")]) == 2
    assert capsys.readouterr().err.strip().endswith("is not a finite number")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_training_the_ctrl_c_way(sig, tmp_path, capsys):
    """A kill or a closed terminal mid-training: the same exit as Ctrl-C (a resumable run,
    one line naming the signal, exit 128 + signal), not a process killed mid-write."""
    from models.run_dir import RunDir

    out, finished = tmp_path / "t", threading.Event()

    def stop_at_first_checkpoint():
        while not finished.is_set() and not list((out / "checkpoints").glob("epoch_*.pt")):
            time.sleep(0.01)
        if not finished.is_set():   # only while bench train (and its handlers) still run
            os.kill(os.getpid(), sig)

    threading.Thread(target=stop_at_first_checkpoint, daemon=True).start()
    try:
        code = main(["train", *TINY, "--limit-train", "100", "--epochs", "400", "--method", "uniform", "--eps", "0.01",
                     "--out", str(out)])
    finally:
        finished.set()
    err = capsys.readouterr().err.strip()
    assert code == 128 + sig and err == f"bench train: stopped by {signal.Signals(sig).name}; the run can be resumed"
    status = RunDir(out).status()
    assert not status["complete"] and 1 <= status["epochs_done"] < 400


def test_method_help_lists_options(capsys):
    assert main(["train", "--out", "unused", "--method", "uniform", "--method-help"]) == 0
    assert "eps" in capsys.readouterr().out


def test_method_help_needs_no_out(capsys):
    assert main(["train", "--method", "wage", "--method-help"]) == 0
    out = capsys.readouterr().out
    assert "options of method wage" in out and "bits" in out
    assert main(["train", "--method", "nope", "--method-help"]) == 2
    assert "--method: unknown method 'nope'" in capsys.readouterr().err


def test_train_without_out_is_one_line(capsys):
    assert main(["train", "--method", "uniform"]) == 2
    assert capsys.readouterr().err.strip() == "bench train: error: --out is required (the run directory, e.g. runs/NAME)"


def test_ctrl_c_leaves_a_resumable_run(tmp_path):
    out = tmp_path / "c"
    code, _, err = interrupt_bench(["train", *TINY, "--limit-train", "100", "--epochs", "12", "--method", "uniform",
                                    "--eps", "0.01", "--out", str(out)],
                                   ready=lambda: bool(list((out / "checkpoints").glob("epoch_*.pt"))))
    from models.run_dir import RunDir

    status = RunDir(out).status()  # counts a checkpoint written just before the signal, status.json not yet
    assert code == 130 and "can be resumed" in err and not status["complete"]
    assert 1 <= status["epochs_done"] < 12
    assert main(["train", "--out", str(out), "--resume"]) == 0
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == list(range(1, 13))
