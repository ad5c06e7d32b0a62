"""What the streaming energy meters (PPK2, Joulescope) share: their raw samples
(:class:`Samples`), the configure-on-enter context, and the energy-capture interface of
``drivers/energy/meter.py`` over a stream (:class:`StreamMeter`).

A stream has no fixed record: :meth:`StreamMeter.capture` starts taking samples on entry, lets
the body run, holds the window open until ``window_s`` has passed since entry, then stops; the
capture's ``duration_s`` is the time its samples cover (a start/stop window: the method scales
the baseline by the ratio of the two durations). A window that holds no sample, or lost any
on the way, is a :class:`~drivers.energy.meter.CaptureOverrun` (the method captures the pair
again): the energy of a lost sample is unknown, and the work of a window comes in bursts that
the window's mean would miss [choice]. Raw samples (:meth:`StreamMeter.record`) count lost ones
at the mean of the others.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from drivers.closing import ConfiguredOnEnter
from drivers.energy.meter import Capture, CaptureBox, CaptureOverrun

MAX_WINDOW_S = 10.0     # longer windows make a capture pair slower than the run it serves [choice]


@dataclass
class Samples:
    """Samples of one stream: amperes, the voltage (per sample, or one value for the whole
    stream: a PPK2 does not measure it), the sample rate and the samples lost on the way
    (``missing``: never received; NaN values: received empty)."""

    current_a: np.ndarray
    volts: np.ndarray | float | None
    sample_rate_hz: float
    missing: int = 0
    range: np.ndarray | None = None     # the instrument's current range per sample
    logic: np.ndarray | None = None     # digital inputs per sample

    @property
    def duration_s(self) -> float:
        return (len(self.current_a) + self.missing) / self.sample_rate_hz

    def lost(self) -> int:
        """Samples missing or NaN."""
        return self.missing + int((~np.isfinite(np.asarray(self.current_a, dtype=np.float64))).sum())

    def _sum(self, values: np.ndarray) -> float:
        """Sum over the stream, lost (missing or NaN) samples counted at the mean of the others."""
        values = np.asarray(values, dtype=np.float64)
        good = np.isfinite(values)
        n_good = int(good.sum())
        if not n_good:
            return 0.0 if not len(values) and not self.missing else float("nan")
        return float(values[good].sum() * (len(values) + self.missing) / n_good)

    def charge_c(self) -> float:
        return self._sum(self.current_a) / self.sample_rate_hz

    def energy_j(self) -> float:
        """``sum(V_k I_k) / rate``; NaN when the voltage is unknown."""
        if self.volts is None:
            return float("nan")
        return self._sum(self.current_a * np.asarray(self.volts, dtype=np.float64)) / self.sample_rate_hz

    def capture(self, name: str) -> Capture:
        """The window as the energy method takes it; :class:`CaptureOverrun` when it holds no
        sample or lost any (module docstring)."""
        n = len(self.current_a) + self.missing
        if n == 0 or self.lost():
            raise CaptureOverrun(f"{name}: {self.lost()} of {n} samples lost in the window")
        volts = np.asarray(self.volts, dtype=np.float64)
        return Capture(self.energy_j(), self.duration_s, False, float(np.nanmean(volts)),
                       np.asarray(self.current_a, dtype=np.float64), volts if volts.ndim else None,
                       1.0 / self.sample_rate_hz)


class StreamMeter(ConfiguredOnEnter):
    """The :class:`~drivers.energy.meter.EnergyMeter` members a streaming meter shares; a driver
    provides ``name``, ``_begin()`` (start taking samples; returns a token), ``_end(token,
    elapsed_s)`` (the samples since ``_begin``, ``elapsed_s`` of host time after it),
    ``_abort(token)``, ``window_noise`` and ``gain_accuracy``."""

    method = "stream"
    max_window_s = MAX_WINDOW_S
    name: str
    last_samples: Samples | None = None

    def _begin(self) -> Any:
        raise NotImplementedError

    def _end(self, token: Any, elapsed_s: float) -> Samples:
        raise NotImplementedError

    def _abort(self, token: Any) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def capture(self, window_s: float) -> Iterator[CaptureBox]:
        """The energy-capture interface (module docstring); the raw samples stay in
        :attr:`last_samples`."""
        box = CaptureBox()
        token = self._begin()
        t0 = time.monotonic()
        try:
            yield box
            time.sleep(max(0.0, window_s - (time.monotonic() - t0)))
        except BaseException:
            with contextlib.suppress(Exception):  # the body's error is the one to see
                self._abort(token)
            raise
        self.last_samples = self._end(token, time.monotonic() - t0)
        box.capture = self.last_samples.capture(self.name)

    def record(self, seconds: float) -> Samples:
        """Raw samples streamed for ``seconds``."""
        token = self._begin()
        t0 = time.monotonic()
        time.sleep(seconds)
        return self._end(token, time.monotonic() - t0)
