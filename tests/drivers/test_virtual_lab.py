"""The virtual lab through its real interfaces: board protocol (serial URL) and SCPI (pyvisa).

The chip physics in C (vchip.c, inside the host firmware) must agree bit-exactly with the Python
ground truth (drivers/virtual_lab/physics.py); energy reported by the supply must follow the
firmware's memory activity.
"""

import dataclasses
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import pyvisa
import yaml

from drivers.board import Board, pattern_words
from drivers.firmware_process import spawn, stop_process, wait_for_line
from drivers.supplies import open_supply
from drivers.virtual_lab.lab import VirtualLab
from drivers.virtual_lab.physics import CHIPS_DIR, DEFAULT_CHIP, Chip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: Bound on a process's own readiness line: generous, for a loaded machine.
READY_S = 120.0


def chip_file(tmp_path, base=DEFAULT_CHIP, **changes) -> tuple:
    chip = dataclasses.replace(Chip.load(base), **changes)
    path = tmp_path / f"{chip.chip_id}.yaml"
    path.write_text(yaml.safe_dump(chip.to_dict()))
    return path, chip


def powered(lab, volts):
    supply = open_supply(lab.supply_resource, vmax=1.2, imax=0.1)
    supply.configure()
    supply.volts = volts
    supply.output_enabled = True
    return supply


def test_sram_faults_bit_exact_and_nested(tmp_path):
    path, chip = chip_file(tmp_path, transient_ratio=0.0, mem_words=8192)
    n = 2048
    addr = np.arange(n)
    written = np.random.default_rng(5).integers(0, 2**32, n, dtype=np.uint32)
    with VirtualLab(path) as lab, Board(lab.board_url) as board:
        supply = powered(lab, 0.6)
        masks = {}
        for volts in (0.6, 0.52, 0.45):
            supply.volts = volts
            board.load(0, written)
            got = board.read(0, n)
            np.testing.assert_array_equal(got, chip.sram_read(addr, written, volts))
            np.testing.assert_array_equal(board.read(0, n), got)  # persistent: same on re-read
            masks[volts] = chip.fault_mask(addr, volts)
        supply.close()
        assert lab.board_url.startswith("socket://127.0.0.1:")
    assert np.all(masks[0.6] & ~masks[0.52] == 0) and np.all(masks[0.52] & ~masks[0.45] == 0)
    assert (np.unpackbits(masks[0.45].view(np.uint8)).sum() > np.unpackbits(masks[0.6].view(np.uint8)).sum() > 0)


def test_rram_write_errors_bit_exact_and_persistent():
    chip = Chip.load(CHIPS_DIR / "rram_demo.yaml")
    n = 512
    addr = np.arange(n)
    target = pattern_words("checkerboard", 0, n)
    with VirtualLab(CHIPS_DIR / "rram_demo.yaml") as lab, Board(lab.board_url) as board:
        supply = powered(lab, 0.7)
        board.load(0, target)                      # first write of these words at 0.7 V
        supply.volts = 1.1
        stored = board.read(0, n)
        np.testing.assert_array_equal(stored, chip.rram_write(addr, target, 0.7, generation=0))
        assert (stored != target).any()
        np.testing.assert_array_equal(board.read(0, n), stored)  # persistent after the write
        board.load(0, target)                      # second write at 1.1 V: far fewer errors
        np.testing.assert_array_equal(board.read(0, n), chip.rram_write(addr, target, 1.1, generation=1))
        supply.close()


def test_nominal_memory_without_faults_at_high_voltage(virtual_lab):
    with Board(virtual_lab.board_url) as board:
        supply = powered(virtual_lab, 1.1)
        result = board.pattern("random", 0, 1024, seed=3)
        supply.close()
    assert result.flips == 0 and board.info.mem_words == Chip.load(DEFAULT_CHIP).mem_words


@pytest.fixture
def ideal_lab():
    """The default chip with the ideal physics: exact energies, no static current, no latency."""
    with VirtualLab(physics="ideal") as lab:
        yield lab


def test_energy_follows_memory_activity(ideal_lab):
    virtual_lab = ideal_lab
    chip = Chip.load(DEFAULT_CHIP)
    n = 1024
    with Board(virtual_lab.board_url) as board:
        supply = powered(virtual_lab, 0.9)
        board.load(0, np.zeros(n, np.uint32))
        with supply.energy(0.2) as e:
            board.read(0, n)
        with supply.energy(0.05) as idle:
            pass
        with supply.energy(0.5) as busy:  # the simulator is stalled while the memory works
            os.kill(virtual_lab._supply.pid, signal.SIGSTOP)
            try:
                board.read(0, n)
            finally:
                os.kill(virtual_lab._supply.pid, signal.SIGCONT)
        supply.write("MEAS:ENER:STAT ON")
        assert supply.query("*OPC?") == "1"  # the meter runs before the reads start
        board.read(0, n)
        board.read(0, n)
        meter = float(supply.query("MEAS:ENER?"))
        supply.close()
    assert e.method == "array"
    assert e.joules / (32 * n) == pytest.approx(chip.read_energy(0.9), rel=1e-6)
    assert idle.joules == 0.0
    assert busy.joules == pytest.approx(e.joules, rel=1e-6)  # dated by the access, not when seen
    assert meter == pytest.approx(2 * 32 * n * chip.read_energy(0.9), rel=1e-6)


def test_idle_rail_draws_the_chip_static_current_as_the_digitiser_reads_it(virtual_lab):
    """Realistic physics: a quiet memory still draws its leakage; the N6781A model reads it
    with its noise and gain, so an idle window's energy is the chip's static power times the
    record, within the instrument's own figures."""
    chip, spec = virtual_lab.chip, virtual_lab.supply_spec
    supply = powered(virtual_lab, 0.7)
    energies = []
    for _ in range(3):
        with supply.energy(0.05) as e:
            pass
        energies.append(e.joules)
    supply.close()
    expected = chip.static_current(0.7) * 0.7 * e.duration_s
    noise = spec.window_noise(e.duration_s, 0.7, chip.static_current(0.7))
    assert 0 < chip.static_current(0.7) < 1e-3 and e.samples >= 1024
    for joules in energies:
        assert abs(joules - expected) <= 5 * noise.sigma_j + spec.gain_accuracy(0.7) * expected + 1e-12
    assert len(set(energies)) == 3   # every reading has its own noise
    assert np.std(e.currents) > 0


@pytest.mark.parametrize("model, driver", [("n6705c_n6781a", "KeysightN6705C"), ("e36312a", "KeysightE36300"),
                                           ("dp832", "RigolDP800"), ("hmc8043", "RohdeHMC804x")])
def test_each_supply_model_speaks_its_dialect_through_its_driver(model, driver):
    """The lab presents each supported model: its identity picks its driver, whose setpoints,
    output switch, readback, energy method and shutdown work against the simulator."""
    with VirtualLab(supply=model) as lab, Board(lab.board_url) as board:
        with open_supply(lab.supply_resource, vmax=1.2, imax=0.1) as supply:
            assert type(supply).__name__ == driver and supply.spec.name == model
            assert supply.output_enabled is False
            supply.volts = 0.9
            supply.output_enabled = True
            assert supply.volts == pytest.approx(0.9) and supply.output_enabled is True
            assert supply.measure_voltage() == pytest.approx(0.9, abs=0.02)
            assert board.pattern("random", 0, 256, seed=1).flips == 0   # the rail powers the memory
            with supply.energy(0.05) as e:
                board.read(0, 64)
            assert e.method == supply.spec.method
        again = open_supply(lab.supply_resource, vmax=1.2, imax=0.1)   # after shutdown(), without configure()
        try:
            assert again.output_enabled is False
        finally:
            again.close()


def test_scpi_error_queue_has_real_codes(virtual_lab):
    rm = pyvisa.ResourceManager("@py")
    r = rm.open_resource(virtual_lab.supply_resource, read_termination="\n", write_termination="\n", timeout=2000)
    try:
        codes = []
        for cmd in ("FOO:BAR 1", "VOLT 30,(@1)", "VOLT", "OUTP MAYBE,(@1)", "VOLT 0.5,(@9)"):
            r.write(cmd)
            codes.append(int(r.query("SYST:ERR?").split(",")[0]))
        assert codes == [-113, -222, -109, -224, -222]
        assert r.query("SYST:ERR?") == '+0,"No error"'
        assert r.query("*IDN?").split(",")[1] == "N6705C"
    finally:
        r.close()
        rm.close()


def test_lab_stops_every_process_even_on_ctrl_c():
    pids = []
    with pytest.raises(KeyboardInterrupt):
        with VirtualLab() as lab:
            pids = [lab._board.proc.pid, lab._supply.pid]
            raise KeyboardInterrupt
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_bad_chip_file_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("chip_id: x\ntechnology: flash\n")
    with pytest.raises(ValueError, match=r"bad.yaml.*technology"):
        VirtualLab(bad)


@pytest.mark.qemu
@pytest.mark.slow
def test_qemu_lab_board_with_nominal_memory():
    import shutil
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("needs qemu-system-arm and gcc-arm-none-eabi")
    with VirtualLab(qemu=True) as lab, Board(lab.board_url, timeout=5.0) as board:
        assert board.info.target == "mps2-an386"
        assert board.pattern("checkerboard", 0, 256).flips == 0
        with open_supply(lab.supply_resource, vmax=1.2, imax=0.1) as supply:
            assert supply.identify().split(",")[1] == "N6705C"


@pytest.mark.slow
def test_bench_lab_up_and_doctor_cli():
    """``bench lab up`` in the foreground, found by its own lines (a generous bound on a loaded
    machine), stopped on every path; ``bench doctor`` checks at the chip's nominal voltage."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    lab = spawn([sys.executable, "-m", "bench.cli", "lab", "up"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=env, cwd=REPO)
    try:
        m, out = wait_for_line(lab, r"board:\s+(\S+)\nsupply:\s+(\S+)\n", READY_S)
        assert m, out
        board, supply = m.groups()
        assert board.startswith("socket://") and supply.endswith("::SOCKET")
        doc = subprocess.run([sys.executable, "-m", "bench.cli", "doctor", "--board", board, "--supply", supply,
                              "--chip", str(DEFAULT_CHIP)], capture_output=True, text=True, env=env, timeout=300)
        assert doc.returncode == 0, doc.stdout + doc.stderr
        assert "pattern read-back" in doc.stdout and "0 flipped bits" in doc.stdout
        assert f"set {Chip.load(DEFAULT_CHIP).nominal_v} V" in doc.stdout and "output reads OFF" in doc.stdout
        bad = subprocess.run([sys.executable, "-m", "bench.cli", "doctor", "--board", "socket://127.0.0.1:9"],
                             capture_output=True, text=True, env=env, timeout=300)
        assert bad.returncode == 1 and "board connect" in bad.stdout
        lab.send_signal(signal.SIGINT)
        out, err = lab.communicate(timeout=READY_S)
    finally:
        stop_process(lab)
    assert lab.returncode == 0, err
    assert "stopping the virtual lab" in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_bench_lab_up_stops_cleanly_on_sigterm_and_sighup(sig):
    lab = spawn([sys.executable, "-m", "bench.cli", "lab", "up"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=REPO)
    try:
        m, out = wait_for_line(lab, r"Ctrl-C stops the lab", READY_S)
        assert m, out
        lab.send_signal(sig)
        out, err = lab.communicate(timeout=READY_S)
    finally:
        stop_process(lab)
    assert lab.returncode == 0 and "stopping the virtual lab" in out, err


def test_voltage_drives_inference_faults_and_inference_draws_energy(ideal_lab):
    from tests.firmware_nets import random_inputs, random_net

    virtual_lab = ideal_lab
    rng = np.random.default_rng(4)
    blob, weights = random_net("mlp", rng)
    xs = random_inputs(blob, 6, rng)
    with Board(virtual_lab.board_url) as board:
        board.deploy(blob.to_bytes(), weights)  # the rail is at the chip's nominal voltage (power-on)
        nominal = [board.infer(x).scores for x in xs]
        with open_supply(virtual_lab.supply_resource, vmax=1.2, imax=0.1) as supply:
            supply.volts = 0.45
            supply.output_enabled = True
            with supply.energy(0.5) as e:
                low = [board.infer(x).scores for x in xs]
            supply.volts = 1.1  # SRAM faults are read-time: the stored weights are intact
            again = [board.infer(x).scores for x in xs]
    assert any(not np.array_equal(a, b) for a, b in zip(nominal, low))
    assert all(np.array_equal(a, b) for a, b in zip(nominal, again))
    chip = Chip.load(DEFAULT_CHIP)
    region_words = sum(layer.n_words for layer in blob.layers)
    words_read = e.joules / (32 * chip.read_energy(0.45) * len(xs))
    assert words_read == pytest.approx(region_words, rel=1e-6)  # each weight word read once per inference


def test_tiny_transient_rate_reads_back_exactly(tmp_path):
    """A chip far above its fault onset (p ~ 1e-37, transient rate below 1e-38): the geometric
    gap of the transient PRNG is ~1e40 bits and must not wrap when cast (it once flipped
    every bit read)."""
    path, chip = chip_file(tmp_path, base=CHIPS_DIR / "sram_lowvoltage.yaml", mem_words=4096)
    assert 0 < chip.transient_ratio * chip.p_read(chip.nominal_v) < 1e-38
    written = np.random.default_rng(2).integers(0, 2**32, 1024, dtype=np.uint32)
    with VirtualLab(path) as lab, Board(lab.board_url) as board:
        board.load(0, written)
        np.testing.assert_array_equal(board.read(0, 1024), written)


def test_lab_processes_run_in_their_own_session():
    """A terminal's Ctrl-C goes to the foreground process group; the lab's supply and board
    are outside it, so the bench can still switch the supply off before stopping them."""
    with VirtualLab() as lab:
        ours = os.getpgid(0)
        assert os.getpgid(lab._supply.pid) != ours and os.getpgid(lab._board.proc.pid) != ours
