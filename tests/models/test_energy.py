"""Energy model against hand-computed values. [ALGORITHMS 3]"""

import math

import pytest

from models.energy import (EnergyModel, LayerMemory, energy_report, format_energy,
                           network_energy, reliable_energy)
from models.layers import BinaryConv2d, BinaryLinear, layer_memory

LAYERS = [LayerMemory("a", 100, 1), LayerMemory("b", 10, 2)]


def test_bit_energy_hand_values():
    m = EnergyModel(E0=2e-15, beta=1e-15, eps_ref=1e-12)
    assert m.bit_energy(1.0) == pytest.approx(2e-15)
    assert m.bit_energy(math.exp(-3)) == pytest.approx(5e-15)
    # ln(1e12) = 27.631021...
    assert m.bit_energy(1e-12) == pytest.approx(2e-15 + 27.631021115928547e-15)


def test_network_energy_and_ratio_hand_values():
    m = EnergyModel(E0=0.0, beta=1.0, eps_ref=math.exp(-10))
    eps = {"a": math.exp(-2), "b": math.exp(-5)}
    # 100 bits * 2 J + 20 bits * 5 J = 300 J; reliable: 120 bits * 10 J = 1200 J
    assert network_energy(LAYERS, eps, m) == pytest.approx(300.0)
    assert reliable_energy(LAYERS, m) == pytest.approx(1200.0)
    rep = energy_report(LAYERS, eps, m)
    assert rep.ratio == pytest.approx(0.25)
    assert rep.savings == pytest.approx(4.0)
    assert [r.energy for r in rep.rows] == pytest.approx([200.0, 100.0])
    assert [r.share for r in rep.rows] == pytest.approx([2 / 3, 1 / 3])
    assert rep.rows[1].bits == 2 and rep.rows[1].n_params == 10


def test_report_states_model_parameters():
    m = EnergyModel(E0=1e-15, beta=2e-15, eps_ref=1e-9)
    rep = energy_report(LAYERS, {"a": 1e-3, "b": 1e-2}, m)
    text = rep.to_markdown()
    for needle in ("E0 = 1 fJ", "beta = 2 fJ", "eps_ref = 1e-09", "| a | 100 | 1 | 0.001 |"):
        assert needle in text
    assert rep.to_dict()["model"] == {"E0": 1e-15, "beta": 2e-15, "eps_ref": 1e-9}


def test_layer_memory_reads_network_metadata():
    import torch.nn as nn

    net = nn.Sequential(BinaryConv2d(3, 4, 3), nn.Flatten(), BinaryLinear(36, 10))
    mem = layer_memory(net)
    assert [(l.name, l.n_params, l.bits) for l in mem] == [("0", 108, 1), ("2", 360, 1)]


@pytest.mark.parametrize("bad", [0.0, -1e-3, 1.5])
def test_bad_eps_is_rejected(bad):
    with pytest.raises(ValueError, match="eps"):
        EnergyModel().bit_energy(bad)


def test_missing_layer_eps_names_layer():
    with pytest.raises(KeyError, match="'b'"):
        network_energy(LAYERS, {"a": 1e-3}, EnergyModel())


def test_format_energy_units():
    assert format_energy(1.5e-13) == "150 fJ"
    assert format_energy(2e-12) == "2 pJ"
    assert format_energy(3.0) == "3 J"
