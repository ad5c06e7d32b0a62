"""The fault model of a profile: asymmetric, persistent for a chip plus transient, per-bit rates.

Per stored bit at an operating point with rates ``p01`` and ``p10`` (times the bit position's
relative rate for multi-bit words) and persistent fraction ``f`` [ALGORITHMS 2]:

* persistent part (a chip): cell ``a`` (global bit address, ``FaultSite.addresses``) draws
  ``u_a`` and ``v_a`` uniform in [0, 1) from ``drivers.cell_hash`` with the chip seed; it is
  stuck iff ``u_a < q`` with ``q = f (p01 + p10)`` and then reads
  ``s_a = 1{v_a < p01 / (p01 + p10)}``. So ``P(error | stored 0) = q P(s_a = 1) = f p01``
  (and ``f p10`` for a stored 1), and the stuck set at a lower ``q`` is a subset of the set at
  a higher one (nested across operating points, as in undervolted SRAM; Stutz et al. MLSys
  2021). The virtual chip draws from the same hash: a profile calibrated on a virtual chip,
  with ``chip_seed`` set to that chip's seed, picks the same cells.
* transient part, re-drawn on every read, on the cells that are not stuck:
  ``P = (1 - f) p_stored / (1 - q)``, so that the total error rate per stored value is
  exactly ``p01`` (resp. ``p10``).

Which point a layer reads at (:meth:`ProfileFaultModel.point_for`): a fixed point for every
layer, a point per layer (what ``bench run`` chose), or the layer's eps mapped by
``rate_mapping``. :class:`FreshChipPerDraw` re-draws the chip for every Monte-Carlo repetition.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from drivers.cell_hash import STREAM_STUCK, STREAM_THRESHOLD, uniforms
from drivers.memory_layout import LayerRegion
from models.faults import FaultModel, FaultSite, bits_to_mask, stored_bits
from models.profile.points import OperatingPoint, choose_operating_point
from models.profile.profile import Profile, ProfileError

RATE_MAPPINGS = ("quantize", "scale")
#: Chip seeds in [0, SEED_LIMIT), within the virtual chip's 0 <= seed < 2^63.
SEED_LIMIT = 2**62


class ProfileFaultModel(FaultModel):
    """Profile-driven faults: asymmetric, persistent for ``chip_seed`` plus transient.

    Which point a layer reads at, first match:

    * ``operating_point``: one fixed point for every layer (evaluation at a named point);
    * ``layer_points``: ``{layer name: point}`` (the points ``bench run`` chose per layer);
    * the layer's ``rate`` (its eps, e.g. from LaNMax) with ``rate_mapping`` [choice, default
      ``quantize``]: ``quantize`` = the cheapest point at least as reliable
      (:func:`choose_operating_point`); ``scale`` = the nearest point in ``log(BER)`` with both
      rates rescaled so that their mean is the layer's eps (keeps the profile's asymmetry,
      persistence and bit-position shape at any eps, continuously: for training).
    """

    def __init__(self, points: Sequence[OperatingPoint], chip_seed: int = 0,
                 operating_point: OperatingPoint | str | None = None, rate_mapping: str = "quantize",
                 layer_points: Mapping[str, OperatingPoint | str] | None = None):
        if rate_mapping not in RATE_MAPPINGS:
            raise ValueError(f"rate_mapping {rate_mapping!r}: expected one of {RATE_MAPPINGS}")
        self.points = list(points)
        self.chip_seed = int(chip_seed)
        self.rate_mapping = rate_mapping
        self.operating_point = None if operating_point is None else self._named(operating_point)
        self.layer_points = {k: self._named(p) for k, p in (layer_points or {}).items()}
        self._cells: dict[LayerRegion, tuple[torch.Tensor, torch.Tensor]] = {}

    def _named(self, point: OperatingPoint | str) -> OperatingPoint:
        if isinstance(point, OperatingPoint):
            return point
        by_name = {p.name: p for p in self.points}
        if point not in by_name:
            raise ValueError(f"no operating point {point!r} (have: {', '.join(by_name)})")
        return by_name[point]

    def with_chip(self, chip_seed: int) -> "ProfileFaultModel":
        """The same model on another chip."""
        return ProfileFaultModel(self.points, chip_seed, self.operating_point, self.rate_mapping, self.layer_points)

    def point_for(self, rate: float | None, layer: str | None = None) -> OperatingPoint:
        if self.operating_point is not None:
            return self.operating_point
        if layer in self.layer_points:
            return self.layer_points[layer]
        if rate is None:
            raise ValueError("ProfileFaultModel needs an operating point or a layer rate (eps)")
        if self.rate_mapping == "quantize":
            return choose_operating_point(self.points, rate).point
        nearest = min(self.points, key=lambda p: abs(math.log(max(p.ber, 1e-300)) - math.log(max(rate, 1e-300))))
        if nearest.ber == 0:
            return replace(nearest, ber_0to1=rate, ber_1to0=rate)
        s = rate / nearest.ber
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
        pt = self.point_for(rate, site.name)
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
        desc = {"kind": "profile", "points": [p.to_dict() for p in self.points], "chip_seed": self.chip_seed,
                "operating_point": None if self.operating_point is None else self.operating_point.name,
                "rate_mapping": self.rate_mapping}
        if self.layer_points:
            desc["layer_points"] = {k: p.name for k, p in self.layer_points.items()}
        return desc


def profile_fault_model(points, chip_seed=0, operating_point=None, rate_mapping="quantize", layer_points=None,
                        source=None, profile=None) -> ProfileFaultModel:
    """A :class:`ProfileFaultModel` from its description (``describe()``; ``source`` and
    ``profile`` only record where the points came from)."""
    return ProfileFaultModel([OperatingPoint.from_dict(p) for p in points], chip_seed, operating_point,
                             rate_mapping, layer_points)


class FreshChipPerDraw(FaultModel):
    """Monte-Carlo over chips: ``base`` with its chip seed re-drawn for every repetition.

    A profile's persistent faults are a function of the chip seed, so repetitions with one seed
    all see the same chip and only the transient part varies: under a fully persistent profile
    every repetition gives the same accuracy, which says nothing about another chip. A new
    chip seed per repetition (and per layer: the cells of disjoint regions are independent
    draws of the hash, so a per-layer seed has the distribution of one fresh chip) gives the
    accuracy distribution to compare another chip's, e.g. a board's, with [ALGORITHMS 2, 5].
    """

    def __init__(self, base: ProfileFaultModel):
        self.base = base

    def flip_mask(self, site, codes, rate, generator, draws=None):
        seeds = torch.randint(0, SEED_LIMIT, (draws or 1,), generator=generator).tolist()
        masks = [self.base.with_chip(s).flip_mask(site, codes, rate, generator) for s in seeds]
        return torch.stack(masks) if draws else masks[0]

    def describe(self) -> dict:
        return {**self.base.describe(), "chip_seed": "fresh per repetition"}


# --- a profile's fault model for training and evaluation ---------------------------------

def fault_model_from_profile(profile: Profile, operating_point: str | None = None, chip_seed: int | None = None,
                             rate_mapping: str = "quantize",
                             layer_points: Mapping[str, str] | None = None) -> ProfileFaultModel:
    """The fault model of a validated profile; ``chip_seed`` defaults to the profile's
    ``experiment.chip_seed``; ``operating_point`` (a name) fixes the point for every layer,
    ``layer_points`` per layer, otherwise the layers' eps choose it (``rate_mapping``)."""
    if operating_point is not None:
        profile.operating_point(operating_point)  # one line naming the valid points
    seed = profile.chip_seed if chip_seed is None else chip_seed
    return ProfileFaultModel(profile.operating_points, seed, operating_point, rate_mapping, layer_points)


def training_faults(profile: Profile, chip_seed: int | None = None, operating_point: str | None = None) -> dict:
    """``TrainConfig.faults`` for training under a profile: its fault model (asymmetric;
    persistent cells of ``chip_seed``, default the profile's; transient part re-drawn per read)
    with ``rate_mapping='scale'`` (the method's eps sets the rate, the profile its asymmetry,
    persistence and bit-position shape: a continuous function of eps, as LaNMax needs), or
    fixed at ``operating_point``. Records the file (:meth:`Profile.record`) under ``profile``."""
    desc = fault_model_from_profile(profile, operating_point, chip_seed, rate_mapping="scale").describe()
    return {**desc, "source": str(profile.path), "profile": profile.record()}


def evaluation_faults(profile: Profile, layer_names: Sequence[str], rates: Mapping[str, float] | None,
                      operating_point: str | None = None, chip_seed: int | None = None):
    """``(fault_model, rates, label)`` for evaluating under a profile.

    With a point: every layer reads at it (rates = its BER, for the record). Without: each
    layer's eps (``rates``, e.g. the run's LaNMax eps) picks the cheapest point at least as
    reliable (``quantize``). Raises :class:`ProfileError` naming what is missing.
    """
    if operating_point is not None:
        point = profile.operating_point(operating_point)
        model = fault_model_from_profile(profile, operating_point, chip_seed)
        return model, {n: point.ber for n in layer_names}, f"{profile.name} at {point.label()}"
    if not rates:
        raise ProfileError(profile.path, "the run has no per-layer eps to choose operating points; give an "
                                         f"operating point (have: {profile.point_names()})")
    model = fault_model_from_profile(profile, None, chip_seed, rate_mapping="quantize")
    points = {n: model.point_for(r).name for n, r in rates.items()}
    return model, dict(rates), f"{profile.name}, per-layer points " + ", ".join(f"{n}: {p}" for n, p in points.items())


def fault_model_label(faults: Mapping) -> str:
    """What a fault-model description (``TrainConfig.faults``) does with a layer's eps, in words."""
    if faults.get("kind") != "profile":
        return {"bsc": "binary symmetric channel (eps = flip probability of every bit)"}.get(
            faults.get("kind"), f"fault model {faults.get('kind')}")
    name = (faults.get("profile") or {}).get("name") or Path(str(faults.get("source", "profile"))).stem
    chip = f"chip seed {faults.get('chip_seed')}: persistent cells fixed, transient part re-drawn per read"
    if faults.get("operating_point"):
        return f"profile {name} at operating point {faults['operating_point']} on every layer ({chip}; eps not used)"
    if faults.get("rate_mapping") == "scale":
        return (f"profile {name} ({chip}; eps = mean BER (p01 + p10) / 2, with the asymmetry and persistent "
                f"fraction of the nearest operating point)")
    return f"profile {name} ({chip}; eps -> the cheapest operating point at least as reliable)"
