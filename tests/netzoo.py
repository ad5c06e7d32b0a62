"""Small exportable networks for the export / interpreter / firmware bit-exactness tests."""

from __future__ import annotations

import torch
import torch.nn as nn

from models.architectures import build_model
from models.layers import BinaryActivation, BinaryConv2d, BinaryLinear, QuantizeInput, Scale, stored_layers
from models.wage import build_wage_net

# (arch, input shape, width): unit counts 102, 3, 6, 13 ... are not multiples of 32
BNN_CASES = [
    ("mlp", (1, 8, 8), 0.05),
    ("mlp", (40,), 0.02),
    ("cnn", (1, 8, 8), 0.05),
    ("cnn", (3, 10, 10), 0.1),
    ("lenet5", (1, 12, 12), 0.5),
]

WAGE_CASES = [
    ("mlp", (1, 8, 8), dict(width=40)),
    ("lenet5", (1, 13, 13), dict(width=3, padding=2)),  # odd sizes: ceil-mode pooling
    ("vgg7", (3, 9, 9), dict(width=4)),
]


def randomize_batchnorm(net: nn.Module, g: torch.Generator) -> nn.Module:
    """Non-trivial eval statistics: means around 0 of the z scale, mixed-sign gammas, some 0."""
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(n, generator=g) * 2)
                m.running_var.copy_(torch.rand(n, generator=g) * 10 + 0.1)
                if m.weight is not None:
                    m.weight.copy_(torch.randn(n, generator=g))
                    m.weight[torch.rand(n, generator=g) < 0.1] = 0.0
                    m.bias.copy_(torch.randn(n, generator=g))
    return net.eval()


def bnn(arch: str, shape, width: float, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    return randomize_batchnorm(build_model(arch, shape, 10, width=width, generator=g), g)


def wage(arch: str, shape, kwargs: dict, seed: int, storage: str = "ternary") -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    return build_wage_net(arch, shape, 10, storage=storage, generator=g, **kwargs).eval()


def odd_bnn(seed: int) -> nn.Sequential:
    """Layer kinds the architectures do not build: 5x5 stride-2 conv, ceil-mode pool, max-pool
    after an activation (a MAXPOOL layer), a bias folded into BatchNorm, BatchNorm without
    affine, an activation without BatchNorm, zero latent weights."""
    g = torch.Generator().manual_seed(seed)
    conv1 = BinaryConv2d(2, 5, 5, stride=2, padding=2)
    conv2 = BinaryConv2d(5, 7, 3, padding=1, bias=True)
    fc1, fc2 = BinaryLinear(7 * 2 * 2, 33), BinaryLinear(33, 4)
    net = nn.Sequential(
        QuantizeInput(8), conv1, nn.MaxPool2d(2, ceil_mode=True), nn.BatchNorm2d(5), BinaryActivation(),
        nn.MaxPool2d(3, stride=1), conv2, nn.BatchNorm2d(7, affine=False), BinaryActivation(),
        nn.MaxPool2d(2), nn.Flatten(), fc1, BinaryActivation(), fc2, Scale(0.1))
    for _, m in stored_layers(net):
        with torch.no_grad():
            m.weight.uniform_(-1, 1, generator=g)
            m.weight[torch.rand(m.weight.shape, generator=g) < 0.05] = 0.0
    with torch.no_grad():
        conv2.bias.copy_(torch.randn(7, generator=g) * 3)
    return randomize_batchnorm(net, g)


ODD_SHAPE = (2, 21, 21)  # conv1 -> 11x11, ceil pool (partial edge windows) -> 6x6, maxpool 3/1 -> 4x4, conv2 -> 4x4, pool -> 2x2


def single_layer(seed: int) -> nn.Sequential:
    """First layer = last layer: int8 inputs straight to int32 scores."""
    g = torch.Generator().manual_seed(seed)
    fc = BinaryLinear(37, 5)
    with torch.no_grad():
        fc.weight.uniform_(-1, 1, generator=g)
    return nn.Sequential(QuantizeInput(8), fc, Scale(1.0)).eval()


def inputs(shape, n: int, seed: int) -> torch.Tensor:
    """Inputs in [-1.2, 1.2] (the clamp matters) with exact +-1 and 0 among them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g) * 2.4 - 1.2
    x.view(-1)[:5] = torch.tensor([1.0, -1.0, 0.0, 2.5 / 127, -0.5 / 128])  # bounds, zero, near-ties
    return x
