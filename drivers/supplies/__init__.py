"""VISA SCPI supply drivers and :func:`open_supply`, which picks the driver from ``*IDN?``."""

from __future__ import annotations

import re
from typing import Any

import pyvisa

from drivers.supplies.base import (Control, EnergyReading, EnergyWindowError, SafetyLimitError, ScpiSupply, SupplyError,
                                   SupplyTripped, open_kwargs)
from drivers.supplies.keysight import KeysightE36300, KeysightN6705C
from drivers.supplies.rigol import RigolDP800
from drivers.supplies.rohde import RohdeHMC804x

DRIVERS: tuple[type[ScpiSupply], ...] = (KeysightE36300, KeysightN6705C, RigolDP800, RohdeHMC804x)


def driver_for(identity: str) -> type[ScpiSupply]:
    """The driver whose model pattern matches the second field of an ``*IDN?`` reply."""
    fields = [f.strip() for f in identity.split(",")]
    model = fields[1] if len(fields) > 1 else identity
    for cls in DRIVERS:
        if any(re.fullmatch(p, model, re.IGNORECASE) for p in cls.MODELS):
            return cls
    known = ", ".join(p for cls in DRIVERS for p in cls.MODELS)
    raise SupplyError(f"no driver for supply model {model!r} (identity {identity!r}); known models: {known}")


def identify(resource_name: str, *, backend: str = "@py", resource_manager: Any = None, timeout_ms: int = 3000) -> str:
    """The ``*IDN?`` reply of the instrument at ``resource_name`` (nothing else is sent)."""
    if resource_manager is None:
        resource_manager = pyvisa.ResourceManager(backend)
    try:
        res = resource_manager.open_resource(resource_name, **open_kwargs(resource_name, timeout_ms))
        try:
            return res.query("*IDN?").strip()
        finally:
            res.close()
    except Exception as exc:
        raise SupplyError(f"cannot identify supply {resource_name}: {exc}") from exc


def open_supply(resource_name: str, *, backend: str = "@py", resource_manager: Any = None, **kwargs) -> ScpiSupply:
    """Identify the instrument at ``resource_name`` and open it with the matching driver.

    ``kwargs`` go to the driver (``channel``, ``vmax``, ``imax``, ``ovp``, ``safe_volts``,
    ``watchdog_s``, ...).
    """
    if resource_manager is None:
        resource_manager = pyvisa.ResourceManager(backend)
    identity = identify(resource_name, resource_manager=resource_manager, timeout_ms=kwargs.get("timeout_ms", 3000))
    return driver_for(identity)(resource_name, resource_manager=resource_manager, **kwargs)


__all__ = ["Control", "DRIVERS", "EnergyReading", "EnergyWindowError", "KeysightE36300", "KeysightN6705C", "RigolDP800", "RohdeHMC804x",
           "SafetyLimitError", "ScpiSupply", "SupplyError", "SupplyTripped", "driver_for", "identify", "open_supply"]
