"""Protocol tests of the supply drivers through pyvisa + pyvisa-sim (tests/drivers/supply_sim/instruments.yaml)."""

import dataclasses
from pathlib import Path

import pytest

pyvisa = pytest.importorskip("pyvisa")
pytest.importorskip("pyvisa_sim")

from drivers.supplies import (KeysightE36300, KeysightN6705C, RigolDP800, RohdeHMC804x, SafetyLimitError,
                              SupplyError, driver_for, open_supply)

YAML = Path(__file__).parent / "supply_sim" / "instruments.yaml"
INSTRUMENTS = {
    "TCPIP0::192.168.0.50::5025::SOCKET": KeysightE36300,
    "TCPIP0::192.168.0.51::5025::SOCKET": KeysightN6705C,
    "TCPIP0::192.168.0.52::5555::SOCKET": RigolDP800,
    "ASRL7::INSTR": RohdeHMC804x,
}


@pytest.fixture
def rm():
    manager = pyvisa.ResourceManager(f"{YAML}@sim")
    yield manager
    manager.close()


def raw(rm, resource, cmd):
    """Ask the simulated instrument directly (what the front panel would show)."""
    r = rm.open_resource(resource, read_termination="\n", write_termination="\n")
    try:
        return r.query(cmd).strip()
    finally:
        r.close()


def output_query(cls) -> str:
    return cls.output.get.format(ch=1)  # the simulated HMC has channel 1 selected


@pytest.mark.parametrize("resource,cls", INSTRUMENTS.items())
def test_driver_chosen_by_idn_sets_up_safely_and_shuts_down(rm, resource, cls):
    supply = open_supply(resource, resource_manager=rm, channel=1, vmax=1.2, imax=0.05)
    assert type(supply) is cls
    with supply:
        assert supply.output_enabled is False  # configure(): output off first
        assert supply.current_limit == pytest.approx(0.05)
        supply.volts = 0.8
        supply.output_enabled = True
        assert supply.volts == pytest.approx(0.8)
        assert supply.output_enabled is True
        assert supply.measure_voltage() == pytest.approx(0.8)
    assert raw(rm, resource, output_query(cls)) == "OFF"
    assert supply.shutdown is not None and supply._res is None  # closed


@pytest.mark.parametrize("resource,cls", INSTRUMENTS.items())
def test_ovp_programmed_at_vmax(rm, resource, cls):
    with open_supply(resource, resource_manager=rm, vmax=1.2, imax=0.05) as supply:
        assert supply._get(supply.ovp) == pytest.approx(1.2)


def test_request_above_vmax_is_refused_before_anything_is_sent(rm):
    resource = "TCPIP0::192.168.0.50::5025::SOCKET"
    with open_supply(resource, resource_manager=rm, vmax=1.2, imax=0.05) as supply:
        supply.volts = 0.9
        sent = []
        original = supply._res.write
        supply._res.write = lambda cmd: sent.append(cmd) or original(cmd)
        with pytest.raises(SafetyLimitError, match="vmax=1.2"):
            supply.volts = 1.5
        with pytest.raises(SafetyLimitError, match="imax=0.05"):
            supply.current_limit = 0.5
        assert sent == []
        assert supply.volts == pytest.approx(0.9)


def test_refused_setpoint_raises_with_the_scpi_error(rm):
    # the simulated E36312A channel 1 stops at 6.18 V; the driver's family range allows 25 V
    with open_supply("TCPIP0::192.168.0.50::5025::SOCKET", resource_manager=rm, vmax=6.5, imax=0.05) as supply:
        with pytest.raises(SupplyError, match="SCPI error -113") as err:
            supply.volts = 6.3
        assert err.value.code == -113
    assert raw(rm, "TCPIP0::192.168.0.50::5025::SOCKET", "OUTP? (@1)") == "OFF"


def test_constructor_refuses_unsafe_configuration(rm):
    resource = "TCPIP0::192.168.0.51::5025::SOCKET"
    with pytest.raises(SafetyLimitError, match="OVP must be at or below vmax"):
        KeysightN6705C(resource, resource_manager=rm, vmax=1.0, imax=0.1, ovp=1.5)
    with pytest.raises(SupplyError, match="channel 5"):
        KeysightN6705C(resource, resource_manager=rm, channel=5, vmax=1.0, imax=0.1)
    with pytest.raises(SafetyLimitError, match="vmax=40"):
        KeysightN6705C(resource, resource_manager=rm, vmax=40.0, imax=0.1)


def test_unknown_model_is_named():
    with pytest.raises(SupplyError, match="'XYZ9000'"):
        driver_for("ACME,XYZ9000,1,1")
    assert driver_for("Rohde&Schwarz,NGE103B,1,1") is RohdeHMC804x


def test_energy_by_digitiser_arrays(rm):
    with open_supply("TCPIP0::192.168.0.51::5025::SOCKET", resource_manager=rm, vmax=1.2, imax=0.05) as supply:
        supply.spec = dataclasses.replace(supply.spec, points=4)  # a 4-sample record: TINT 10 ms
        with supply.energy(0.04) as e:
            pass
    assert e.method == "array" and e.samples == 4 and e.fixed_length and e.duration_s == pytest.approx(0.04)
    assert e.joules == pytest.approx(0.01 * 0.8 * (1 + 2 + 3 + 4) * 1e-3)  # TINT * sum(V I)
    assert e.currents == pytest.approx((1e-3, 2e-3, 3e-3, 4e-3)) and e.interval_s == 0.01 and e.volts == 0.8


def test_energy_by_meter(rm):
    with open_supply("ASRL7::INSTR", resource_manager=rm, vmax=1.2, imax=0.05) as supply:
        with supply.energy(0.01) as e:
            pass
    assert (e.method, e.joules, e.fixed_length) == ("meter", pytest.approx(1.25e-3), False)


@pytest.mark.parametrize("resource", ["TCPIP0::192.168.0.50::5025::SOCKET", "TCPIP0::192.168.0.52::5555::SOCKET"])
def test_energy_by_current_polling_with_bound(rm, resource):
    with open_supply(resource, resource_manager=rm, vmax=1.2, imax=0.05) as supply:
        supply.poll_interval_s = 0.01
        with supply.energy(0.1) as e:
            import time
            time.sleep(0.1)
    assert e.method == "polling" and e.samples >= 2
    # constant 0.8 V * 12 mA: the trapezoid is exact; the bound covers the unsampled ends
    assert abs(e.joules - 0.8 * 0.012 * e.duration_s) <= e.error_bound_j + 1e-12
    assert e.error_bound_j <= 0.8 * 0.012 * e.duration_s
    assert len(e.currents) == len(e.times) == e.samples and not e.fixed_length   # the raw readings


class Recorder:
    """Wraps a pyvisa resource and logs every exchange as (sent, reply or None)."""

    def __init__(self, res):
        self._res, self.log = res, []

    def write(self, cmd):
        self.log.append((cmd, None))
        return self._res.write(cmd)

    def query(self, cmd):
        reply = self._res.query(cmd).strip()
        self.log.append((cmd, reply))
        return reply

    def __getattr__(self, name):
        return getattr(self._res, name)


EXPECTED_SETPOINT = {  # supply.volts = 0.8: setpoint, error queue, protection state
    "TCPIP0::192.168.0.50::5025::SOCKET": [("VOLT 0.8,(@1)", None), ("SYST:ERR?", '+0,"No error"'),
                                           ("VOLT:PROT:TRIP? (@1)", "0")],
    "TCPIP0::192.168.0.51::5025::SOCKET": [("VOLT 0.8,(@1)", None), ("SYST:ERR?", '+0,"No error"'),
                                           ("STAT:QUES:COND? (@1)", "+0")],
    "TCPIP0::192.168.0.52::5555::SOCKET": [(":SOUR1:VOLT 0.8", None), (":SYST:ERR?", '0,"No error"'),
                                           (":OUTP:OVP:QUES? CH1", "NO")],
    "ASRL7::INSTR": [("INST:NSEL 1", None), ("VOLT 0.8", None), ("SYST:ERR?", '0,"No error"'),
                     ("INST:NSEL 1", None), ("VOLT:PROT:TRIP?", "0")],
}
EXPECTED_SHUTDOWN = {  # output off, safe setpoint, read back
    "TCPIP0::192.168.0.50::5025::SOCKET": [("OUTP OFF,(@1)", None), ("VOLT 0,(@1)", None), ("OUTP? (@1)", "OFF")],
    "TCPIP0::192.168.0.51::5025::SOCKET": [("OUTP OFF,(@1)", None), ("VOLT 0,(@1)", None), ("OUTP? (@1)", "OFF")],
    "TCPIP0::192.168.0.52::5555::SOCKET": [(":OUTP CH1,OFF", None), (":SOUR1:VOLT 0", None), (":OUTP? CH1", "OFF")],
    "ASRL7::INSTR": [("INST:NSEL 1", None), ("OUTP:SEL OFF", None), ("INST:NSEL 1", None), ("VOLT 0", None),
                     ("INST:NSEL 1", None), ("OUTP:SEL?", "OFF")],
}


@pytest.mark.parametrize("resource", INSTRUMENTS)
def test_expected_exchanges(rm, resource):
    supply = open_supply(resource, resource_manager=rm, vmax=1.2, imax=0.05)
    with supply:
        supply._res = rec = Recorder(supply._res)
        supply.volts = 0.8
        assert rec.log == EXPECTED_SETPOINT[resource]
        rec.log.clear()
        assert supply.shutdown() is True
        assert rec.log == EXPECTED_SHUTDOWN[resource]
