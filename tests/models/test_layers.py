"""Binary layers: sign/STE, stacked fault draws, input quantisation, positive scale, clipping."""

import torch
import torch.nn.functional as F

from models.faults import FaultInjector, FixedMasks
from models.layers import (BinaryConv2d, BinaryLinear, QuantizeInput, Scale, attach_faults,
                           clip_latent_weights, sign_ste, stored_layers)


def test_sign_forward_and_ste_backward():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    y = sign_ste(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]  # sign(0) = +1
    g = torch.arange(1.0, 8.0)
    y.backward(g)
    # dL/dx = dL/dx_b * 1{|x| <= 1}  [ALGORITHMS 1]
    assert x.grad.tolist() == [0, 2, 3, 4, 5, 6, 0]


def test_binary_linear_gradient_reaches_latent_weights():
    torch.manual_seed(0)
    layer = BinaryLinear(5, 3)
    x = torch.randn(4, 5)
    layer(x).sum().backward()
    expected = torch.ones(4, 3).T @ x  # d(sum(x w_b^T))/dw_b, all |w| <= 1
    assert torch.allclose(layer.weight.grad, expected)


def _stacked_vs_single(layer, x, draws=3):
    attach_faults(layer, None)
    gen = torch.Generator().manual_seed(1)
    masks = (torch.rand((draws,) + tuple(layer.weight.shape), generator=gen) < 0.3).to(torch.uint8)
    attach_faults(layer, FaultInjector(FixedMasks({layer.fault_site.name: masks}), gen, draws=draws))
    stacked = layer(x.repeat(draws, *([1] * (x.dim() - 1))))
    singles = []
    for k in range(draws):
        attach_faults(layer, FaultInjector(FixedMasks({layer.fault_site.name: masks[k]}), gen))
        singles.append(layer(x))
    return stacked, torch.cat(singles)


def test_stacked_draws_equal_one_by_one_linear_and_conv():
    torch.manual_seed(0)
    s, o = _stacked_vs_single(BinaryLinear(7, 4), torch.randn(5, 7))
    assert torch.allclose(s, o, atol=1e-5)  # bmm vs linear: summation order only
    s, o = _stacked_vs_single(BinaryConv2d(3, 4, 3, padding=1), torch.randn(2, 3, 5, 5))
    assert torch.allclose(s, o, atol=1e-5)


def test_faulty_read_flips_exactly_the_masked_weights():
    layer = BinaryLinear(6, 2)
    attach_faults(layer, None)
    mask = torch.zeros(2, 6, dtype=torch.uint8)
    mask[1, 4] = 1
    attach_faults(layer, FaultInjector(FixedMasks({layer.fault_site.name: mask}), torch.Generator()))
    wb = torch.where(layer.weight >= 0, 1.0, -1.0)
    read = layer.read_weight()
    assert read[1, 4] == -wb[1, 4]
    assert torch.equal(read * (1 - 2 * mask.float()), wb)


def test_quantize_input_is_8_bit_and_straight_through():
    q = QuantizeInput(bits=8)
    x = torch.tensor([-3.0, -1.0, 0.5, 0.3, 1.0, 2.0], requires_grad=True)
    y = q(x)
    assert torch.allclose(y * 127, torch.round(y * 127))
    assert y.tolist()[0] == -1.0 and y.tolist()[-1] == 1.0
    assert abs(float(y[2].detach()) - round(0.5 * 127) / 127) < 1e-7
    y.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 0]  # clamp gradient, identity over the rounding


def test_scale_is_positive_and_keeps_argmax():
    s = Scale(init=0.05)
    with torch.no_grad():
        s.log_s.fill_(-30.0)
    z = torch.tensor([[3.0, -1.0, 7.0]])
    assert s.value > 0 and s(z).argmax().item() == 2
    fixed = Scale(init=2.0, learnable=False)
    assert not any(p.requires_grad for p in fixed.parameters()) and abs(fixed.value - 2.0) < 1e-6


def test_clip_latent_weights_and_metadata():
    net = torch.nn.Sequential(BinaryLinear(4, 3), BinaryConv2d(2, 3, 3))
    with torch.no_grad():
        net[0].weight.mul_(5)
    clip_latent_weights(net)
    assert net[0].weight.abs().max() <= 1.0
    assert [(n, m.n_params, m.bits) for n, m in stored_layers(net)] == [("0", 12, 1), ("1", 54, 1)]
    assert F.linear(torch.ones(1, 4), net[0].read_weight()).shape == (1, 3)


def test_clean_weights_cached_per_weight_update_and_seen_by_every_update():
    """Computed once per weight update: the same tensor between updates, a new one after an
    optimiser step, clip_latent_weights and load_state_dict (each changes the latent weights)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(BinaryLinear(6, 4), BinaryConv2d(1, 2, 3))
    layer = net[0]
    first, codes = layer.clean_weight(), layer.stored_codes()
    assert layer.clean_weight() is first and layer.stored_codes() is codes
    assert torch.equal(first, torch.where(layer.weight >= 0, 1.0, -1.0)) and torch.equal(codes, (first < 0).to(torch.uint8))

    def fresh():
        return torch.where(layer.weight >= 0, 1.0, -1.0)

    opt = torch.optim.SGD(net.parameters(), lr=10.0)
    layer(torch.randn(3, 6)).sum().backward()  # grad enabled: quantised afresh, cache untouched
    assert layer.clean_weight() is first
    opt.step()
    assert not torch.equal(fresh(), first) and torch.equal(layer.clean_weight(), fresh())
    stepped = layer.clean_weight()
    clip_latent_weights(net)
    assert layer.clean_weight() is not stepped and torch.equal(layer.clean_weight(), fresh())
    other = torch.nn.Sequential(BinaryLinear(6, 4), BinaryConv2d(1, 2, 3))
    net.load_state_dict(other.state_dict())
    assert torch.equal(layer.clean_weight(), torch.where(other[0].weight >= 0, 1.0, -1.0))
    assert torch.equal(layer.stored_codes(), (layer.clean_weight() < 0).to(torch.uint8))


def test_eval_forward_uses_the_cache_and_training_gradients_are_unchanged():
    """A no-grad forward (cached weights, faults flipped in place and undone) equals the
    autograd forward on the same draw, leaves the cache clean, and the straight-through
    gradients of a later training step are those of a layer that never saw an evaluation."""
    from models.faults import BinarySymmetric

    results = []
    for evaluate_first in (False, True):
        torch.manual_seed(0)
        layer = BinaryLinear(40, 30)
        x = torch.randn(5, 40)
        attach_faults(layer, FaultInjector(BinarySymmetric(), torch.Generator().manual_seed(4), default_rate=0.1))
        if evaluate_first:
            clean = layer.clean_weight().clone()
            with torch.no_grad():
                y_eval = layer(x)
            assert torch.equal(layer.clean_weight(), clean)  # flips undone
            layer.fault_injector.generator.manual_seed(4)  # the same draw again, with autograd
        y = layer(x)
        if evaluate_first:
            assert torch.equal(y_eval, y.detach()) and not torch.equal(y_eval, F.linear(x, clean))
        (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
        results.append((y.detach(), layer.weight.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_quantize_input_without_autograd_gives_the_same_values():
    q = QuantizeInput(bits=8)
    steps = (torch.arange(-128, 129) + 0.5) / 127  # the rounding boundaries and their neighbours
    x = torch.cat([torch.linspace(-1.2, 1.2, 200_001), steps, torch.nextafter(steps, steps + 1),
                   torch.nextafter(steps, steps - 1)])
    with torch.no_grad():
        fast = q(x)
    assert torch.equal(fast, q(x).detach())  # as numbers: a zero may come out as -0.0


def test_faulty_reads_under_inference_mode_and_no_grad_share_the_cache():
    from models.faults import BinarySymmetric

    layer = BinaryLinear(8, 4)
    attach_faults(layer, FaultInjector(BinarySymmetric(), torch.Generator().manual_seed(0), default_rate=0.2))
    x = torch.randn(2, 8)
    with torch.inference_mode():
        layer(x)  # the cache is made here, as a normal tensor
    with torch.no_grad():
        layer(x)  # and flipped in place here
    with torch.inference_mode():
        layer(x)
    assert torch.equal(layer.clean_weight(), torch.where(layer.weight >= 0, 1.0, -1.0))
