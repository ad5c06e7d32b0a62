"""``bench run`` stopped every way a real bench is stopped, on the virtual lab.

* Exit paths: each way out of a run that holds the supply (normal end; SIGINT, SIGTERM and
  SIGHUP in deploy and in board; a lost board; a refused setpoint; a dropped supply connection;
  an OVP trip; SIGKILL with the supply's watchdog) leaves the simulated output OFF, read from
  the simulator's own state (the lab state file, ``VirtualLab.rail``), and every path but
  SIGKILL ends with one line saying so. The lab is the test's (``--hardware FILE`` names its
  board, through a proxy, and its supply), so it outlives the run. The stop lands exactly
  where it is aimed: the proxy freezes the bench (SIGSTOP) the moment the stage's first board
  request passes, the signal is sent, then the bench continues (SIGCONT) and meets it there.
* kill -9 at 10 seeded moments spread over the stages, each followed by a re-run: the run
  finishes, leaves no half-written or orphan file behind, and its results equal an
  uninterrupted run's.

All runs share one uninterrupted reference run of the README's profile with small settings;
each starts from a copy of it holding the stages before the one under test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import pyvisa
import yaml

from bench.cli import main as bench
from bench.pipeline.stages import PIPELINE
from drivers.faultmap import read_faultmap
from drivers.virtual_lab.lab import VirtualLab
from drivers.virtual_lab.physics import CHIPS_DIR
from tests.processes import bench_process
from tests.serial_proxy import FaultyLink, frames_of

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "rram_lowpower.yaml"
CHIP = CHIPS_DIR / "rram_lowpower.yaml"
SMALL = ["--quick", "--epochs", "2", "--test-subset", "12", "--energy-target", "0.5"]
STAGES = [s.name for s in PIPELINE.stages]
#: Bound on anything a run or the simulator does by itself (generous: a loaded 2-core machine).
PATIENCE_S = 300.0
MSG_LOAD, MSG_MODEL_CHUNK = 0x02, 0x05
WATCHDOG_S = 2


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every other run is compared with (and copied from)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert bench(["run", "--profile", str(PROFILE), *SMALL, "--out", str(out)]) == 0
    return out


def copy_before(reference: Path, stage: str, out: Path) -> Path:
    """``reference`` as a run stopped right before ``stage``: that stage and the later ones gone."""
    shutil.copytree(reference, out)
    for name in STAGES[STAGES.index(stage):]:
        shutil.rmtree(out / name)
        (out / "stages" / f"{name}.json").unlink()
    return out


def eventually(predicate, patience: float = PATIENCE_S) -> bool:
    deadline = time.monotonic() + patience
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def scpi(resource: str, command: str) -> str | None:
    """One command from another client (the test), over its own connection."""
    rm = pyvisa.ResourceManager("@py")
    r = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=3000)
    try:
        if "?" in command:
            return r.query(command).strip()
        r.write(command)
        return None
    finally:
        r.close()


# --- exit paths ---------------------------------------------------------------------------

@pytest.fixture
def lab():
    with VirtualLab(CHIP) as lab:   # the rail powers up on: only the bench can switch it off
        yield lab


def deploy_request(run: Path):
    """The first board request of the deploy stage (the rail is on at nominal by then)."""
    is_load, is_chunk = frames_of(MSG_LOAD), frames_of(MSG_MODEL_CHUNK)
    return lambda frame: not (run / "board.partial").exists() and (is_load(frame) or is_chunk(frame))


def board_request(run: Path):
    """The first board request of the board stage (an RRAM layer programmed at its operating
    point, the rail on at that voltage, its energy capture running)."""
    is_load = frames_of(MSG_LOAD)
    return lambda frame: (run / "board.partial").exists() and is_load(frame)


class Trigger:
    """Runs ``action`` once, in the proxy, as the first request matching ``when`` passes."""

    def __init__(self, when, action):
        self.when, self.action, self.fired = when, action, threading.Event()

    def __call__(self, direction, index, frame):
        if direction == "up" and not self.fired.is_set() and self.when(frame):
            self.action()
            self.fired.set()
        return frame


def stop_with(sig):
    def scenario(proc, lab, trigger):
        assert trigger.fired.wait(PATIENCE_S), "the stage never reached the board"
        proc.send_signal(sig)        # pending while the bench is frozen ...
        proc.send_signal(signal.SIGCONT)   # ... and met the moment it runs on
    return scenario


def freeze(proc, lab):
    proc.send_signal(signal.SIGSTOP)


#: path -> (stage whose first board request triggers it, action in the proxy, what the test does
#: next, exit code, a phrase of the error line)
PATHS = {
    "normal-end": (None, None, None, 0, None),
    **{f"{sig.name}-in-{stage}": (stage, freeze, stop_with(sig), 128 + sig, f"stopped by {sig.name}")
       for stage in ("deploy", "board") for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)},
    "lost-board": ("board", lambda proc, lab: lab.pause_board(), None, 2, "LOAD failed after 3 attempts"),
    "refused-setpoint": ("board", lambda proc, lab: scpi(lab.supply_resource, "SIM:REFUSE 1"), None, 2,
                         "SCPI error -221"),
    "dropped-supply-connection": ("board", lambda proc, lab: scpi(lab.supply_resource, "SIM:DROP ALL"), None, 2,
                                  "no answer or connection lost"),
    "ovp-trip": ("board", lambda proc, lab: scpi(lab.supply_resource, "VOLT:PROT 0.3,(@1)"), None, 2,
                 "over-voltage protection tripped"),
    "sigkill-watchdog": ("board", lambda proc, lab: proc.send_signal(signal.SIGKILL), None, -signal.SIGKILL, None),
}


@pytest.mark.parametrize("path", PATHS)
def test_every_exit_path_leaves_the_output_off(path, reference, lab, tmp_path):
    stage, action, scenario, code, phrase = PATHS[path]
    run = copy_before(reference, "deploy", tmp_path / "run")
    proc_box = []
    trigger = Trigger((deploy_request if stage == "deploy" else board_request)(run) if stage else (lambda f: False),
                      lambda: action(proc_box[0], lab))
    link = FaultyLink(lab.board_url, trigger)
    hardware = tmp_path / "hardware.yaml"
    hardware.write_text(yaml.safe_dump({"kind": "board", "board": link.url, "supply": lab.supply_resource,
                                        "channel": 1, "watchdog_s": WATCHDOG_S}))
    try:
        with bench_process(["run", "--profile", str(PROFILE), *SMALL, "--hardware", str(hardware), "--out", str(run)],
                           tmp_path / "log") as proc:
            proc_box.append(proc)
            if scenario:
                scenario(proc, lab, trigger)
            proc.wait(PATIENCE_S)
    finally:
        lab.resume_board()
        link.close()
    err = (tmp_path / "log" / "stderr.txt").read_text()
    assert proc.returncode == code, err[-3000:]
    if stage:
        assert trigger.fired.is_set()
    if path == "sigkill-watchdog":   # nobody was left to switch it off: the supply's watchdog did
        assert eventually(lambda: lab.rail() == (0.0, False)), lab.rail()
        assert int(scpi(lab.supply_resource, "STAT:QUES:COND? (@1)")) & (1 << 11)
        return
    assert lab.rail() == (0.0, False)
    closing = [line for line in err.splitlines() if line.startswith(f"supply {lab.supply_resource} channel 1:")]
    assert closing == [f"supply {lab.supply_resource} channel 1: output OFF (read back)"], err[-3000:]
    assert all(len(line) < 1000 for line in err.splitlines()), max(err.splitlines(), key=len)[:300]
    if phrase:
        assert phrase in err.splitlines()[-1], err[-2000:]
    if stage:   # stopped inside the stage: it is not marked done, the ones before it are
        done = {name for name in STAGES if (run / "stages" / f"{name}.json").exists()}
        assert stage not in done and set(STAGES[:STAGES.index(stage)]) <= done, done


# --- kill -9 and resume ---------------------------------------------------------------------

#: Where the 10 kills land: a stage (twice in the two long ones) and a seeded fraction of its
#: duration in the reference run, counted from the moment the stage's partial directory appears.
#: One more moment is exact: training killed as its run directory's config appears.
KILL_STAGES = ["train", "train", "baselines", "operating_points", "software_eval", "deploy", "board", "board",
               "compare", "report"]
KILL_SEED = 20260412


def results(run: Path) -> dict:
    return json.loads((run / "report" / "results.json").read_text())


def accuracies_and_noise(r: dict) -> dict:
    """What must be equal exactly: every accuracy and every noise level (eps) of the run (not when
    and by which version it was made: ``provenance``)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not k.endswith("seconds") and k not in ("energy", "path")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip({k: v for k, v in r.items() if k not in ("compare", "board", "sources", "header", "run", "provenance")})


def energy_tolerance(layer: dict) -> float:
    """The run's own measurement interval for a layer's energy where it reports one (any
    ``[lo, hi]`` field named like an interval), else what re-measuring the same energy may
    change: floating-point summation order (the capture bins the same charge differently)."""
    for key, value in layer.items():
        if ("ci" in key or "interval" in key) and isinstance(value, list) and len(value) == 2:
            return abs(value[1] - value[0]) / 2
    return 1e-9 * abs(layer["measured_J"])


def same_memory(run: Path, reference: Path) -> bool:
    """Whether the board's memory held the same bits in both runs (the fault maps read back).
    A layer programmed again because its energy capture was outlasted (the window doubles and
    the work is redone) draws fresh RRAM write faults: another, equally valid, measurement."""
    maps = sorted((reference / "board" / "faultmaps").glob("*.npz"))
    for path in maps:
        a, b = read_faultmap(run / "board" / "faultmaps" / path.name), read_faultmap(path)
        if not all(np.array_equal(a.read(i), b.read(i)) for i in range(b.n_reads)):
            return False
    return bool(maps)


def assert_same_results(run: Path, reference: Path) -> None:
    a, b = results(run), results(reference)
    assert accuracies_and_noise(a) == accuracies_and_noise(b)
    ca, cb = a["compare"]["accuracy"], b["compare"]["accuracy"]
    assert ca["software"] == cb["software"] and ca["software_fixed_chip"] == cb["software_fixed_chip"]
    if same_memory(run, reference):   # the same chip state: the board answers the same, exactly
        assert a["board"]["correct"] == b["board"]["correct"] and ca["board"] == cb["board"]
    else:
        assert ca["overlap"] and cb["overlap"], (ca, cb)
    for la, lb in zip(a["compare"]["energy"]["layers"], b["compare"]["energy"]["layers"]):
        assert la["predicted_J"] == lb["predicted_J"]
        assert abs(la["measured_J"] - lb["measured_J"]) <= energy_tolerance(lb) + energy_tolerance(la), (la, lb)
    for rel in ("train/summary.json", "baselines/summary.json", "operating_points/operating_points.json",
                "software_eval/software_eval.json", "deploy/model.fbm", "deploy/weights.npy"):
        assert (run / rel).read_bytes() == (reference / rel).read_bytes(), rel


def leftovers(run: Path) -> list[str]:
    """Half-written or orphan files a finished run must not hold."""
    return sorted(str(p.relative_to(run)) for p in run.rglob("*")
                  if p.name.endswith((".partial", ".partial.json", ".old")) or (p.name.startswith(".")
                                                                                 and p.name.endswith(".tmp")))


def kill_then_resume(reference: Path, out: Path, stage: str, ready, delay: float) -> None:
    run = copy_before(reference, stage, out / "run")
    args = ["run", "--profile", str(PROFILE), *SMALL, "--out", str(run)]
    with bench_process(args, out / "log") as proc:
        assert eventually(lambda: ready(run) or proc.poll() is not None), "the stage never started"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(PATIENCE_S)
    assert bench(args) == 0, (out / "log" / "stderr.txt").read_text()[-2000:]
    assert leftovers(run) == []
    assert_same_results(run, reference)


def test_kill_9_early_in_training_then_rerun_finishes_equal(reference, tmp_path):
    """The moment the training run's config is written: the run resumes (its layers come with it)."""
    kill_then_resume(reference, tmp_path, "train", lambda run: (run / "train.partial" / "main" / "config.yaml").exists(),
                     0.0)


@pytest.mark.parametrize("moment", range(len(KILL_STAGES)))
def test_kill_9_at_a_seeded_moment_then_rerun_finishes_equal(moment, reference, tmp_path):
    stage = KILL_STAGES[moment]
    seconds = json.loads((reference / "stages" / f"{stage}.json").read_text())["seconds"]
    fraction = np.random.default_rng([KILL_SEED, moment]).random()
    kill_then_resume(reference, tmp_path, stage, lambda run: (run / f"{stage}.partial").exists(), fraction * seconds)
