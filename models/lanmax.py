"""LaNMax: layerwise noise maximisation. [ALGORITHMS 4; seed 1 sec. III-B, Algorithm 1]

Each stored layer ``l`` gets a noise level ``theta_l = log10(eps_l)`` in
``[theta_min, theta_max]``. During an epoch (SGDI) every mini-batch ``b`` is run at
``eps = 10^(theta + delta_b)`` with ``delta_b`` uniform in ``{-d, 0, +d}^L`` and its loss
``L_b`` is stored. At the epoch end (SGDO):

    [1, delta] @ [c, g] ~ L             (OLS with intercept; g = dL/dtheta)
    J(theta) = L / L_s + lambda * sqrt(E_net(theta) / E_ref) + mu * R(theta)
    R(theta) = ||theta - theta_min||^2 / 2                 (noise decay)
    grad J   = g / L_s + lambda * dsqrt(E_net/E_ref)/dtheta + mu * (theta - theta_min)
    theta   <- clip(theta - lr * NesterovSGD(grad J / ||grad J||), theta_min, theta_max)

After epoch ``t_stop`` theta is frozen and the weights fine-tune at the final eps.

Loss scale ``L_s`` of the surrogate [choice, ALGORITHMS 4 step 5: option ``balance``]:

* ``absolute`` (default): ``L_s = 1`` nat. ``J`` is then one fixed function of the mean
  training loss ``L`` (cross-entropy, nats) and the energy, the same in every epoch, so
  ``lambda`` is an exchange rate with a fixed meaning: lowering ``sqrt(E_net/E_ref)`` by 0.1
  is worth ``0.1 * lambda`` nats of training loss, early and late in training. The energy
  term is dimensionless and varies little between profiles (``beta ln 10 / E(eps_ref)``,
  the relative energy saved per decade of eps, is 0.04 to 0.09 for the shipped profiles and
  the default model), so the useful range, from eps barely moved to every layer at
  ``theta_max``, is about the same on every profile: lambda = 0.03 to 10 (measured in
  docs/LANMAX.md).
* ``best`` (seed 1 eq. 7): ``L_s = L_best``, the best mini-batch loss seen so far. As
  training converges ``L_best`` falls towards 0 (mlp on digits under the shipped profiles:
  0.28-0.31 after the first epoch, 0.0009-0.003 after the last SGDO epoch), so the loss
  term's weight grows 100- to 350-fold during the run and a given lambda means a different
  trade-off in every epoch; lambda of 100 to 1000 is needed before every layer's eps rises.

The math is in pure functions (:func:`ols_slope`, :func:`surrogate`,
:func:`surrogate_gradient`, :func:`nesterov_step`) so it is testable without training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

from models.energy import EPS_REF, EnergyModel, LayerMemory
from models.methods import MethodContext, NoiseMethod

LN10 = math.log(10.0)
#: loss scales ``L_s`` of the surrogate (module docstring); the first is the default
BALANCES = ("absolute", "best")


# --- pure math ---------------------------------------------------------------------------

def ols_slope(deltas: torch.Tensor, losses: torch.Tensor, ridge: float = 0.0) -> tuple[float, torch.Tensor]:
    """Least squares of ``losses [B]`` on ``deltas [B, L]`` with an intercept.

    Returns ``(intercept, slope [L])`` minimising ``||c + deltas @ g - losses||^2 +
    ridge * ||g||^2`` (the intercept is not penalised). [ALGORITHMS 4 step 4]
    With ``ridge = 0`` the fit needs ``B > L + 1`` mini-batches, else ``ValueError``.
    """
    deltas = torch.as_tensor(deltas, dtype=torch.float64)
    losses = torch.as_tensor(losses, dtype=torch.float64)
    n, layers = deltas.shape
    if ridge == 0.0 and n <= layers + 1:
        raise ValueError(f"LaNMax OLS: {n} mini-batches for {layers} layers; need more than "
                         f"{layers + 1} per epoch (use a smaller batch size or the 'ridge' option > 0)")
    # Centring removes the intercept exactly: g = (Xc'Xc + ridge I)^-1 Xc'yc, c = ybar - xbar.g
    x_mean, y_mean = deltas.mean(0), losses.mean()
    xc, yc = deltas - x_mean, losses - y_mean
    gram = xc.T @ xc + ridge * torch.eye(layers, dtype=torch.float64)
    slope = torch.linalg.pinv(gram, hermitian=True) @ (xc.T @ yc)
    return float(y_mean - x_mean @ slope), slope


def layer_bits(layers: Sequence[LayerMemory]) -> torch.Tensor:
    """``N_l * b_l`` per layer, float64."""
    return torch.tensor([l.n_bits for l in layers], dtype=torch.float64)


def energy_in_theta(theta: torch.Tensor, n_bits: torch.Tensor, model: EnergyModel) -> torch.Tensor:
    """``E_net(theta) = sum_l N_l b_l (E0 - beta ln(10) theta_l)``. [ALGORITHMS 3 with eps = 10^theta]"""
    return (n_bits * (model.E0 - model.beta * LN10 * theta)).sum()


def reliable_in_bits(n_bits: torch.Tensor, model: EnergyModel) -> float:
    """``E_ref`` of the same layers at ``eps_ref``."""
    return float(n_bits.sum()) * model.bit_energy(model.eps_ref)


def energy_ratio(theta: torch.Tensor, n_bits: torch.Tensor, model: EnergyModel) -> float:
    """``E_net(theta) / E_ref``: the network's memory energy relative to reliable memory."""
    return float(energy_in_theta(theta, n_bits, model)) / reliable_in_bits(n_bits, model)


def surrogate(theta, loss: float, l_scale: float, n_bits, model: EnergyModel,
              lambda_: float, mu: float, theta_min: float) -> float:
    """``J = L/L_s + lambda sqrt(E_net/E_ref) + mu ||theta - theta_min||^2 / 2``. [ALGORITHMS 4 step 5]

    ``l_scale`` is ``L_s``: 1 for ``balance=absolute``, ``L_best`` for ``best`` (module docstring)."""
    theta = torch.as_tensor(theta, dtype=torch.float64)
    decay = 0.5 * float(((theta - theta_min) ** 2).sum())
    return loss / l_scale + lambda_ * math.sqrt(energy_ratio(theta, n_bits, model)) + mu * decay


def surrogate_gradient(theta, slope, l_scale: float, n_bits, model: EnergyModel,
                       lambda_: float, mu: float, theta_min: float) -> torch.Tensor:
    """``dJ/dtheta``: regression slope ``g / L_s`` plus the analytic energy and decay parts.

    ``d sqrt(E_net/E_ref) / dtheta_l = -N_l b_l beta ln(10) / (2 E_ref sqrt(E_net/E_ref))``.
    [ALGORITHMS 4 step 6]
    """
    theta = torch.as_tensor(theta, dtype=torch.float64)
    e_ref = reliable_in_bits(n_bits, model)
    ratio = energy_ratio(theta, n_bits, model)
    if ratio <= 0:
        raise ValueError(f"LaNMax: network energy {ratio:.3g} x reliable is not positive; "
                         f"lower theta_max or raise E0")
    d_energy = -n_bits * model.beta * LN10 / (2.0 * e_ref * math.sqrt(ratio))
    return torch.as_tensor(slope, dtype=torch.float64) / l_scale + lambda_ * d_energy + mu * (theta - theta_min)


def normalised(grad: torch.Tensor) -> torch.Tensor:
    """``grad / ||grad||`` (a zero gradient stays zero). [ALGORITHMS 4 step 6; paper]"""
    norm = float(grad.norm())
    return grad / norm if norm > 0 else grad


def nesterov_step(theta: torch.Tensor, grad: torch.Tensor, velocity: torch.Tensor,
                  lr: float, momentum: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SGD with Nesterov momentum (PyTorch's form): ``v <- m v + g``, ``theta <- theta - lr (g + m v)``."""
    velocity = momentum * velocity + grad
    return theta - lr * (grad + momentum * velocity), velocity


# --- the training method -----------------------------------------------------------------

@dataclass
class LanmaxOptions:
    """LaNMax hyper-parameters; defaults are the project's choices where seed 1 is unreadable."""

    lambda_: float = field(default=1.0, metadata={"help": "accuracy/energy trade-off lambda in J (larger: less energy; "
                                                          "useful range about 0.03 to 10 with balance=absolute)"})
    mu: float = field(default=1e-3, metadata={"help": "noise-decay weight mu in J, R = ||theta - theta_min||^2 / 2"})
    d: float = field(default=0.5, metadata={"help": "perturbation size: delta uniform in {-d, 0, +d} (decades of eps)"})
    theta_init: float = field(default=-3.0, metadata={"help": "initial log10(eps) of every layer"})
    theta_min: float = field(default=-6.0, metadata={"help": "lower bound on log10(eps) (most reliable)"})
    theta_max: float = field(default=-1.0, metadata={"help": "upper bound on log10(eps); theta_max + d must be <= 0"})
    lr: float = field(default=0.1, metadata={"help": "SGDO learning rate on theta (constant; step of the unit gradient)"})
    momentum: float = field(default=0.9, metadata={"help": "SGDO Nesterov momentum"})
    t_stop: int = field(default=-1, metadata={"help": "epochs with theta updates, then freeze and fine-tune; -1: 3/4 of the epochs"})
    balance: str = field(default=BALANCES[0], metadata={"help": "loss scale L_s in J: absolute (L_s = 1 nat: lambda means the same in "
                                                                 "every epoch) or best (seed 1: L_best, the best mini-batch loss so far)"})
    ridge: float = field(default=0.0, metadata={"help": "ridge on the OLS slopes; 0: plain OLS (needs > layers+1 batches per epoch)"})
    e0: float = field(default=0.0, metadata={"help": "energy model E0 in J per bit (ALGORITHMS 3)"})
    beta: float = field(default=1e-15, metadata={"help": "energy model beta in J per bit and neper"})
    eps_ref: float = field(default=EPS_REF, metadata={"help": "eps of the reliable reference memory"})

    def __post_init__(self):
        """Checks that need only the options (run at config time, before any training)."""
        if self.lambda_ < 0:
            raise ValueError(f"option lambda={self.lambda_:g} (--lambda) must be >= 0")
        if self.mu < 0:
            raise ValueError(f"option mu={self.mu:g} must be >= 0")
        if not self.theta_min <= self.theta_init <= self.theta_max:
            raise ValueError(f"option theta_init={self.theta_init} must lie in "
                             f"[theta_min={self.theta_min}, theta_max={self.theta_max}]")
        if self.theta_max + self.d > 0:
            raise ValueError(f"options theta_max + d = {self.theta_max + self.d} > 0 would ask for eps > 1")
        if self.balance not in BALANCES:
            raise ValueError(f"option balance={self.balance!r} must be one of {', '.join(BALANCES)}")
        if self.d <= 0 or self.lr <= 0 or not 0 <= self.momentum < 1 or self.ridge < 0:
            raise ValueError(f"options need d > 0, lr > 0, 0 <= momentum < 1, ridge >= 0 "
                             f"(got d={self.d}, lr={self.lr}, momentum={self.momentum}, ridge={self.ridge})")


class Lanmax(NoiseMethod):
    """Per-layer eps found jointly with the weights. [ALGORITHMS 4; seed 1 Algorithm 1]"""

    name = "lanmax"

    def __init__(self, context: MethodContext, options: LanmaxOptions):
        o = options  # values checked by LanmaxOptions.__post_init__
        self.options = o
        self.names = [l.name for l in context.layers]
        if not self.names:
            raise ValueError("lanmax: the model has no stored (binary) layers")
        self.t_stop = o.t_stop if o.t_stop >= 0 else math.ceil(0.75 * context.epochs)
        if o.ridge == 0 and 0 < self.t_stop and context.batches_per_epoch <= len(self.names) + 1:
            raise ValueError(f"lanmax: {context.batches_per_epoch} mini-batches per epoch for {len(self.names)} "
                             f"layers; the OLS needs more than {len(self.names) + 1} (use a smaller --batch-size or -o ridge=0.1)")
        self.model = EnergyModel(o.e0, o.beta, o.eps_ref)
        self.n_bits = layer_bits(context.layers)
        self.theta = torch.full((len(self.names),), float(o.theta_init), dtype=torch.float64)
        self.velocity = torch.zeros_like(self.theta)
        self.l_best = math.inf
        self.epoch = 0
        self._pending: torch.Tensor | None = None
        self._deltas: list[torch.Tensor] = []
        self._losses: list[float] = []

    @property
    def active(self) -> bool:
        return self.epoch < self.t_stop

    def before_batch(self, generator):
        if not self.active:
            return self.eps()
        choice = torch.randint(0, 3, (len(self.names),), generator=generator, device=generator.device)
        self._pending = (choice.cpu().to(torch.float64) - 1.0) * self.options.d
        return self._rates(self.theta + self._pending)

    def after_batch(self, loss):
        self.l_best = min(self.l_best, float(loss))
        if self._pending is not None:
            self._deltas.append(self._pending)
            self._losses.append(float(loss))
            self._pending = None

    def end_epoch(self, epoch):
        o = self.options
        logs = {}
        if self.active and self._losses:
            deltas, losses = torch.stack(self._deltas), torch.tensor(self._losses, dtype=torch.float64)
            intercept, slope = ols_slope(deltas, losses, o.ridge)
            args = (self.n_bits, self.model, o.lambda_, o.mu, o.theta_min)
            l_scale = self.l_best if o.balance == "best" else 1.0
            grad = surrogate_gradient(self.theta, slope, l_scale, *args)
            step = normalised(grad)
            theta, self.velocity = nesterov_step(self.theta, step, self.velocity, o.lr, o.momentum)
            logs = {"lanmax_J": surrogate(self.theta, float(losses.mean()), l_scale, *args),
                    "lanmax_L_best": self.l_best, "lanmax_intercept": intercept,
                    "lanmax_slope": dict(zip(self.names, slope.tolist())),
                    "lanmax_grad": dict(zip(self.names, step.tolist()))}
            self.theta = theta.clamp(o.theta_min, o.theta_max)
        self._deltas, self._losses, self._pending = [], [], None
        self.epoch = epoch + 1
        return {**logs, "eps": self.eps(), "lanmax_frozen": not self.active,
                "energy_ratio": energy_ratio(self.theta, self.n_bits, self.model)}

    def eps(self):
        return self._rates(self.theta)

    def _rates(self, theta: torch.Tensor) -> dict[str, float]:
        return {name: 10.0 ** float(t) for name, t in zip(self.names, theta)}

    def state_dict(self):
        return {"theta": self.theta.clone(), "velocity": self.velocity.clone(), "l_best": self.l_best,
                "epoch": self.epoch, "deltas": [d.clone() for d in self._deltas], "losses": list(self._losses)}

    def load_state_dict(self, state):
        self.theta = state["theta"].clone().to(torch.float64)
        self.velocity = state["velocity"].clone().to(torch.float64)
        self.l_best = float(state["l_best"])
        self.epoch = int(state["epoch"])
        self._deltas = [d.clone() for d in state["deltas"]]
        self._losses = list(state["losses"])
        self._pending = None

