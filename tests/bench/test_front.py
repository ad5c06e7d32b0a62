"""bench.front: points over seeds, Pareto front, iso-accuracy, the verdict and its intervals."""

import math

import pytest
from scipy.stats import t as student_t

from bench.front import Point, iso_accuracy, pareto_front, point_from_seeds, verdict


def P(name, method, acc, energy, acc_ci=0.0, energy_ci=0.0):
    return Point(name, method, name, acc, acc_ci, energy, energy_ci)


def test_point_from_seeds_takes_the_wider_interval():
    p = point_from_seeds("x", "uniform", "low", [0.90, 0.92, 0.94], [0.001, 0.001, 0.001], [2.0, 2.0, 2.0])
    seeds = student_t.ppf(0.975, 2) * 0.02 / math.sqrt(3)
    assert p.accuracy == pytest.approx(0.92) and p.ci_seeds == pytest.approx(seeds)
    assert p.ci_draws == pytest.approx(math.sqrt(3e-6) / 3) and p.accuracy_ci == pytest.approx(seeds)
    assert p.energy_J == 2.0 and p.energy_ci == 0.0 and p.seeds == 3
    one = point_from_seeds("y", "lanmax", "lambda 1", [0.9], [0.02], [1.0])
    assert one.ci_seeds is None and one.accuracy_ci == pytest.approx(0.02)  # one seed: the draws' interval
    same = point_from_seeds("z", "lanmax", "lambda 1", [0.9, 0.9], [0.004, 0.004], [1.0, 3.0])
    assert same.accuracy_ci == pytest.approx(math.sqrt(2 * 0.004 ** 2) / 2)  # seeds agree: draws dominate
    assert same.energy_ci == pytest.approx(student_t.ppf(0.975, 1) * math.sqrt(2) / math.sqrt(2))
    with pytest.raises(ValueError, match="one accuracy"):
        point_from_seeds("w", "lanmax", "", [0.9], [], [1.0])


def test_pareto_front_drops_dominated_points():
    pts = [P("a", "reliable", 0.95, 10.0), P("b", "uniform", 0.94, 6.0), P("c", "uniform", 0.93, 7.0),
           P("d", "lanmax", 0.949, 3.0), P("e", "lanmax", 0.90, 1.0)]
    assert [p.name for p in pareto_front(pts)] == ["e", "d", "a"]


def test_iso_accuracy_picks_cheapest_point_within_tolerance():
    pts = [P("r1", "reliable", 0.95, 10.0), P("r2", "reliable", 0.93, 5.0),
           P("u1", "uniform", 0.946, 7.0), P("u2", "uniform", 0.94, 4.0),
           P("l1", "lanmax", 0.947, 2.5), P("l2", "lanmax", 0.80, 0.5)]
    iso = iso_accuracy(pts, tolerance=0.005)
    assert iso["reference"]["name"] == "r1"
    assert iso["methods"]["uniform"]["name"] == "u1"
    assert iso["methods"]["lanmax"]["energy_saving_x"] == pytest.approx(4.0)
    assert iso["methods"]["reliable"]["energy_saving_x"] == pytest.approx(1.0)
    none = iso_accuracy([P("r", "reliable", 0.9, 1.0), P("x", "lanmax", 0.5, 0.1)])
    assert none["methods"]["lanmax"]["name"] is None


FRONT = [P("r", "reliable", 0.950, 10.0, 0.002), P("u-hi", "uniform", 0.948, 6.0, 0.002),
         P("u-mid", "uniform", 0.946, 4.0, 0.003), P("u-lo", "uniform", 0.90, 1.0, 0.01)]


def test_verdict_win_meets_target_only_when_the_interval_does():
    win = verdict(FRONT + [P("l", "lanmax", 0.947, 2.0, 0.003, 0.2)], floor_J=1.0)
    assert win["kind"] == "win" and win["supported"] and win["meets_target"]
    assert win["baseline_point"]["name"] == "u-mid" and win["saving_x"] == pytest.approx(2.0)
    assert win["saving_ci"] == pytest.approx([4.0 / 2.2, 4.0 / 1.8])
    assert "2.00x (95% interval 1.82-2.22x) less memory energy than uniform" in win["text"]
    close = verdict(FRONT + [P("l", "lanmax", 0.947, 3.3, 0.003, 0.3)], floor_J=1.0)
    assert close["kind"] == "win" and close["supported"] and not close["meets_target"]  # 1.21x at the low end
    assert "interval reaches below the target 1.3x" in close["why"]


def test_verdict_claims_nothing_the_intervals_do_not_support():
    wide = verdict(FRONT + [P("l", "lanmax", 0.947, 3.0, 0.003, 1.5)])
    assert wide["kind"] == "undecided" and not wide["supported"] and not wide["meets_target"]
    assert wide["saving_ci"][0] < 1 < wide["saving_ci"][1]
    worse = verdict(FRONT + [P("l", "lanmax", 0.9455, 2.0, 0.0005, 0.0),
                             P("u-tight", "uniform", 0.9475, 3.9, 0.0005)])
    assert worse["baseline_point"]["name"] == "u-tight" and worse["kind"] == "undecided"
    assert "less accurate" in worse["text"] and not worse["supported"]


def test_verdict_dominated_and_not_iso_accurate():
    dom = verdict(FRONT + [P("l", "lanmax", 0.945, 5.0, 0.002)])
    assert dom["kind"] == "dominated" and dom["dominated_by"]["name"] == "u-mid"
    assert dom["text"].startswith("lanmax is dominated here: uniform (u-mid) reaches 94.60%")
    low = verdict(FRONT + [P("l", "lanmax", 0.91, 0.9, 0.01)])
    assert low["kind"] == "not_iso_accurate" and low["method_point"]["name"] == "l"
    below = verdict(FRONT + [P("l", "lanmax", 0.89, 1.5, 0.01)])
    assert below["kind"] == "dominated" and below["dominated_by"]["name"] == "u-lo"
    loss = verdict(FRONT + [P("l", "lanmax", 0.949, 5.0, 0.002)])
    assert loss["kind"] == "loss" and not loss["supported"]


def test_verdict_headroom_explains_an_unreachable_target():
    same = verdict(FRONT + [P("l", "lanmax", 0.946, 4.0, 0.003)], floor_J=3.5)
    assert same["headroom_x"] == pytest.approx(4.0 / 3.5) and not same["meets_target"]
    assert "cannot be met here" in same["why"] and "1.14x" in same["why"]


def test_verdict_without_the_points_it_needs():
    assert verdict([P("l", "lanmax", 0.9, 1.0)])["kind"] == "incomplete"
    assert "no reliable, uniform point" in verdict([P("l", "lanmax", 0.9, 1.0)])["text"]
    only = verdict([P("r", "reliable", 0.95, 10.0), P("u", "uniform", 0.80, 1.0), P("l", "lanmax", 0.95, 2.0)])
    assert only["kind"] == "no_baseline" and only["supported"] and only["saving_x"] is None
    assert verdict(FRONT, method="uniform")["kind"] == "incomplete"


def test_a_cheaper_uniform_point_iso_accurate_within_its_interval_blocks_the_claim():
    """The best uniform point by mean is u-mid (4.0); u-near misses the target by 0.1 point with
    an interval of 0.5 point, so it may be iso-accurate too, and against it the method saves
    nothing: no win is claimed, and the text and `why` name that point."""
    near = P("u-near", "uniform", 0.944, 1.9, 0.005)
    v = verdict(FRONT + [near, P("l", "lanmax", 0.947, 2.0, 0.003, 0.1)])
    assert v["baseline_point"]["name"] == "u-mid" and v["saving_x"] == pytest.approx(2.0)
    assert v["plausible_baseline_point"]["name"] == "u-near" and v["plausible_saving_x"] == pytest.approx(0.95)
    assert v["kind"] == "undecided" and not v["supported"] and not v["meets_target"]
    assert "uniform (u-near) misses the target by only 0.10 point" in v["text"]
    assert "cheaper uniform point (u-near) is iso-accurate within its interval" in v["why"]
    tight = verdict(FRONT + [P("u-near", "uniform", 0.944, 1.9, 0.0005), P("l", "lanmax", 0.947, 1.0, 0.003, 0.1)])
    assert tight["plausible_baseline_point"]["name"] == "u-mid" and tight["kind"] == "win"


def test_a_method_point_iso_accurate_only_within_its_interval_is_said_so():
    v = verdict(FRONT + [P("l", "lanmax", 0.9452, 2.0, 0.01, 0.1)])
    assert v["kind"] == "win" and "lanmax itself is iso-accurate by 0.02 point, inside its own interval" in v["text"]


def test_dominated_at_iso_accuracy_says_by_what():
    v = verdict(FRONT + [P("l", "lanmax", 0.945, 5.0, 0.002)], floor_J=1.0)
    assert v["kind"] == "dominated" and "both reach iso-accuracy" in v["text"]
    assert v["why"] == "uniform (u-mid) is at least as accurate as lanmax (l) and uses less energy"
