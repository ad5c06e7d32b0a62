"""A raw capture of an energy meter (PPK2, Joulescope) and the energy reading it gives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.supplies.base import EnergyReading


@dataclass
class Capture:
    """Samples of one stream: amperes, the voltage (per sample, or one value for the whole
    capture: a PPK2 does not measure it), the sample rate and the samples lost on the way."""

    current_a: np.ndarray
    volts: np.ndarray | float | None
    sample_rate_hz: float
    missing: int = 0
    range: np.ndarray | None = None     # the instrument's current range per sample
    logic: np.ndarray | None = None     # digital inputs per sample

    @property
    def duration_s(self) -> float:
        return (len(self.current_a) + self.missing) / self.sample_rate_hz

    def _sum(self, values: np.ndarray) -> float:
        """Sum over the capture, lost (missing or NaN) samples counted at the mean of the others."""
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

    def reading(self) -> EnergyReading:
        return EnergyReading(self.energy_j(), "stream", self.duration_s, None, len(self.current_a))


class ConfiguredOnEnter:
    """A meter as a context manager: ``configure()`` on entry (closed again if that fails),
    ``close()`` (which shuts it down first) on every exit."""

    def configure(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self.configure()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()
