"""Rohde & Schwarz HMC804x / NGx: selected channel (``INST:NSEL``), energy meter [HARDWARE 5]."""

from __future__ import annotations

import time

from drivers.supplies.base import ON_OFF, Control, EnergyReading, ScpiSupply


class RohdeHMC804x(ScpiSupply):
    """Every channel command follows ``INST:NSEL n``; the output needs ``OUTP:GEN ON`` too.

    Energy by the built-in meter: ``MEAS:ENER:STAT ON``, ``MEAS:ENER:RES``, then (after the
    model's start latency) the work, then ``MEAS:ENER?``: the energy from the reset to the reading.
    """

    MODELS = (r"HMC804\d", r"NG[A-Z]\d+\w*")
    CHANNELS = (1, 2, 3)
    select_channel = "INST:NSEL {ch}"
    voltage = Control("voltage", "VOLT {value}", "VOLT?", 0.0, 32.05)
    current = Control("current limit", "CURR {value}", "CURR?", 0.0, 3.0)
    ovp = Control("OVP", "VOLT:PROT {value}", "VOLT:PROT?", 0.0, 33.0)
    output = Control("output", "OUTP:SEL {value}", "OUTP:SEL?", map_values=ON_OFF)
    output_master_on = "OUTP:GEN ON"
    measure_voltage_cmd = "MEAS:VOLT?"
    measure_current_cmd = "MEAS:CURR?"
    tripped_query = "VOLT:PROT:TRIP?"
    clear_trip_cmd = "VOLT:PROT:CLE"
    energy_method = "meter"
    SPEC = "hmc8043"

    def _start_meter(self, window_s: float):
        self.write_checked([self.select_channel.format(ch=self.channel), "MEAS:ENER:STAT ON", "MEAS:ENER:RES"],
                           "energy meter start")
        time.sleep(self.spec.start_latency_s)  # metering has started before the caller's work does

    def _stop_meter(self, token, elapsed: float) -> EnergyReading:
        joules = float(self.query_channel("MEAS:ENER?"))
        self.write_channel("MEAS:ENER:STAT OFF")
        return EnergyReading(joules, "meter", elapsed, None, 1, volts=self.measure_voltage())
