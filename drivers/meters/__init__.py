"""Energy meters for microcontroller rails, behind the energy-capture interface of
``drivers/energy/meter.py`` (``name``, ``method``, ``max_window_s``, ``capture(window_s)``,
``window_noise``, ``gain_accuracy``: ``drivers/meters/stream.py``), plus what a meter has:
``sample_rate_hz``, ``record(seconds)`` (raw samples, :class:`Samples`).

* :class:`PPK2` (``drivers/meters/ppk2.py``): Nordic Power Profiler Kit II over serial, as an
  ampere meter in series with a supply's rail or as the rail's source meter;
* :class:`Joulescope` (``drivers/meters/joulescope.py``): through the ``joulescope`` package.

:func:`open_meter` opens one from a spec string: ``ppk2:PORT`` or ``joulescope[:SERIAL]``.
"""

from __future__ import annotations

from drivers.meters.stream import Samples
from drivers.meters.joulescope import Joulescope, JoulescopeError
from drivers.meters.ppk2 import PPK2, PPK2Error

KINDS = ("ppk2", "joulescope")


def parse_spec(spec: str) -> tuple[str, str]:
    """``"ppk2:/dev/ttyACM0"`` -> ``("ppk2", "/dev/ttyACM0")``; ``"joulescope"`` -> ``("joulescope", "")``."""
    kind, _, address = str(spec).partition(":")
    if kind.lower() not in KINDS:
        raise ValueError(f"meter {spec!r}: expected ppk2:PORT or joulescope[:SERIAL]")
    return kind.lower(), address


def open_meter(spec: str, **kwargs) -> PPK2 | Joulescope:
    """An energy meter from its spec (not yet configured: use it as a context manager or call
    ``configure()``); ``kwargs`` go to the driver."""
    kind, address = parse_spec(spec)
    if kind == "ppk2":
        if not address:
            raise ValueError(f"meter {spec!r}: give the PPK2's serial port, e.g. ppk2:/dev/ttyACM0")
        return PPK2(address, mode="ampere", **kwargs)
    return Joulescope(address or None, **kwargs)


__all__ = ["Joulescope", "JoulescopeError", "KINDS", "PPK2", "PPK2Error", "Samples", "open_meter", "parse_spec"]
