"""The reference interpreter computes what the PyTorch model computes, bit for bit.

Interpreter (blob + weight words, numpy) == the PyTorch forward pass's integer scores on
random and trained BNN and WAGE nets, and on words read back from a faulty memory.
"""

import numpy as np
import pytest
import torch

from drivers.memory_layout import bit_addresses
from models import reference
from models.blob import MAXPOOL, ModelBlob
from models.export import export_model, torch_scores
from models.faults import FaultInjector, FixedMasks, bits_to_mask
from models.layers import QuantizeInput, assign_memory_map, attach_faults, stored_layers
from models.training import TrainConfig, train
from models.wage import q_a
from tests.netzoo import BNN_CASES, ODD_SHAPE, WAGE_CASES, bnn, inputs, odd_bnn, single_layer, wage


def interpreted(net, shape, x):
    ex = export_model(net, shape)
    blob = ModelBlob.from_bytes(ex.blob_bytes())  # through the bytes, as the firmware gets it
    return reference.scores(blob, ex.image, reference.quantize_input(x.numpy(), blob.input_levels)), ex


@pytest.mark.parametrize("arch, shape, width", BNN_CASES)
def test_bnn_scores_equal_torch(arch, shape, width):
    net = bnn(arch, shape, width, seed=1)
    x = inputs(shape, 48, seed=2)
    got, _ = interpreted(net, shape, x)
    assert np.array_equal(got, torch_scores(net, x))
    assert np.array_equal(got, torch_scores(net, x, torch.float32))
    assert len(np.unique(got)) > 5  # non-degenerate scores


def test_unusual_layers_equal_torch():
    net = odd_bnn(seed=3)
    x = inputs(ODD_SHAPE, 32, seed=4)
    got, ex = interpreted(net, ODD_SHAPE, x)
    kinds = [(l.op, l.pool_k, l.pool_ceil) for l in ex.blob.layers]
    assert (MAXPOOL, 3, 0) in kinds and (MAXPOOL, 2, 0) in kinds and kinds[0][1:] == (2, 1)
    assert np.array_equal(got, torch_scores(net, x))


def test_single_layer_int8_to_scores():
    net = single_layer(seed=5)
    x = inputs((37,), 16, seed=6)
    got, ex = interpreted(net, (37,), x)
    assert len(ex.blob.layers) == 1
    assert np.array_equal(got, torch_scores(net, x))


@pytest.mark.parametrize("storage", ["ternary", "int8"])
@pytest.mark.parametrize("arch, shape, kwargs", WAGE_CASES)
def test_wage_scores_equal_torch(arch, shape, kwargs, storage):
    net = wage(arch, shape, kwargs, seed=7, storage=storage)
    x = inputs(shape, 24, seed=8)
    got, ex = interpreted(net, shape, x)
    assert ex.blob.input_levels == 128 and {l.encoding for l in ex.blob.layers} == {"ternary"}
    assert np.array_equal(got, torch_scores(net, x, torch.float32))
    assert np.array_equal(got, torch_scores(net, x))


@pytest.mark.parametrize("arch, width", [("mlp", 0.05), ("cnn", 0.1)])
def test_trained_bnn_equals_torch(tmp_path, arch, width):
    s = train(TrainConfig(arch=arch, width=width, epochs=2, limit_train=256, limit_test=128, eval_draws=1),
              tmp_path / "run")
    net, data = s.net.eval(), s.data
    got, _ = interpreted(net, data.in_shape, data.test_x)
    want = torch_scores(net, data.test_x)
    assert np.array_equal(got, want)
    assert np.array_equal(got, torch_scores(net, data.test_x, torch.float32))
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert all((m.running_var - 1).abs().max() > 0.01 for m in bns)  # trained statistics


def test_quantize_input_matches_torch():
    x = inputs((1000,), 1, seed=9)
    bnn_codes = reference.quantize_input(x.numpy(), 127).astype(np.float64)
    assert np.array_equal(bnn_codes, np.rint(QuantizeInput(8)(x).double().numpy() * 127))
    wage_codes = reference.quantize_input(x.numpy(), 128).astype(np.float64)
    assert np.array_equal(wage_codes, q_a(x, 8).double().numpy() * 128)
    assert bnn_codes.min() == -127 and wage_codes.max() == 127


def flip_bits(words: np.ndarray, addresses: np.ndarray) -> np.ndarray:
    out = words.copy()
    np.bitwise_xor.at(out, addresses // 32, (np.uint32(1) << (addresses % 32).astype(np.uint32)))
    return out


@pytest.mark.parametrize("kind", ["bnn", "wage"])
def test_corrupted_words_replay_the_fault_model(kind):
    """Interpreter over words with flipped bits == PyTorch with the same flips as fault masks
    at the layers' bit addresses (the memory layout shared by fault models and the board)."""
    shape = (1, 8, 8)
    net = bnn("cnn", shape, 0.05, seed=10) if kind == "bnn" else wage("lenet5", (1, 13, 13), WAGE_CASES[1][2], 10)
    shape = shape if kind == "bnn" else (1, 13, 13)
    ex = export_model(net, shape)
    assign_memory_map(net)
    rng = np.random.default_rng(11)
    flipped = np.zeros(32 * len(ex.image), dtype=bool)
    masks = {}
    for name, layer in stored_layers(net):
        addr = bit_addresses(layer.fault_site.region)
        hit = rng.random(addr.shape) < 0.05
        flipped[addr[hit]] = True
        masks[name] = bits_to_mask(torch.from_numpy(hit), torch.uint8)
    words = flip_bits(ex.image, np.flatnonzero(flipped))
    x = inputs(shape, 32, seed=12)
    codes = reference.quantize_input(x.numpy(), ex.blob.input_levels)
    clean = reference.scores(ex.blob, ex.image, codes)
    attach_faults(net, FaultInjector(FixedMasks(masks), torch.Generator()))
    faulty = reference.scores(ex.blob, words, codes)
    assert np.array_equal(faulty, torch_scores(net, x, torch.float32))
    assert not np.array_equal(faulty, clean)


def test_padding_bit_faults_change_nothing():
    net = bnn("mlp", (1, 8, 8), 0.05, seed=13)  # rows of 64 and 102 weights: 102 leaves padding
    ex = export_model(net, (1, 8, 8))
    used = np.zeros(32 * len(ex.image), dtype=bool)
    for region in ex.blob.regions():
        used[bit_addresses(region).ravel()] = True
    inside = np.zeros_like(used)
    for region in ex.blob.regions():
        inside[32 * region.base_word: 32 * region.end_word] = True
    padding = np.flatnonzero(inside & ~used)
    assert len(padding) > 0
    x = reference.quantize_input(inputs((1, 8, 8), 16, seed=14).numpy(), 127)
    assert np.array_equal(reference.scores(ex.blob, flip_bits(ex.image, padding), x),
                          reference.scores(ex.blob, ex.image, x))


def test_interpreter_input_errors():
    net = single_layer(seed=15)
    ex = export_model(net, (37,))
    with pytest.raises(ValueError, match="int8"):
        reference.scores(ex.blob, ex.image, np.zeros(37, dtype=np.float32))
    with pytest.raises(ValueError, match="batch of"):
        reference.scores(ex.blob, ex.image, np.zeros(36, dtype=np.int8))
    with pytest.raises(ValueError, match="region ends"):
        reference.scores(ex.blob, ex.image[:-1], np.zeros(37, dtype=np.int8))


def test_first_layer_ties_at_zero_follow_sign_of_zero():
    """Untrained BatchNorm (mean 0, var 1, gamma 1, beta 0): the first layer's threshold is
    z >= 0 and z = 0 happens; sign(0) = +1 on both sides, not float residue of n_i / 127."""
    from models.architectures import build_model

    shape = (1, 8, 8)
    net = build_model("mlp", shape, 10, width=0.1, generator=torch.Generator().manual_seed(16)).eval()
    x = inputs(shape, 64, seed=17)
    got, ex = interpreted(net, shape, x)
    codes = reference.quantize_input(x.numpy(), 127)
    first = ex.blob.layers[0]
    z = reference.preactivation(first, codes.reshape(-1, *shape), reference.weight_matrices(ex.blob, ex.image)[0])
    assert (first.tau == 0).all() and (z == 0).sum() >= 3
    assert np.array_equal(got, torch_scores(net, x))
    assert np.array_equal(got, torch_scores(net, x, torch.float32))


def test_interpreter_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, models.reference; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
