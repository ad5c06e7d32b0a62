"""`bench sweep` end to end: real `bench train` trials, a failing trial, resume, report."""

import json
import signal
from pathlib import Path

import pytest

from bench.cli import main
from tests.processes import interrupt_bench

SWEEP = """
base: {arch: mlp, dataset: digits, epochs: 1, width: 0.125, limit_train: 300, limit_test: 200}
groups:
  - {method: reliable}
  - {method: uniform, eps: [0.001, 0.03]}
  - {method: lanmax, lambda: [0.5]}
  - {method: no-such-method}
"""


def status(sweep_dir):
    return {p.parent.name: json.loads(p.read_text())["status"] for p in (sweep_dir / "trials").glob("*/trial.json")}


def mtimes(sweep_dir):
    return {p.parent.name: p.stat().st_mtime_ns for p in (sweep_dir / "trials").glob("*/trial.json")}


def run_sweep(tmp_path, executor_args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SWEEP)
    out = tmp_path / "sweeps" / "s"
    assert main(["sweep", "s.yaml", "--out", str(out), *executor_args]) == 1  # one trial fails
    st = status(out)
    assert st.pop("method-no-such-method_seed-0") == "failed"
    assert set(st.values()) == {"done"} and len(st) == 4
    failed = json.loads((out / "trials/method-no-such-method_seed-0/trial.json").read_text())
    assert "unknown method" in failed["error"]
    assert (out / "trials/method-lanmax_lambda-0.5_seed-0/config.yaml").exists()  # an ordinary run dir

    # Re-run: finished trials are skipped, the failed one is retried (and fails again).
    before = mtimes(out)
    assert main(["sweep", "s.yaml", "--out", str(out), *executor_args]) == 1
    after = mtimes(out)
    assert all(after[n] == before[n] for n in st)
    assert after["method-no-such-method_seed-0"] != before["method-no-such-method_seed-0"]
    return out


def check_report(out):
    assert main(["sweep", "report", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert len(rep["points"]) == 4 and rep["failed"] == ["method-no-such-method_seed-0"]
    assert rep["pareto_front"], "a non-empty set of points has a Pareto front"
    energies = {p["name"]: p["energy_J"] for p in rep["points"]}
    assert energies["method-uniform_eps-0.03_seed-0"] < energies["method-uniform_eps-0.001_seed-0"] \
        < energies["method-reliable_seed-0"]
    assert (out / "pareto.png").stat().st_size > 1000


@pytest.mark.slow
def test_local_sweep_fails_one_trial_resumes_and_reports(tmp_path, monkeypatch):
    out = run_sweep(tmp_path, ["--executor", "local"], monkeypatch)
    check_report(out)


@pytest.mark.slow
def test_local_process_pool(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "grid"
    code = main(["sweep", "--set", "epochs=1", "--set", "width=0.125", "--set", "limit_train=200",
                 "--set", "limit_test=100", "--set", "method=uniform", "--grid", "eps=0.01,0.03",
                 "--out", str(out), "--jobs", "2"])
    assert code == 0 and set(status(out).values()) == {"done"} and len(status(out)) == 2


@pytest.mark.slow
def test_sigterm_stops_the_sweep_and_a_rerun_finishes_it(tmp_path):
    """A stop signal stops the sweep, not only its running trial (which must not be recorded as
    failed while the sweep goes on); no trial it cut short counts as done; a re-run finishes."""
    out = tmp_path / "grid"
    args = ["sweep", "--set", "epochs=200", "--set", "width=0.125", "--set", "limit_train=100", "--set",
            "limit_test=100", "--set", "method=uniform", "--grid", "eps=0.01,0.03", "--out", str(out)]
    code, _, err = interrupt_bench(args, sig=signal.SIGTERM, ready=lambda: any(
        (out / "trials").glob("*/checkpoints/epoch_0001.pt")))
    assert code == 128 + signal.SIGTERM and "stopped by SIGTERM" in err, err[-2000:]
    assert "done" not in status(out).values() and "failed" not in status(out).values(), status(out)
    fast = [a.replace("epochs=200", "epochs=1") for a in args]
    assert main(fast) == 0 and set(status(out).values()) == {"done"} and len(status(out)) == 2


@pytest.fixture
def local_ray():
    """A local Ray instance shared by both runs of the test (the sweep reuses an initialised Ray)."""
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install 'faultbench[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_sweep_fails_one_trial_resumes_and_reports(tmp_path, monkeypatch, local_ray):
    out = run_sweep(tmp_path, ["--executor", "ray", "--cpus-per-trial", "1"], monkeypatch)
    hosts = {json.loads(p.read_text()).get("host") for p in (out / "trials").glob("*/trial.json")}
    assert hosts, "Ray trials record the node they ran on"
    check_report(out)


def test_report_on_a_non_sweep_dir_says_so(tmp_path, capsys):
    assert main(["sweep", "report", str(tmp_path)]) == 2
    assert "sweep.json" in capsys.readouterr().err


def test_ray_executor_without_ray_or_bad_args(tmp_path, capsys):
    assert main(["sweep", "--grid", "method=reliable", "--out", str(tmp_path / "x"), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_of_bench_run_trials_reports_runs_and_their_baselines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    profile = Path(__file__).resolve().parents[2] / "profiles" / "virtual_chip.yaml"
    out = tmp_path / "runs-sweep"
    assert main(["sweep", "--command", "run", "--set", f"profile={profile}", "--set", "quick=true",
                 "--grid", "lambda=0.5", "--out", str(out)]) == 0
    assert (out / "trials/lambda-0.5_seed-0/report/results.json").exists()
    assert main(["sweep", "report", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    methods = {p["name"]: p["method"] for p in rep["points"]}
    uniform = {name for name, method in methods.items() if method == "uniform"}
    assert methods == {"lambda-0.5_seed-0": "lanmax", "lambda-0.5_seed-0/reliable-fault-free": "reliable",
                       **{name: "uniform" for name in uniform}}
    assert len(uniform) == 3   # --quick: the uniform front at three of the profile's points
    assert rep["iso_accuracy"]["reference"]["name"] == "lambda-0.5_seed-0/reliable-fault-free"
    assert rep["verdict"]["method"] == "lanmax" and rep["verdict"]["text"]


def test_sweep_errors_name_the_sweep_command(tmp_path, capsys):
    assert main(["sweep", "report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("bench sweep: error:")
