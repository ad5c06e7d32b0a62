"""``bench run``'s comparison settings (no training): the lambdas, the seeds, the uniform front."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.pipeline.config import resolve
from bench.pipeline.stages.train import front_operating_points
from models.profile import load_profile

PROFILES = Path(__file__).parents[2] / "profiles"


def test_deployed_lambda_comes_first_and_seeds_follow_the_master_seed():
    profile = load_profile(PROFILES / "rram_lowpower.yaml")
    cfg = resolve(profile, {"lambdas": [0.1, 1, 3], "seed": 7}, quick=False)
    assert cfg["front"]["lambdas"] == [0.1, 1.0, 3.0]   # the profile's lambda 0.1 is the deployed network's
    assert resolve(profile, {"lambdas": [0.3, 1], "lambda": 1}, quick=False)["front"]["lambdas"] == [1.0, 0.3]
    assert cfg["seeds"]["train"] == 7 and cfg["seeds"]["front"] == [7, 8, 9]
    assert resolve(profile, {"lambda": 2.0}, quick=False)["front"]["lambdas"] == [2.0]
    quick = resolve(profile, {}, quick=True)
    assert quick["seeds"]["front"] == [0] and quick["front"]["front_points"] == 3
    assert quick["evaluation"]["tolerance"] == 0.005


@pytest.mark.parametrize("override, named", [({"train_seeds": 0}, "--train-seeds 0"),
                                             ({"front_points": 0}, "--front-points 0"),
                                             ({"tolerance": 1.5}, "--tolerance 1.5")])
def test_bad_comparison_settings_name_the_option(override, named):
    with pytest.raises(BenchError, match=named):
        resolve(load_profile(PROFILES / "sram_lowvoltage.yaml"), override, quick=False)


def test_uniform_front_spreads_over_the_faulty_points_with_both_ends():
    points = load_profile(PROFILES / "virtual_chip.yaml").operating_points   # 8 faulty points
    names = [p.name for p in front_operating_points(points, 5)]
    assert names == ["750mV", "650mV", "550mV", "500mV", "400mV"]
    assert [p.name for p in front_operating_points(points, 2)] == ["750mV", "400mV"]
    sram = load_profile(PROFILES / "sram_lowvoltage.yaml").operating_points   # 2 of 6 points have BER 0
    assert [p.name for p in front_operating_points(sram, 5)] == ["vmin", "v058", "v056", "v054"]
