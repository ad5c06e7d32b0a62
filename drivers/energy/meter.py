"""The energy-capture interface: what an instrument provides to the measurement method.

An :class:`EnergyMeter` is anything that can measure the energy its rail delivers during one
window and say what it can resolve. The method (``drivers/energy/method.py``) needs exactly:

* ``name`` (instrument and channel, for the report) and ``method`` (how it measures:
  ``"array"`` digitised samples, ``"meter"`` an integrating energy meter, ``"polling"`` spot
  readings; a new instrument may name its own);
* ``capture(window_s)``: a context manager. On entry the capture is running (any start latency
  already waited out); the body runs the work; on exit the capture ends after at least
  ``window_s`` (a fixed record of that length, or a start/stop meter held open until then), so
  that a work window and its baseline window are equally long; the yielded
  :class:`CaptureBox` holds a :class:`Capture`. If the body outlasted a fixed record, or the
  window held no reading, it raises :class:`CaptureOverrun` instead (the method lengthens the
  window and captures again);
* ``window_noise(window_s, volts, amps)``: a ``WindowNoise(sigma_j, resolution_j)``: the RMS
  energy the instrument's own noise adds to one window of that length at that rail voltage and
  current, and the step below which it sees nothing (readings that do not dither, an energy
  reading's digit; 0 if none);
* ``gain_accuracy(volts)``: a bound on the relative error of an energy (gain errors);
* ``max_window_s``: the longest window it can capture.

A capture reports its energy and, when the instrument gives them, the raw samples (currents,
voltages, their interval or times), which the method keeps in the run directory
(``docs/ENERGY_CAPTURES.md``). :class:`SupplyMeter` adapts a VISA supply
(``drivers/supplies``: digitiser, energy meter or current polling) to this interface; a
standalone meter (a power profiler streaming samples, an integrating meter) implements the
same five members.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np

from drivers.supplies.base import EnergyWindowError, ScpiSupply
from drivers.supplies.spec import WindowNoise


class CaptureOverrun(Exception):
    """The work outlasted a fixed-length capture; its energy is incomplete."""


@dataclass(frozen=True)
class Capture:
    """One window's energy and the raw readings behind it."""

    energy_j: float
    duration_s: float            # the window the energy covers (a fixed record's length, else start to stop)
    fixed_length: bool           # True: a fixed record, the same length for every capture of one window
    volts: float                 # mean rail voltage read during the window
    currents: np.ndarray | None = None   # raw current samples or readings (A)
    voltages: np.ndarray | None = None   # raw voltage samples or readings (V)
    interval_s: float | None = None      # sample interval of regular samples
    times: np.ndarray | None = None      # times of irregular readings, s from the window's start


class CaptureBox:
    """What ``capture()`` yields; ``capture`` is set when the block ends."""

    capture: Capture | None = None


class EnergyMeter(Protocol):
    name: str
    method: str
    max_window_s: float

    def capture(self, window_s: float) -> contextlib.AbstractContextManager[CaptureBox]: ...

    def window_noise(self, window_s: float, volts: float, amps: float) -> WindowNoise: ...

    def gain_accuracy(self, volts: float) -> float: ...


class SupplyMeter:
    """A VISA supply's energy measurement (``ScpiSupply.energy``) as an :class:`EnergyMeter`;
    its figures come from the supply's model file (``supply.spec``)."""

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
