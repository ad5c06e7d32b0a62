"""The packed Monte-Carlo path (models.packed_eval) against the torch path: the same seeds give
the same flips, and every input's scores and prediction equal the torch forward's under them."""

import numpy as np
import pytest
import torch

from models import reference
from models.evaluation import mc_accuracy, sample_masks
from models.export import torch_scores
from models.faults import Asymmetric, BinarySymmetric, FaultInjector, FixedMasks
from models.layers import attach_faults, stored_layers
from models.packed_eval import (PackedEvalError, _draw_flips, _forward, faulty_words, first_layer_inputs,
                                first_layer_update, first_layer_z, pack_network, packed_mc_accuracy, packed_scores)
from tests.netzoo import ODD_SHAPE, bnn, inputs, odd_bnn, wage

NETS = [pytest.param(lambda: (bnn("mlp", (1, 8, 8), 0.05, seed=41), (1, 8, 8)), id="mlp"),
        pytest.param(lambda: (bnn("cnn", (3, 10, 10), 0.1, seed=42), (3, 10, 10)), id="cnn"),
        pytest.param(lambda: (odd_bnn(seed=43), ODD_SHAPE), id="odd-layers")]


@pytest.mark.parametrize("make", NETS)
def test_scores_equal_the_torch_path_under_the_same_draws(make):
    """Per draw: masks from the torch path's sampler, flips from the packed path's with the same
    seed; torch scores (FixedMasks) == packed scores on every input, and so the predictions."""
    net, shape = make()
    packed = pack_network(net, shape)
    rates = {name: 0.04 for name, _ in stored_layers(net)}
    x = inputs(shape, 30, seed=44)
    codes = reference.quantize_input(x.numpy(), 127)
    draws = 3
    masks = sample_masks(net, BinarySymmetric(), rates, torch.Generator().manual_seed(45), draws)
    flips = _draw_flips(packed, BinarySymmetric(), rates, torch.Generator().manual_seed(45), draws)
    first = first_layer_inputs(packed, codes)
    clean = first_layer_z(packed, packed.image, first)
    for d in range(draws):
        attach_faults(net, FaultInjector(FixedMasks({k: m[d] for k, m in masks.items()}), torch.Generator()))
        want = torch_scores(net, x)
        attach_faults(net, None)
        assert sum(int(m[d].sum()) for m in masks.values()) == sum(len(f) for f in flips[d]) > 0
        words = faulty_words(packed, np.concatenate(flips[d]))
        np.testing.assert_array_equal(packed_scores(packed, words, codes), want)
        z0 = clean.copy()  # the Monte-Carlo loop's first layer: fault-free plus the draw's change
        first_layer_update(packed, z0, first, flips[d][0])
        got = _forward(packed, words, z0, len(codes))
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got.argmax(1), want.argmax(1))
    assert not np.array_equal(got, packed_scores(packed, packed.image, codes))


@pytest.mark.parametrize("make", NETS[:2])
@pytest.mark.parametrize("fault_model", [BinarySymmetric(), Asymmetric(0.02, 0.06)], ids=["bsc-sparse", "asym-dense"])
def test_monte_carlo_equals_mc_accuracy(make, fault_model):
    """Same seed, same stopping rule: the same accuracies draw by draw, and the same result."""
    net, shape = make()
    x = inputs(shape, 40, seed=46)
    y = torch.randint(0, 10, (40,), generator=torch.Generator().manual_seed(47))
    rates = {name: 0.03 for name, _ in stored_layers(net)}
    kw = {"target": 0.02, "min_reps": 4, "max_reps": 40, "draws_per_pass": 6}
    want = mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(48), fault_model, **kw)
    got = packed_mc_accuracy(net, x, y, rates, torch.Generator().manual_seed(48), fault_model, max_rows=17, **kw)
    assert got.accuracies == want.accuracies and got.reps == want.reps > 4
    assert (got.mean, got.half_width) == (want.mean, want.half_width)
    assert len(set(got.accuracies)) > 1


def test_fault_free_is_the_exact_accuracy():
    net, shape = bnn("cnn", (1, 8, 8), 0.05, seed=49), (1, 8, 8)
    x = inputs(shape, 25, seed=50)
    y = torch.from_numpy(torch_scores(net, x).argmax(1))
    y[:5] = (y[:5] + 1) % 10
    r = packed_mc_accuracy(net, x, y, {}, torch.Generator())
    assert (r.mean, r.half_width, r.reps) == (20 / 25, 0.0, 1)


def test_changed_weights_are_exported_again():
    net, shape = bnn("mlp", (1, 8, 8), 0.05, seed=51), (1, 8, 8)
    codes = reference.quantize_input(inputs(shape, 10, seed=52).numpy(), 127)
    before = pack_network(net, shape)
    assert pack_network(net, shape) is before  # unchanged: the export is reused
    with torch.no_grad():
        stored_layers(net)[0][1].weight.mul_(-1)
    after = pack_network(net, shape)
    assert after is not before
    np.testing.assert_array_equal(packed_scores(after, after.image, codes), torch_scores(net, inputs(shape, 10, seed=52)))


def test_networks_with_real_activations_or_ternary_weights_are_refused():
    from models.architectures import build_model

    bc = build_model("mlp", (1, 8, 8), 10, 0.05, "binaryconnect")
    with pytest.raises(PackedEvalError, match="exportable BNN-mode networks only.*ReLU"):
        pack_network(bc, (1, 8, 8))
    with pytest.raises(PackedEvalError, match="ternary weights"):
        pack_network(wage("mlp", (1, 8, 8), {"width": 40}, seed=53), (1, 8, 8))
