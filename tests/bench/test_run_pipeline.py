"""``bench run --quick`` end to end on the virtual lab (real host firmware over its serial
protocol, the simulated supply through pyvisa, the realistic physics: rail leakage, the N6781A's
noise, link latency), with ``profiles/virtual_chip.yaml``: the profile ``bench calibrate`` fitted
to a recorded characterisation sweep of that same virtual chip (the bench never reads the chip
file).

Energy threshold, from the physics: the virtual SRAM spends exactly ``E(V) = c V^2 + l V``
per bit read (drivers/virtual_lab/physics.py) and a fully connected layer reads each of its
weight words once per inference (rows of 64 bits: no padding), so a layer at voltage ``V``
draws ``N_l E(V)``; the supply adds the chip's leakage and its own noise, which the method's
baseline windows and repeats remove (drivers/energy/method.py) to within each layer's 95%
interval (target +-5%). The prediction prices each layer at its operating point's energy per
bit, which calibration measured on the same chip at the same voltage. Layers differ in energy by
a factor of six or more, so a wrong size, voltage, unit or a lost layer moves R^2 far below 0.9
and the relative error far above 10%; the thresholds leave room for the interval and the
calibration's own error.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main as bench
from bench.pipeline import run as pipeline_run
from bench.pipeline.stages import PIPELINE
from drivers.energy import read_captures
from drivers.faultmap import read_faultmap
from models.profile import load_profile
from tests.processes import interrupt_bench


def execute(out, config, **hooks):
    """Run (or resume) every stage of a resolved ``config`` into ``out``; True when it finished."""
    result = pipeline_run.execute(load_profile(config["profile_path"]), Path(out), config, **hooks)
    return result.records[-1].name == PIPELINE.stages[-1].name

pytestmark = pytest.mark.slow

R2_MIN = 0.9
REL_ERR_MAX = 0.10
#: files whose bytes depend only on the config and seeds (measured ones are re-measured)
DETERMINISTIC = ("train/summary.json", "baselines/summary.json", "operating_points/operating_points.json",
                 "software_eval/software_eval.json", "deploy/model.fbm", "deploy/weights.npy")


PROFILE = Path(__file__).parents[2] / "profiles" / "virtual_chip.yaml"


#: The run below writes under this umask (group may read, others nothing): every file and
#: folder the bench makes must follow it, as a plain ``open``/``mkdir`` would.
UMASK = 0o027


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "quick"
    old = os.umask(UMASK)
    try:
        assert bench(["run", "--profile", str(PROFILE), "--quick", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    return out


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "report" / "results.json").read_text())


def test_report_exists_and_is_self_contained(run_dir):
    html = (run_dir / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "src=\"figures/" not in html
    assert (run_dir / "report" / "report.md").read_text().startswith("# faultbench run report")
    assert (run_dir / "config.yaml").is_file() and (run_dir / "seeds.json").is_file()
    r = results(run_dir)
    for rel in r["sources"].values():   # every section names a file that exists
        assert (run_dir / rel).is_file(), rel


def test_files_follow_the_users_umask(run_dir):
    """config.yaml, report.html, results.json, the .fbm, the fault maps, checkpoints, arrays,
    plots: each with the mode the umask gives (a temporary file is created 0600)."""
    paths = [run_dir, *run_dir.rglob("*")]
    for rel in ("config.yaml", "report/report.html", "report/results.json", "deploy/model.fbm"):
        assert (run_dir / rel) in paths, rel
    assert list((run_dir / "board" / "faultmaps").glob("*.npz"))
    wrong = {str(p.relative_to(run_dir)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths
             if stat.S_IMODE(p.stat().st_mode) != (0o777 if p.is_dir() else 0o666) & ~UMASK}
    assert not wrong, wrong


def test_measured_energy_matches_prediction(run_dir):
    e = results(run_dir)["compare"]["energy"]
    board = json.loads((run_dir / "board" / "board.json").read_text())
    assert e["energy_method"] == "array" and "N6781A" in e["instrument"]
    assert e["n_below_resolution"] == 0 and e["n_measured"] == len(e["layers"])
    for layer in e["layers"]:
        lo, hi = layer["ci_J"]
        assert lo < layer["measured_J"] < hi and hi - lo <= 2 * 0.05 * layer["measured_J"] * 1.01, layer
        assert layer["repeat"] >= 1 and layer["pairs"] >= 3
    assert e["r2"] >= R2_MIN and e["r2_ci"][0] <= e["r2"] <= e["r2_ci"][1], e
    for layer in e["layers"]:
        assert abs(layer["relative_error"]) < REL_ERR_MAX, layer
    captures = read_captures(run_dir / "board")    # the raw captures, one record per window
    for layer in board["energy"]:
        mine = [c for c in captures if c["measurement"] == layer["label"] and c["kind"] in ("work", "baseline")]
        assert len(mine) >= 2 * layer["pairs"] and all(c["samples"] > 0 for c in mine)
    traces = np.load(run_dir / "board" / "energy_traces.npz")
    assert all(f"{c['trace']}_current_A" in traces for c in captures if c["trace"])


def test_board_accuracy_within_software_ci(run_dir):
    acc = results(run_dir)["compare"]["accuracy"]
    assert acc["overlap"], acc
    replay = results(run_dir)["compare"]["replay"]
    # persistent faults replay exactly; only the chip's small transient part may differ
    assert replay["same_prediction"] >= 0.9 * replay["n_inputs"], replay


def test_board_results_do_not_depend_on_capture_overruns(run_dir, tmp_path):
    """The board stage twice on the same run: once as configured, once with a first capture
    window far too short for any layer (every measurement overruns and retries). Board accuracy,
    scores and fault maps are bit-identical: captures come after the accuracy pass and the
    read-back, and a retry reruns only the energy's own work."""
    import yaml

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    forced = {**config, "board": {**config["board"], "energy_window_s": 0.002}}
    runs = {}
    for name, cfg in (("plain", config), ("overruns", forced)):   # the board stage again in both
        out = runs[name] = tmp_path / name
        shutil.copytree(run_dir, out)
        pipeline_run.execute(load_profile(cfg["profile_path"]), out, cfg, force=["board"])
    a, b = (json.loads((runs[n] / "board" / "board.json").read_text()) for n in ("plain", "overruns"))
    assert sum(l["overruns"] for l in b["energy"]) >= len(b["energy"])   # every layer's first window overran
    assert (a["correct"], a["accuracy"]) == (b["correct"], b["accuracy"])
    assert (runs["plain"] / "board" / "scores.npy").read_bytes() == (runs["overruns"] / "board" / "scores.npy").read_bytes()
    for la, lb in zip(a["layers"], b["layers"]):
        fa, fb = read_faultmap(runs["plain"] / "board" / la["faultmap"]), read_faultmap(runs["overruns"] / "board" / lb["faultmap"])
        assert fa.n_reads == fb.n_reads and np.array_equal(fa.written, fb.written) and np.array_equal(fa.xor, fb.xor)
        assert {k: la[k] for k in ("ber", "ber_0to1", "ber_1to0")} == {k: lb[k] for k in ("ber", "ber_0to1", "ber_1to0")}


def test_bench_report_regenerates_without_hardware(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "report" / "report.html").unlink()
    assert bench(["report", str(copy)]) == 0
    assert (copy / "report" / "report.html").read_text().count("data:image/png") == 4


def test_rerun_skips_everything(run_dir):
    config = __import__("yaml").safe_load((run_dir / "config.yaml").read_text())
    assert set(PIPELINE.plan(run_dir, config).values()) == {"reuse"}


def test_resume_after_kill_at_each_stage_boundary(run_dir, tmp_path):
    """Ctrl-C after every stage in turn; each resume reuses what finished and ends where an
    uninterrupted run ends."""
    import yaml

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    out = tmp_path / "killed"
    names = [s.name for s in PIPELINE.stages]
    for boundary in names[:-1]:
        def kill(name, boundary=boundary):
            if name == boundary:
                raise KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            execute(out, config, on_done=kill)
        done = {s for s in names if PIPELINE.read_marker(out, s)}
        assert done == set(names[: names.index(boundary) + 1])
    assert execute(out, config)
    for rel in DETERMINISTIC:
        assert (out / rel).read_bytes() == (run_dir / rel).read_bytes(), rel
    a, b = results(out)["compare"], results(run_dir)["compare"]
    assert a["accuracy"]["overlap"] and a["energy"]["r2"] >= R2_MIN
    assert abs(a["accuracy"]["board"]["accuracy"] - b["accuracy"]["board"]["accuracy"]) <= 0.1


@pytest.fixture
def lab():
    from drivers.virtual_lab.lab import VirtualLab

    with VirtualLab() as lab:
        yield lab


def output_state(resource: str) -> str:
    """What the supply itself says about channel 1, asked through a fresh pyvisa session."""
    import pyvisa

    rm = pyvisa.ResourceManager("@py")   # shared per backend: closing it would close the driver's session too
    res = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=3000)
    try:
        return res.query("OUTP? (@1)").strip()
    finally:
        res.close()


def test_ctrl_c_and_lost_board_leave_supply_off_and_run_resumable(run_dir, tmp_path, lab, capsys):
    """Instruments the test owns (a lab started here, given as board + supply): Ctrl-C after
    deploy, then a board that stops answering mid-inference; after each the supply's own
    output reads OFF and the finished stages are kept; then the run completes."""
    import yaml

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["hardware"] = {"kind": "board", "board": lab.board_url, "supply": lab.supply_resource, "channel": 1}
    out = tmp_path / "hw"
    shutil.copytree(run_dir, out)

    def ctrl_c(name):
        if name == "deploy":
            assert output_state(lab.supply_resource) == "1"   # on while the stage ran
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(out, config, on_done=ctrl_c)
    assert output_state(lab.supply_resource) == "0"

    def lose_board(name):   # the board stops answering half a second into the board stage
        if name == "board":
            threading.Timer(0.5, lab.pause_board).start()

    from bench.errors import BenchError
    with pytest.raises(BenchError, match="resume"):
        execute(out, config, on_start=lose_board)
    assert output_state(lab.supply_resource) == "0"
    fresh = {s.name: PIPELINE.is_fresh(s, out, config) for s in PIPELINE.stages}
    assert fresh["deploy"] and not fresh["board"], fresh
    lab.resume_board()
    assert execute(out, config)
    assert results(out)["compare"]["energy"]["r2"] >= R2_MIN


class _InterruptingProgress:
    """A progress sink that raises Ctrl-C at the ``n``-th update (mid-training)."""

    def __init__(self, n: int):
        self.n = n

    def add_task(self, *args, **kwargs):
        return 0

    def update(self, *args, **kwargs):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt

    advance = update


def test_ctrl_c_mid_training_resumes_from_checkpoint(run_dir, tmp_path):
    import yaml

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    out = tmp_path / "mid"

    def stop_after_train(name):
        if name == "train":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(out, config, progress=_InterruptingProgress(2))   # after 2 of 3 epochs
    assert len(list((out / "train.partial" / "main" / "checkpoints").glob("*.pt"))) >= 1
    with pytest.raises(KeyboardInterrupt):
        execute(out, config, on_done=stop_after_train)
    assert (out / "train" / "summary.json").read_bytes() == (run_dir / "train" / "summary.json").read_bytes()


def test_sigint_to_the_cli_keeps_finished_stages(run_dir, tmp_path):
    """A real Ctrl-C during the board stage, as a terminal sends it: SIGINT to the whole
    process group of ``bench run``. The lab's processes run in their own sessions, so the
    supply simulator is still there when the bench switches it off (no failed shutdown
    attempt); exit 130 with the resume hint, the stages before it kept; the same command then
    finishes the run."""
    out = tmp_path / "sigint"
    shutil.copytree(run_dir, out)
    for name in ("board", "compare", "report"):   # as if the run had stopped after deploy
        shutil.rmtree(out / name)
        (out / "stages" / f"{name}.json").unlink()
    code, stdout, stderr = interrupt_bench(["run", "--profile", str(PROFILE), "--quick", "--out", str(out)], group=True,
                                           ready=lambda: (out / "board.partial").exists())
    text = stdout + stderr
    assert code == 130, text[-2000:]
    assert "shutdown attempt" not in text and "Broken pipe" not in text, text[-2000:]
    assert "can be resumed" in text
    assert not (out / "stages" / "board.json").exists() and (out / "stages" / "deploy.json").exists()
    assert bench(["run", "--profile", str(PROFILE), "--quick", "--out", str(out)]) == 0
    for rel in DETERMINISTIC:
        assert (out / rel).read_bytes() == (run_dir / rel).read_bytes(), rel
    assert results(out)["compare"]["energy"]["r2"] >= R2_MIN
