"""Operating points and the eps <-> operating-point mapping.

An operating point is one setting of the memory (a supply voltage, or an RRAM programming
condition) with its measured error rates ``p01 = P(read 1 | stored 0)`` and
``p10 = P(read 0 | stored 1)``, its persistent fraction and its energy per bit.

The eps of a point is the BER of a balanced pattern, ``(p01 + p10) / 2``
(:func:`mean_ber`; the profile's ``energy_model.eps_definition: mean_ber``). A method's
per-layer eps maps to a point by :func:`choose_operating_point`: the cheapest point at least
as reliable as asked; the energy a layer then spends is that point's
(:func:`point_energy_per_bit`).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from models.energy import EnergyModel


def mean_ber(p01: float, p10: float) -> float:
    """BER of a balanced pattern (half zeros, half ones): ``(p01 + p10) / 2``."""
    return (p01 + p10) / 2


@dataclass(frozen=True)
class OperatingPoint:
    """One operating point of a profile, in SI units."""

    name: str
    ber_0to1: float
    ber_1to0: float
    persistent_fraction: float
    energy_read_per_bit: float
    voltage: float | None = None
    condition: str | None = None
    energy_write_per_bit: float | None = None
    bit_position_rates: tuple[float, ...] | None = None
    temperature: float | None = None

    @property
    def ber(self) -> float:
        """eps of this point (:func:`mean_ber`)."""
        return mean_ber(self.ber_0to1, self.ber_1to0)

    def energy(self, kind: str = "read") -> float | None:
        return self.energy_read_per_bit if kind == "read" else self.energy_write_per_bit

    def label(self) -> str:
        return f"{self.name} ({self.voltage:.3g} V)" if self.voltage is not None else self.name

    def to_dict(self) -> dict:
        """The point as a profile writes it (SI floats; absent fields left out)."""
        d = {k: v for k, v in asdict(self).items() if v is not None}
        if "bit_position_rates" in d:
            d["bit_position_rates"] = list(d["bit_position_rates"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OperatingPoint":
        rates = d.get("bit_position_rates")
        return cls(name=d["name"], ber_0to1=float(d["ber_0to1"]), ber_1to0=float(d["ber_1to0"]),
                   persistent_fraction=float(d["persistent_fraction"]),
                   energy_read_per_bit=float(d["energy_read_per_bit"]), voltage=d.get("voltage"),
                   condition=d.get("condition"), energy_write_per_bit=d.get("energy_write_per_bit"),
                   bit_position_rates=None if rates is None else tuple(float(r) for r in rates),
                   temperature=d.get("temperature", None))


@dataclass(frozen=True)
class OperatingPointChoice:
    """The operating point chosen for a target eps and what it costs.

    ``point``: the cheapest point whose BER is <= ``target_eps`` (at least as reliable as
    asked); the most reliable point when none is (``meets_target`` False). ``voltage``: the
    voltage the measured curve gives for ``target_eps`` (before quantising; None without a
    voltage axis). ``energy_per_bit``: what the memory spends at the chosen point
    (:func:`point_energy_per_bit`). ``model_energy_per_bit``: ``E(target_eps)`` of the energy
    model, when there is one.
    """

    target_eps: float | None
    point: OperatingPoint
    meets_target: bool
    voltage: float | None
    energy_per_bit: float
    model_energy_per_bit: float | None

    def to_dict(self) -> dict:
        return {"target_eps": self.target_eps, "operating_point": self.point.name, "ber": self.point.ber,
                "voltage_V": self.point.voltage, "voltage_for_target_V": self.voltage,
                "meets_target": self.meets_target, "energy_per_bit_J": self.energy_per_bit,
                "model_energy_per_bit_J": self.model_energy_per_bit}


def voltage_for_eps(points: Sequence[OperatingPoint], eps: float) -> float | None:
    """Voltage at which the measured curve reaches ``eps``: linear in ``ln(BER)`` between the
    two neighbouring points with a voltage and BER > 0 [choice: log-linear interpolation].
    ``None`` outside the measured range or without a voltage axis."""
    curve = sorted((math.log(p.ber), p.voltage) for p in points if p.voltage is not None and p.ber > 0)
    if len(curve) < 2 or eps <= 0 or not (curve[0][0] <= math.log(eps) <= curve[-1][0]):
        return None
    x = math.log(eps)
    xs = [c[0] for c in curve]
    j = min(max(bisect.bisect_left(xs, x), 1), len(curve) - 1)
    (x0, v0), (x1, v1) = curve[j - 1], curve[j]
    return v0 if x1 == x0 else v0 + (v1 - v0) * (x - x0) / (x1 - x0)


def point_energy_per_bit(point: OperatingPoint, model: EnergyModel | None, kind: str = "read") -> float:
    """Energy per bit at an operating point [choice]: the profile's measured energy of that
    point (what the memory then spends), else the fitted ``E(eps)`` (ALGORITHMS 3). The model
    alone cannot price a point whose measured BER is 0 (``E(0)`` is unbounded): it is priced
    at ``eps_ref``."""
    measured = point.energy(kind)
    if measured is not None:
        return float(measured)
    if model is None:
        raise ValueError(f"operating point {point.name}: no {kind} energy per bit and no energy_model in the profile")
    return model.bit_energy(max(point.ber, model.eps_ref))


def choose_operating_point(points: Sequence[OperatingPoint], eps: float | None, energy: EnergyModel | None = None,
                           energy_kind: str = "read") -> OperatingPointChoice:
    """Quantise a target eps to the cheapest operating point that is at least as reliable.

    ``points`` most reliable first (validated profiles are). ``eps=None`` (a layer without
    eps, e.g. a reliable network) takes the most reliable point. Reports the energy at the
    point actually chosen, which is what the memory then spends.
    """
    if not points:
        raise ValueError("a profile needs at least one operating point")
    most_reliable = min(points, key=lambda p: p.ber)
    if eps is None:
        ok, point = True, most_reliable
    else:
        fitting = [p for p in points if p.ber <= eps]
        ok = bool(fitting)
        point = min(fitting, key=lambda p: (p.energy(energy_kind) or 0.0, -p.ber)) if ok else most_reliable
    model_e = energy.bit_energy(min(eps, 1.0)) if energy is not None and eps is not None and eps > 0 else None
    return OperatingPointChoice(eps, point, ok, None if eps is None else voltage_for_eps(points, eps),
                                point_energy_per_bit(point, energy, energy_kind), model_e)


def eps_upper_bound(points: Sequence[OperatingPoint]) -> float:
    """The least reliable point's eps: beyond it there is no point to run at, and the energy
    model is not calibrated there (LaNMax's upper bound on eps under a profile [choice])."""
    return max(p.ber for p in points)
