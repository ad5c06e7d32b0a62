"""How the simulated supply measures: the figures of its model file (drivers/supplies/spec.py).

One :class:`Instrument` per simulator, seeded by the model file's ``lab.seed``:

* this unit's errors, drawn once within the datasheet's accuracy: per current range a gain
  error uniform in ``[-gain, gain]`` and an offset uniform in ``[-offset, offset]``; the
  same for the voltage readback [choice: a unit somewhere inside its specification];
* every reading: the true mean over its averaging time, on the lowest current range holding
  it (seamless ranging), times ``1 + gain error``, plus the offset, plus Gaussian noise of the
  RMS the file gives for that averaging time, rounded to the range's resolution;
* the latency of starting and stopping a capture, uniform in ``[0, start_s)`` and
  ``[0, stop_s)``.

``ideal=True`` measures exactly: no errors, no noise, no rounding, no latency.
"""

from __future__ import annotations

import numpy as np

from drivers.supplies.spec import SupplySpec


class Instrument:
    def __init__(self, spec: SupplySpec, ideal: bool = False, seed: int | None = None):
        self.spec, self.ideal = spec, ideal
        self.rng = np.random.default_rng(spec.lab.get("seed", 0) if seed is None else seed)
        draw = (lambda bound: 0.0) if ideal else (lambda bound: float(self.rng.uniform(-bound, bound)))
        self._current_errors = [(draw(r.gain), draw(r.offset)) for r in spec.current]
        self._voltage_error = (draw(spec.voltage.gain), draw(spec.voltage.offset))

    def currents(self, true_amps, interval_s: float) -> np.ndarray:
        """Readings of currents averaged over ``interval_s`` each (module docstring)."""
        true_amps = np.atleast_1d(np.asarray(true_amps, dtype=np.float64))
        if self.ideal:
            return true_amps.copy()
        limits = np.array([r.span for r in self.spec.current])
        which = np.minimum(np.searchsorted(limits, np.abs(true_amps), side="left"), len(limits) - 1)
        out = np.empty_like(true_amps)
        for k, (r, (gain, offset)) in enumerate(zip(self.spec.current, self._current_errors)):
            on = which == k
            if on.any():
                x = true_amps[on] * (1 + gain) + offset + self.rng.normal(0.0, r.noise_at(interval_s), int(on.sum()))
                out[on] = np.round(x / r.resolution) * r.resolution
        return out

    def voltages(self, true_volts, interval_s: float) -> np.ndarray:
        true_volts = np.atleast_1d(np.asarray(true_volts, dtype=np.float64))
        if self.ideal:
            return true_volts.copy()
        v = self.spec.voltage
        gain, offset = self._voltage_error
        x = np.where(true_volts > 0, true_volts * (1 + gain) + offset, 0.0)
        x = x + self.rng.normal(0.0, v.noise_at(interval_s), len(true_volts))
        return np.round(x / v.resolution) * v.resolution

    def start_delay(self) -> float:
        return 0.0 if self.ideal else float(self.rng.uniform(0.0, self.spec.start_latency_s))

    def stop_delay(self) -> float:
        return 0.0 if self.ideal else float(self.rng.uniform(0.0, self.spec.stop_latency_s))

    def energy_reading(self, joules: float) -> float:
        """An energy meter's reply, rounded to its digit."""
        res = self.spec.meter_resolution_j
        return joules if self.ideal or not res else float(np.round(joules / res) * res)
