"""The repeated, baseline-corrected energy method (drivers/energy) against the virtual lab's
realistic physics, whose truth (the chip file's energy per bit access) the method never reads:
a layer's energy within its interval of the truth, a coarse supply's layer flagged below
resolution, the interval arithmetic, the raw capture files, and overruns."""

import json

import numpy as np
import pytest

from drivers.board import Board
from drivers.energy import (CaptureLog, CaptureSettings, HostLoop, IdleBaseline, LayerStep, RepeatedCapture, read_captures, summarize)
from drivers.energy.log import CAPTURES_FILE, TRACES_FILE
from drivers.energy.supply_meter import SupplyMeter
from drivers.supplies import open_supply
from drivers.virtual_lab.lab import VirtualLab
from drivers.virtual_lab.physics import CHIPS_DIR
from tests.firmware_nets import random_inputs, random_net

CHIP = CHIPS_DIR / "sram_lowvoltage.yaml"
VOLTS = 0.6


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(4)
    blob, weights = random_net("mlp", rng)
    return blob, weights, random_inputs(blob, 1, rng)[0]


def deployed_lab(net, supply_model=None):
    """A lab with ``net`` deployed and the rail at VOLTS: (lab, board, supply); caller closes."""
    blob, weights, _ = net
    lab = VirtualLab(CHIP, supply=supply_model).__enter__()
    board = Board(lab.board_url).__enter__()
    supply = open_supply(lab.supply_resource, vmax=1.2, imax=0.1)
    supply.configure()
    supply.volts = lab.chip.nominal_v
    supply.output_enabled = True
    board.deploy(blob.to_bytes(), weights)
    supply.volts = VOLTS
    return lab, board, supply


def close(lab, board, supply):
    supply.close()
    board.close()
    lab.close()


def test_layer_energy_within_its_interval_of_the_truth(net, tmp_path):
    blob, _, x = net
    lab, board, supply = deployed_lab(net)
    try:
        log = CaptureLog()
        method = RepeatedCapture(SupplyMeter(supply), IdleBaseline(board), log=log)
        estimates, truths = [], []
        for pos, layer in enumerate(blob.layers):
            truth = 32 * layer.n_words * lab.chip.read_energy(VOLTS)   # the lab's truth, never the bench's
            estimates.append(method.measure(LayerStep(board, x, pos), VOLTS, f"layer{pos}", predicted_j=truth))
            truths.append(truth)
        log.save(tmp_path)
    finally:
        close(lab, board, supply)
    assert lab.chip.static_current(VOLTS) * VOLTS * 0.01 > 100 * max(truths)   # leakage swamps one run
    covered = 0
    for est, truth in zip(estimates, truths):
        assert not est.below_resolution and est.target_met and est.pairs >= 3, est
        lo, hi = est.interval
        assert hi - lo <= 2 * 0.05 * est.energy_j * 1.001
        assert abs(est.energy_j / truth - 1) <= 0.05, (est, truth)
        covered += lo <= truth <= hi
        assert est.repeat > 100 and est.method == "array" and "N6781A" in est.instrument
        assert est.static_w == pytest.approx(lab.chip.static_current(VOLTS) * VOLTS, rel=0.05)
    assert covered >= 2
    records = read_captures(tmp_path)
    assert {r["kind"] for r in records} >= {"pilot-baseline", "work", "baseline"}
    traces = np.load(tmp_path / TRACES_FILE)
    for r in records:
        if r["trace"]:
            cur, volt = traces[f"{r['trace']}_current_A"], traces[f"{r['trace']}_voltage_V"]
            assert len(cur) == len(volt) == r["samples"]
            assert r["interval_s"] * float(np.sum(cur * volt)) == pytest.approx(r["energy_J"], rel=1e-9)
    pairs = {(r["measurement"], r["pair"]) for r in records if r["kind"] == "work"}
    assert all(sum(1 for r in records if (r["measurement"], r["pair"]) == p and r["kind"] == "baseline") == 1
               for p in pairs)


def test_coarse_supply_flags_a_layer_below_resolution(net):
    """The DP832 reads current in 1 mA digits every ~0.1 s: a layer's few hundred nJ per window
    never moves a reading, so the layer is below resolution (with the floor), not a number."""
    blob, _, x = net
    lab, board, supply = deployed_lab(net, "dp832")
    try:
        assert type(supply).__name__ == "RigolDP800"
        method = RepeatedCapture(SupplyMeter(supply), IdleBaseline(board), CaptureSettings(max_pairs=4))
        truth = 32 * blob.layers[1].n_words * lab.chip.read_energy(VOLTS)
        est = method.measure(LayerStep(board, x, 1), VOLTS, "layer1", predicted_j=truth)
    finally:
        close(lab, board, supply)
    assert est.below_resolution and not est.target_met
    assert est.energy_j is None and est.interval is None and est.floor_j > truth
    d = est.to_dict()
    assert d["energy_J"] is None and d["ci_J"] is None and d["half_width_j"] is None and d["floor_j"] > 0
    assert est.method == "polling" and est.pairs <= 4
    json.dumps(d, allow_nan=False)


def test_summarize_interval_floor_and_verdicts():
    # spread 1 (sample sd), 4 pairs: t(3) = 3.182 -> statistical half 1.591; gain 1% of 100 -> 1
    s = summarize([99.0, 101.0, 99.0, 101.0], repeat=1, sigma_window_j=0.0, resolution_window_j=0.0,
                  gain_accuracy=0.01, target=0.05)
    sd = np.std([99.0, 101.0, 99.0, 101.0], ddof=1)
    assert s["mean_j"] == 100 and s["half_width_j"] == pytest.approx(np.hypot(3.182446 * sd / 2, 1.0), rel=1e-5)
    assert s["target_met"] and not s["below_resolution"] and s["floor_j"] == 0
    # the instrument's stated noise bounds the spread from below: identical pairs are not exact
    quiet = summarize([5.0, 5.0, 5.0], repeat=10, sigma_window_j=2.0, resolution_window_j=0.0, gain_accuracy=0.0)
    assert quiet["half_width_j"] == pytest.approx(4.302653 * np.sqrt(2) * 2.0 / 10 / np.sqrt(3), rel=1e-5)
    # undithered readings: all pairs 0, a resolution step of 3 J per window over 10 repeats
    flat = summarize([0.0, 0.0, 0.0], repeat=10, sigma_window_j=0.0, resolution_window_j=3.0, gain_accuracy=0.001,
                     max_pairs=20)
    assert flat["below_resolution"] and flat["hopeless"] and flat["floor_j"] == pytest.approx(0.3)
    # an interval that reaches zero is below resolution even above the floor
    noisy = summarize([1.0, -0.5, 2.0], repeat=1, sigma_window_j=0.0, resolution_window_j=0.0, gain_accuracy=0.0)
    assert noisy["below_resolution"] and not noisy["target_met"]


def test_capture_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="target"):
        CaptureSettings(target=1.5)
    with pytest.raises(ValueError, match="min_pairs"):
        CaptureSettings(min_pairs=5, max_pairs=3)


def test_host_loop_programming_energy_and_overruns(tmp_path):
    """RRAM programming repeated by the host (LOAD after LOAD), with a first window far too
    short: captures overrun, the window doubles, and the energy still meets its interval."""
    chip_file = CHIPS_DIR / "rram_lowpower.yaml"
    words = np.random.default_rng(1).integers(0, 2**32, 256, dtype=np.uint64).astype(np.uint32)
    with VirtualLab(chip_file) as lab, Board(lab.board_url) as board:
        with open_supply(lab.supply_resource, vmax=2.0, imax=0.1) as supply:
            supply.volts = 1.0368
            supply.output_enabled = True
            log = CaptureLog()
            method = RepeatedCapture(SupplyMeter(supply), IdleBaseline(board), CaptureSettings(window_s=0.001), log)
            work = HostLoop(lambda: board.load(4096, words))
            est = method.measure(work, 1.0368, "program", predicted_j=None)   # no prediction: a pilot pair
        truth = 32 * len(words) * lab.chip.write_energy(1.0368)
    log.save(tmp_path)
    assert est.overruns >= 1 and any(r["overrun"] for r in read_captures(tmp_path))
    assert any(r["measurement"] == "program (pilot)" for r in read_captures(tmp_path))
    assert not est.below_resolution and abs(est.energy_j / truth - 1) <= 0.05
    assert (tmp_path / CAPTURES_FILE).stat().st_size > 0
