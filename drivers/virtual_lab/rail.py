"""The memory rail's true energy and charge over time, as the supply simulator integrates them.

Two parts (docs/VIRTUAL_LAB.md "Energy and current"):

* access energy: ``32 * (reads E_read(V) + writes E_write(V))`` per batch of counted words,
  spread evenly from the simulator's previous look at the counters to the firmware's latest
  access in the batch (the accesses happened in between; a simulator delayed by a busy machine
  never moves energy past the latest access, so out of the window it belongs to);
* static segments: from each rail change on, a constant static current (``Chip.static_current``:
  leakage, and the core when it shares the rail) at the rail voltage.

Cumulative charge and energy (piecewise linear in time) are evaluated at arrays of times (a
digitiser's sample edges).
"""

from __future__ import annotations

import bisect

import numpy as np

HISTORY_S = 120.0   # access steps older than this are dropped (queries reach back a few seconds)


class Rail:
    """Cumulative energy (J) and charge (C) of the rail as functions of time (time.monotonic)."""

    def __init__(self, t0: float):
        self._times: list[float] = [t0]
        self._energy: list[float] = [0.0]
        self._charge: list[float] = [0.0]
        # static segments: start time, current, power, and the cumulative charge/energy at the start
        self._seg_t = [t0]
        self._seg_i = [0.0]
        self._seg_p = [0.0]
        self._seg_q = [0.0]
        self._seg_e = [0.0]

    def add_access(self, t0: float, t1: float, energy: float, charge: float) -> None:
        """``energy`` and ``charge`` spread evenly over ``[t0, t1]``."""
        t1 = max(t1, self._times[-1])
        t0 = min(max(t0, self._times[-1]), t1)
        if t0 > self._times[-1]:
            self._times.append(t0)
            self._energy.append(self._energy[-1])
            self._charge.append(self._charge[-1])
        self._times.append(t1 if t1 > t0 else t1 + 1e-9)
        self._energy.append(self._energy[-1] + energy)
        self._charge.append(self._charge[-1] + charge)
        cut = bisect.bisect_left(self._times, t1 - HISTORY_S)
        if cut > 1000:
            del self._times[:cut], self._energy[:cut], self._charge[:cut]

    def set_static(self, t: float, amps: float, volts: float) -> None:
        """From ``t`` on the rail draws ``amps`` at ``volts`` besides the accesses."""
        t = max(t, self._seg_t[-1])
        dt = t - self._seg_t[-1]
        self._seg_q.append(self._seg_q[-1] + self._seg_i[-1] * dt)
        self._seg_e.append(self._seg_e[-1] + self._seg_p[-1] * dt)
        self._seg_t.append(t)
        self._seg_i.append(amps)
        self._seg_p.append(amps * volts)

    def _static(self, ts: np.ndarray, rate: list, cum: list) -> np.ndarray:
        j = np.searchsorted(self._seg_t, ts, side="right") - 1
        j = np.maximum(j, 0)
        return np.asarray(cum)[j] + np.asarray(rate)[j] * np.maximum(ts - np.asarray(self._seg_t)[j], 0.0)

    def _access(self, ts: np.ndarray, cum: list) -> np.ndarray:
        return np.interp(ts, self._times, cum, left=0.0)

    def charge_at(self, ts) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.float64)
        return self._access(ts, self._charge) + self._static(ts, self._seg_i, self._seg_q)

    def energy_at(self, ts) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.float64)
        return self._access(ts, self._energy) + self._static(ts, self._seg_p, self._seg_e)

    def access_energy(self, t0: float, t1: float) -> float:
        """The accesses' energy alone between ``t0`` and ``t1`` (the truth tests compare with)."""
        a = self._access(np.array([t0, t1]), self._energy)
        return float(a[1] - a[0])
