"""The float bound of a binary network: plain torch with the same shapes, clean.

``nn.Linear`` / ``nn.Conv2d`` (weights ``sign(w)`` as float32, no bias) in place of the binary
layers, BatchNorm, pooling, flattening and ReLU kept, binary activations as ``nn.Hardtanh``,
the input quantiser and the output scale dropped: what no float forward pass of these shapes
can beat, and what the fault-injection peers instrument.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from models.layers import BinaryActivation, BinaryConv2d, BinaryLinear, QuantizeInput, Scale


def float_bound(net: nn.Sequential) -> nn.Sequential:
    """A plain-torch twin of a sequential binary net (eval mode)."""
    mods = []
    for m in net:
        if isinstance(m, (QuantizeInput, Scale)):
            continue
        if isinstance(m, BinaryActivation):
            mods.append(nn.Hardtanh())
            continue
        if isinstance(m, BinaryLinear):
            f = nn.Linear(m.in_features, m.out_features, bias=False)
        elif isinstance(m, BinaryConv2d):
            f = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=False)
        else:
            mods.append(m)
            continue
        with torch.no_grad():
            f.weight.copy_(torch.where(m.weight >= 0, 1.0, -1.0))
        mods.append(f)
    return nn.Sequential(*mods).eval()
