"""Keysight supplies: E36300 series and N6705C mainframe with an N6781A SMU [HARDWARE 5]."""

from __future__ import annotations

import time

from drivers.supplies.base import ON_OFF, Control, EnergyReading, EnergyWindowError, ScpiSupply


class _KeysightDialect(ScpiSupply):
    """Keysight SCPI with channel lists ``(@n)``."""

    measure_voltage_cmd = "MEAS:VOLT? (@{ch})"
    measure_current_cmd = "MEAS:CURR? (@{ch})"
    output = Control("output", "OUTP {value},(@{ch})", "OUTP? (@{ch})", map_values=ON_OFF)
    clear_trip_cmd = "OUTP:PROT:CLE (@{ch})"


class KeysightE36300(_KeysightDialect):
    """E36311A/E36312A/E36313A triple outputs; energy by current polling."""

    MODELS = (r"E363\d\dA?",)
    CHANNELS = (1, 2, 3)
    voltage = Control("voltage", "VOLT {value},(@{ch})", "VOLT? (@{ch})", 0.0, 25.0)
    current = Control("current limit", "CURR {value},(@{ch})", "CURR? (@{ch})", 0.0, 2.0)
    ovp = Control("OVP", "VOLT:PROT {value},(@{ch})", "VOLT:PROT? (@{ch})", 0.0, 27.5)
    tripped_query = "VOLT:PROT:TRIP? (@{ch})"
    energy_method = "polling"
    SPEC = "e36312a"


class KeysightN6705C(_KeysightDialect):
    """N6705C with an N6781A two-quadrant SMU; energy by digitiser arrays.

    ``energy = TINT * sum_k V_k I_k`` over ``FETC:ARR:VOLT?`` / ``FETC:ARR:CURR?`` [HARDWARE 5];
    the record (``spec.sample_interval``) is fixed: it starts at ``*TRG`` (within the model's
    start latency, waited out before the work) and covers at least the window.
    Output watchdog (the N6700 family, HARDWARE 7): ``OUTP:PROT:WDOG:DEL`` 1-3600 s and
    ``OUTP:PROT:WDOG ON``; with no SCPI I/O for the delay every output latches off, the PROT bit
    (bit 11) of the questionable condition register is set, ``OUTP:PROT:CLE`` clears it.
    """

    MODELS = (r"N6705[BC]",)
    CHANNELS = (1, 2, 3, 4)
    voltage = Control("voltage", "VOLT {value},(@{ch})", "VOLT? (@{ch})", 0.0, 20.0)
    current = Control("current limit", "CURR {value},(@{ch})", "CURR? (@{ch})", 0.0, 3.0)
    ovp = Control("OVP", "VOLT:PROT {value},(@{ch})", "VOLT:PROT? (@{ch})", 0.0, 22.0)
    tripped_query = "STAT:QUES:COND? (@{ch})"
    watchdog_state_cmd = "OUTP:PROT:WDOG {value}"
    watchdog_delay_cmd = "OUTP:PROT:WDOG:DEL {value}"
    host_loss_protection = "output watchdog armed by the bench (output off watchdog_s after the last I/O, default 10 s) and OVP at vmax"
    energy_method = "array"
    SPEC = "n6705c_n6781a"
    OV_BIT, PROT_BIT = 1 << 0, 1 << 11   # questionable condition: over-voltage, watchdog protection

    def _questionable(self) -> int:
        return int(float(self.query(self.tripped_query.format(ch=self.channel))))

    def tripped(self) -> bool:
        return bool(self._questionable() & self.OV_BIT)

    def protection(self) -> str | None:
        bits = self._questionable()
        return "ovp" if bits & self.OV_BIT else "watchdog" if bits & self.PROT_BIT else None

    def _start_array(self, window_s: float):
        tint, points = self.spec.sample_interval(window_s)
        ch = self.channel
        self.write_checked([f"SENS:SWE:TINT {tint:.6g},(@{ch})", f"SENS:SWE:POIN {points},(@{ch})",
                            f"TRIG:ACQ:SOUR BUS,(@{ch})", f"INIT:ACQ (@{ch})"], "digitiser set-up")
        t_trigger = time.monotonic()
        self.query("*TRG;*OPC?")
        time.sleep(self.spec.start_latency_s)  # the record has started before the caller's work does
        return tint, points, t_trigger

    def _stop_array(self, token, elapsed: float) -> EnergyReading:
        tint, points, t_trigger = token
        record = tint * points
        late = time.monotonic() - t_trigger - record
        if late > 0:
            raise EnergyWindowError(f"energy window: the work ended {late:.3f} s after the {record:.3f} s "
                                    "capture; raise the window")
        old = self._res.timeout
        self._res.timeout = max(old, int((record + 2.0) * 1000))  # FETC waits for the capture's end
        try:
            amps = [float(x) for x in self.query(f"FETC:ARR:CURR? (@{self.channel})").split(",")]
            volts = [float(x) for x in self.query(f"FETC:ARR:VOLT? (@{self.channel})").split(",")]
        finally:
            self._res.timeout = old
        joules = tint * sum(v * i for v, i in zip(volts, amps))
        return EnergyReading(joules, "array", record, None, len(amps), True, sum(volts) / len(volts), tuple(amps),
                             tuple(volts), tint)
