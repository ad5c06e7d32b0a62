"""Rigol DP800 series (DP831/DP832): ``:SOURn:`` and ``CHn`` addressing [HARDWARE 5]."""

from __future__ import annotations

from drivers.supplies.base import ON_OFF, Control, ScpiSupply


class RigolDP800(ScpiSupply):
    """Energy by current polling (``:MEAS:CURR?``); OVP needs enabling besides its level."""

    MODELS = (r"DP8\d\dA?",)
    CHANNELS = (1, 2, 3)
    voltage = Control("voltage", ":SOUR{ch}:VOLT {value}", ":SOUR{ch}:VOLT?", 0.0, 32.0)
    current = Control("current limit", ":SOUR{ch}:CURR {value}", ":SOUR{ch}:CURR?", 0.0, 3.2)
    ovp = Control("OVP", ":OUTP:OVP:VAL CH{ch},{value}", ":OUTP:OVP:VAL? CH{ch}", 0.01, 33.0)
    output = Control("output", ":OUTP CH{ch},{value}", ":OUTP? CH{ch}", map_values=ON_OFF)
    measure_voltage_cmd = ":MEAS:VOLT? CH{ch}"
    measure_current_cmd = ":MEAS:CURR? CH{ch}"
    error_query = ":SYST:ERR?"
    tripped_query = ":OUTP:OVP:QUES? CH{ch}"
    tripped_values = ("YES",)
    clear_trip_cmd = ":OUTP:OVP:CLEAR CH{ch}"
    energy_method = "polling"
    SPEC = "dp832"

    def configure(self) -> None:
        super().configure()
        self.write(f":OUTP:OVP CH{self.channel},ON")
        self.check_errors("enable OVP")
