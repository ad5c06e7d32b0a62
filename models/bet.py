"""Bit-error tolerance (BET) of binary neurons, and its hinge regulariser. [ALGORITHMS 6; seed 2 sec. III-IV]

A *sign neuron* is an output channel ``j`` of a stored layer whose output reaches a sign
activation through (optionally) max-pooling and BatchNorm: ``out = sign(y)``, ``y = a_j *
pool(z) + c_j`` with ``sign(0) = +1``. In units of the layer's pre-activation ``z`` its
*margin* is ``m = y / |a_j|`` (``= z - tau_j`` for ``a_j > 0``; without BatchNorm ``a = 1``,
``tau = 0``). One weight flip moves ``z`` by at most ``step = 2 * max_i |x_i|`` (2 for
the +-1 inputs of hidden layers; seed 2 eq. 6 for the real-valued first layer), and a max
over positions moves by no more than its arguments, so with ``k`` flips the output keeps
its sign when

    m >= 0:  k <= m / step            -> beta = floor(m / step)
    m <  0:  k <  -m / step           -> beta = ceil(-m / step) - 1

(convention ``"sign0"``, the default: exact for ``sign(0) = +1``: ``beta`` flips never change
the output and, with +-1 inputs and enough weights on the margin's side, ``beta + 1`` can).
Convention ``"paper"`` is seed 2 eq. 2 as printed, ``beta = ceil(|m| / step) - 1`` clipped at 0,
which is one lower where ``m >= 0`` and ``m / step`` is an integer. ``beta`` is capped at the
fan-in ``K`` [choice]: no neuron has more than ``K`` weights to flip.

Neuron tolerance: the minimum over positions (eq. 3); network tolerance: the mean over
neurons (eq. 4); over a data set: the mean over its inputs (eq. 5). Layers without a sign
after them (the last layer, ReLU nets) have no sign neurons and are left out.

Regulariser (eq. 7): ``r_j(x) = max(0, b - beta~_j(x))`` with ``beta~ = min_positions |m| /
step``, averaged over neurons and inputs, weighted by ``lambda`` and added to the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn as nn

from models.evaluation import faults_attached
from models.layers import BinaryActivation, StoredWeights, stored_layers
from models.methods import NoiseMethod

CONVENTIONS = ("sign0", "paper")
_PASS_THROUGH = (nn.MaxPool1d, nn.MaxPool2d, nn.Identity, nn.Dropout)


def local_tolerance(margin: torch.Tensor, step: torch.Tensor | float, fan_in: int,
                    convention: str = "sign0") -> torch.Tensor:
    """Flips a neuron tolerates at each position (see module docstring), as a float tensor of integers.

    ``step`` broadcasts against ``margin``; where ``step == 0`` (no non-zero input) no flip
    changes ``z`` and the tolerance is the fan-in.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"BET convention {convention!r}: expected one of {CONVENTIONS}")
    step = torch.as_tensor(step, dtype=margin.dtype, device=margin.device)
    ratio = margin.abs() / torch.where(step > 0, step, torch.ones_like(step))
    if convention == "sign0":
        beta = torch.where(margin >= 0, torch.floor(ratio), torch.ceil(ratio) - 1)
    else:
        beta = (torch.ceil(ratio) - 1).clamp(min=0)
    beta = torch.where(step > 0, beta, torch.full_like(beta, float(fan_in)))
    return beta.clamp(max=float(fan_in))


@dataclass
class SignLayerTrace:
    """One stored layer's sign neurons on a batch: margins ``[B, C, *positions]``, steps ``[B]``."""

    name: str
    margin: torch.Tensor
    step: torch.Tensor
    fan_in: int

    def step_view(self) -> torch.Tensor:
        return self.step.view(-1, *([1] * (self.margin.dim() - 1)))

    def neuron_tolerance(self, convention: str = "sign0") -> torch.Tensor:
        """``[B, C]``: minimum of the local tolerance over positions (eq. 3)."""
        beta = local_tolerance(self.margin, self.step_view(), self.fan_in, convention)
        return beta.flatten(2).amin(-1) if beta.dim() > 2 else beta

    def smooth_tolerance(self) -> torch.Tensor:
        """``[B, C]``: differentiable ``beta~ = min_positions |m| / step`` (eq. 7)."""
        step = self.step_view().clamp(min=1e-12)
        beta = self.margin.abs() / step
        return beta.flatten(2).amin(-1) if beta.dim() > 2 else beta


def _bn_scale(bn: nn.modules.batchnorm._BatchNorm, inp: torch.Tensor) -> torch.Tensor:
    """Per-channel ``|a|`` of BatchNorm ``y = a * x + c`` as applied to ``inp`` (batch statistics in training)."""
    if bn.training or bn.running_var is None:
        dims = [0] + list(range(2, inp.dim()))
        var = inp.var(dim=dims, unbiased=False)
    else:
        var = bn.running_var
    a = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        a = a * bn.weight
    return a.abs().clamp(min=1e-12)


class SignNeuronTracer:
    """Forward hooks that record every stored layer -> [pool] -> [BatchNorm] -> sign chain.

    A chain is followed only through modules whose input *is* the previous output tensor,
    so residual or branching nets cannot be misread; anything else ends the chain.
    """

    def __init__(self, net: nn.Module, training_only: bool = False):
        self.net = net
        self.training_only = training_only  # record training-mode passes only
        self.events: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []
        self.handles = []

    def __enter__(self):
        watched = [m for m in self.net.modules()
                   if isinstance(m, StoredWeights) or not any(True for _ in m.children())]
        for m in watched:
            self.handles.append(m.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _hook(self, module, inputs, output):
        if self.training_only and not module.training:
            return
        if isinstance(output, torch.Tensor) and inputs and isinstance(inputs[0], torch.Tensor):
            self.events.append((module, inputs[0], output))

    def clear(self) -> None:
        self.events.clear()

    def traces(self) -> list[SignLayerTrace]:
        names = {id(m): n for n, m in stored_layers(self.net)}
        out = []
        for i, (module, x, z) in enumerate(self.events):
            if id(module) not in names:
                continue
            scale, current = None, z
            for nxt, inp, y in self.events[i + 1:]:
                if inp is not current:
                    break
                if isinstance(nxt, BinaryActivation):
                    margin = inp if scale is None else inp / scale.view(1, -1, *([1] * (inp.dim() - 2)))
                    step = 2.0 * x.detach().abs().flatten(1).amax(1)
                    out.append(SignLayerTrace(names[id(module)], margin, step, module.weight[0].numel()))
                    break
                if isinstance(nxt, nn.modules.batchnorm._BatchNorm) and scale is None:
                    scale = _bn_scale(nxt, inp)
                elif not isinstance(nxt, _PASS_THROUGH):
                    break
                current = y
        return out


@dataclass
class BetReport:
    """Mean neuron tolerance per layer and for the network, over a data set."""

    layers: dict[str, float]
    neurons: dict[str, int]
    network: float
    n_inputs: int
    convention: str

    def to_dict(self) -> dict:
        return {"layers": self.layers, "neurons": self.neurons, "network": self.network,
                "n_inputs": self.n_inputs, "convention": self.convention}


@torch.no_grad()
def bit_error_tolerance(net: nn.Module, batches: Iterable[torch.Tensor], convention: str = "sign0") -> BetReport:
    """BET of ``net`` over the inputs in ``batches`` (eval mode, no faults). [seed 2 eqs. 3-6]

    Network value: mean over inputs of the mean over all sign neurons of the network (eq. 4,
    5); per layer: the same mean over that layer's neurons.
    """
    was_training = net.training
    net.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    net_sum, n_inputs = 0.0, 0
    try:
        with faults_attached(net, None), SignNeuronTracer(net) as tracer:
            for x in batches:
                tracer.clear()
                net(x)
                per_input = []
                for t in tracer.traces():
                    beta = t.neuron_tolerance(convention)  # [B, C]
                    sums[t.name] = sums.get(t.name, 0.0) + float(beta.mean(1).sum())
                    counts[t.name] = beta.shape[1]
                    per_input.append(beta)
                if not per_input:
                    raise ValueError("BET: the network has no sign neurons (a stored layer followed by a "
                                     "sign activation); it is defined for BNN-mode nets only")
                net_sum += float(torch.cat(per_input, 1).mean(1).sum())
                n_inputs += x.shape[0]
    finally:
        net.train(was_training)
    if n_inputs == 0:
        raise ValueError("BET: no inputs given")
    return BetReport({n: s / n_inputs for n, s in sums.items()}, counts, net_sum / n_inputs, n_inputs, convention)


class BetRegularizer:
    """Hinge regulariser ``lambda * mean_{x, j} max(0, b - beta~_j(x))`` (eq. 7) of the last forward pass.

    Use as a context manager around training (hooks stay attached); call :meth:`penalty`
    after each forward and add it to the loss.
    """

    def __init__(self, net: nn.Module, b: float, lam: float):
        if b < 0 or lam < 0:
            raise ValueError(f"BET regulariser: b={b} and lambda={lam} must be >= 0")
        self.b, self.lam = float(b), float(lam)
        self.tracer = SignNeuronTracer(net, training_only=True)

    def __enter__(self):
        self.tracer.__enter__()
        return self

    def __exit__(self, *exc):
        self.tracer.__exit__(*exc)

    def penalty(self) -> torch.Tensor:
        traces = self.tracer.traces()
        self.tracer.clear()
        if not traces:
            raise ValueError("BET regulariser: no sign neurons were seen in the forward pass")
        hinge = torch.cat([torch.relu(self.b - t.smooth_tolerance()) for t in traces], 1)
        return self.lam * hinge.mean()


class BetRegularized(NoiseMethod):
    """Any noise method with the hinge regulariser added to its loss (``bench train --bet-reg b``).

    Everything else (rates, update, state) is the wrapped method's; the regulariser's hooks
    record training-mode forward passes only, so evaluation is untouched.
    """

    def __init__(self, inner: NoiseMethod, net: nn.Module, b: float, lam: float):
        self.inner = inner
        self.name = inner.name
        self.owns_step = inner.owns_step
        self.regularizer = BetRegularizer(net, b, lam).__enter__()

    def before_batch(self, generator):
        return self.inner.before_batch(generator)

    def after_batch(self, loss):
        self.inner.after_batch(loss)

    def end_epoch(self, epoch):
        return self.inner.end_epoch(epoch)

    def eps(self):
        return self.inner.eps()

    def loss(self, logits, targets):
        return self.inner.loss(logits, targets) + self.regularizer.penalty()

    def step(self, model, epoch):
        self.inner.step(model, epoch)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)
