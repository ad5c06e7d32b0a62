"""WAGE quantisers, bit patterns, initialisation and layers. [ALGORITHMS 7]"""

import math

import pytest
import torch

from models.wage import (WageBits, build_wage_net, clip, layer_scale, parse_bits, q_a, q_e, quantize,
                         quantize_gradient, set_storage, shift, sigma, sse_loss, wage_layers)


def test_primitives():
    assert sigma(2) == 0.5 and sigma(8) == 1 / 128
    assert shift(torch.tensor([3.0, 0.7, 1.0, 5.0])).tolist() == [4.0, 0.5, 1.0, 4.0]
    assert shift(torch.tensor(0.0)).item() == 1.0  # the Shift(0) guard
    x = torch.tensor([-2.0, -0.375, 0.25, 0.875])
    assert clip(x, 2).tolist() == [-0.5, -0.375, 0.25, 0.5]
    assert clip(x, None).tolist() == [-1.0, -0.375, 0.25, 0.875]
    assert quantize(clip(x, 2), 2).tolist() == [-0.5, -0.5, 0.0, 0.5]
    assert quantize(torch.tensor([0.25, 0.75]), 2).tolist() == [0.0, 1.0]  # half to even, as tf.round
    assert quantize(x, 1).tolist() == [-1.0, -1.0, 1.0, 1.0]
    assert torch.equal(quantize(x, None), x)


@pytest.mark.parametrize("text,expect", [
    ("2-8-8-8", WageBits(2, 8, 8, 8)), ("2888", WageBits(2, 8, 8, 8)), ("28ff", WageBits(2, 8, None, None)),
    ("2-8-f-f", WageBits(2, 8, None, None)), ("28C8", WageBits(2, 8, 12, 8)), ("2-8-32-8", WageBits(2, 8, None, 8)),
    ("ffff", WageBits(None, None, None, None)),
])
def test_parse_bits(text, expect):
    assert parse_bits(text) == expect


@pytest.mark.parametrize("bad", ["2-8-8", "28x8", "2-8-0-8", ""])
def test_parse_bits_rejects(bad):
    with pytest.raises(ValueError, match="k_W-k_A-k_G-k_E|out of range"):
        parse_bits(bad)


def test_layer_scale_matches_released_lenet5_log():
    # log/2017-10-23(lenet5 2888).txt prints Scale 2, 16, 16, 8 for fan-ins 25, 800, 1024, 512
    assert [layer_scale(n, 2)[1] for n in (25, 800, 1024, 512)] == [2.0, 16.0, 16.0, 8.0]
    limit, _ = layer_scale(25, 2)
    assert limit == 0.75  # L_min = 1.5 * sigma(2) dominates sqrt(3/25)
    assert layer_scale(4, 8, "paper")[0] == pytest.approx(math.sqrt(6 / 4))
    with pytest.raises(ValueError, match="init"):
        layer_scale(4, 2, "other")


def test_activation_quantiser_forward_and_clip_gradient():
    a = torch.tensor([-2.0, 0.1234, 0.5, 1.5], requires_grad=True)
    y = q_a(a, 8)
    assert y.tolist() == [-1 + 1 / 128, round(0.1234 * 128) / 128, 0.5, 1 - 1 / 128]
    y.sum().backward()
    assert a.grad.tolist() == [0.0, 1.0, 1.0, 0.0]


def test_error_quantiser_backward():
    x = torch.zeros(4, requires_grad=True)
    e = torch.tensor([3.0, -0.01, 0.7, -5.0])
    q_e(x, 8).backward(e)
    # Shift(max|e|) = Shift(5) = 4: e/4 = [0.75, -0.0025, 0.175, -1.25] -> clip, 8-bit grid
    expect = quantize(clip(e / 4, 8), 8)
    assert torch.equal(x.grad, expect)
    assert x.grad[1] == 0  # below sigma(8)/2: discarded
    x.grad = None
    q_e(x, 8).backward(torch.zeros(4))  # Shift(0) guard: no NaN
    assert torch.equal(x.grad, torch.zeros(4))


def test_gradient_quantiser_is_unbiased_integer_update():
    g = torch.tensor([0.3, -0.05, 1.0, 0.0]).repeat(20000, 1)
    gen = torch.Generator().manual_seed(0)
    dw = quantize_gradient(g, 8, eta=8.0, generator=gen)
    steps = dw / sigma(8)
    assert torch.equal(steps, steps.round())  # integer multiples of sigma(k_G)
    # g_s = 8 * g / Shift(1) = [2.4, -0.4, 8, 0]: E[steps] = g_s, floor/ceil only
    assert steps.mean(0).tolist() == pytest.approx([2.4, -0.4, 8.0, 0.0], abs=0.03)
    assert set(steps[:, 0].unique().tolist()) == {2.0, 3.0}
    # same generator seed, same update
    again = quantize_gradient(g, 8, eta=8.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(dw, again)
    assert torch.equal(quantize_gradient(torch.zeros(3), 8, 1.0, gen), torch.zeros(3))


def test_sse_loss():
    out = torch.tensor([[0.5, 0.0], [0.0, 0.0]])
    assert sse_loss(out, torch.tensor([0, 1])).item() == pytest.approx(0.5 * (0.25 + 1.0))


@pytest.mark.parametrize("arch,shape,kw", [("vgg7", (3, 8, 8), {"width": 4}), ("lenet5", (1, 8, 8), {"padding": 2}),
                                           ("mlp", (1, 8, 8), {"width": 16})])
def test_wage_nets_are_ternary_int8_stored_no_bias(arch, shape, kw):
    net = build_wage_net(arch, shape, 10, generator=torch.Generator().manual_seed(0), **kw)
    x = torch.rand(4, *shape) * 2 - 1
    y = net(x)
    assert y.shape == (4, 10)
    sse_loss(y, torch.arange(4)).backward()
    for name, layer in wage_layers(net):
        assert layer.bias is None and layer.encoding == "int8" and layer.bits == 8
        assert layer.weight.abs().max() <= 0.5  # C(W, 2)
        t = layer.ternary_weights()
        assert set(t.unique().tolist()) <= {-1, 0, 1}
        assert torch.equal(layer.effective_weight(layer.quantized_weight()), t.float() * layer.weight_scale)
        assert layer.weight.grad is not None
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    set_storage(net, "ternary")
    assert all(l.bits == 2 and l.encoding == "ternary" for _, l in wage_layers(net))
    assert torch.allclose(net(x), y.detach())  # same inference weights in either storage


def test_ternary_storage_needs_two_bit_weights():
    net = build_wage_net("mlp", (4,), 3, bits=parse_bits("8-8-8-8"), width=4)
    with pytest.raises(ValueError, match="k_W = 2"):
        set_storage(net, "ternary")
