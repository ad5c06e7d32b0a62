"""The supply drivers keep the memory safe: setpoints as sent never exceed vmax, a clean error
queue before the first command, the output watchdog (simulated N6705C) armed and fed while the
driver lives and switching the output off when its process dies, replies of an interrupted query
drained before the shutdown, and one closing line that says the output read back OFF.

The simulated supply is the virtual lab's (through pyvisa, as a LAN instrument); the rail is
read from the lab state file (``VirtualLab.rail``), never over SCPI, which would feed the
watchdog."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import pyvisa

from drivers.firmware_process import spawn, stop_process, wait_for_line
from drivers.supplies import KeysightN6705C, SafetyLimitError, SupplyError, open_supply
from drivers.supplies.base import format_number

REPO = Path(__file__).resolve().parents[2]
YAML = Path(__file__).parent / "supply_sim" / "instruments.yaml"
#: How long a test waits for something the simulator does by itself [generous on a loaded machine].
PATIENCE_S = 60.0


def raw(resource: str, *commands: str) -> str:
    """Send ``commands`` on a fresh connection (another client); the last one's reply."""
    rm = pyvisa.ResourceManager("@py")
    r = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=3000)
    try:
        for cmd in commands[:-1]:
            r.write(cmd)
        return r.query(commands[-1]).strip()
    finally:
        r.close()


def eventually(predicate, patience: float = PATIENCE_S) -> bool:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("value,sent", [(1.2345651, "1.23456"), (0.7, "0.7"), (0.1 + 0.2, "0.3"), (20.0, "20"),
                                        (1e-5, "1e-05"), (0.0, "0"), (0.99999999, "0.999999")])
def test_numbers_are_sent_rounded_towards_zero(value, sent):
    assert format_number(value) == sent
    assert float(sent) <= value


def test_setpoint_and_ovp_as_sent_never_exceed_vmax(virtual_lab):
    vmax = 1.2345651   # .6g would send 1.23457
    with KeysightN6705C(virtual_lab.supply_resource, vmax=vmax, imax=0.5) as supply:
        assert float(raw(virtual_lab.supply_resource, "VOLT:PROT? (@1)")) <= vmax
        supply.volts = vmax
        assert float(raw(virtual_lab.supply_resource, "VOLT? (@1)")) <= vmax
        assert supply.volts == pytest.approx(vmax, abs=1e-5)


def test_ovp_read_back_above_vmax_is_refused_and_output_left_off():
    """The Rigol DP800 keeps OVP in millivolts: 1.23456 V reads back as 1.235 V, above vmax."""
    pytest.importorskip("pyvisa_sim")
    rm = pyvisa.ResourceManager(f"{YAML}@sim")
    try:
        resource = "TCPIP0::192.168.0.52::5555::SOCKET"
        with pytest.raises(SafetyLimitError, match=r"OVP reads back 1.235 V, above vmax=1.2345651"):
            with open_supply(resource, resource_manager=rm, vmax=1.2345651, imax=0.05):
                pass
        r = rm.open_resource(resource, read_termination="\n", write_termination="\n")
        assert r.query(":OUTP? CH1").strip() == "OFF"
        r.close()
    finally:
        rm.close()


def test_stale_error_of_another_client_is_cleared_before_configuring(virtual_lab):
    raw(virtual_lab.supply_resource, "VOLT 99,(@1)", "*OPC?")   # another client's refused setpoint: -222 queued
    with open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1) as supply:
        supply.volts = 0.8
        supply.output_enabled = True
        assert supply.output_enabled is True
    assert raw(virtual_lab.supply_resource, "OUTP? (@1)") == "0"


def test_simulated_watchdog_latches_outputs_off_after_silence(virtual_lab):
    resource = virtual_lab.supply_resource
    assert raw(resource, "OUTP:PROT:WDOG:DEL 1", "OUTP:PROT:WDOG ON", "VOLT 0.8,(@1)", "OUTP ON,(@1)",
               "OUTP:PROT:WDOG?") == "1"
    assert eventually(lambda: virtual_lab.rail() == (0.0, False)), virtual_lab.rail()
    # latched: the programmed state is kept, the PROT bit (11) is set, clearing restores the output
    assert raw(resource, "OUTP? (@1)") == "1"
    assert int(raw(resource, "STAT:QUES:COND? (@1)")) & (1 << 11)
    raw(resource, "OUTP:PROT:WDOG OFF", "OUTP:PROT:CLE (@1)", "*OPC?")
    assert virtual_lab.rail() == (pytest.approx(0.8), True)
    raw(resource, "OUTP OFF,(@1)", "*OPC?")


def test_driver_feeds_the_watchdog_while_open_and_disarms_it_on_close(virtual_lab):
    with open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1, watchdog_s=2) as supply:
        supply.volts = 0.8
        supply.output_enabled = True
        quiet_until = time.monotonic() + 3 * supply.watchdog_s   # the bench talks to the supply rarely
        while time.monotonic() < quiet_until:
            time.sleep(0.1)
            assert virtual_lab.rail() == (pytest.approx(0.8), True)
    assert virtual_lab.rail() == (0.0, False)
    assert raw(virtual_lab.supply_resource, "OUTP:PROT:WDOG?") == "0"


HOLDER = """
import sys, time
from drivers.supplies import open_supply
supply = open_supply(sys.argv[1], vmax=1.0, imax=0.1, watchdog_s=1)
supply.configure(); supply.volts = 0.8; supply.output_enabled = True
print("OUTPUT ON", flush=True)
time.sleep(600)
"""


def test_output_goes_off_when_the_process_holding_it_is_killed(virtual_lab):
    """SIGKILL cannot be caught: the armed watchdog switches the output off by itself."""
    holder = spawn([sys.executable, "-c", HOLDER, virtual_lab.supply_resource], stdout=subprocess.PIPE,
                   stderr=subprocess.DEVNULL, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        m, out = wait_for_line(holder, "OUTPUT ON", PATIENCE_S)
        assert m, out
        assert virtual_lab.rail() == (pytest.approx(0.8), True)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        stop_process(holder)
    assert eventually(lambda: virtual_lab.rail() == (0.0, False)), virtual_lab.rail()
    assert int(raw(virtual_lab.supply_resource, "STAT:QUES:COND? (@1)")) & (1 << 11)
    # the next session finds the latch, clears it with the output off, and works normally
    with open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1) as supply:
        assert supply.protection() is None and supply.output_enabled is False
        supply.volts = 0.7
        supply.output_enabled = True
        assert virtual_lab.rail() == (pytest.approx(0.7), True)
    assert virtual_lab.rail() == (0.0, False)


def test_reply_of_an_interrupted_query_is_drained_before_shutdown(virtual_lab, caplog):
    """Ctrl-C while a digitiser array is on its way: the shutdown reads that reply away first,
    then switches off and reads OFF back; one closing line, no reply quoted at length."""
    supply = open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1)
    supply.configure()
    supply.volts = 0.8
    supply.output_enabled = True
    for cmd in ("SENS:SWE:POIN 2000,(@1)", "SENS:SWE:TINT 0.0005,(@1)", "TRIG:ACQ:SOUR BUS,(@1)", "INIT:ACQ (@1)",
                "*TRG"):
        supply.write(cmd)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            supply.query("FETC:ARR:CURR? (@1)")   # the capture lasts 1 s
    finally:
        timer.cancel()
    with caplog.at_level(logging.DEBUG):
        supply.close()
    closing = [r.getMessage() for r in caplog.records if r.name == "drivers.supplies.closing"]
    assert closing == [f"supply {virtual_lab.supply_resource} channel 1: output OFF (read back)"]
    assert all(len(r.getMessage()) < 300 for r in caplog.records), [r.getMessage()[:100] for r in caplog.records]
    assert virtual_lab.rail() == (0.0, False)


def test_a_late_reply_never_answers_the_next_query(virtual_lab):
    """A query that timed out gets its reply later; the next query must read its own."""
    with open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1, timeout_ms=500) as supply:
        supply.volts = 0.7
        os.kill(virtual_lab._supply.pid, signal.SIGSTOP)   # the instrument is busy for a while
        try:
            with pytest.raises(SupplyError, match="no answer"):
                supply.query("*IDN?")
        finally:
            os.kill(virtual_lab._supply.pid, signal.SIGCONT)
        assert supply.volts == pytest.approx(0.7)   # not "Keysight Technologies,N6705C,..."


def test_an_error_inside_an_energy_capture_is_not_masked_by_the_capture(virtual_lab):
    """A board lost mid-capture outlasts the capture window too: the caller must see the lost
    board, not an energy-window overrun (which would make it redo the work)."""
    class Lost(Exception):
        pass

    with open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1) as supply:
        with pytest.raises(Lost):
            with supply.energy(0.01):
                time.sleep(0.2)   # the capture is over long before
                raise Lost


def test_closing_line_is_loud_when_the_output_cannot_be_read_back(virtual_lab, caplog):
    supply = open_supply(virtual_lab.supply_resource, vmax=1.0, imax=0.1, timeout_ms=500)
    supply.configure()
    supply.volts = 0.8
    supply.output_enabled = True
    os.kill(virtual_lab._supply.pid, signal.SIGSTOP)   # the instrument stops answering
    try:
        with caplog.at_level(logging.INFO):
            supply.close()
    finally:
        os.kill(virtual_lab._supply.pid, signal.SIGCONT)
    closing = [r for r in caplog.records if r.name == "drivers.supplies.closing"]
    assert len(closing) == 1 and closing[0].levelno == logging.ERROR
    assert "could NOT verify that the output is off" in closing[0].getMessage()
    assert "output watchdog switches it off 10 s after the last I/O" in closing[0].getMessage()
