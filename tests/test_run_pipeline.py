"""``bench run --quick`` end to end on the virtual lab (real firmware over its serial
protocol, the simulated supply through pyvisa), with a profile the bench calibrated itself
from a characterisation sweep of that same virtual chip.

Energy threshold, from the physics: the virtual SRAM spends exactly ``E(V) = c V^2 + l V``
per bit read and fails with ``p = exp(-(E - E0) / beta)`` (drivers/virtual_lab/physics.py),
so the exponential energy-reliability model of ALGORITHMS 3 holds exactly and a layer's
weights are read once per inference (fully connected, rows a multiple of 32 bits: no
padding). Predicted and measured energy then differ only by the calibration's fit error
(a few per cent) and the supply's sampling at the window edges, while the layers' energies
differ by factors of several (sizes 4096..640 bits, voltages 0.5..1 V). ``R^2 >= 0.9`` and a
per-layer relative error under 25% leave room for those errors and nothing more.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main as bench
from bench.commands.run import execute
from bench.pipeline.stages import PIPELINE

pytestmark = pytest.mark.slow

R2_MIN = 0.9
REL_ERR_MAX = 0.25
#: files whose bytes depend only on the config and seeds (measured ones are re-measured)
DETERMINISTIC = ("train/summary.json", "baselines/summary.json", "operating_points/operating_points.json",
                 "software_eval/software_eval.json", "deploy/model.fbm", "deploy/weights.npy")


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("calibration")
    assert bench(["characterize", "--vmin", "0.5", "--vmax", "1.0", "--steps", "6", "--patterns", "random",
                  "--repeats", "2", "--words", "512", "--out", str(d / "sweep")]) == 0
    assert bench(["calibrate", str(d / "sweep"), "-o", str(d / "chip.yaml")]) == 0
    return d / "chip.yaml"


@pytest.fixture(scope="module")
def run_dir(profile, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "quick"
    assert bench(["run", "--profile", str(profile), "--quick", "--out", str(out)]) == 0
    return out


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "report" / "results.json").read_text())


def test_report_exists_and_is_self_contained(run_dir):
    html = (run_dir / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "src=\"figures/" not in html
    assert (run_dir / "report" / "report.md").read_text().startswith("# bench run report")
    assert (run_dir / "config.yaml").is_file() and (run_dir / "seeds.json").is_file()
    r = results(run_dir)
    for rel in r["sources"].values():   # every section names a file that exists
        assert (run_dir / rel).is_file(), rel


def test_measured_energy_matches_prediction(run_dir):
    e = results(run_dir)["compare"]["energy"]
    measured = np.load(run_dir / "board" / "energy_per_layer.npy")
    assert measured.shape[1] == len(e["layers"]) and (measured > 0).all()
    assert e["energy_method"] in ("array", "meter", "polling")
    assert e["r2_points"] >= R2_MIN, e
    for layer in e["layers"]:
        assert abs(layer["relative_error"]) < REL_ERR_MAX, layer


def test_board_accuracy_within_software_ci(run_dir):
    acc = results(run_dir)["compare"]["accuracy"]
    assert acc["overlap"], acc
    replay = results(run_dir)["compare"]["replay"]
    # persistent faults replay exactly; only the chip's small transient part may differ
    assert replay["same_prediction"] >= 0.9 * replay["n_inputs"], replay


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
    assert execute(out, config) == 0
    for rel in DETERMINISTIC:
        assert (out / rel).read_bytes() == (run_dir / rel).read_bytes(), rel
    a, b = results(out)["compare"], results(run_dir)["compare"]
    assert a["accuracy"]["overlap"] and a["energy"]["r2_points"] >= R2_MIN
    assert abs(a["accuracy"]["board"]["accuracy"] - b["accuracy"]["board"]["accuracy"]) <= 0.1
