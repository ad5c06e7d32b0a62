"""A VISA supply of ``drivers/supplies`` as an :class:`~drivers.energy.meter.EnergyMeter`:
its digitiser, energy meter or current polling (``ScpiSupply.energy``), with the figures of its
model file (``supply.spec``, drivers/supplies/models/)."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Iterator

import numpy as np

from drivers.energy.meter import Capture, CaptureBox, CaptureOverrun, WindowNoise
from drivers.supplies.base import EnergyWindowError, ScpiSupply


class SupplyMeter:
    """A VISA supply's energy measurement as an energy meter (module docstring)."""

    max_window_s = 10.0  # [choice] longer windows make a capture pair slower than the run it serves
    MIN_READINGS = 4     # a polled or metered window holds at least this many readings [choice]

    def __init__(self, supply: ScpiSupply):
        self.supply = supply
        self.spec = supply.spec
        self.name = f"{self.spec.model} ({supply.resource_name}, channel {supply.channel})"
        self.method = supply.energy_method
        per_reading = {"polling": 2 * self.spec.readback_s + supply.poll_interval_s,
                       "meter": self.spec.meter_update_s}.get(self.method, 0.0)
        self.min_window_s = self.MIN_READINGS * per_reading

    @contextlib.contextmanager
    def capture(self, window_s: float) -> Iterator[CaptureBox]:
        box = CaptureBox()
        window_s = max(window_s, self.min_window_s)
        try:  # the driver waits out the start latency inside the record: the body still gets window_s
            with self.supply.energy(window_s + self.spec.start_latency_s) as result:
                t0 = time.monotonic()
                yield box
                if self.method != "array":   # a start/stop window as long as a fixed record would be
                    time.sleep(max(0.0, window_s - (time.monotonic() - t0)))
        except EnergyWindowError as exc:
            raise CaptureOverrun(str(exc)) from None
        r = result.reading
        if not math.isfinite(r.joules):
            raise CaptureOverrun(f"{self.name}: no reading within the {window_s:.3f} s window")
        box.capture = Capture(r.joules, r.duration_s, r.fixed_length, r.volts,
                              np.asarray(r.currents, dtype=np.float64) if r.currents else None,
                              np.asarray(r.voltages, dtype=np.float64) if r.voltages else None,
                              r.interval_s, np.asarray(r.times, dtype=np.float64) if r.times else None)

    def window_noise(self, window_s: float, volts: float, amps: float) -> WindowNoise:
        return self.spec.window_noise(window_s, volts, amps)

    def gain_accuracy(self, volts: float) -> float:
        return self.spec.gain_accuracy(volts)
