"""The rail supply and the energy meter of a bench from their specs, opened in one place for
``bench run`` (``bench/pipeline/hardware.py``) and ``bench characterize``.

* ``supply``: a VISA resource (a SCPI supply, ``drivers/supplies``), or ``ppk2:PORT``: a Nordic
  PPK2 as source meter powers the rail (0.8-5 V) and measures its energy itself;
* ``meter`` (optional): an energy meter beside the supply, ``ppk2:PORT`` (a PPK2 as ampere
  meter in series with the rail) or ``joulescope[:SERIAL]`` (``drivers/meters``). Energy
  captures then come from the meter; the supply only sets the voltage.

In the virtual lab ``ppk2`` without a port means the lab's simulated PPK2 (started by
:func:`lab_ppk2_role`'s answer), no supply means the lab's SCPI supply, and any other supply is
the name or file of the supply model the lab's simulator presents (``drivers/supplies/models``).

What the bench uses of the rail :func:`open_rail` returns is the supplies' interface:
``volts``, ``output_enabled``, ``current_limit``, ``measure_voltage()``, ``identify()``,
``configure()``, ``shutdown()``, ``close()``; its energies come from :func:`energy_meter`, the
``drivers.energy.meter.EnergyMeter`` that measures the rail (the PPK2 or Joulescope beside the
supply, the PPK2 source meter itself, or the SCPI supply's own measurement through
``SupplyMeter``), with the repeated, baseline-corrected method of ``drivers/energy``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from bench.errors import BenchError, user_errors
from drivers.energy.meter import EnergyMeter
from drivers.energy.supply_meter import SupplyMeter
from drivers.meters import Joulescope, open_meter, parse_spec
from drivers.meters.ppk2 import PPK2
from drivers.supplies import SupplyError, open_supply
from drivers.supplies.spec import SpecError, load_spec

PPK2_PREFIX = "ppk2"


def _is_ppk2(spec: str | None) -> bool:
    return spec is not None and str(spec).split(":", 1)[0].lower() == PPK2_PREFIX


def check_specs(supply: str | None, meter: str | None, virtual: bool, where: str) -> None:
    """One line naming ``where`` (an option or a file) for a spec that cannot work."""
    if meter is not None:
        with user_errors(ValueError, prefix=f"{where}: "):
            kind, address = parse_spec(meter)
        if virtual and (kind != PPK2_PREFIX or address):
            raise BenchError(f"{where}: meter {meter!r}: the virtual lab has a simulated PPK2 only: meter: ppk2")
        if not virtual and kind == PPK2_PREFIX and not address:
            raise BenchError(f"{where}: meter ppk2 needs its serial port, e.g. ppk2:/dev/ttyACM1")
        if _is_ppk2(supply):
            raise BenchError(f"{where}: the PPK2 source meter measures its own energy: drop the meter, or power the "
                             f"rail from a bench supply")
    if virtual and _is_ppk2(supply) and str(supply).lower() != PPK2_PREFIX:
        raise BenchError(f"{where}: supply {supply!r}: the virtual lab has a simulated PPK2 only: supply: ppk2")
    if virtual and supply_model(supply) is not None:
        with user_errors(SpecError, prefix=f"{where}: supply: "):
            load_spec(supply)
    if not virtual and _is_ppk2(supply) and ":" not in str(supply):
        raise BenchError(f"{where}: supply ppk2 needs its serial port, e.g. ppk2:/dev/ttyACM0")


def supply_model(supply: str | None) -> str | None:
    """The supply model the virtual lab presents for this supply spec (None: its default, or no
    SCPI supply when the PPK2 powers the rail)."""
    return None if supply is None or _is_ppk2(supply) else str(supply)


def lab_ppk2_role(supply: str | None, meter: str | None) -> str | None:
    """How the virtual lab wires its simulated PPK2 for these specs: ``source``, ``meter`` or None."""
    return "source" if _is_ppk2(supply) else "meter" if _is_ppk2(meter) else None


class MeteredSupply:
    """A rail supply with a separate energy meter: setpoints go to the supply (and the rail
    voltage to the meter, which may not measure it); energies come from the meter
    (:func:`energy_meter`)."""

    def __init__(self, supply: Any, meter: PPK2 | Joulescope):
        self.supply, self.meter = supply, meter

    @property
    def volts(self) -> float:
        return self.supply.volts

    @volts.setter
    def volts(self, value: float) -> None:
        self.supply.volts = value
        self.meter.rail_volts = value

    @property
    def output_enabled(self) -> bool:
        return self.supply.output_enabled

    @output_enabled.setter
    def output_enabled(self, on: bool) -> None:
        self.supply.output_enabled = on

    @property
    def current_limit(self) -> float:
        return self.supply.current_limit

    @current_limit.setter
    def current_limit(self, amps: float) -> None:
        self.supply.current_limit = amps

    def __getattr__(self, name: str) -> Any:   # identify, measure_voltage, measure_current, shutdown, ...
        return getattr(self.supply, name)


def energy_meter(rail: Any) -> EnergyMeter:
    """What measures the energy of the rail :func:`open_rail` returned: the meter beside the
    supply, the PPK2 source meter itself, or the SCPI supply's own measurement."""
    if isinstance(rail, MeteredSupply):
        return rail.meter
    if isinstance(rail, PPK2):
        return rail
    return SupplyMeter(rail)


def describe(rail: Any) -> dict:
    """Driver, identity, energy method and instrument of what :func:`open_rail` returned (for
    the records)."""
    supply = rail.supply if isinstance(rail, MeteredSupply) else rail
    meter = energy_meter(rail)
    info = {"identity": supply.identify(), "driver": type(supply).__name__, "energy_method": meter.method,
            "instrument": meter.name}
    if getattr(supply, "spec", None) is not None:
        info["model"] = supply.spec.model
    if isinstance(rail, MeteredSupply):
        info["meter"] = {"identity": rail.meter.identify(), "driver": type(rail.meter).__name__,
                         "sample_rate_hz": rail.meter.sample_rate_hz}
    return info


@contextlib.contextmanager
def open_rail(supply: str | None, meter: str | None = None, *, lab: Any = None, channel: int = 1, vmax: float,
              imax: float, backend: str = "@py", watchdog_s: float | None = None) -> Iterator[Any]:
    """The rail's supply (and meter), configured (output off); shut down and closed when the
    block ends, whatever ends it. ``lab``: the running virtual lab that ``ppk2`` and a missing
    supply refer to; ``watchdog_s``: the delay of a SCPI supply's output watchdog, where the
    model has one (``drivers.supplies.base``). Errors name the instrument (``SupplyError`` and
    its kind)."""
    with contextlib.ExitStack() as stack:
        if _is_ppk2(supply):
            port = lab.ppk2_port if lab is not None else str(supply).split(":", 1)[1]
            rail = stack.enter_context(PPK2(port, mode="source", vmax=vmax))
        else:
            resource = lab.supply_resource if lab is not None else supply
            watchdog = {} if watchdog_s is None else {"watchdog_s": watchdog_s}
            rail = stack.enter_context(open_supply(resource, backend=backend, channel=channel, vmax=vmax, imax=imax,
                                                   **watchdog))
        if meter is not None:
            try:
                device = open_meter(f"ppk2:{lab.ppk2_port}" if lab is not None else meter)
            except ValueError as exc:
                raise SupplyError(str(exc)) from None
            rail = MeteredSupply(rail, stack.enter_context(device))
        yield rail
