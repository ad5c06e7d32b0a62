"""Monte-Carlo over chips: with a fully persistent profile, one chip seed gives the same
mask every repetition (CI 0); a fresh chip per repetition gives different masks with the
profile's error rate, reproducibly for a seeded generator."""

from __future__ import annotations

import torch

from drivers.memory_layout import memory_map
from models.faults import FaultSite
from models.profile import load_profile
from models.profile.faults import FreshChipPerDraw, fault_model_from_profile


def site_and_codes():
    region = memory_map([("fc", (64, 128), "binary")])[0]
    codes = torch.randint(0, 2, (64, 128), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return FaultSite("fc", 0, region), codes


def test_fresh_chip_per_draw_varies_persistent_faults():
    fixed = fault_model_from_profile(load_profile("profiles/rram_lowpower.yaml"), "ultra_low", chip_seed=2)
    site, codes = site_and_codes()
    same = fixed.flip_mask(site, codes, None, torch.Generator().manual_seed(1), draws=4)
    assert all(torch.equal(same[0], m) for m in same)          # persistent: one chip, one mask
    masks = FreshChipPerDraw(fixed).flip_mask(site, codes, None, torch.Generator().manual_seed(1), draws=4)
    assert masks.shape == same.shape and not any(torch.equal(masks[0], m) for m in masks[1:])
    assert 0.025 < float(masks.float().mean()) < 0.041         # eps 0.033 over 4 x 8192 bits
    again = FreshChipPerDraw(fixed).flip_mask(site, codes, None, torch.Generator().manual_seed(1), draws=4)
    assert torch.equal(masks, again)
