"""Labelled measurement data: characterisation sweeps, fault-map summaries and energy captures
also saved as NetCDF beside their CSV / JSON / npz files, so that ``xr.open_dataset(path)``
gives arrays with named dimensions and units.

* ``sweeps/NAME/sweep.nc`` (``bench characterize``): dimensions ``voltage`` (as swept, from
  vmax down), ``pattern``, ``repeat``; per read ``flips_0to1``, ``flips_1to0``, ``ber``,
  ``ber_0to1``, ``ber_1to0``, ``energy_J``, ``energy_per_bit_J``; the fault-map summary per
  (voltage, pattern) ``bits``, ``persistent_bits``, ``transient_bits``; ``measured_voltage_V``
  per voltage. Cells not measured are NaN.
* ``RUN/board/board.nc`` (``bench run``'s board stage): the energy captures
  ``energy_J[input, layer]`` and per ``layer`` its ``voltage``, ``read_voltage`` and fault-map
  summary (``ber``, ``ber_0to1``, ``ber_1to0``).

Every variable carries ``units`` and ``long_name`` attributes; the file's attributes say what
was measured (chip, technology, energy method, settings as JSON). xarray and a NetCDF backend
are an optional extra (``pip install 'faultbench[xarray]'``: xarray + h5netcdf; netCDF4 or
scipy also work): without them the NetCDF file is skipped with a message and nothing else
changes. Files are replaced atomically and get the user's umask.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'faultbench[xarray]'"
SWEEP_FILE = "sweep.nc"
BOARD_FILE = "board.nc"

#: per-read variables of a sweep: (csv column, units, long name)
SWEEP_READ_VARIABLES = (
    ("flips_0to1", "bit", "bits written 0 read as 1"),
    ("flips_1to0", "bit", "bits written 1 read as 0"),
    ("ber", "1", "bit-error rate (errors per bit read)"),
    ("ber_0to1", "1", "0->1 flips per written zero"),
    ("ber_1to0", "1", "1->0 flips per written one"),
    ("energy_per_bit_J", "J", "energy per bit of the measured access"),
)


def save_netcdf(path: str | os.PathLike, build: Callable[[Any], Any]) -> tuple[Path | None, str]:
    """Write the ``xarray.Dataset`` that ``build(xarray)`` returns to ``path`` (atomically).
    Returns ``(path, "")``, or ``(None, why)`` when xarray or a NetCDF backend is missing
    (``why`` is also logged as a warning: one line, the job goes on)."""
    path = Path(path)
    try:
        import xarray  # optional extra
    except ImportError:
        return _skipped(f"{path} (NetCDF) not written: xarray is not installed ({INSTALL_HINT})")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        build(xarray).to_netcdf(tmp)
        os.replace(tmp, path)
    except (ValueError, ImportError) as exc:   # xarray without any NetCDF backend
        tmp.unlink(missing_ok=True)
        return _skipped(f"{path} (NetCDF) not written: {exc} ({INSTALL_HINT})")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path, ""


def _skipped(why: str) -> tuple[None, str]:
    log.warning("%s", why)
    return None, why


def _variable(dims: tuple[str, ...], data: np.ndarray, units: str, long_name: str) -> tuple:
    return dims, data, {"units": units, "long_name": long_name}


def sweep_dataset(rows: Sequence[Mapping[str, Any]], state: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The builder of ``sweep.nc`` from the sweep's CSV rows and its ``sweep.json`` state."""
    settings = state["settings"]

    def build(xr):
        voltages = sorted({float(r["voltage_V"]) for r in rows}, reverse=True)
        patterns = [p for p in settings["patterns"] if any(r["pattern"] == p for r in rows)]
        repeats = list(range(int(settings["repeats"])))
        vi = {v: i for i, v in enumerate(voltages)}
        pi = {p: i for i, p in enumerate(patterns)}
        shape = (len(voltages), len(patterns), len(repeats))
        reads = {name: np.full(shape, np.nan) for name, _, _ in SWEEP_READ_VARIABLES}
        reads["energy_J"] = np.full(shape, np.nan)
        for r in rows:
            at = (vi[float(r["voltage_V"])], pi[r["pattern"]], int(r["repeat"]))
            for name, _, _ in SWEEP_READ_VARIABLES:
                reads[name][at] = float(r[name])
            reads["energy_J"][at] = float(r["energy_per_bit_J"]) * float(r["bits"])
        points = {k: np.full(shape[:2], np.nan) for k in ("bits", "persistent_bits", "transient_bits")}
        for p in state.get("points", []):
            if float(p["voltage_V"]) in vi and p["pattern"] in pi:
                for k in points:
                    points[k][vi[float(p["voltage_V"])], pi[p["pattern"]]] = p[k]
        measured = state.get("measured_voltage_V", {})
        dims = ("voltage", "pattern", "repeat")
        data = {name: _variable(dims, reads[name], units, long_name) for name, units, long_name in SWEEP_READ_VARIABLES}
        data["energy_J"] = _variable(dims, reads["energy_J"], "J", "energy of the measured access (all bits)")
        data["bits"] = _variable(dims[:2], points["bits"], "bit", "bits under test per read")
        data["persistent_bits"] = _variable(dims[:2], points["persistent_bits"], "bit",
                                            "bits flipped in every read of the pattern")
        data["transient_bits"] = _variable(dims[:2], points["transient_bits"], "bit",
                                           "bits flipped in some reads of the pattern, not all")
        data["measured_voltage_V"] = _variable(("voltage",), np.array([measured.get(f"{v:.4f}", np.nan) for v in voltages],
                                                                      dtype=float), "V",
                                               "rail voltage measured after settling")
        coords = {"voltage": ("voltage", np.array(voltages), {"units": "V", "long_name": "supply voltage setpoint"}),
                  "pattern": ("pattern", np.array(patterns, dtype=str), {"long_name": "test pattern written"}),
                  "repeat": ("repeat", np.array(repeats, dtype=np.int32), {"long_name": "write/read repeat"})}
        supply = state.get("supply", {})
        attrs = {"title": "faultbench characterisation sweep", "chip_id": str(state.get("chip_id", "")),
                 "technology": str(state.get("technology", "")), "energy_of": str(settings.get("energy_of", "")),
                 "energy_method": str(supply.get("energy_method", "")), "settings": json.dumps(settings),
                 "started": str(state.get("started", "")), "source": "faultbench bench characterize"}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    return build


def board_dataset(result: Mapping[str, Any], energy: np.ndarray) -> Callable[[Any], Any]:
    """The builder of ``board.nc`` from ``board.json``'s contents and the energy captures."""

    def build(xr):
        layers = result["layers"]
        names = np.array([str(l["name"]) for l in layers], dtype=str)
        per_layer = lambda key: np.array([np.nan if l[key] is None else float(l[key]) for l in layers])  # noqa: E731
        kind = result["energy_kind"]
        data = {"energy_J": _variable(("input", "layer"), np.asarray(energy, dtype=float), "J",
                                      "energy of the layer's read per inference" if kind == "read"
                                      else "energy of programming the layer's weights"),
                "voltage": _variable(("layer",), per_layer("voltage"), "V", "operating point voltage of the layer"),
                "read_voltage": _variable(("layer",), per_layer("read_voltage"), "V",
                                          "rail voltage while the layer's weights are read"),
                "ber": _variable(("layer",), per_layer("ber"), "1", "bit-error rate of the weights read back"),
                "ber_0to1": _variable(("layer",), per_layer("ber_0to1"), "1", "0->1 flips per stored zero"),
                "ber_1to0": _variable(("layer",), per_layer("ber_1to0"), "1", "1->0 flips per stored one")}
        coords = {"layer": ("layer", names, {"long_name": "stored layer"}),
                  "input": ("input", np.arange(len(energy), dtype=np.int32),
                            {"long_name": "capture (board test input, or the programming pass)"})}
        attrs = {"title": "faultbench board stage: energy captures and fault-map summary", "energy_kind": kind,
                 "energy_method": str(result.get("energy_method", "")), "board": str(result.get("board", "")),
                 "source": "faultbench bench run (board stage)"}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    return build
