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

Plug-ins: a module calls :func:`register_method` at import time with a factory
``factory(context: MethodContext, options) -> NoiseMethod`` and an options dataclass whose
fields (with defaults and ``metadata={"help": ...}``) are the method's hyper-parameters.
Modules listed in :data:`PLUGIN_MODULES` are imported on first lookup, so
``models.lanmax`` and the WAGE module register themselves without the CLI naming them.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.energy import LayerMemory, layer_memory

#: Modules imported (when present) before a method lookup; each registers its methods.
PLUGIN_MODULES = ("models.lanmax", "models.wage", "models.wage_method")


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


# --- registry ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MethodSpec:
    name: str
    factory: Callable[[MethodContext, Any], NoiseMethod]
    options: type
    #: optional ``build_model(arch, in_shape, n_classes, width, options, generator)`` for
    #: methods that train their own layer types (WAGE); ``None``: the standard architectures
    build_model: Callable[..., Any] | None = None


_REGISTRY: dict[str, MethodSpec] = {}
_plugins_loaded = False


def register_method(name: str, factory: Callable[[MethodContext, Any], NoiseMethod],
                    options: type = ReliableOptions, build_model: Callable[..., Any] | None = None) -> None:
    """Make ``name`` available to ``bench train --method``; ``options`` is a dataclass type."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"method {name}: options must be a dataclass type")
    _REGISTRY[name] = MethodSpec(name, factory, options, build_model)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in PLUGIN_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


def method_names() -> list[str]:
    _load_plugins()
    return sorted(_REGISTRY)


def method_spec(name: str) -> MethodSpec:
    _load_plugins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def _field_for(options: type, key: str) -> dataclasses.Field:
    fields = {f.name: f for f in dataclasses.fields(options)}
    name = key.replace("-", "_")
    for candidate in (name, name + "_"):  # ``lambda`` -> field ``lambda_``
        if candidate in fields:
            return fields[candidate]
    valid = ", ".join(f.name.rstrip("_") for f in fields.values()) or "none"
    raise KeyError(f"unknown option {key!r}; valid options: {valid}")


def _convert(f: dataclasses.Field, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if "bool" in kind:
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"option {f.name}: {value!r} is not a boolean")
        return value.lower() in ("true", "1", "yes")
    if "int" in kind and "float" not in kind:
        return int(value)
    if "float" in kind:
        return float(value)
    return value


def resolve_options(name: str, raw: Mapping[str, Any] | None = None):
    """Options dataclass of method ``name`` from ``{key: value}`` (strings are converted).

    Raises ``KeyError``/``ValueError`` naming the method and the bad option.
    """
    spec = method_spec(name)
    values = {}
    for key, value in (raw or {}).items():
        try:
            f = _field_for(spec.options, key)
            values[f.name] = _convert(f, value)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"method {name}: {exc.args[0]}") from None
    try:
        return spec.options(**values)  # the dataclass's __post_init__ checks the values
    except ValueError as exc:
        message = str(exc.args[0] if exc.args else exc)
        raise ValueError(message if message.startswith(f"{name}:") else f"method {name}: {message}") from None


def option_help(name: str) -> list[tuple[str, Any, str]]:
    """``(option, default, help)`` for every hyper-parameter of method ``name``."""
    spec = method_spec(name)
    return [(f.name.rstrip("_"), f.default, f.metadata.get("help", ""))
            for f in dataclasses.fields(spec.options)]


def build_method(name: str, context: MethodContext, options: Mapping[str, Any] | Any = None) -> NoiseMethod:
    """Instantiate method ``name``; ``options`` is a dict (see :func:`resolve_options`) or the dataclass."""
    spec = method_spec(name)
    if not isinstance(options, spec.options):
        options = resolve_options(name, options)
    return spec.factory(context, options)


register_method("reliable", lambda context, options: Reliable(), ReliableOptions)
register_method("uniform", Uniform, UniformOptions)
