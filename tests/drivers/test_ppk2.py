"""The PPK2 driver and the virtual lab's PPK2 simulator: the serial protocol over a real pty,
the calibration format both sides share, the measurement physics (ranges, resolution, noise,
gain error, the chip's static current, 100 kSa/s), the energy of the virtual chip's reads as
one capture sees it, and a layer's energy through the repeated, baseline-corrected method with
the PPK2 as the energy meter (beside the supply and as the rail's source)."""

import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from drivers.board import Board
from drivers.energy import CaptureLog, IdleBaseline, LayerStep, RepeatedCapture, read_captures
from drivers.energy.log import TRACES_FILE
from drivers.firmware_process import spawn, stop_process, wait_for_line
from drivers.meters.ppk2 import (ADC_MAX, GAIN_ACCURACY, NOISE_COUNTS, PPK2, SAMPLE_PERIOD_S, Calibration, Cmd,
                                 PPK2Error, decode_samples, encode_samples, missing_samples, regulator_command)
from drivers.supplies import SafetyLimitError, open_supply
from drivers.virtual_lab.lab import REPO, VirtualLab
from drivers.virtual_lab.lab_state import LabState
from drivers.virtual_lab.physics import Chip
from drivers.virtual_lab.ppk2_sim import PPK2Simulator, device_calibration
from tests.firmware_nets import random_inputs, random_net

CHIP = REPO / "drivers/virtual_lab/chips/sram_lowvoltage.yaml"


def test_calibration_metadata_round_trip_and_defaults():
    cal = device_calibration(7)
    text = cal.to_metadata()
    assert text.endswith("\nEND\n") and "R0: " in text and "HW: " in text
    back = Calibration.from_metadata(text)
    assert back == cal and dict(back.extra)["Calibrated"] == "1"
    broken = Calibration.from_metadata("R0: 0\nR1: nan\nO2: 12.5\nGS3: -nan\nmode: 2\n")
    assert broken.r == Calibration().r and broken.o[2] == 12.5 and broken.gs == Calibration().gs
    with pytest.raises(PPK2Error, match="GI1: 'x' is not a number"):
        Calibration.from_metadata("GI1: x\n")


def test_current_formula_and_its_inverse():
    cal = device_calibration(3)
    rng = np.repeat(np.arange(5), 50)
    amps = cal.full_scale()[rng] * np.tile(np.linspace(0, 0.9, 50), 5)
    np.testing.assert_allclose(cal.current(cal.adc_value(amps, rng, 1.0), rng, 1.0), amps, rtol=1e-9, atol=1e-15)
    # the default calibration gives HARDWARE 8's estimates: ~42.6 nA to ~1.02 mA per code
    res = Calibration().resolution()
    assert res[0] == pytest.approx(4 * 1.8 / 163840 / 1031.64) and 42e-9 < res[0] < 43e-9 and 1.0e-3 < res[4] < 1.05e-3


def test_sample_words_and_lost_samples():
    adc, rng, counter = np.array([5, ADC_MAX, 0]), np.array([0, 4, 2]), np.array([62, 63, 0])
    raw = encode_samples(adc, rng, counter, logic=np.array([0, 0xA5, 1]))
    assert len(raw) == 12 and struct.unpack("<I", raw[4:8])[0] == ADC_MAX | 4 << 14 | 63 << 18 | 0xA5 << 24
    a, r, c, logic = decode_samples(raw + b"\x01\x02")  # a trailing partial sample is ignored
    assert a.tolist() == adc.tolist() and r.tolist() == rng.tolist() and c.tolist() == [62, 63, 0]
    assert logic.tolist() == [0, 0xA5, 1]
    assert missing_samples(c) == 0 and missing_samples(np.array([10, 11, 14, 15, 2])) == 2 + 50
    assert regulator_command(1800) == bytes([0x0D, 0x07, 0x08])


@pytest.fixture
def sim_state(tmp_path):
    """A lab state file and a simulator object driven with synthetic times."""
    state = LabState(tmp_path / "state.bin", create=True)
    state.set_rail(0.8, True)
    yield state
    state.close()


def eventually(condition, timeout=10.0):
    """The device never acknowledges: wait (generously) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def set_activity(state, reads, t_access):
    state._map[24:48] = struct.pack("<QQQ", reads, 0, int(t_access * 1e9))


def test_simulated_stream_rate_physics_and_noise(sim_state):
    chip = Chip.load(CHIP)
    sim = PPK2Simulator(chip, sim_state, "meter", seed=5)
    t0 = sim._last_poll + 1.0
    sim.feed(bytes([Cmd.GET_META_DATA, Cmd.DEVICE_RUNNING_SET]), t0)   # a command split across reads
    assert bytes(sim.out).decode().endswith("END\n") and not sim.dut_on
    sim.out.clear()
    sim.feed(bytes([1, Cmd.AVERAGE_START]), t0)
    assert sim.dut_on and sim.streaming
    set_activity(sim_state, 4096, t0 + 0.004)    # 4096 words read, the last at 4 ms
    sim.tick(t0 + 0.005)
    sim.tick(t0 + 0.0201)
    sim.feed(bytes([Cmd.AVERAGE_STOP]), t0 + 0.0201)
    adc, rng, counter, _ = decode_samples(bytes(sim.out))
    assert len(adc) == 2010 and missing_samples(counter) == 0          # 100 kSa/s
    amps = sim.calibration.current(adc, rng, 3.3)
    charge = amps.sum() * SAMPLE_PERIOD_S
    static = chip.static_current(0.8)             # leakage at the supply's 0.8 V, from DUT power on
    assert static > 1e-6
    true = chip.access_energy(4096, 0, 0.8) / 0.8 + static * 0.0201
    sigma = NOISE_COUNTS * sim.calibration.resolution()[0] * np.sqrt(len(adc)) * SAMPLE_PERIOD_S
    assert abs(charge - true) < 5 * sigma + GAIN_ACCURACY * true
    quiet = amps[500:]            # after the 4 ms of reads: the static current and noise, on the lowest range
    assert set(rng[500:].tolist()) == {0}
    assert quiet.std() == pytest.approx(NOISE_COUNTS * sim.calibration.resolution()[0], rel=0.15)
    assert abs(quiet.mean() / static - 1) < GAIN_ACCURACY + 0.01
    busy = amps[:400]             # the reads spread over 0-4 ms, on top of the static current
    assert (busy.mean() - quiet.mean()) * 0.004 == pytest.approx(chip.access_energy(4096, 0, 0.8) / 0.8, rel=0.1)


def test_ideal_simulator_has_no_static_current_nor_gain_error(sim_state):
    """Ideal physics: a quiet rail reads zero on average (the noise still dithers the codes)."""
    sim = PPK2Simulator(Chip.load(CHIP), sim_state, "meter", seed=5, ideal=True)
    assert not sim.gain_error.any() and sim.chip.static_current(0.8) == 0.0
    t0 = sim._last_poll + 1.0
    sim.feed(bytes([Cmd.DEVICE_RUNNING_SET, 1, Cmd.AVERAGE_START]), t0)
    sim.tick(t0 + 0.0101)
    sim.feed(bytes([Cmd.AVERAGE_STOP]), t0 + 0.0101)
    adc, rng, _, _ = decode_samples(bytes(sim.out))
    amps = sim.calibration.current(adc, rng, 3.3)
    assert abs(amps.mean()) < 3 * NOISE_COUNTS * sim.calibration.resolution()[0] / np.sqrt(len(amps)) + 1e-9


def test_the_device_drops_samples_a_host_does_not_read(sim_state):
    sim = PPK2Simulator(Chip.load(CHIP), sim_state, "meter", seed=1)
    t0 = sim._last_poll + 1.0
    sim.feed(bytes([Cmd.AVERAGE_START]), t0)
    for k in range(1, 51):                             # nobody reads for 0.5 s: more than the device holds
        sim.tick(t0 + 0.01 * k)
    assert sim.dropped > 0 and len(sim.out) <= (0.1 + 0.01) * 100_000 * 4
    late = PPK2Simulator(Chip.load(CHIP), sim_state, "meter", seed=1)
    t0 = late._last_poll + 1.0
    late.feed(bytes([Cmd.AVERAGE_START]), t0)
    late.tick(t0 + 0.3)                                # the simulator itself ran late: nothing is lost
    assert late.dropped == 0 and len(late.out) == 0.3 * 100_000 * 4


@pytest.fixture
def ppk2_source(tmp_path):
    """The simulator as the rail's source (it creates the lab state file), on a real pty."""
    state_path = tmp_path / "state.bin"
    proc = spawn([sys.executable, "-m", "drivers.virtual_lab.ppk2_sim", "--lab-state", str(state_path), "--chip",
                  str(CHIP), "--role", "source", "--seed", "9"], stdout=subprocess.PIPE, cwd=REPO)
    try:
        m, out = wait_for_line(proc, r"PTY (\S+)\n", 20)
        assert m, out
        state = LabState(state_path)
        yield m.group(1), state
        state.close()
    finally:
        stop_process(proc)


def test_source_meter_limits_output_and_shutdown(ppk2_source):
    port, state = ppk2_source
    with PPK2(port, mode="source", vmax=1.0) as ppk:
        assert ppk.calibration == device_calibration(9)    # read from the device's metadata
        assert ppk.identify().startswith("Nordic Semiconductor,PPK2,HW ")
        with pytest.raises(SafetyLimitError, match="0.6 V refused: the PPK2 source meter outputs 0.8-5.0 V"):
            ppk.volts = 0.6
        with pytest.raises(SafetyLimitError, match="1.0006 V refused: above vmax=1.0 V"):
            ppk.volts = 1.0006    # 1001 mV as sent
        with pytest.raises(SafetyLimitError, match="set volts before switching the output on"):
            ppk.output_enabled = True
        assert state.rail() == (0.0, False)
        ppk.volts = 0.9
        ppk.output_enabled = True
        ppk.current_limit = 0.05                             # kept for the record only
        c = ppk.record(0.03)
        assert state.rail() == (0.9, True) and ppk.measure_voltage() == 0.9
        # at least the 30 ms asked (a loaded host may stop late or lose samples past the backlog)
        static = Chip.load(CHIP).static_current(0.9)    # the rail's leakage, nothing else running
        assert len(c.current_a) + c.missing >= 2500
        assert abs(c.current_a.mean() - static) < GAIN_ACCURACY * static + 50e-9
    assert eventually(lambda: state.rail() == (0.0, False))   # the context's exit switched DUT power off
    with pytest.raises(SafetyLimitError, match="below its lowest output 0.8 V"):
        PPK2(port, mode="source", vmax=0.7)


def test_a_port_without_a_ppk2_is_one_line(tmp_path):
    with pytest.raises(PPK2Error, match="cannot open PPK2 at /nonexistent/ttyACM9"):
        PPK2("/nonexistent/ttyACM9")
    with pytest.raises(PPK2Error, match=r"no PPK2 answers at loop://"):
        PPK2("loop://")   # echoes our own bytes: never metadata


@pytest.mark.parametrize("words", [0, 1024, 4096])
def test_energy_of_reads_through_the_ampere_meter_beside_the_supply(words):
    """One capture, on the ideal lab (no static current to subtract): the reads' energy."""
    with VirtualLab(CHIP, ppk2="meter", physics="ideal") as lab:
        with open_supply(lab.supply_resource, vmax=1.2, imax=0.1) as supply, \
                PPK2(lab.ppk2_port, mode="ampere") as meter, Board(lab.board_url) as board:
            with pytest.raises(PPK2Error, match="set rail_volts"):
                with meter.capture(0.05):
                    pass
            supply.volts, supply.output_enabled, meter.rail_volts = 0.7, True, 0.7
            board.load(0, np.arange(4096, dtype=np.uint32))
            for _attempt in range(5):  # a host starved past the device's backlog loses samples: capture again
                with meter.capture(0.05) as box:
                    if words:
                        board.read(0, words)
                c = meter.last_samples
                if c.missing == 0:
                    break
    e = box.capture
    true = lab.chip.access_energy(words, 0, 0.7)
    sigma = 0.7 * NOISE_COUNTS * meter.resolution_a()[0] * np.sqrt(len(c.current_a)) * SAMPLE_PERIOD_S
    assert meter.method == "stream" and c.missing == 0 and len(c.current_a) >= 0.05 / SAMPLE_PERIOD_S
    assert e.duration_s == pytest.approx(len(c.current_a) * SAMPLE_PERIOD_S) and not e.fixed_length
    assert e.interval_s == SAMPLE_PERIOD_S and e.volts == 0.7 and len(e.currents) == len(c.current_a)
    assert abs(e.energy_j - true) < 5 * sigma + 0.02 * true, (e.energy_j, true, sigma)


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(4)
    blob, weights = random_net("mlp", rng)
    return blob, weights, random_inputs(blob, 1, rng)[0]


def layer_energies(lab, board, meter, net, volts, layers, log):
    """Each layer's energy at ``volts`` through ``meter`` with the repeated method, and the truth."""
    blob, _, x = net
    method = RepeatedCapture(meter, IdleBaseline(board), log=log)
    out = []
    for pos in layers:
        truth = 32 * blob.layers[pos].n_words * lab.chip.read_energy(volts)   # the lab's truth, never the bench's
        out.append((method.measure(LayerStep(board, x, pos), volts, f"layer{pos}", predicted_j=truth), truth))
    return out


def check_estimates(results, meter, volts, lab):
    for est, truth in results:
        assert not est.below_resolution and est.pairs >= 3 and est.method == "stream", est
        assert est.instrument == meter.name and "PPK2" in est.instrument
        lo, hi = est.interval
        assert abs(est.energy_j / truth - 1) <= 0.05 and hi - lo <= 2 * 0.06 * est.energy_j, (est, truth)
        assert est.static_w == pytest.approx(lab.chip.static_current(volts) * volts, rel=2 * GAIN_ACCURACY + 0.02)


def test_layer_energy_through_the_ppk2_beside_the_supply(net, tmp_path):
    """The realistic lab: the rail's leakage swamps one run of a layer; the repeated,
    baseline-corrected method through the PPK2 ampere meter recovers the layer's energy."""
    blob, weights, _ = net
    volts = 0.6
    with VirtualLab(CHIP, ppk2="meter") as lab:
        with open_supply(lab.supply_resource, vmax=1.2, imax=0.1) as supply, \
                PPK2(lab.ppk2_port, mode="ampere") as meter, Board(lab.board_url) as board:
            supply.volts, supply.output_enabled = lab.chip.nominal_v, True
            board.deploy(blob.to_bytes(), weights)
            supply.volts = meter.rail_volts = volts
            log = CaptureLog()
            results = layer_energies(lab, board, meter, net, volts, range(len(blob.layers)), log)
            log.save(tmp_path)
    assert lab.chip.static_current(volts) * volts * 0.01 > 100 * max(t for _, t in results)   # leakage swamps one run
    check_estimates(results, meter, volts, lab)
    records = read_captures(tmp_path)
    traces = np.load(tmp_path / TRACES_FILE)
    work = [r for r in records if r["kind"] == "work"]
    assert work and all(r["interval_s"] == SAMPLE_PERIOD_S and r["samples"] > 0 for r in work)
    assert all(len(traces[f"{r['trace']}_current_A"]) == r["samples"] for r in work)


def test_layer_energy_through_the_ppk2_as_the_rail_source(net):
    blob, weights, _ = net
    volts = 0.9
    with VirtualLab(CHIP, ppk2="source") as lab:
        with PPK2(lab.ppk2_port, mode="source", vmax=1.1) as rail, Board(lab.board_url) as board:
            rail.volts, rail.output_enabled = lab.chip.nominal_v, True
            board.deploy(blob.to_bytes(), weights)
            rail.volts = volts
            results = layer_energies(lab, board, rail, net, volts, [1], CaptureLog())
    check_estimates(results, rail, volts, lab)
