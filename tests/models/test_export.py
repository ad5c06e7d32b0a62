"""Exporter: sign bits only, exact BatchNorm folding, clear errors, and the ``bench export`` CLI."""

import math
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings, strategies as st

from bench.cli import main
from drivers.memory_layout import unpack_weights
from models.architectures import build_model
from models.blob import INT32_MAX, INT32_MIN, ModelBlob
from models.export import ExportError, export_model, fold_threshold
from models.layers import BinaryActivation, BinaryLinear, QuantizeInput, Scale, assign_memory_map, stored_layers
from models.training import TrainConfig, train
from tests.netzoo import BNN_CASES, WAGE_CASES, bnn, wage

getcontext().prec = 60


@pytest.mark.parametrize("arch, shape, width", BNN_CASES)
def test_weight_image_round_trips_to_sign_of_latent_weights(arch, shape, width):
    net = bnn(arch, shape, width, seed=21)
    layers = stored_layers(net)
    with torch.no_grad():
        layers[0][1].weight.view(-1)[:3] = torch.tensor([0.0, -1e-30, 1e-30])  # sign(0) = +1
    ex = export_model(net, shape)
    assert ex.layer_names == [n for n, _ in layers]
    for (name, m), region in zip(layers, ex.blob.regions()):
        words = ex.image[region.base_word:region.end_word]
        got = unpack_weights(words, tuple(m.weight.shape), "binary")
        want = torch.where(m.weight >= 0, 1, -1).numpy()
        assert np.array_equal(got, want), name
    assert unpack_weights(ex.image[:ex.blob.layers[0].n_words], tuple(layers[0][1].weight.shape),
                          "binary").ravel()[:3].tolist() == [1, -1, 1]


@pytest.mark.parametrize("arch, shape, kwargs", WAGE_CASES[:2])
def test_wage_image_round_trips_to_ternary_weights(arch, shape, kwargs):
    net = wage(arch, shape, kwargs, seed=22, storage="int8")
    ex = export_model(net, shape)
    for (name, m), region in zip(stored_layers(net), ex.blob.regions()):
        got = unpack_weights(ex.image[region.base_word:region.end_word], tuple(m.weight.shape), "ternary")
        assert np.array_equal(got, m.ternary_weights().numpy()), name
        assert {-1, 0, 1} == set(np.unique(got).tolist())


def bn_sign(z: int, scale: int, g: float, b: float, mu: float, var: float, eps: float) -> int:
    """+1 / -1 of sign(BN(z / scale)) in 60-digit decimal arithmetic (sign(0) = +1)."""
    f = Decimal(g) * (Decimal(z) / Decimal(scale) - Decimal(mu)) / (Decimal(var) + Decimal(eps)).sqrt() + Decimal(b)
    return 1 if f >= 0 else -1


f32 = st.floats(-50, 50, allow_nan=False, width=32)


@settings(max_examples=150, deadline=None)
@given(g=f32, b=f32, mu=f32, var=st.floats(0, 100, width=32), eps=st.sampled_from([1e-5, 1e-3, 0.0]),
       scale=st.sampled_from([1, 127]))
def test_fold_threshold_matches_batchnorm_sign(g, b, mu, var, eps, scale):
    if var + eps == 0:
        return
    (tau,), (flip,) = fold_threshold([g], [b], [mu], [var], eps, scale)
    tau = int(tau)
    if INT32_MIN < tau < INT32_MAX:
        probes = range(tau - 3, tau + 4)
    else:
        probes = [-(10 ** 6), 0, 10 ** 6]
    for z in probes:
        plus = (z >= tau) != bool(flip)
        assert (1 if plus else -1) == bn_sign(z, scale, g, b, mu, var, eps), z


def test_fold_threshold_exact_ties_and_gamma_zero():
    # f(z) = gamma (z/s - mu)/sqrt(var) + beta = 0 exactly at an integer z: that z gives +1
    tau, flip = fold_threshold([3.0, -3.0, 0.0, 0.0], [1.5, 1.5, 0.0, -0.5], [0.0, 0.0, 5.0, 5.0],
                               [0.25, 0.25, 1.0, 1.0], 0.0, 127)
    # ch 0: 6 z/127 + 1.5 >= 0 <=> z >= -31.75 -> -31;  ch 1: z <= 31.75 -> tau 32, flip
    assert tau.tolist() == [-31, 32, INT32_MIN, INT32_MAX] and flip.tolist() == [False, True, False, False]
    # a tie that float64 cannot see: boundary -beta*sqrt(V)/gamma with V = 2, z = 1
    (tau,), (flip,) = fold_threshold([1.0], [-1.0 / math.sqrt(2.0)], [0.0], [2.0], 0.0, 1)
    exact = Fraction(-1.0 / math.sqrt(2.0)) ** 2 * 2  # (beta * sqrt V)^2 vs 1
    assert tau == (1 if exact <= 1 else 2) and not flip


def test_fault_site_map_must_match_export():
    net = bnn("mlp", (1, 8, 8), 0.05, seed=23)
    assign_memory_map(net)
    export_model(net, (1, 8, 8))  # same map: fine
    assign_memory_map(net, base_word=4)
    with pytest.raises(ExportError, match="fault site region"):
        export_model(net, (1, 8, 8))


@pytest.mark.parametrize("build, match", [
    (lambda: build_model("mlp", (8,), 10, width=0.05, mode="binaryconnect"), "ReLU"),
    (lambda: build_model("wrn", (8,), 10, width=1), "not exportable"),
    (lambda: nn.Sequential(BinaryLinear(8, 2), Scale()), "QuantizeInput"),
    (lambda: nn.Sequential(QuantizeInput(8), BinaryLinear(8, 2, bias=True), Scale()), "bias"),
    (lambda: nn.Sequential(QuantizeInput(8), BinaryLinear(8, 4), BinaryLinear(4, 2)), "without an activation"),
    (lambda: nn.Sequential(QuantizeInput(8), BinaryLinear(8, 4), nn.BatchNorm1d(4, track_running_stats=False),
                           BinaryActivation(), BinaryLinear(4, 2)), "running statistics"),
    (lambda: nn.Sequential(QuantizeInput(8), BinaryLinear(9, 4), BinaryActivation(), BinaryLinear(4, 2)), "expects 9"),
])
def test_unexportable_networks_name_the_module(build, match):
    with pytest.raises(ExportError, match=match):
        export_model(build(), (8,))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    train(TrainConfig(arch="cnn", width=0.1, epochs=1, limit_train=128, limit_test=64, eval_draws=1), out)
    return out


def test_cli_export_writes_blob_and_image(trained_run, tmp_path, capsys):
    out = tmp_path / "m.fbm"
    assert main(["export", str(trained_run), "-o", str(out), "--check", "64"]) == 0
    text = capsys.readouterr().out
    assert "interpreter == PyTorch integer scores on 64 test inputs" in text
    blob = ModelBlob.from_bytes(out.read_bytes())
    image = np.frombuffer(out.with_suffix(".fbw").read_bytes(), "<u4")
    assert len(image) == blob.weight_words and blob.n_scores == 10 and blob.in_shape == (1, 8, 8)


@pytest.mark.parametrize("args, message", [
    (["export", "{tmp}/nothing", "-o", "{tmp}/m.fbm"], "no run here"),
    (["export", "{run}", "-o", "{tmp}/m.fbw"], "weight image suffix"),
])
def test_cli_export_errors(trained_run, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, run=trained_run) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench export: error:") and message in err


def test_cli_exports_a_wage_run(tmp_path, capsys):
    run = tmp_path / "wage"
    train(TrainConfig(arch="lenet5", method="wage", width=0.1, epochs=1, limit_train=64, limit_test=32,
                      eval_draws=1), run)
    out = tmp_path / "w.fbm"
    assert main(["export", str(run), "-o", str(out), "--check", "32"]) == 0
    assert "interpreter == PyTorch integer scores on 32 test inputs" in capsys.readouterr().out
    blob = ModelBlob.from_bytes(out.read_bytes())
    assert blob.input_levels == 128 and {l.encoding for l in blob.layers} == {"ternary"}
    assert [l.pool_ceil for l in blob.layers[:2]] == [1, 1]
