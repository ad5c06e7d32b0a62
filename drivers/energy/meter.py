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
(``docs/ENERGY_CAPTURES.md``). ``drivers/energy/supply_meter.py`` adapts a VISA supply
(``drivers/supplies``: digitiser, energy meter or current polling) to this interface; a
standalone meter (a power profiler streaming samples, an integrating meter) implements the
same members.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class CaptureOverrun(Exception):
    """The work outlasted a fixed-length capture; its energy is incomplete."""


@dataclass(frozen=True)
class WindowNoise:
    """What one capture window of an instrument can resolve, in joules.

    ``sigma_j``: the RMS of the energy the instrument's own noise adds to a window;
    ``resolution_j``: a systematic step it cannot see below (readings that do not dither
    because their noise is under one digit, or an energy reading's own digit); 0 if none.
    """

    sigma_j: float
    resolution_j: float


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
