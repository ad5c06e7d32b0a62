"""Quantities in profiles: a number in SI units (V, J, degC) or a string ``'<number> <unit>'``.

``'1.2 pJ'`` and ``1.2e-12`` are the same energy; ``'650 mV'`` and ``0.65`` the same voltage.
:data:`PLAUSIBLE` catches values that are almost surely written in the wrong unit.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: unit -> factor to SI, per quantity kind (the schema's ``x-quantity`` annotation).
UNITS = {
    "energy": {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6, "µJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12, "fJ": 1e-15, "aJ": 1e-18},
    "voltage": {"V": 1.0, "mV": 1e-3},
    "temperature": {"C": 1.0, "degC": 1.0, "K": 1.0},  # K handled as an offset below
}
SI_UNIT = {"energy": "J", "voltage": "V", "temperature": "degC"}
#: Plausible magnitudes [choice]: a value outside is almost surely written in the wrong unit
#: (e.g. ``energy_read_per_bit: 1.2`` meaning pJ, ``voltage: 650`` meaning mV).
PLAUSIBLE = {"energy": (0.0, 1e-6), "voltage": (0.0, 50.0), "temperature": (-273.15, 500.0)}
HINT_UNIT = {"energy": "pJ", "voltage": "mV", "temperature": "C"}  # suggested when a unit is missing
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zµ]+)\s*$")


def parse_quantity(value: Any, kind: str) -> float:
    """``1.2e-12`` or ``'1.2 pJ'`` -> SI float; raises ValueError naming the accepted units."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a {kind}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite {kind}")
        return float(value)
    m = _QUANTITY.match(str(value))
    units = UNITS[kind]
    if not m or m.group(2) not in units:
        raise ValueError(f"{value!r} is not a {kind} (units: {', '.join(units)})")
    number, unit = float(m.group(1)), m.group(2)
    if kind == "temperature" and unit == "K":
        return number - 273.15
    return number * units[unit]
