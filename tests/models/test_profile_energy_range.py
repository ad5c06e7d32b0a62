"""An energy model must price every operating point of its profile: ``E(eps) = E0 + beta
ln(1/eps)`` positive up to the least reliable point (profile checker), and LaNMax trained
under a profile never asks for an eps beyond that point (``bench run``'s method options)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from models.profile import check_profile, load_profile
from models.profile.method_options import profile_method_options

ROOT = Path(__file__).parents[2]


def test_checker_rejects_negative_energy_inside_the_operating_range(tmp_path):
    text = (ROOT / "profiles" / "rram_lowpower.yaml").read_text()
    bad = tmp_path / "neg.yaml"
    bad.write_text(text.replace("E0: -8.508 pJ", "E0: -12 pJ"))   # E(0.033) = -2.5 pJ
    _, problems = check_profile(bad)
    assert [p.field for p in problems] == ["energy_model.E0"], problems
    assert "least reliable point's eps 0.033" in problems[0].message
    good = tmp_path / "ok.yaml"
    good.write_text(text)
    assert check_profile(good)[1] == []


def test_lanmax_eps_bounded_by_the_profile_least_reliable_point():
    for name, eps_max in (("rram_lowpower", 0.033), ("sram_lowvoltage", 6e-4)):
        profile = load_profile(ROOT / "profiles" / f"{name}.yaml")
        opts = profile_method_options(profile, "lanmax")
        assert opts["theta_max"] == pytest.approx(math.log10(eps_max)), name
        assert opts.get("theta_init", -3.0) <= opts["theta_max"]
    assert "theta_max" not in profile_method_options(profile, "uniform")
