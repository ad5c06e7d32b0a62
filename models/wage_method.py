"""``bench train --method wage``: WAGE integer training as a noise method. [ALGORITHMS 7; seed 3]

The method builds the WAGE variant of ``--arch`` (``vgg7``, ``lenet5``, ``mlp``; see
``models.wage``), uses the SSE loss, and owns the weight update: plain SGD through ``Q_G``
only (no torch optimiser, no momentum), ``W <- W - Q_G(g)``, then the training loop's clip
calls each layer's ``C(W, k_W)``. The shift-based learning rate ``eta`` follows the
released schedule ``8 -> 1 -> 1/8`` at epochs 200 and 250 of 300, scaled to ``--epochs``
(switches after ``round(2/3 * epochs)`` and ``round(5/6 * epochs)`` epochs).

Faults: ``noise`` names another registered method (``reliable``, ``uniform``, ``lanmax``)
whose per-layer rates drive the fault injector on the WAGE layers' stored words
(``storage``: ``int8`` training words, ``b_l = 8``; ``ternary`` deployed words, ``b_l = 2``),
with its options in ``noise_options`` as ``key=value;key=value``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from models.methods import MethodContext, NoiseMethod
from models.wage import INIT_MODES, STORAGES, build_wage_net, parse_bits, quantize_gradient, sse_loss, wage_layers

#: eta schedule of the released code: (fraction of the epochs, eta from then on)
ETA_SCHEDULE = ((0.0, 8.0), (200 / 300, 1.0), (250 / 300, 1.0 / 8))


@dataclass
class WageOptions:
    bits: str = field(default="2-8-8-8", metadata={"help": "k_W-k_A-k_G-k_E, 'f' = float (2-8-f-f, 28ff, 28C8, 2888)"})
    init: str = field(default="code", metadata={"help": "init limit L0: code = sqrt(3/n_in) (default: the released "
                                                         "code, whose logs the published numbers come from), "
                                                         "paper = sqrt(6/n_in)"})
    storage: str = field(default="int8", metadata={"help": "stored word faults act on: int8 (training, b_l = 8) "
                                                           "or ternary (deployed, b_l = 2 = k_W)"})
    eta_scale: float = field(default=1.0, metadata={"help": "multiplies the 8 -> 1 -> 1/8 eta schedule"})
    noise: str = field(default="reliable", metadata={"help": "method giving the fault rates: reliable, uniform, lanmax"})
    noise_options: str = field(default="", metadata={"help": "options of the noise method, 'key=value;key=value'"})

    def __post_init__(self):
        parse_bits(self.bits)  # ValueError naming --bits
        if self.init not in INIT_MODES:
            raise ValueError(f"wage: init {self.init!r}: expected one of {sorted(INIT_MODES)}")
        if self.storage not in STORAGES:
            raise ValueError(f"wage: storage {self.storage!r}: expected one of {STORAGES}")
        if self.noise == "wage":
            raise ValueError("wage: noise cannot be 'wage' itself")
        _noise_options(self.noise_options)


def eta_at(epoch: int, epochs: int, scale: float = 1.0) -> float:
    """``eta`` for 0-based ``epoch`` of ``epochs``: 8, then 1 after 2/3, then 1/8 after 5/6. [code Option.py]"""
    eta = ETA_SCHEDULE[0][1]
    for start, value in ETA_SCHEDULE[1:]:
        if epoch >= round(start * epochs):
            eta = value
    return eta * scale


def _noise_options(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"noise_options {text!r}: expected key=value;key=value")
        out[key.strip()] = value.strip()
    return out


def build_wage_model(arch: str, in_shape, n_classes: int, width: float, options: WageOptions,
                     generator: torch.Generator | None = None):
    """The WAGE variant of ``arch``; ``width`` multiplies the published widths.

    ``lenet5`` keeps the released 'valid' convolutions on inputs of 16x16 and more; smaller
    inputs (8x8 digits) get padding 2 [choice], which the 'valid' layout cannot fit.
    """
    bits = parse_bits(options.bits)
    base = {"vgg7": 128, "lenet5": 32, "mlp": 2048}
    if arch not in base:
        raise ValueError(f"wage: no WAGE variant of architecture {arch!r}; use one of {sorted(base)}")
    kwargs = {"width": max(1, int(round(base[arch] * width)))}
    if arch == "lenet5":
        kwargs["padding"] = 0 if min(in_shape[-2:]) >= 16 else 2
    return build_wage_net(arch, in_shape, n_classes, bits, options.init, options.storage, generator, **kwargs)


class Wage(NoiseMethod):
    """WAGE training: SSE loss, integer update ``W <- C(W - Q_G(g), k_W)``, faults from ``noise``."""

    name = "wage"
    owns_step = True

    def __init__(self, context: MethodContext, options: WageOptions,
                 build_noise: Callable[[str, MethodContext, dict], NoiseMethod]):
        self.options = options
        self.bits = parse_bits(options.bits)
        self.epochs = context.epochs
        if not wage_layers(context.model):
            raise ValueError("wage: the model has no WAGE layers (build it with models.wage_method.build_wage_model)")
        self.noise = build_noise(options.noise, context, _noise_options(options.noise_options))
        self._generator: torch.Generator | None = None
        self._eta = eta_at(0, self.epochs, options.eta_scale)

    def before_batch(self, generator):
        self._generator = generator  # the method stream also drives Q_G's stochastic rounding
        return self.noise.before_batch(generator)

    def after_batch(self, loss):
        self.noise.after_batch(loss)

    def end_epoch(self, epoch):
        logs = dict(self.noise.end_epoch(epoch))
        logs["eta"] = self._eta
        return logs

    def eps(self):
        return self.noise.eps()

    def loss(self, logits, targets):
        return sse_loss(logits, targets)

    @torch.no_grad()
    def step(self, model, epoch):
        """``W <- W - Q_G(dL/dW)`` for every WAGE layer (the loop then clips with ``C(W, k_W)``)."""
        self._eta = eta_at(epoch, self.epochs, self.options.eta_scale)
        if self._generator is None:
            raise RuntimeError("wage: step() before before_batch(); the training loop calls before_batch first")
        for _, layer in wage_layers(model):
            if layer.weight.grad is not None:
                layer.weight -= quantize_gradient(layer.weight.grad, self.bits.G, self._eta, self._generator)

    def state_dict(self):
        return {"noise": self.noise.state_dict()}

    def load_state_dict(self, state):
        self.noise.load_state_dict(state["noise"])

