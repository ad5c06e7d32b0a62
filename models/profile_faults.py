"""Fault model driven by a memory error profile (``profiles/*.yaml``), and eps -> operating point.

Per stored bit at an operating point with rates ``p01 = P(read 1 | stored 0)`` and
``p10 = P(read 0 | stored 1)`` (times the bit position's relative rate for multi-bit words)
and persistent fraction ``f`` [ALGORITHMS 2]:

* persistent part (a chip): cell ``a`` (global bit address, ``FaultSite.addresses``) draws
  ``u_a`` and ``v_a`` uniform in [0, 1) from ``hash(chip_seed, a)``; it is stuck iff
  ``u_a < q`` with ``q = f (p01 + p10)`` and then reads ``s_a = 1{v_a < p01 / (p01 + p10)}``.
  So ``P(error | stored 0) = q P(s_a = 1) = f p01`` (and ``f p10`` for a stored 1), and the
  stuck set at a lower ``q`` is a subset of the set at a higher one (nested across operating
  points, as in undervolted SRAM; Stutz et al. MLSys 2021). This is the virtual chip's own
  model (``drivers/virtual_lab/physics.py``), whose cell hash we reuse: a profile calibrated
  from a virtual chip, with ``chip_seed`` set to that chip's seed, picks the same cells.
* transient part, re-drawn on every read, on the cells that are not stuck:
  ``P = (1 - f) p_stored / (1 - q)``, so that the total error rate per stored value is
  exactly ``p01`` (resp. ``p10``).

The profile's eps of an operating point is the BER of a balanced pattern,
``(p01 + p10) / 2`` (``energy_model.eps_definition: mean_ber``).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from drivers.memory_layout import LayerRegion
from drivers.virtual_lab.physics import STREAM_STUCK, STREAM_THRESHOLD, uniforms
from models.energy import EnergyModel
from models.faults import FaultModel, FaultSite, bits_to_mask, register_fault_model, stored_bits

RATE_MAPPINGS = ("quantize", "scale")


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
        """eps of this point: BER of a balanced pattern, ``(p01 + p10) / 2``."""
        return (self.ber_0to1 + self.ber_1to0) / 2

    def energy(self, kind: str = "read") -> float | None:
        return self.energy_read_per_bit if kind == "read" else self.energy_write_per_bit

    def label(self) -> str:
        return f"{self.name} ({self.voltage:.3g} V)" if self.voltage is not None else self.name

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OperatingPoint":
        rates = d.get("bit_position_rates")
        return cls(name=d["name"], ber_0to1=float(d["ber_0to1"]), ber_1to0=float(d["ber_1to0"]),
                   persistent_fraction=float(d["persistent_fraction"]),
                   energy_read_per_bit=float(d["energy_read_per_bit"]), voltage=d.get("voltage"),
                   condition=d.get("condition"), energy_write_per_bit=d.get("energy_write_per_bit"),
                   bit_position_rates=None if rates is None else tuple(float(r) for r in rates),
                   temperature=d.get("temperature", None))


def _data(profile) -> Mapping[str, Any]:
    """A validated profile's SI data: a ``bench.profiles.Profile`` (``.data``) or the mapping itself."""
    return getattr(profile, "data", profile)


def profile_operating_points(profile) -> list[OperatingPoint]:
    """Operating points of a validated profile, most reliable first."""
    return [OperatingPoint.from_dict(d) for d in _data(profile)["operating_points"]]


def profile_energy_model(profile) -> EnergyModel | None:
    em = _data(profile).get("energy_model")
    if not em:
        return None
    return EnergyModel(E0=float(em["E0"]), beta=float(em["beta"]), eps_ref=float(em.get("eps_ref", 1e-12)))


def profile_energy_kind(profile) -> str:
    """Which energy the profile's curve and the chosen-point report use: ``read`` or ``write`` (RRAM)."""
    em = _data(profile).get("energy_model") or {}
    return em.get("applies_to", "write" if _data(profile).get("technology") == "rram" else "read")


# --- eps -> operating point --------------------------------------------------------------

@dataclass(frozen=True)
class OperatingPointChoice:
    """The operating point chosen for a target eps and what it costs.

    ``point``: the least reliable point whose BER is <= ``target_eps`` (at least as reliable
    as asked); the most reliable point when none is (``meets_target`` False). ``voltage``:
    the voltage the calibrated curve gives for ``target_eps`` (before quantising; None
    without a voltage axis). ``energy_per_bit``: the chosen point's measured energy.
    ``model_energy_per_bit``: ``E(target_eps)`` of the energy model, when there is one.
    """

    target_eps: float
    point: OperatingPoint
    meets_target: bool
    voltage: float | None
    energy_per_bit: float | None
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


def choose_operating_point(points: Sequence[OperatingPoint], eps: float, energy: EnergyModel | None = None,
                           energy_kind: str = "read") -> OperatingPointChoice:
    """Quantise a target eps to the nearest operating point that is at least as reliable.

    ``points`` most reliable first (validated profiles are). Reports the energy at the point
    actually chosen, which is what the memory then spends.
    """
    if not points:
        raise ValueError("a profile needs at least one operating point")
    ok = [p for p in points if p.ber <= eps]
    point = min(ok, key=lambda p: (p.energy(energy_kind) or 0.0, -p.ber)) if ok else min(points, key=lambda p: p.ber)
    model_e = energy.bit_energy(min(eps, 1.0)) if energy is not None and eps > 0 else None
    return OperatingPointChoice(eps, point, bool(ok), voltage_for_eps(points, eps), point.energy(energy_kind), model_e)


# --- the fault model ---------------------------------------------------------------------

class ProfileFaultModel(FaultModel):
    """Profile-driven faults: asymmetric, persistent for ``chip_seed`` plus transient, per-bit rates.

    ``operating_point``: a fixed point for every layer (evaluation at a named point), or
    ``None``: each layer's ``rate`` (its eps, e.g. from LaNMax) selects the point with
    ``rate_mapping`` [choice, default ``quantize``]: ``quantize`` = the nearest point at least
    as reliable (:func:`choose_operating_point`); ``scale`` = the nearest point in
    ``log(BER)`` with both rates rescaled so that their mean is the layer's eps (keeps the
    profile's asymmetry, persistence and bit-position shape at any eps; for training).
    """

    def __init__(self, points: Sequence[OperatingPoint], chip_seed: int = 0,
                 operating_point: OperatingPoint | str | None = None, rate_mapping: str = "quantize"):
        if rate_mapping not in RATE_MAPPINGS:
            raise ValueError(f"rate_mapping {rate_mapping!r}: expected one of {RATE_MAPPINGS}")
        self.points = list(points)
        self.chip_seed = int(chip_seed)
        self.rate_mapping = rate_mapping
        if isinstance(operating_point, str):
            by_name = {p.name: p for p in self.points}
            if operating_point not in by_name:
                raise ValueError(f"no operating point {operating_point!r} (have: {', '.join(by_name)})")
            operating_point = by_name[operating_point]
        self.operating_point = operating_point
        self._cells: dict[LayerRegion, tuple[torch.Tensor, torch.Tensor]] = {}

    def point_for(self, rate: float | None) -> OperatingPoint:
        if self.operating_point is not None:
            return self.operating_point
        if rate is None:
            raise ValueError("ProfileFaultModel needs an operating point or a layer rate (eps)")
        if self.rate_mapping == "quantize":
            return choose_operating_point(self.points, rate).point
        nearest = min(self.points, key=lambda p: abs(math.log(max(p.ber, 1e-300)) - math.log(max(rate, 1e-300))))
        s = rate / nearest.ber if nearest.ber > 0 else 0.0
        if nearest.ber == 0:
            return replace(nearest, ber_0to1=rate, ber_1to0=rate)
        return replace(nearest, ber_0to1=min(0.5, nearest.ber_0to1 * s), ber_1to0=min(0.5, nearest.ber_1to0 * s))

    def cell_draws(self, site: FaultSite) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, v)`` per stored bit of ``site`` (shape ``weight_shape + (bits,)``), cached."""
        key = site.region  # frozen, hashable: the cells of one region
        if key not in self._cells:
            addr = site.addresses.astype(np.uint64)
            self._cells[key] = (torch.from_numpy(uniforms(self.chip_seed, STREAM_THRESHOLD, addr)),
                                torch.from_numpy(uniforms(self.chip_seed, STREAM_STUCK, addr)))
        return self._cells[key]

    def flip_mask(self, site, codes, rate, generator, draws=None):
        pt = self.point_for(rate)
        bits = site.bits_per_weight
        scale = torch.ones(bits, dtype=torch.float64)
        if pt.bit_position_rates is not None:
            if len(pt.bit_position_rates) != bits:
                raise ValueError(f"operating point {pt.name}: {len(pt.bit_position_rates)} bit_position_rates, "
                                 f"layer {site.name} stores {bits} bit(s) per weight")
            scale = torch.tensor(pt.bit_position_rates, dtype=torch.float64)
        p01 = (pt.ber_0to1 * scale).clamp(max=0.5)
        p10 = (pt.ber_1to0 * scale).clamp(max=0.5)
        f = pt.persistent_fraction
        q = f * (p01 + p10)
        one = torch.where(p01 + p10 > 0, p01 / (p01 + p10), torch.zeros_like(p01))
        u, v = self.cell_draws(site)
        stored = stored_bits(codes, bits).cpu().bool()
        stuck = u < q
        persistent = stuck & ((v < one) != stored)
        lead = (draws,) if draws else ()
        if f >= 1:  # all persistent: nothing to draw
            flips = persistent.expand(lead + tuple(stored.shape))
        else:
            p_stored = torch.where(stored, p10, p01)
            transient_p = ((1 - f) * p_stored / (1 - q).clamp(min=1e-12)).float()
            r = torch.rand(lead + tuple(stored.shape), generator=generator)  # float32, as the BSC
            flips = persistent | ((r < transient_p) & ~stuck)
        return bits_to_mask(flips, codes.dtype).to(codes.device)

    def describe(self):
        """Self-contained description (the points themselves): a run replays without the YAML."""
        return {"kind": "profile", "points": [_point_dict(p) for p in self.points], "chip_seed": self.chip_seed,
                "operating_point": None if self.operating_point is None else self.operating_point.name,
                "rate_mapping": self.rate_mapping}


def _point_dict(p: OperatingPoint) -> dict:
    d = {k: v for k, v in asdict(p).items() if v is not None}
    if "bit_position_rates" in d:
        d["bit_position_rates"] = list(d["bit_position_rates"])
    return d


register_fault_model("profile", lambda points, chip_seed=0, operating_point=None, rate_mapping="quantize", source=None,
                     profile=None:
                     ProfileFaultModel([OperatingPoint.from_dict(p) for p in points], chip_seed, operating_point,
                                       rate_mapping))


def fault_model_from_profile(profile, operating_point: str | None = None, chip_seed: int | None = None,
                             rate_mapping: str = "quantize") -> ProfileFaultModel:
    """The fault model of a validated profile (``bench.profiles.load_profile(path)`` or its ``.data``).

    ``chip_seed`` defaults to the profile's ``experiment.chip_seed`` (else 0);
    ``operating_point`` (a name) fixes the point for every layer, otherwise the layers' eps
    choose it (``rate_mapping``).
    """
    data = _data(profile)
    if chip_seed is None:
        chip_seed = int((data.get("experiment") or {}).get("chip_seed", 0))
    return ProfileFaultModel(profile_operating_points(data), chip_seed, operating_point, rate_mapping)


def profile_fault_description(profile, operating_point: str | None = None, chip_seed: int | None = None,
                              rate_mapping: str = "quantize") -> dict:
    """``TrainConfig.faults`` for a profile (``{"kind": "profile", ...}``, built by ``build_fault_model``)."""
    desc = fault_model_from_profile(profile, operating_point, chip_seed, rate_mapping).describe()
    path = getattr(profile, "path", None)
    if path is not None:
        desc["source"] = str(path)
    return desc
