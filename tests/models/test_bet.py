"""Bit-error tolerance: Theorem 1 of seed 2 by brute force, tightness, the network metric, the regulariser."""

import itertools

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings, strategies as st

from models.bet import BetRegularizer, SignNeuronTracer, bit_error_tolerance, local_tolerance
from models.layers import BinaryActivation, BinaryConv2d, BinaryLinear


def sign0(v):
    return 1 if v >= 0 else -1


def flips_change_output(w, x, tau, k):
    """Does some set of ``k`` weight sign flips change ``sign(w.x - tau)``?"""
    out = sign0(sum(a * b for a, b in zip(w, x)) - tau)
    for idx in itertools.combinations(range(len(w)), k):
        wf = [-wi if i in idx else wi for i, wi in enumerate(w)]
        if sign0(sum(a * b for a, b in zip(wf, x)) - tau) != out:
            return True
    return False


@pytest.mark.parametrize("seed", range(40))
def test_theorem1_and_tightness_binary_inputs(seed):
    g = torch.Generator().manual_seed(seed)
    k = int(torch.randint(1, 9, (1,), generator=g))
    w = (torch.randint(0, 2, (k,), generator=g) * 2 - 1).tolist()
    x = torch.randint(-1, 2, (k,), generator=g).tolist()  # +-1 and a few padding zeros
    z = sum(a * b for a, b in zip(w, x))
    # integer thresholds exercise the tie z = tau, half-integers the other parity
    tau = [z, z - 2, z + 1, z - 3.5, z + 0.5, float(torch.randn(1, generator=g) * 3)][seed % 6]
    beta = int(local_tolerance(torch.tensor(float(z - tau)), 2.0, k))
    for flips in range(0, min(beta, k) + 1):
        assert not flips_change_output(w, x, tau, flips), (w, x, tau, beta, flips)
    # beta + 1 flips can change the output whenever enough summands lie on the margin's side
    side = 1 if z - tau >= 0 else -1
    available = sum(1 for a, b in zip(w, x) if a * b == side)
    if beta + 1 <= available:
        assert flips_change_output(w, x, tau, beta + 1), (w, x, tau, beta)
    else:
        assert not any(flips_change_output(w, x, tau, f) for f in range(k + 1))


@pytest.mark.parametrize("seed", range(20))
def test_theorem1_real_first_layer_inputs(seed):
    g = torch.Generator().manual_seed(100 + seed)
    k = int(torch.randint(1, 8, (1,), generator=g))
    w = (torch.randint(0, 2, (k,), generator=g) * 2 - 1).tolist()
    x = (torch.rand(k, generator=g) * 2 - 1).tolist()
    tau = float(torch.randn(1, generator=g))
    z = sum(a * b for a, b in zip(w, x))
    beta = int(local_tolerance(torch.tensor(z - tau), 2 * max(abs(v) for v in x), k))
    for flips in range(0, min(beta, k) + 1):
        assert not flips_change_output(w, x, tau, flips)


def test_paper_convention_is_one_lower_on_even_positive_margins():
    m = torch.tensor([4.0, 3.0, 0.0, -4.0, -3.0])
    assert local_tolerance(m, 2.0, 100).tolist() == [2, 1, 0, 1, 1]
    assert local_tolerance(m, 2.0, 100, "paper").tolist() == [1, 1, 0, 1, 1]
    assert local_tolerance(m, 2.0, 1).tolist() == [1, 1, 0, 1, 1]  # capped at fan-in
    with pytest.raises(ValueError, match="convention"):
        local_tolerance(m, 2.0, 3, "other")


def _neuron_outputs(net, x):
    with torch.no_grad():
        return net[:-1](x).sign() + (net[:-1](x) == 0)  # sign with sign(0) = +1


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 6), n=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_property_random_fc_layers_with_batchnorm(k, n, seed):
    """Over random small BinaryLinear+BatchNorm+sign layers: beta flips of a neuron's weights
    never change its output, beta + 1 can (when enough weights sit on the margin's side)."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(BinaryLinear(k, n), nn.BatchNorm1d(n), BinaryActivation())
    with torch.no_grad():
        net[0].weight.uniform_(-1, 1, generator=g)
        net[1].weight.copy_(torch.randn(n, generator=g))      # negative gamma flips the sign
        net[1].bias.copy_(torch.randn(n, generator=g) * 2)
        net[1].running_mean.copy_(torch.randn(n, generator=g))
        net[1].running_var.copy_(torch.rand(n, generator=g) + 0.5)
    net.eval()
    x = (torch.randint(0, 2, (3, k), generator=g) * 2 - 1).float()
    with SignNeuronTracer(net) as tracer:
        net(x)
        (trace,) = tracer.traces()
    beta = trace.neuron_tolerance()  # [B, n]
    base = _neuron_outputs(net, x)
    w0 = net[0].weight.detach().clone()
    wb = torch.where(w0 >= 0, 1.0, -1.0)
    for j in range(n):
        for flips in range(k + 1):
            changed = torch.zeros(x.shape[0], dtype=torch.bool)
            for idx in itertools.combinations(range(k), flips):
                w = w0.clone()
                w[j, list(idx)] = -wb[j, list(idx)]
                with torch.no_grad():
                    net[0].weight.copy_(w)
                changed |= _neuron_outputs(net, x)[:, j] != base[:, j]
            with torch.no_grad():
                net[0].weight.copy_(w0)
            for b in range(x.shape[0]):
                bj = int(beta[b, j])
                if flips <= bj:
                    assert not changed[b], (j, b, flips, bj)
                elif flips == bj + 1:
                    # summands that move y towards 0: their sign is sign(y) * sign(gamma)
                    side = (1.0 if float(trace.margin[b, j].detach()) >= 0 else -1.0) * float(net[1].weight[j].detach().sign())
                    available = int(((wb[j] * x[b]) == side).sum())
                    assert bool(changed[b]) == (bj + 1 <= available), (j, b, flips, bj, available)


def test_conv_neuron_min_over_positions_holds_everywhere():
    """Conv neuron: beta = min over positions; any beta flips leave every position unchanged."""
    g = torch.Generator().manual_seed(3)
    net = nn.Sequential(BinaryConv2d(1, 1, 2), BinaryActivation())
    with torch.no_grad():
        net[0].weight.uniform_(-1, 1, generator=g)
    x = (torch.randint(0, 2, (2, 1, 3, 3), generator=g) * 2 - 1).float()
    with SignNeuronTracer(net) as tracer:
        net(x)
        (trace,) = tracer.traces()
    beta = trace.neuron_tolerance()
    w0 = net[0].weight.detach().clone()
    base = torch.where(net[0](x) >= 0, 1, -1)
    for b in range(2):
        for idx in itertools.combinations(range(4), int(beta[b, 0])):
            w = w0.clone().view(-1)
            w[list(idx)] = -w[list(idx)]
            with torch.no_grad():
                net[0].weight.copy_(w.view_as(w0))
                out = torch.where(net[0](x) >= 0, 1, -1)
            assert torch.equal(out[b], base[b])
        with torch.no_grad():
            net[0].weight.copy_(w0)


def test_network_metric_and_regulariser_on_a_small_bnn():
    from models.architectures import build_model

    g = torch.Generator().manual_seed(0)
    net = build_model("mlp", (1, 8, 8), 10, width=0.02, generator=g)
    x = torch.rand(32, 1, 8, 8, generator=g) * 2 - 1
    net.train()
    net(x)  # BatchNorm running statistics
    report = bit_error_tolerance(net, [x[:16], x[16:]])
    assert set(report.layers) == {"2", "5"}  # the two hidden layers; the last layer has no sign
    assert report.n_inputs == 32
    n = report.neurons
    expect = (report.layers["2"] * n["2"] + report.layers["5"] * n["5"]) / (n["2"] + n["5"])
    assert report.network == pytest.approx(expect, rel=1e-5)
    assert net.training  # mode restored

    # the hinge penalty is positive below the target and its gradient pushes margins out
    reg = BetRegularizer(net, b=50.0, lam=1.0)
    with reg:
        net(x)
        p = reg.penalty()
    p.backward()
    assert p.item() > 0
    assert net[2].weight.grad is not None and net[2].weight.grad.abs().sum() > 0
    assert not reg.tracer.handles  # hooks removed on exit


def test_theorem1_through_maxpool_and_batchnorm_in_a_cnn():
    """conv -> maxpool -> BatchNorm -> sign (the architectures' block): beta flips of a
    channel's weights leave that channel's outputs unchanged at every pooled position."""
    from models.architectures import build_sequential

    g = torch.Generator().manual_seed(5)
    net = build_sequential("c2 mp fc4", (1, 4, 4), 3)
    conv, bn = net[1], net[3]
    with torch.no_grad():
        conv.weight.uniform_(-1, 1, generator=g)
        bn.weight.copy_(torch.tensor([0.7, -1.3]))
        bn.bias.copy_(torch.randn(2, generator=g) * 0.1)
        bn.running_mean.copy_(torch.tensor([4.0, -3.0]))  # thresholds away from z: beta of 1..3
        bn.running_var.copy_(torch.rand(2, generator=g) + 0.5)
    net.eval()
    x = torch.rand(3, 1, 4, 4, generator=g) * 2 - 1
    with SignNeuronTracer(net) as tracer:
        net(x)
        traces = {t.name: t for t in tracer.traces()}
    beta = traces["1"].neuron_tolerance()  # [3, 2]
    assert beta.max() >= 1  # some neurons tolerate flips: the check below is not vacuous
    block = net[:5]  # quantise, conv, pool, BN, sign

    def outputs():
        with torch.no_grad():
            return block(x)

    base, w0 = outputs(), conv.weight.detach().clone()
    for b in range(3):
        for j in range(2):
            k = min(int(beta[b, j]), 9)
            for idx in itertools.combinations(range(9), k):
                w = w0.clone()
                flat = w[j].view(-1)
                flat[list(idx)] = -torch.where(flat[list(idx)] >= 0, 1.0, -1.0)
                with torch.no_grad():
                    conv.weight.copy_(w)
                assert torch.equal(outputs()[b, j], base[b, j]), (b, j, k, idx)
    with torch.no_grad():
        conv.weight.copy_(w0)
