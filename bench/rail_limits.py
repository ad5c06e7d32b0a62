"""The memory rail's voltage limits, checked before a supply is opened.

A chip file (``nominal_v``, ``abs_max_v``: docs/VIRTUAL_LAB.md) or a profile
(``nominal_voltage`` or its highest operating-point voltage, ``absolute_max_voltage``:
profiles/README.md) states them. A ``vmax`` above a stated absolute maximum is refused; one
more than :data:`FAR_ABOVE_NOMINAL` times the nominal voltage is allowed with a warning; where
no absolute maximum is stated, the warning says so (the supply's own range is then the only
bound). The supply drivers then keep every setpoint, as sent, at or below that vmax.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError, user_errors
from drivers.virtual_lab.physics import Chip
from models.profile import Profile

log = logging.getLogger(__name__)
#: vmax above this multiple of the nominal voltage gets a warning [choice: 1.25, just above the
#: 1.2 x nominal that ``bench run`` uses by default].
FAR_ABOVE_NOMINAL = 1.25


@dataclass(frozen=True)
class RailLimits:
    """Nominal voltage and absolute maximum of a memory's rail, and who states them."""

    nominal: float | None = None
    abs_max: float | None = None
    source: str = "nothing"

    @classmethod
    def of_chip(cls, path: str | Path) -> "RailLimits":
        with user_errors(ValueError):
            chip = Chip.load(path)
        return cls(chip.nominal_v, chip.abs_max_v, f"chip file {path}")

    @classmethod
    def of_profile(cls, profile: Profile) -> "RailLimits":
        return cls(profile.nominal_volts, profile.absolute_max_volts, f"profile {profile.path}")

    def tightest(self, other: "RailLimits") -> "RailLimits":
        """Both sets of limits at once: the lower absolute maximum, this nominal (else the other's)."""
        stated = [x for x in (self, other) if x.abs_max is not None]
        bound = min(stated, key=lambda x: x.abs_max) if stated else None
        return RailLimits(self.nominal if self.nominal is not None else other.nominal,
                          bound.abs_max if bound else None, bound.source if bound else self.source)


def check_vmax(vmax: float, limits: RailLimits, option: str = "--vmax") -> None:
    """Refuse ``vmax`` above the absolute maximum (one :class:`BenchError` line naming
    ``option``); warn when it is far above nominal or no absolute maximum is known."""
    if limits.abs_max is not None and vmax > limits.abs_max:
        raise BenchError(f"{option} {vmax:g} V: above the absolute maximum {limits.abs_max:g} V that the "
                         f"{limits.source} states for the memory's supply; refused before anything was sent")
    if limits.nominal is not None and vmax > FAR_ABOVE_NOMINAL * limits.nominal:
        log.warning("%s %g V is %.2g x the nominal %g V (%s): check that this is meant", option, vmax,
                    vmax / limits.nominal, limits.nominal, limits.source)
    if limits.abs_max is None:
        log.warning("%s %g V: no absolute maximum voltage is known for the memory (%s states none); only the "
                    "supply's range bounds it", option, vmax, limits.source)
