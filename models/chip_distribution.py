"""Monte-Carlo over chips: a fresh persistent fault pattern per repetition.

A profile's persistent faults are a function of the chip seed (``ProfileFaultModel``:
``hash(chip_seed, bit address)``), so Monte-Carlo repetitions with one seed all see the
same chip and only the transient part varies: under a fully persistent profile every
repetition gives the same accuracy and the CI is 0, which says nothing about another chip.
:class:`FreshChipPerDraw` draws a new chip seed from the evaluation's generator for every
repetition (and every layer: the cells of disjoint regions are independent draws of the
hash, so a per-layer seed has the distribution of one fresh chip) [ALGORITHMS 2, 5]. The
resulting accuracy distribution is the one to compare another chip's, e.g. a board's, with.
"""

from __future__ import annotations

import torch

from models.faults import FaultModel
from models.profile_faults import ProfileFaultModel

SEED_LIMIT = 2**62  # chip seeds in [0, SEED_LIMIT), within the virtual chip's 0 <= seed < 2^63


class FreshChipPerDraw(FaultModel):
    """``base`` (a profile fault model) with its chip seed re-drawn for every repetition."""

    def __init__(self, base: ProfileFaultModel):
        self.base = base

    def chip(self, seed: int) -> ProfileFaultModel:
        b = self.base
        return ProfileFaultModel(b.points, seed, b.operating_point, b.rate_mapping)

    def flip_mask(self, site, codes, rate, generator, draws=None):
        seeds = torch.randint(0, SEED_LIMIT, (draws or 1,), generator=generator).tolist()
        masks = [self.chip(s).flip_mask(site, codes, rate, generator) for s in seeds]
        return torch.stack(masks) if draws else masks[0]

    def describe(self) -> dict:
        return {**self.base.describe(), "chip_seed": "fresh per repetition"}
