"""LaNMax math and method. [ALGORITHMS 4]"""

import math
from pathlib import Path

import pytest
import torch

from models.evaluation import mc_accuracy
from models.energy import EnergyModel, LayerMemory, network_energy, reliable_energy
from models.lanmax import (Lanmax, LanmaxOptions, energy_ratio, layer_bits, nesterov_step, normalised, ols_slope,
                           surrogate, surrogate_gradient)
from models.method_registry import build_method, method_names
from models.methods import MethodContext
from models.profile import load_profile
from models.profile.faults import training_faults
from models.profile.method_options import profile_method_options
from models.training import TrainConfig, load_run, train

LAYERS = [LayerMemory("a", 1000, 1), LayerMemory("b", 50, 1), LayerMemory("c", 10, 2)]


def test_ols_recovers_known_slope():
    g = torch.Generator().manual_seed(0)
    true = torch.tensor([0.3, -0.05, 0.0], dtype=torch.float64)
    deltas = 0.5 * (torch.randint(0, 3, (200, 3), generator=g) - 1).double()
    losses = 1.7 + deltas @ true + 0.02 * torch.randn(200, generator=g, dtype=torch.float64)
    c, slope = ols_slope(deltas, losses)
    assert c == pytest.approx(1.7, abs=0.01)
    assert slope.tolist() == pytest.approx(true.tolist(), abs=0.02)


def test_ols_exact_without_noise_and_ridge_shrinks():
    deltas = torch.tensor([[-1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    losses = 2.0 + deltas @ torch.tensor([0.5, -2.0])
    c, slope = ols_slope(deltas, losses)
    assert c == pytest.approx(2.0) and slope.tolist() == pytest.approx([0.5, -2.0])
    _, shrunk = ols_slope(deltas, losses, ridge=10.0)
    assert float(shrunk.norm()) < float(slope.norm())


def test_ols_too_few_batches_is_a_clear_error():
    with pytest.raises(ValueError, match="3 mini-batches for 2 layers"):
        ols_slope(torch.zeros(3, 2), torch.zeros(3))
    ols_slope(torch.eye(3)[:, :2], torch.ones(3), ridge=0.1)  # ridge: allowed


def test_surrogate_matches_energy_module():
    model = EnergyModel(E0=1e-16, beta=2e-15, eps_ref=1e-10)
    theta = torch.tensor([-2.0, -4.0, -1.5], dtype=torch.float64)
    eps = {l.name: 10 ** float(t) for l, t in zip(LAYERS, theta)}
    ratio = network_energy(LAYERS, eps, model) / reliable_energy(LAYERS, model)
    j = surrogate(theta, 0.6, 0.3, layer_bits(LAYERS), model, lambda_=0.7, mu=0.1, theta_min=-6.0)
    decay = 0.5 * (16 + 4 + 4.5 ** 2)
    assert j == pytest.approx(2.0 + 0.7 * math.sqrt(ratio) + 0.1 * decay)


def test_surrogate_gradient_matches_finite_differences():
    model = EnergyModel(E0=3e-16, beta=1e-15, eps_ref=1e-12)
    n_bits = layer_bits(LAYERS)
    theta = torch.tensor([-2.0, -4.0, -1.5], dtype=torch.float64)
    kw = dict(n_bits=n_bits, model=model, lambda_=0.9, mu=0.05, theta_min=-6.0)
    # loss part: zero slope so the gradient is energy + decay only, checked numerically
    grad = surrogate_gradient(theta, torch.zeros(3), 1.0, **kw)
    h = 1e-6
    for i in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[i] = h
        fd = (surrogate(theta + e, 1.0, 1.0, **kw) - surrogate(theta - e, 1.0, 1.0, **kw)) / (2 * h)
        assert float(grad[i]) == pytest.approx(fd, rel=1e-6)
    # regression part enters as slope / L_best
    with_slope = surrogate_gradient(theta, torch.tensor([1.0, 0.0, -2.0]), 0.5, **kw)
    assert (with_slope - grad).tolist() == pytest.approx([2.0, 0.0, -4.0])


def test_normalised_and_nesterov():
    g = normalised(torch.tensor([3.0, 4.0]))
    assert g.tolist() == pytest.approx([0.6, 0.8])
    assert normalised(torch.zeros(2)).tolist() == [0.0, 0.0]
    theta, v = nesterov_step(torch.zeros(2), g, torch.zeros(2), lr=0.1, momentum=0.9)
    assert v.tolist() == pytest.approx([0.6, 0.8])
    assert theta.tolist() == pytest.approx([-0.1 * 0.6 * 1.9, -0.1 * 0.8 * 1.9])


def _context(batches=20, epochs=8):
    return MethodContext(model=torch.nn.Identity(), epochs=epochs, batches_per_epoch=batches, layers=tuple(LAYERS))


def test_registered_and_options_resolve():
    assert "lanmax" in method_names()
    m = build_method("lanmax", _context(), {"lambda": "0.25", "t_stop": "3"})
    assert isinstance(m, Lanmax) and m.options.lambda_ == 0.25 and m.t_stop == 3


def test_too_few_batches_per_epoch_fails_at_build():
    with pytest.raises(ValueError, match="OLS needs more than 4"):
        Lanmax(_context(batches=4), LanmaxOptions())
    Lanmax(_context(batches=4), LanmaxOptions(ridge=1.0))


def _synthetic_run(method, epochs, batches, loss_of_theta, seed=0):
    gen = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        for _ in range(batches):
            rates = method.before_batch(gen)
            theta = torch.tensor([math.log10(rates[n]) for n in method.names])
            method.after_batch(loss_of_theta(theta) + 0.001 * float(torch.randn(1, generator=gen)))
        history.append(method.end_epoch(epoch))
    return history


def test_closed_loop_raises_eps_of_insensitive_layers_and_freezes():
    # layer "a" (most bits) barely matters, layer "c" is critical above 1e-3
    def loss(theta):
        return 0.1 + 0.001 * float(theta[0]) + 2.0 * max(0.0, float(theta[2]) + 3.0) ** 2

    m = Lanmax(_context(epochs=12), LanmaxOptions(lambda_=1.0, t_stop=9))
    hist = _synthetic_run(m, 12, 20, loss)
    eps = m.eps()
    assert eps["a"] > 1e-2  # cheap to make noisy: eps rose from 1e-3
    assert eps["c"] < 3e-3  # critical: held near its knee
    assert hist[8]["lanmax_frozen"] and not hist[7]["lanmax_frozen"]
    assert hist[-1]["eps"] == hist[8]["eps"]  # frozen after t_stop
    assert hist[-1]["energy_ratio"] < hist[0]["energy_ratio"]


def test_state_dict_round_trip_resumes_identically():
    loss = lambda th: 0.2 + 0.01 * float(th.sum())
    a = Lanmax(_context(), LanmaxOptions())
    _synthetic_run(a, 2, 20, loss)
    b = Lanmax(_context(), LanmaxOptions())
    b.load_state_dict(a.state_dict())
    ha, hb = _synthetic_run(a, 2, 20, loss, seed=5), _synthetic_run(b, 2, 20, loss, seed=5)
    assert ha == hb and torch.equal(a.theta, b.theta)


@pytest.mark.slow  # ~3 s on an idle core
def test_short_lanmax_run_on_digits_raises_eps_and_keeps_accuracy(tmp_path):
    """6 epochs on digits: some layer ends above its initial eps 1e-3, and the accuracy at the
    learned eps (Monte-Carlo mean) is within 5 points (stated tolerance) of reliable training."""
    common = dict(arch="mlp", width=0.125, dataset="digits", epochs=6, batch_size=64, seed=0)
    reliable = train(TrainConfig(method="reliable", **common), tmp_path / "reliable")
    lanmax = train(TrainConfig(method="lanmax", method_options={"lambda": 10.0, "t_stop": 5}, **common),
                   tmp_path / "lanmax")
    eps = lanmax.method.eps()
    assert max(eps.values()) > 1e-3 * 1.5
    data = lanmax.data
    ref = mc_accuracy(reliable.net, data.test_x, data.test_y, None, torch.Generator().manual_seed(0))
    noisy = mc_accuracy(lanmax.net, data.test_x, data.test_y, eps, torch.Generator().manual_seed(0), target=0.01)
    assert noisy.mean >= ref.mean - 0.05, (noisy, ref, eps)
    assert lanmax.method.t_stop == 5 and not lanmax.method.active


def test_interrupted_lanmax_run_resumes_to_the_same_state(tmp_path):
    cfg = TrainConfig(arch="mlp", width=0.0625, method="lanmax", method_options={"lambda": 10.0, "t_stop": 3},
                      epochs=4, batch_size=64, limit_train=400, seed=3)
    whole = train(cfg, tmp_path / "whole")

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", on_epoch=stop_after_two)
    resumed = train(cfg, tmp_path / "cut", resume=True)
    assert resumed.method.eps() == whole.method.eps()
    assert torch.equal(resumed.method.velocity, whole.method.velocity)
    for a, b in zip(load_run(tmp_path / "cut")[0].state_dict().values(), whole.net.state_dict().values()):
        assert torch.equal(a, b)


def _one_epoch_step(balance, l_best, lambda_=1.0):
    """The first SGDO step of a LaNMax whose best mini-batch loss so far is ``l_best``."""
    m = Lanmax(_context(), LanmaxOptions(lambda_=lambda_, balance=balance))
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        rates = m.before_batch(gen)
        theta = torch.tensor([math.log10(rates[n]) for n in m.names])
        m.after_batch(0.5 + 0.2 * float(theta[2]))  # only layer c matters: slope 0.2 nat per decade
    m.l_best = l_best
    m.end_epoch(0)
    return m.theta


def test_absolute_balance_means_the_same_trade_off_whatever_the_best_loss():
    """balance=absolute: the step does not depend on L_best (early: large, late: near 0);
    balance=best (seed 1): the loss term grows as L_best shrinks, so the step turns round."""
    early, late = _one_epoch_step("absolute", 0.5), _one_epoch_step("absolute", 0.001)
    assert torch.equal(early, late)
    early, late = _one_epoch_step("best", 0.5), _one_epoch_step("best", 0.001)
    assert float(late[2]) < float(early[2]) and not torch.equal(early, late)
    with pytest.raises(ValueError, match="balance='paper' must be one of absolute, best"):
        LanmaxOptions(balance="paper")


SHIPPED = sorted((Path(__file__).parents[2] / "profiles").glob("*.yaml"))


@pytest.mark.slow  # nine 4-epoch trainings of a 3-layer mlp (4096/4096/640 bits), ~15 s
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_energy_falls_along_lambda_and_lambda_1_moves_eps_on_every_shipped_profile(path, tmp_path):
    """Under each shipped profile (its fault model, energy model and eps bounds, as bench run
    trains), LaNMax at lambda 0.1, 1, 10: the network's energy ratio falls with lambda, and at
    lambda = 1 the noise levels end at least 0.1 decade away from where they started."""
    profile = load_profile(path)
    ratios, thetas = [], []
    for lambda_ in (0.1, 1.0, 10.0):
        options = {**profile_method_options(profile, "lanmax"), "lambda": lambda_}
        cfg = TrainConfig(arch="mlp", width=1 / 32, dataset="digits", method="lanmax", method_options=options,
                          epochs=4, faults=training_faults(profile), eval_draws=2, seed=0)
        m = train(cfg, tmp_path / f"lambda-{lambda_:g}").method
        ratios.append(energy_ratio(m.theta, m.n_bits, m.model))
        thetas.append(m.theta)
    assert ratios[0] > ratios[1] > ratios[2], ratios
    moved = float((thetas[1] - options["theta_init"]).abs().max())
    assert moved >= 0.1, (moved, thetas[1].tolist())
