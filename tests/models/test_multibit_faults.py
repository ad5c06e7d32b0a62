"""Faults on multi-bit stored words (WAGE int8 training storage and ternary inference storage)."""

import numpy as np
import pytest
import torch

from drivers.memory_layout import pack_weights, unpack_weights
from models.faults import Asymmetric, BinarySymmetric, FaultInjector, FixedMasks, stored_bits
from models.layers import assign_memory_map, attach_faults
from models.wage import WageLinear, parse_bits, set_storage, build_wage_net, wage_layers


def _layer(storage="int8", out=64, inp=128, seed=0):
    layer = WageLinear(inp, out, storage=storage)
    layer.init_weights_(torch.Generator().manual_seed(seed))
    with torch.no_grad():  # spread the latent weights over the whole int8 training grid
        layer.weight.copy_(torch.randint(-64, 65, layer.weight.shape,
                                         generator=torch.Generator().manual_seed(seed + 1)) / 128)
    return layer


@pytest.mark.parametrize("storage,rel", [("int8", [1, 1, 1, 1, 1, 1, 1, 1]),
                                         ("int8", [0.25, 0.5, 0.5, 1, 1, 1, 2, 4]),
                                         ("ternary", [1, 3])])
def test_empirical_flip_rate_per_bit_position(storage, rel):
    layer = _layer(storage)
    assign_memory_map(layer)
    eps = 0.02
    model = BinarySymmetric(eps, bit_rates=rel)
    gen = torch.Generator().manual_seed(7)
    codes = layer.to_codes(layer.quantized_weight().detach())
    draws = 40
    mask = model.flip_mask(layer.fault_site, codes, None, gen, draws=draws)
    read = codes.unsqueeze(0) ^ mask
    flipped = stored_bits(read ^ codes.unsqueeze(0), len(rel)).float()  # [draws, out, in, bits]
    n = flipped[..., 0].numel()
    rates = flipped.reshape(-1, len(rel)).mean(0)
    for j, r in enumerate(rel):
        p = eps * r
        assert abs(rates[j].item() - p) < 5 * np.sqrt(p * (1 - p) / n), (j, rates[j].item(), p)


def test_int8_codes_are_the_shared_memory_layout():
    """The stored word is memory_layout's int8 encoding; bit addresses hit the same bit."""
    layer = _layer("int8", out=3, inp=10)
    assign_memory_map(layer)
    codes = layer.to_codes(layer.quantized_weight().detach())
    signed = codes.numpy().view(np.int8)
    assert np.array_equal(signed, np.round(layer.weight.detach().numpy() * 128).astype(np.int8))
    words = pack_weights(signed, "int8")
    addr = layer.fault_site.addresses  # [out, in, 8], global bit address, LSB first
    o, i = 1, 6
    a = int(addr[o, i, 7])
    words[a // 32] ^= np.uint32(1 << (a % 32))
    back = unpack_weights(words, (3, 10), "int8")
    expect = signed.copy()
    expect[o, i] = np.int8(np.uint8(expect[o, i]) ^ 0x80)
    assert np.array_equal(back, expect)


def test_flipped_msb_changes_the_weight_by_the_expected_amount():
    layer = _layer("int8", out=8, inp=16)
    stored = layer.quantized_weight().detach()
    msb = torch.full(stored.shape, 0x80, dtype=torch.uint8)
    attach_faults(layer, FaultInjector(FixedMasks({"": msb}), torch.Generator()))
    read = layer.fault_injector.corrupt(layer, layer.quantized_weight())
    # two's complement: code ^ 0x80 = code - 128 (code >= 0) or code + 128 (code < 0) -> W -+ 1.0
    delta = read.detach() - stored
    assert torch.equal(delta, torch.where(stored >= 0, -1.0, 1.0))
    # the MACs see Q_W of the corrupted word: it lands on the opposite clip bound
    w_eff = layer.read_weight().detach()
    alpha = layer.alpha
    assert torch.equal(w_eff, torch.where(stored >= 0, -0.5, 0.5) / alpha)
    # and the ternary inference word: bit 0 is the sign, bit 1 the nonzero flag
    set_storage(layer, "ternary")
    assign_memory_map(layer)
    t = layer.ternary_weights().float()
    for bit, expect in ((0x1, -t), (0x2, torch.where(t == 0, 1.0, 0.0))):
        layer.fault_injector = FaultInjector(FixedMasks({"": torch.full(t.shape, bit, dtype=torch.uint8)}),
                                             torch.Generator())
        assert torch.equal(layer.read_weight().detach() / layer.weight_scale, expect)


def test_uniform_noise_on_wage_net_corrupts_codes_and_trains():
    """A BSC on the stored int8 words of a whole WAGE net: reads differ only on the code grid,
    gradients still reach the latent weights (straight through the fault)."""
    net = build_wage_net("mlp", (16,), 4, bits=parse_bits("2888"), width=8, generator=torch.Generator().manual_seed(0))
    attach_faults(net, FaultInjector(BinarySymmetric(), torch.Generator().manual_seed(1), default_rate=0.05))
    x = torch.rand(8, 16) * 2 - 1
    net(x).pow(2).sum().backward()
    for _, layer in wage_layers(net):
        assert layer.bits == 8
        read = layer.fault_injector.corrupt(layer, layer.quantized_weight()).detach()
        assert torch.equal(read * 128, (read * 128).round())
        assert (read != layer.quantized_weight().detach()).any()
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("storage", ["int8", "ternary"])
@pytest.mark.parametrize("model", [BinarySymmetric(), Asymmetric(0.03, 0.01)], ids=["bsc-sparse", "asymmetric-dense"])
def test_eval_read_of_multibit_words_equals_the_autograd_read(storage, model):
    """Without autograd the read's flips (several bits of one word XOR together) are applied
    to the cached effective weights in place: the same forward as the autograd read of the
    same draw, and the cache is clean again afterwards."""
    layer = _layer(storage, out=16, inp=32)
    assign_memory_map(layer)
    clean = layer.clean_weight().clone()
    assert torch.equal(clean, layer.effective_weight(layer.quantized_weight()).detach())
    x = torch.randn(4, 32)
    attach_faults(layer, FaultInjector(model, torch.Generator().manual_seed(3), default_rate=0.2))
    with torch.no_grad():
        y_eval = layer(x)
    layer.fault_injector.generator.manual_seed(3)
    y = layer(x).detach()
    assert torch.equal(y_eval, y) and not torch.equal(y, torch.nn.functional.linear(x, clean))
    assert torch.equal(layer.clean_weight(), clean)
    if storage == "int8":  # the encoding is part of the cache key
        set_storage(layer, "ternary")
        assert torch.equal(layer.clean_weight(), layer.ternary_weights().float() * layer.weight_scale)
