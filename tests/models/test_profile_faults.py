"""Profile-driven fault model: rates, persistence, nesting, bit positions, eps -> operating point."""

import numpy as np
import pytest
import torch

from drivers.memory_layout import memory_map
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip
from models.fault_registry import build_fault_model
from models.faults import FaultSite
from models.profile import ProfileError, load_profile
from models.profile.faults import ProfileFaultModel, evaluation_faults, fault_model_from_profile, training_faults
from models.profile.points import OperatingPoint, choose_operating_point, voltage_for_eps


def _site(shape=(256, 512), encoding="binary", base_word=0):
    return FaultSite("l", 0, memory_map([("l", shape, encoding)], base_word)[0])


def _op(name="x", p01=0.02, p10=0.01, f=0.5, **kw):
    return OperatingPoint(name, p01, p10, f, 1e-15, **kw)


def test_asymmetric_rates_match_profile():
    site, g = _site(), torch.Generator().manual_seed(0)
    model = ProfileFaultModel([_op()], chip_seed=3, operating_point="x")
    for stored, expect in ((0, 0.02), (1, 0.01)):
        codes = torch.full((256, 512), stored, dtype=torch.uint8)
        rate = model.flip_mask(site, codes, None, g, draws=4).float().mean().item()
        n = 4 * codes.numel()
        assert abs(rate - expect) < 5 * np.sqrt(expect / n) + 2e-3  # persistent cells correlate draws a bit


def test_persistent_part_fixed_transient_redrawn():
    site, g = _site((64, 64)), torch.Generator().manual_seed(1)
    codes = torch.randint(0, 2, (64, 64), generator=g).to(torch.uint8)
    persistent = ProfileFaultModel([_op(f=1.0)], 5, "x").flip_mask(site, codes, None, g, draws=3)
    assert persistent.sum() > 0 and torch.equal(persistent[0], persistent[1]) and torch.equal(persistent[1], persistent[2])
    transient = ProfileFaultModel([_op(f=0.0)], 5, "x").flip_mask(site, codes, None, g, draws=2)
    assert not torch.equal(transient[0], transient[1])
    other_chip = ProfileFaultModel([_op(f=1.0)], 6, "x").flip_mask(site, codes, None, g)
    assert not torch.equal(other_chip, persistent[0])


def test_fault_sets_nest_across_operating_points():
    site, g = _site((128, 128)), torch.Generator().manual_seed(2)
    pts = [_op("hi", 1e-3, 1e-3, 1.0), _op("mid", 1e-2, 1e-2, 1.0), _op("lo", 5e-2, 5e-2, 1.0)]
    model = ProfileFaultModel(pts, chip_seed=9)
    prev = None
    for pt in pts:
        model.operating_point = pt
        # zeros and ones together reveal every stuck cell
        stuck = sum(model.flip_mask(site, torch.full((128, 128), v, dtype=torch.uint8), None, g) for v in (0, 1))
        if prev is not None:
            assert bool(((prev > 0) & (stuck == 0)).sum() == 0) and stuck.sum() > prev.sum()
        prev = stuck


def test_same_cells_as_virtual_chip_with_its_seed():
    """The persistent model is the virtual chip's: same seed, same p -> the same stuck cells and values."""
    chip = Chip.load(DEFAULT_CHIP)
    volts = 0.45
    p = chip.p_read(volts)
    assert 1e-3 < p < 0.5
    n_words = 64
    op = _op("v", p * chip.p_stuck_one, p * (1 - chip.p_stuck_one), 1.0)
    site = _site((n_words, 32))
    model = ProfileFaultModel([op], chip.seed, "v")
    stored = np.zeros(n_words, dtype=np.uint32)
    board = chip.sram_read(np.arange(n_words), stored, volts)  # what the chip reads for all-zero words
    codes = torch.zeros((n_words, 32), dtype=torch.uint8)
    ours = model.flip_mask(site, codes, None, torch.Generator().manual_seed(0)).numpy()
    ours_words = np.packbits(ours.astype(np.uint8), axis=1, bitorder="little").view("<u4").ravel()
    np.testing.assert_array_equal(ours_words, board)


def test_bit_position_rates_int8():
    site, g = _site((64, 256), "int8"), torch.Generator().manual_seed(4)
    rates = (0.1,) * 7 + (4.0,)
    model = ProfileFaultModel([_op(p01=0.02, p10=0.02, f=0.0, bit_position_rates=rates)], 0, "x")
    codes = torch.randint(0, 256, (64, 256), generator=g).to(torch.int64)
    mask = model.flip_mask(site, codes, None, g, draws=2)
    bits = ((mask.unsqueeze(-1) >> torch.arange(8)) & 1).float().mean(dim=(0, 1, 2))
    assert bits[7] == pytest.approx(0.08, abs=0.01) and float(bits[:7].max()) < 0.006
    with pytest.raises(ValueError, match="bit_position_rates"):
        model.flip_mask(_site(), torch.zeros((256, 512), dtype=torch.uint8), None, g)


def test_choose_operating_point_quantises_to_at_least_as_reliable():
    profile = load_profile("profiles/sram_lowvoltage.yaml")
    model = fault_model_from_profile(profile)
    energy = profile.energy_model
    c = choose_operating_point(model.points, 3e-5, energy)
    assert c.point.name == "v058" and c.point.ber <= 3e-5 and c.meets_target
    assert c.energy_per_bit == pytest.approx(6.728e-15)
    assert 0.56 < c.voltage < 0.58  # the curve's voltage for 3e-5, before quantising
    assert choose_operating_point(model.points, 1.0).point.name == "v054"  # any eps above the worst point
    assert choose_operating_point(model.points, 0.0).point.name == "v080"  # cheapest point with BER 0
    assert voltage_for_eps(model.points, 1e-12) is None
    # per-layer rates select per-layer points
    site, g = _site((32, 32)), torch.Generator().manual_seed(0)
    codes = torch.zeros((32, 32), dtype=torch.uint8)
    assert model.flip_mask(site, codes, 1e-9, g).sum() == 0  # -> v080, no faults


def test_scale_mapping_hits_the_layer_eps():
    model = ProfileFaultModel([_op("a", 0.003, 0.001, 0.5), _op("b", 0.03, 0.01, 0.5)], 0, rate_mapping="scale")
    pt = model.point_for(0.01)
    assert pt.ber == pytest.approx(0.01) and pt.ber_0to1 / pt.ber_1to0 == pytest.approx(3.0)


def test_description_rebuilds_through_the_registry():
    profile = load_profile("profiles/rram_lowpower.yaml")
    desc = training_faults(profile, operating_point="ultra_low")
    assert desc["kind"] == "profile" and desc["chip_seed"] == 2 and desc["source"].endswith("rram_lowpower.yaml")
    model = build_fault_model(desc)
    site, g = _site((64, 64)), torch.Generator().manual_seed(0)
    codes = torch.zeros((64, 64), dtype=torch.uint8)
    a = model.flip_mask(site, codes, None, g)
    b = fault_model_from_profile(profile, "ultra_low").flip_mask(site, codes, None, g)
    assert torch.equal(a, b) and 0.01 < a.float().mean() < 0.06


def test_train_and_evaluate_under_a_profile(tmp_path):
    """The hooks of bench train --profile / bench evaluate --profile --operating-point."""
    from models.evaluation import accuracy, mc_accuracy
    from models.training import TrainConfig, load_run, train

    profile = load_profile("profiles/rram_lowpower.yaml")
    faults = training_faults(profile)
    assert faults["kind"] == "profile" and faults["rate_mapping"] == "scale"
    train(TrainConfig(arch="mlp", dataset="digits", width=1 / 64, epochs=1, method="uniform",
                      method_options={"eps": 0.01}, faults=faults, seed=0, limit_test=120), tmp_path / "run")
    net, config, extra = load_run(tmp_path / "run")
    assert config.faults["kind"] == "profile"
    names = [layer["name"] for layer in extra["layers"]]
    model, rates, label = evaluation_faults(profile, names, None, "ultra_low")
    assert set(rates.values()) == {0.033} and "ultra_low" in label
    data = extra["data"]
    res = mc_accuracy(net, data.test_x, data.test_y, rates, torch.Generator().manual_seed(0), model,
                      target=0.05, min_reps=4, max_reps=8)
    model, rates, _ = evaluation_faults(profile, names, None, "standard")
    res_std = mc_accuracy(net, data.test_x, data.test_y, rates, torch.Generator().manual_seed(0), model,
                          target=0.05, min_reps=4, max_reps=8)
    assert res.mean < res_std.mean <= accuracy(net, data.test_x, data.test_y) + 1e-9
    with pytest.raises(ProfileError, match="no operating point 'nope'"):
        evaluation_faults(profile, names, None, "nope")
