"""Monte-Carlo evaluation: batched draws == one-by-one, CI stopping rule."""

import math

import pytest
import torch

from models.data import load_dataset
from models.evaluation import (accuracies_with_flips, accuracies_with_masks, accuracy, ci_half_width, correct_counts,
                               faults_attached, flipped, mc_accuracy, sample_flips, sample_masks)
from models.faults import Asymmetric, BinarySymmetric, FaultInjector, FixedMasks
from models.layers import stored_layers
from models.training import TrainConfig, build_session, train_epoch


@pytest.fixture(scope="module")
def trained():
    cfg = TrainConfig(arch="mlp", width=1 / 16, epochs=2, limit_test=200).resolved()
    s = build_session(cfg)
    for _ in range(2):
        train_epoch(s)
    s.net.eval()
    return s.net, s.data.test_x, s.data.test_y


def test_identical_masks_give_identical_results_batched_and_one_by_one(trained):
    net, x, y = trained
    rates = {n: 0.05 for n, _ in stored_layers(net)}
    masks = sample_masks(net, BinarySymmetric(), rates, torch.Generator().manual_seed(0), draws=6)
    batched = accuracies_with_masks(net, x, y, masks, 6, max_rows=256)  # several input chunks
    singles = torch.cat([accuracies_with_masks(net, x, y, {k: m[i:i + 1] for k, m in masks.items()}, 1)
                         for i in range(6)])
    assert torch.equal(batched, singles)
    assert len(set(batched.tolist())) > 1  # the draws really differ
    assert batched.max() <= accuracy(net, x, y) + 0.05


def test_batched_and_one_by_one_agree_statistically(trained):
    net, x, y = trained
    rates = {n: 0.1 for n, _ in stored_layers(net)}
    a = mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(1), min_reps=60, max_reps=60, draws_per_pass=20)
    b = mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(2), min_reps=60, max_reps=60, draws_per_pass=1)
    assert a.reps == b.reps == 60
    # difference of two independent means: within 4 standard errors (p < 1e-4 under H0)
    se = math.hypot(a.half_width, b.half_width) / 2.02
    assert abs(a.mean - b.mean) < 4 * se
    assert a.mean < accuracy(net, x, y)  # faults cost accuracy at eps = 0.1


def test_ci_half_width_hand_value():
    hw = ci_half_width(torch.tensor([0.5, 0.7]))
    assert abs(hw - 12.7062047 * 0.1414213562 / math.sqrt(2)) < 1e-6  # t_{0.975,1} s / sqrt(n)
    assert ci_half_width(torch.tensor([0.5])) == math.inf


def test_stopping_rule_stops_at_the_first_pass_below_target(trained):
    net, x, y = trained
    rates = {n: 0.05 for n, _ in stored_layers(net)}
    seen = []
    r = mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(3), target=0.01, min_reps=4,
                    max_reps=500, draws_per_pass=4, on_progress=seen.append)
    assert r.half_width < 0.01 and r.reps == len(r.accuracies) and r.reps >= 4
    assert all(p.half_width >= 0.01 for p in seen[:-1])  # not earlier
    assert abs(r.half_width - ci_half_width(torch.tensor(r.accuracies, dtype=torch.float64))) < 1e-12
    loose = mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(3), target=1.0, min_reps=10, draws_per_pass=4)
    assert loose.reps == 12  # min_reps rounded up to whole passes
    capped = mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(3), target=1e-9, min_reps=2, max_reps=9, draws_per_pass=4)
    assert capped.reps == 9 and capped.half_width >= 1e-9


def test_fault_free_is_exact_and_layers_without_rate_stay_clean(trained):
    net, x, y = trained
    r = mc_accuracy(net, x, y, {n: 0.0 for n, _ in stored_layers(net)}, torch.Generator())
    assert (r.mean, r.half_width, r.reps) == (accuracy(net, x, y), 0.0, 1)
    first = stored_layers(net)[0][0]
    masks = sample_masks(net, BinarySymmetric(), {first: 0.5}, torch.Generator().manual_seed(0), 2)
    assert masks[first].any() and all(not m.any() for k, m in masks.items() if k != first)
    with pytest.raises(ValueError, match="min_reps"):
        mc_accuracy(net, x, y, {first: 0.1}, torch.Generator(), min_reps=1)


def test_batched_draws_through_conv_batchnorm_and_pooling():
    from models.architectures import build_model

    data = load_dataset("digits", limit_test=60)
    net = build_model("cnn", data.in_shape, 10, width=1 / 16, generator=torch.Generator().manual_seed(0))
    net.train()
    with torch.no_grad():  # give BatchNorm non-trivial running statistics
        net(data.train_x[:200])
    net.eval()
    rates = {n: 0.2 for n, _ in stored_layers(net)}
    masks = sample_masks(net, BinarySymmetric(), rates, torch.Generator().manual_seed(4), draws=5)
    batched = accuracies_with_masks(net, data.test_x, data.test_y, masks, 5, max_rows=100)
    singles = torch.cat([accuracies_with_masks(net, data.test_x, data.test_y, {k: m[i:i + 1] for k, m in masks.items()}, 1)
                         for i in range(5)])
    assert torch.equal(batched, singles)


def _masks_from_flips(net, draws):
    out = {}
    for name, layer in stored_layers(net):
        masks = torch.zeros((len(draws),) + tuple(layer.weight.shape), dtype=torch.uint8)
        for d, draw in enumerate(draws):
            flat = masks[d].view(-1)
            flat[draw[name].index] = 1 if draw[name].xor is None else draw[name].xor.to(torch.uint8)
        out[name] = masks
    return out


@pytest.mark.parametrize("model", [BinarySymmetric(), Asymmetric(0.2, 0.05)], ids=["bsc-sparse", "asymmetric-dense"])
def test_sparse_draws_are_the_dense_draws_of_the_same_generator(trained, model):
    """sample_flips makes the generator calls of sample_masks: the same faulty chips, sparse."""
    net, _, _ = trained
    rates = {n: 0.05 for n, _ in stored_layers(net)}
    rates.pop(stored_layers(net)[-1][0])  # a layer without a rate reads clean
    masks = sample_masks(net, model, rates, torch.Generator().manual_seed(5), draws=3)
    flips = sample_flips(net, model, rates, torch.Generator().manual_seed(5), draws=3)
    assert len(flips) == 3 and all(set(d) == set(masks) for d in flips)
    dense = _masks_from_flips(net, flips)
    assert all(torch.equal(dense[name], masks[name]) for name in masks)
    assert all(m.any() for name, m in masks.items() if name in rates)
    assert not masks[stored_layers(net)[-1][0]].any()


def test_multibit_sparse_draws_xor_the_bits_of_one_word():
    from models.wage import WageLinear

    layer = WageLinear(32, 16)
    net = torch.nn.Sequential(layer)
    masks = sample_masks(net, BinarySymmetric(), {"0": 0.2}, torch.Generator().manual_seed(1), draws=2)
    flips = sample_flips(net, BinarySymmetric(), {"0": 0.2}, torch.Generator().manual_seed(1), draws=2)
    assert torch.equal(_masks_from_flips(net, flips)["0"], masks["0"])
    m = masks["0"].int()
    assert ((m & (m - 1)) != 0).any()  # some words have several flipped bits


def test_draws_applied_in_place_equal_the_injector_and_are_undone_on_errors(trained):
    net, x, y = trained
    rates = {n: 0.05 for n, _ in stored_layers(net)}
    draws = sample_flips(net, BinarySymmetric(), rates, torch.Generator().manual_seed(6), draws=3)
    accs = accuracies_with_flips(net, x, y, draws, max_rows=128)  # several input chunks
    masks = _masks_from_flips(net, draws)
    for d in range(3):  # the layers' read path, one draw attached at a time
        injector = FaultInjector(FixedMasks({k: m[d] for k, m in masks.items()}), torch.Generator())
        with faults_attached(net, injector):
            assert accs[d] == float(correct_counts(net, x, y)[0]) / len(y)
    clean = {n: m.clean_weight().clone() for n, m in stored_layers(net)}
    with pytest.raises(RuntimeError, match="boom"):
        with flipped(net, draws[0]):
            assert not all(torch.equal(m.clean_weight(), clean[n]) for n, m in stored_layers(net))
            raise RuntimeError("boom")
    assert all(torch.equal(m.clean_weight(), clean[n]) for n, m in stored_layers(net))
