"""Faults tried on purpose against the virtual lab: each gives a clear error or a documented
recovery, never a hang past the timeout, never silent corruption, and the supply output off.

Serial faults go through a byte-level TCP proxy between drivers/board.py and the host firmware.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import pyvisa

from bench.characterize import SweepSettings, run_sweep
from drivers.board import Board, BoardResetError, BoardTimeout
from drivers.framing import encode_frame, pack_payload
from drivers.supplies import Control, KeysightN6705C, SafetyLimitError, SupplyError, SupplyTripped, open_supply
from tests.processes import REPO, interrupt_bench
from tests.serial_proxy import FaultyLink, frames_of

MSG_READ, MSG_LOAD, MSG_RESET = 0x03, 0x02, 0x0A


@pytest.fixture
def words():
    return np.random.default_rng(11).integers(0, 2**32, 600, dtype=np.uint32)


def output_is_off(resource) -> bool:
    rm = pyvisa.ResourceManager("@py")
    r = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=2000)
    try:
        return r.query("OUTP? (@1)") == "0"
    finally:
        r.close()
        rm.close()


@pytest.mark.parametrize("fault", ["drop", "flip"])
@pytest.mark.parametrize("direction", ["up", "down"])
def test_corrupted_serial_byte_is_retried_without_corruption(virtual_lab, words, fault, direction):
    is_read = frames_of(MSG_READ | (0x80 if direction == "down" else 0))
    done = []

    def mangle(d, i, frame):
        if d == direction and not done and is_read(frame):
            done.append(i)
            k = len(frame) // 2
            return frame[:k] + frame[k + 1:] if fault == "drop" else frame[:k] + bytes([frame[k] ^ 0x10]) + frame[k + 1:]
        return frame

    with Board(virtual_lab.board_url) as board:
        board.load(0, words)
    link = FaultyLink(virtual_lab.board_url, mangle)
    try:
        with Board(link.url, timeout=0.5, retries=2) as board:
            got = board.read(0, len(words))
    finally:
        link.close()
    assert done, "the fault was not injected"
    np.testing.assert_array_equal(got, words)  # retried: no silent corruption, LOAD not applied twice


def test_board_that_stops_answering_times_out_and_supply_goes_off(virtual_lab, tmp_path):
    with open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1) as supply, \
            Board(virtual_lab.board_url, timeout=0.3, retries=1) as board:
        settings = SweepSettings(vmin=0.9, vmax=0.9, steps=1, patterns=("checkerboard",), repeats=1, n_words=64,
                                 settle_s=0.0)
        virtual_lab.pause_board()
        t0 = time.monotonic()
        try:
            with pytest.raises(BoardTimeout, match="attempts"):
                run_sweep(board, supply, settings, tmp_path / "sw", {"chip_id": "x"})
        finally:
            virtual_lab.resume_board()
        assert time.monotonic() - t0 < 0.3 * 2 + 2.0
        assert supply.output_enabled is True  # the sweep had switched it on
    assert output_is_off(virtual_lab.supply_resource)  # ... and the context manager switched it off


def test_board_reset_mid_load_is_reported_and_recoverable(virtual_lab, words):
    is_load = frames_of(MSG_LOAD)
    loads = []

    def mangle(d, i, frame):
        if d == "up" and is_load(frame):
            loads.append(i)
            if len(loads) == 2:  # the board resets between the first and second LOAD chunk
                return encode_frame(pack_payload(MSG_RESET, 0x7777)) + frame
        return frame

    link = FaultyLink(virtual_lab.board_url, mangle)
    try:
        with Board(link.url, timeout=0.5) as board:
            with pytest.raises(BoardResetError, match="restarted during LOAD"):
                board.load(0, words)
            board.load(0, words)  # documented recovery: the handshake ran again; load again
            np.testing.assert_array_equal(board.read(0, len(words)), words)
    finally:
        link.close()


def test_request_above_vmax_refused_before_sending(virtual_lab):
    with open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1) as supply:
        supply.volts = 0.8
        sent = []
        write = supply._res.write
        supply._res.write = lambda cmd: sent.append(cmd) or write(cmd)
        with pytest.raises(SafetyLimitError, match="nothing was sent"):
            supply.volts = 1.05
        assert sent == [] and supply.volts == pytest.approx(0.8)
    assert output_is_off(virtual_lab.supply_resource)


class WideRangeN6705C(KeysightN6705C):
    """A driver that believes in a wider range than the instrument: the instrument refuses."""

    voltage = Control("voltage", "VOLT {value},(@{ch})", "VOLT? (@{ch})", 0.0, 30.0)
    ovp = Control("OVP", "VOLT:PROT {value},(@{ch})", "VOLT:PROT? (@{ch})", 0.0, 30.0)


def test_refused_setpoint_raises_scpi_error_and_output_ends_off(virtual_lab):
    with pytest.raises(SupplyError, match="SCPI error -222") as err:
        with WideRangeN6705C(virtual_lab.supply_resource, vmax=25.0, ovp=23.0, imax=0.1) as supply:
            pass
    assert err.value.code == -222  # OVP 23 V is out of the simulated N6705C's range (22 V)
    with WideRangeN6705C(virtual_lab.supply_resource, vmax=21.0, ovp=20.0, imax=0.1) as supply:
        supply.volts = 0.8
        supply.output_enabled = True
        with pytest.raises(SupplyError, match="-222") as err:
            supply.volts = 20.5
        assert supply.volts == pytest.approx(0.8)  # the refused setpoint was not applied
    assert output_is_off(virtual_lab.supply_resource)


def test_tripped_ovp_is_reported_and_output_is_off(virtual_lab):
    with open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1) as supply:
        supply.volts = 0.9
        supply.output_enabled = True
        supply.write("VOLT:PROT 0.6,(@1)")  # e.g. a wrong front-panel OVP: trips at once
        with pytest.raises(SupplyTripped, match="over-voltage protection tripped"):
            supply.volts = 0.85
        assert supply.output_enabled is False
        supply.clear_trip()
        supply.configure()  # back to OVP at vmax
        supply.output_enabled = True
        assert supply.output_enabled is True
    assert output_is_off(virtual_lab.supply_resource)


def test_dropped_supply_connection_gives_clear_error_and_shutdown_reconnects(virtual_lab):
    supply = open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1, timeout_ms=1000)
    with supply:
        supply.volts = 0.9
        supply.output_enabled = True
        supply.write("SIM:DROP")  # simulator only: the server closes this connection
        t0 = time.monotonic()
        with pytest.raises(SupplyError, match="no answer or connection lost"):
            supply.measure_voltage()
        assert time.monotonic() - t0 < 2.5
    # documented recovery: shutdown() reopened the connection once and switched the output off
    assert output_is_off(virtual_lab.supply_resource)


def test_interpreter_exit_switches_output_off(virtual_lab):
    code = (f"from drivers.supplies import open_supply\n"
            f"s = open_supply({virtual_lab.supply_resource!r}, vmax=1.0, imax=0.1)\n"
            "s.configure(); s.volts = 0.8; s.output_enabled = True\n"
            "print(s.output_enabled)\n"
            "raise SystemExit(3)  # no close(), no context manager: atexit must do it\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 3 and proc.stdout.strip() == "True", proc.stderr
    assert output_is_off(virtual_lab.supply_resource)


@pytest.mark.slow
def test_cli_sweep_terminated_leaves_output_off_and_resumes(virtual_lab, tmp_path):
    out = tmp_path / "sw"
    cmd = ["characterize", "--board", virtual_lab.board_url, "--supply",
           virtual_lab.supply_resource, "--vmin", "0.5", "--vmax", "0.8", "--steps", "4", "--repeats", "2",
           "--words", "256", "--settle", "0.3", "--out", str(out)]
    code, _, err = interrupt_bench(cmd, sig=signal.SIGTERM, timeout=300, ready=lambda: (out / "sweep.json").exists()
                                   and bool(json.loads((out / "sweep.json").read_text())["points"]))
    assert code == 128 + signal.SIGTERM and "stopped by SIGTERM" in err and "can be resumed" in err
    assert f"supply {virtual_lab.supply_resource} channel 1: output OFF (read back)" in err
    assert output_is_off(virtual_lab.supply_resource)
    assert not json.loads((out / "sweep.json").read_text())["complete"]
    again = subprocess.run([sys.executable, "-m", "bench.cli", *cmd], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr
    state = json.loads((out / "sweep.json").read_text())
    assert state["complete"] and state["resumed"] == 1 and len(state["points"]) == 8
    assert output_is_off(virtual_lab.supply_resource)
