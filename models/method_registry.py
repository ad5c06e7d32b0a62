"""Which training methods exist: the registry behind ``bench train --method`` and ``--method-help``.

The built-in methods are listed here explicitly (``reliable``, ``uniform``, ``lanmax``,
``wage``); :func:`register_method` adds another at run time (a factory
``factory(context: MethodContext, options) -> NoiseMethod`` and an options dataclass whose
fields, with defaults and ``metadata={"help": ...}``, are the method's hyper-parameters).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from models.lanmax import Lanmax, LanmaxOptions
from models.methods import MethodContext, NoiseMethod, Reliable, ReliableOptions, Uniform, UniformOptions
from models.wage_method import Wage, WageOptions, build_wage_model


@dataclass(frozen=True)
class MethodSpec:
    name: str
    factory: Callable[[MethodContext, Any], NoiseMethod]
    options: type
    #: optional ``build_model(arch, in_shape, n_classes, width, options, generator)`` for
    #: methods that train their own layer types (WAGE); ``None``: the standard architectures
    build_model: Callable[..., Any] | None = None


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(name: str, factory: Callable[[MethodContext, Any], NoiseMethod],
                    options: type = ReliableOptions, build_model: Callable[..., Any] | None = None) -> None:
    """Make ``name`` available to ``bench train --method``; ``options`` is a dataclass type."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"method {name}: options must be a dataclass type")
    _REGISTRY[name] = MethodSpec(name, factory, options, build_model)


def method_names() -> list[str]:
    return sorted(_REGISTRY)


def method_spec(name: str) -> MethodSpec:
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
            if isinstance(values[f.name], float) and not math.isfinite(values[f.name]):
                raise ValueError(f"option {f.name.rstrip('_')}: {values[f.name]!r} is not a finite number")
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
register_method("lanmax", Lanmax, LanmaxOptions)
# WAGE builds the noise method that puts faults on its stored words through this registry
register_method("wage", lambda context, options: Wage(context, options, build_method), WageOptions,
                build_model=build_wage_model)
