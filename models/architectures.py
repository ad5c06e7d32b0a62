"""Network architectures, each from one small spec, width as a parameter.

Sequential nets (``mlp``, ``cnn``, ``vgg7``, ``lenet5``) are ``nn.Sequential`` of, in order:

* ``QuantizeInput(bits=8)``: the first layer sees 8-bit inputs, as on the board;
* blocks ``BinaryConv2d | BinaryLinear -> [nn.MaxPool2d] -> BatchNorm -> activation``
  (``nn.Flatten`` before the first fully connected layer);
* the last layer: a ``BinaryLinear`` without BatchNorm, then a positive :class:`Scale`
  (the only float op after it; deployment reports the integer scores, argmax unchanged).

First and last layer: the papers differ (many BNN papers keep the first and last layer in
full precision; seed 2 binarises all layers and normalises after the last one, McDonnell's
1-bit WideResNet used by seed 1 binarises all layers with a fixed scale). We keep **both
binary** because the firmware stores every layer in the faulty weight memory and has only
XNOR-popcount kernels; the first layer takes the 8-bit inputs, and the last layer's scale
plays the role of seed 2's final normalisation.

Modes: ``bnn`` (binary activations, :class:`BinaryActivation`, exportable) and
``binaryconnect`` (binary weights, float activations: ReLU, as in BinaryConnect).

Spec tokens: ``fcN`` fully connected with N units, ``cN`` 3x3 conv (padding 1) with N
channels, ``cN:K`` KxK conv (padding K//2), ``mp`` 2x2 max-pool after the preceding conv.
Widths scale by ``width`` (a float multiplier; ``wrn``: the integer widening factor k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.layers import BinaryActivation, BinaryConv2d, BinaryLinear, QuantizeInput, Scale, stored_layers

MODES = ("bnn", "binaryconnect")

SPECS = {
    "mlp": "fc2048 fc2048",                                         # seed 2 Fashion FCNN
    "cnn": "c64 mp c64 mp fc2048 fc2048",                            # seed 2 Fashion CNN
    "vgg7": "c128 c128 mp c256 c256 mp c512 c512 mp fc1024",         # seed 2 CIFAR CNN / WAGE VGG
    "lenet5": "c6:5 mp c16:5 mp fc120 fc84",                         # LeCun et al. 1998, padded convs
}


def _activation(mode: str) -> nn.Module:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    return BinaryActivation() if mode == "bnn" else nn.ReLU()


def _scaled(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


def build_sequential(spec: str, in_shape: tuple[int, ...], n_classes: int, width: float = 1.0,
                     mode: str = "bnn") -> nn.Sequential:
    """Build a sequential binary net from a spec string (see module docstring)."""
    tokens = spec.split()
    layers: list[nn.Module] = [QuantizeInput(bits=8)]
    shape = tuple(in_shape)
    for i, tok in enumerate(tokens):
        if tok == "mp":
            continue
        pool = i + 1 < len(tokens) and tokens[i + 1] == "mp"
        if tok.startswith("c"):
            if len(shape) != 3:
                raise ValueError(f"conv layer {tok!r} needs image inputs [C, H, W], got {shape}")
            out_c, _, k = tok[1:].partition(":")
            k = int(k or 3)
            out_c = _scaled(int(out_c), width)
            layers += [BinaryConv2d(shape[0], out_c, k, padding=k // 2)]
            h, w = shape[1], shape[2]
            if pool:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            if h < 1 or w < 1:
                raise ValueError(f"input {in_shape} is too small for spec {spec!r}")
            layers += [nn.BatchNorm2d(out_c), _activation(mode)]
            shape = (out_c, h, w)
        elif tok.startswith("fc"):
            if len(shape) != 1:
                layers.append(nn.Flatten())
                shape = (math.prod(shape),)
            units = _scaled(int(tok[2:]), width)
            layers += [BinaryLinear(shape[0], units), nn.BatchNorm1d(units), _activation(mode)]
            shape = (units,)
        else:
            raise ValueError(f"spec token {tok!r} not understood in {spec!r}")
    if len(shape) != 1:
        layers.append(nn.Flatten())
        shape = (math.prod(shape),)
    layers += [BinaryLinear(shape[0], n_classes), Scale(init=shape[0] ** -0.5)]
    return nn.Sequential(*layers)


# --- WideResNet-28-k (seed 1; Zagoruyko & Komodakis 2016, binary as in McDonnell 2018) ------

class WideBlock(nn.Module):
    """Pre-activation basic block: ``BN-act-conv3x3-BN-act-conv3x3`` + (1x1 binary conv) shortcut."""

    def __init__(self, in_c: int, out_c: int, stride: int, mode: str):
        super().__init__()
        self.bn1, self.act1 = nn.BatchNorm2d(in_c), _activation(mode)
        self.conv1 = BinaryConv2d(in_c, out_c, 3, stride=stride, padding=1)
        self.bn2, self.act2 = nn.BatchNorm2d(out_c), _activation(mode)
        self.conv2 = BinaryConv2d(out_c, out_c, 3, padding=1)
        self.shortcut = None if in_c == out_c and stride == 1 else BinaryConv2d(in_c, out_c, 1, stride=stride)

    def forward(self, x):
        o = self.act1(self.bn1(x))
        y = self.conv2(self.act2(self.bn2(self.conv1(o))))
        return y + (x if self.shortcut is None else self.shortcut(o))


class WideResNet(nn.Module):
    """WideResNet-``depth``-k with binary weights in every conv and the final linear layer.

    ``depth = 6n + 4``; groups of n blocks with 16k, 32k, 64k channels. Not sequential, so
    **not exportable to the firmware** (train/evaluate/energy only).
    """

    def __init__(self, in_shape, n_classes: int, k: int = 10, depth: int = 28, mode: str = "bnn"):
        super().__init__()
        if k < 1:
            raise ValueError(f"WideResNet width k={k}: must be an integer >= 1")
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth {depth}: must be 6n + 4")
        n, widths = (depth - 4) // 6, [16, 16 * k, 32 * k, 64 * k]
        self.quantize = QuantizeInput(bits=8)
        self.stem = BinaryConv2d(in_shape[0], widths[0], 3, padding=1)
        blocks, in_c = [], widths[0]
        for g, out_c in enumerate(widths[1:]):
            for b in range(n):
                blocks.append(WideBlock(in_c, out_c, 2 if (g > 0 and b == 0) else 1, mode))
                in_c = out_c
        self.blocks = nn.Sequential(*blocks)
        self.bn, self.act = nn.BatchNorm2d(in_c), _activation(mode)
        self.fc = BinaryLinear(in_c, n_classes)
        self.scale = Scale(init=in_c ** -0.5)

    def forward(self, x):
        y = self.act(self.bn(self.blocks(self.stem(self.quantize(x)))))
        return self.scale(self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1)))


# --- registry ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ArchSpec:
    name: str
    builder: Callable[..., nn.Module]
    exportable: bool
    note: str = ""


ARCHITECTURES: dict[str, ArchSpec] = {}


def register_arch(name: str, builder: Callable[..., nn.Module], exportable: bool, note: str = "") -> None:
    """``builder(in_shape, n_classes, width, mode) -> nn.Module``."""
    ARCHITECTURES[name] = ArchSpec(name, builder, exportable, note)


for _name, _spec in SPECS.items():
    register_arch(_name, lambda in_shape, n_classes, width, mode, _s=_spec:
                  build_sequential(_s, in_shape, n_classes, width, mode), exportable=True, note=_spec)
register_arch("wrn", lambda in_shape, n_classes, width, mode:
              WideResNet(in_shape, n_classes, k=int(width), mode=mode), exportable=False,
              note="WideResNet-28-k, width = k; residual, not exportable to firmware")


def layer_labels(net: nn.Module) -> dict[str, str]:
    """``{stored layer name: label}`` for tables and plots: ``"fc1 (2)"``, ``"conv3 (blocks.1.conv1)"``.

    The name (the ``nn.Module`` path) stays the key everywhere (memory map, fault maps,
    eps dicts); the label adds the layer's kind and its rank among layers of that kind.
    """
    counts = {"conv": 0, "fc": 0}
    labels = {}
    for name, layer in stored_layers(net):
        kind = "conv" if layer.weight.dim() == 4 else "fc"
        counts[kind] += 1
        labels[name] = f"{kind}{counts[kind]} ({name})"
    return labels


def build_model(arch: str, in_shape: tuple[int, ...], n_classes: int, width: float = 1,
                mode: str = "bnn", generator: torch.Generator | None = None) -> nn.Module:
    """Build architecture ``arch`` for inputs ``in_shape`` (``[C, H, W]`` or ``[D]``).

    With ``generator`` the latent binary weights are drawn ``U(-1, 1)`` from it (the only
    random parameters; BatchNorm and Scale start deterministic).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; available: {', '.join(ARCHITECTURES)}")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    if width <= 0:
        raise ValueError(f"width {width} must be > 0")
    net = ARCHITECTURES[arch].builder(tuple(in_shape), n_classes, width, mode)
    if generator is not None:
        with torch.no_grad():
            for _, layer in stored_layers(net):
                layer.weight.uniform_(-1.0, 1.0, generator=generator)
    return net
