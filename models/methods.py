"""Training methods: how much noise each layer gets, and (optionally) how weights update.

The training loop (``models.training``) talks to a method through :class:`NoiseMethod`
only, once per mini-batch and once per epoch::

    rates = method.before_batch(generator)   # {layer name: eps} or None (= no faults)
    ... forward with faults at ``rates``, loss = method.loss(logits, targets), backward ...
    if method.owns_step: method.step(model, epoch)   # e.g. WAGE: its own integer update
    else:                optimizer.step()
    clip latent weights to [-1, 1]
    method.after_batch(loss.item())
    ...
    logs = method.end_epoch(epoch)            # JSON-able dict, e.g. {"eps": {layer: eps}}

``method.eps()`` is the current per-layer eps (``None`` for a method without eps); the run
directory records it per epoch (eps trajectory) and at the end (final per-layer eps).
``state_dict()``/``load_state_dict()`` must round-trip everything the method needs for a
bit-exact resume (torch tensors and plain data only).

Which methods exist, and their options, is ``models.method_registry``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.energy import LayerMemory
from models.layers import layer_memory

@dataclass
class MethodContext:
    """What a method may know about the run when it is built."""

    model: nn.Module
    epochs: int
    batches_per_epoch: int
    device: torch.device = torch.device("cpu")
    layers: tuple[LayerMemory, ...] = ()  # the stored layers (default: the model's, in network order)

    def __post_init__(self):
        if not self.layers:
            self.layers = tuple(layer_memory(self.model))


class NoiseMethod:
    """Base class: a reliable (fault-free) method with the default loss and optimiser."""

    name = "base"
    #: True: the method updates the weights itself in :meth:`step` (no torch optimiser).
    owns_step = False

    def before_batch(self, generator: torch.Generator) -> dict[str, float] | None:
        """Per-layer fault rates for the next mini-batch, or ``None`` for a fault-free batch."""
        return None

    def after_batch(self, loss: float) -> None:
        """The mini-batch's training loss (after the update)."""

    def end_epoch(self, epoch: int) -> dict:
        """Epoch finished (0-based ``epoch``); return JSON-able logs for ``metrics.jsonl``."""
        return {}

    def eps(self) -> dict[str, float] | None:
        """Current per-layer eps (``None``: the method has no eps)."""
        return None

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets)

    def step(self, model: nn.Module, epoch: int) -> None:
        """Weight update when :attr:`owns_step` (gradients are in ``param.grad``)."""
        raise NotImplementedError(f"method {self.name} does not own the optimiser step")

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


# --- built-in methods ------------------------------------------------------------------

@dataclass
class ReliableOptions:
    """``reliable`` has no hyper-parameters."""


class Reliable(NoiseMethod):
    """Fault-free training (reliable BinaryConnect/BNN reference)."""

    name = "reliable"


@dataclass
class UniformOptions:
    eps: float = field(default=1e-3, metadata={"help": "bit-error rate of every layer during training (BSC), in (0, 0.5]"})

    def __post_init__(self):
        # A BSC with eps > 0.5 is the inverted channel at 1 - eps; eps = 0 is method reliable.
        if not 0.0 < self.eps <= 0.5:
            raise ValueError(f"option eps={self.eps:g} (--eps) must lie in (0, 0.5]: above 0.5 a binary "
                             f"symmetric channel is just the inverted one; for no faults use --method reliable")


class Uniform(NoiseMethod):
    """One eps for all layers, re-sampled every forward pass. [ALGORITHMS 4 end; seed 1 sec. III-A]"""

    name = "uniform"

    def __init__(self, context: MethodContext, options: UniformOptions):
        self.rates = {layer.name: float(options.eps) for layer in context.layers}

    def before_batch(self, generator):
        return dict(self.rates)

    def eps(self):
        return dict(self.rates)
