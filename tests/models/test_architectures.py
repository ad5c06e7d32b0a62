"""Architectures: the sequential convention the exporter relies on, modes, widths, WRN."""

import pytest
import torch
import torch.nn as nn

from models.architectures import ARCHITECTURES, build_model
from models.layers import BinaryActivation, BinaryConv2d, BinaryLinear, QuantizeInput, Scale, stored_layers

SHAPES = {"mlp": (1, 8, 8), "cnn": (1, 8, 8), "vgg7": (3, 8, 8), "lenet5": (1, 28, 28), "wrn": (3, 8, 8)}
WIDTHS = {"mlp": 1 / 64, "cnn": 1 / 16, "vgg7": 1 / 32, "lenet5": 1, "wrn": 1}


@pytest.mark.parametrize("mode", ["bnn", "binaryconnect"])
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_arch_builds_runs_and_trains_a_step(arch, mode):
    net = build_model(arch, SHAPES[arch], 10, WIDTHS[arch], mode, generator=torch.Generator().manual_seed(0))
    x = torch.rand(4, *SHAPES[arch]) * 2 - 1
    y = net(x)
    assert y.shape == (4, 10)
    y.sum().backward()
    assert all(m.weight.grad is not None for _, m in stored_layers(net))
    acts = [m for m in net.modules() if isinstance(m, (BinaryActivation, nn.ReLU))]
    assert acts and all(isinstance(m, BinaryActivation if mode == "bnn" else nn.ReLU) for m in acts)


@pytest.mark.parametrize("arch", ["mlp", "cnn", "vgg7", "lenet5"])
def test_sequential_convention_for_the_exporter(arch):
    net = build_model(arch, SHAPES[arch], 10, WIDTHS[arch])
    assert ARCHITECTURES[arch].exportable and isinstance(net, nn.Sequential)
    mods = list(net)
    assert isinstance(mods[0], QuantizeInput) and mods[0].bits == 8
    assert isinstance(mods[-2], BinaryLinear) and isinstance(mods[-1], Scale) and mods[-1].value > 0
    i = 1
    while i < len(mods) - 2:  # blocks: layer -> [maxpool] -> BN -> sign, Flatten between
        if isinstance(mods[i], nn.Flatten):
            i += 1
            continue
        assert isinstance(mods[i], (BinaryConv2d, BinaryLinear)), mods[i]
        j = i + 1
        if isinstance(mods[j], nn.MaxPool2d):
            j += 1
        assert isinstance(mods[j], (nn.BatchNorm1d, nn.BatchNorm2d)) and isinstance(mods[j + 1], BinaryActivation)
        i = j + 2


def test_paper_sizes_at_width_one():
    mlp = build_model("mlp", (1, 28, 28), 10)
    assert [m.weight.shape for _, m in stored_layers(mlp)] == [(2048, 784), (2048, 2048), (10, 2048)]
    cnn = build_model("cnn", (1, 28, 28), 10)
    assert [tuple(m.weight.shape) for _, m in stored_layers(cnn)][:2] == [(64, 1, 3, 3), (64, 64, 3, 3)]
    assert stored_layers(cnn)[2][1].in_features == 64 * 7 * 7
    half = build_model("mlp", (1, 8, 8), 10, width=0.5)
    assert stored_layers(half)[0][1].out_features == 1024


def test_wrn_28_k_structure_and_not_exportable():
    net = build_model("wrn", (3, 8, 8), 10, width=2)
    convs = [m for _, m in stored_layers(net) if isinstance(m, BinaryConv2d)]
    # stem + 12 blocks x 2 convs + 3 projection shortcuts (16->32, 32->64, 64->128)
    assert len(convs) == 1 + 24 + 3
    assert convs[-1].out_channels == 128 and not ARCHITECTURES["wrn"].exportable


def test_generator_makes_init_reproducible_and_errors_are_clear():
    a = build_model("mlp", (1, 8, 8), 10, 1 / 64, generator=torch.Generator().manual_seed(1))
    b = build_model("mlp", (1, 8, 8), 10, 1 / 64, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        build_model("resnet", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="mode 'ternary'"):
        build_model("mlp", (1, 8, 8), 10, mode="ternary")
    with pytest.raises(ValueError, match="image inputs"):
        build_model("cnn", (64,), 10)


def test_layer_labels_name_kind_rank_and_key():
    from models.architectures import layer_labels

    assert layer_labels(build_model("cnn", (1, 8, 8), 10, width=0.0625)) == {
        "1": "conv1 (1)", "5": "conv2 (5)", "10": "fc1 (10)", "13": "fc2 (13)", "16": "fc3 (16)"}
    wrn = layer_labels(build_model("wrn", (3, 8, 8), 10, width=1))
    assert wrn["stem"] == "conv1 (stem)" and wrn["blocks.0.conv1"] == "conv2 (blocks.0.conv1)"
    assert list(wrn.values())[-1] == "fc1 (fc)"
