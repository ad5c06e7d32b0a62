"""Labelled measurement data: characterisation sweeps, fault-map summaries and energy captures
also saved as NetCDF beside their CSV / JSON / npz files, so that ``xr.open_dataset(path)``
gives arrays with named dimensions and units.

* ``sweeps/NAME/sweep.nc`` (``bench characterize``): dimensions ``voltage`` (as swept, from
  vmax down), ``pattern``, ``repeat``, ``bound`` (``low``, ``high``); per read ``flips_0to1``,
  ``flips_1to0``, ``ber``, ``ber_0to1``, ``ber_1to0``; the fault-map summary per (voltage,
  pattern) ``bits``, ``persistent_bits``, ``transient_bits``; per voltage
  ``measured_voltage_V`` and the energy per bit measured with the repeated, baseline-corrected
  method (docs/ENERGY_CAPTURES.md): ``energy_per_bit_J``, its interval
  ``energy_per_bit_ci_J[voltage, bound]``, the instrument's ``floor_per_bit_J``,
  ``below_resolution``, ``capture_repeats`` (N), ``capture_pairs``, ``bits_per_run``. Cells not
  measured, and energies below resolution, are NaN.
* ``RUN/board/board.nc`` (``bench run``'s board stage): per ``layer`` the measured energy
  ``energy_J`` (per inference, or per programming of the layer), its interval
  ``energy_ci_J[layer, bound]``, the instrument's ``floor_J``, ``below_resolution``,
  ``target_met``, ``capture_repeats``, ``capture_pairs``, ``capture_window_s``,
  ``capture_overruns``, the rail's ``static_W`` in the baseline windows, and its ``voltage``,
  ``read_voltage`` and fault-map summary (``ber``, ``ber_0to1``, ``ber_1to0``). The raw captures
  stay in ``energy_captures.jsonl`` / ``energy_traces.npz`` beside it.

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
)
BOUNDS = ("low", "high")


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
        for r in rows:
            at = (vi[float(r["voltage_V"])], pi[r["pattern"]], int(r["repeat"]))
            for name, _, _ in SWEEP_READ_VARIABLES:
                reads[name][at] = float(r[name])
        points = {k: np.full(shape[:2], np.nan) for k in ("bits", "persistent_bits", "transient_bits")}
        for p in state.get("points", []):
            if float(p["voltage_V"]) in vi and p["pattern"] in pi:
                for k in points:
                    points[k][vi[float(p["voltage_V"])], pi[p["pattern"]]] = p[k]
        measured = state.get("measured_voltage_V", {})
        energy = {float(e["voltage_V"]): e for e in state.get("energy", [])}
        per_voltage = [energy.get(v) for v in voltages]
        dims = ("voltage", "pattern", "repeat")
        data = {name: _variable(dims, reads[name], units, long_name) for name, units, long_name in SWEEP_READ_VARIABLES}
        data["bits"] = _variable(dims[:2], points["bits"], "bit", "bits under test per read")
        data["persistent_bits"] = _variable(dims[:2], points["persistent_bits"], "bit",
                                            "bits flipped in every read of the pattern")
        data["transient_bits"] = _variable(dims[:2], points["transient_bits"], "bit",
                                           "bits flipped in some reads of the pattern, not all")
        data["measured_voltage_V"] = _variable(("voltage",), np.array([measured.get(f"{v:.4f}", np.nan) for v in voltages],
                                                                      dtype=float), "V",
                                               "rail voltage measured after settling")
        what = "written" if settings.get("energy_of") == "write" else "read"
        data.update(_estimates(per_voltage, "voltage", {
            "energy_J": ("energy_per_bit_J", f"energy per bit {what} (mean over capture pairs)"),
            "ci_J": ("energy_per_bit_ci_J", "95% interval of the energy per bit"),
            "floor_J": ("floor_per_bit_J", "energy per bit the instrument alone resolves (floor)")},
            scale=lambda e: e["bits_per_run"]))
        data["bits_per_run"] = _variable(("voltage",), _column(per_voltage, "bits_per_run"), "bit",
                                         "bits accessed per run of the measured work")
        coords = {"voltage": ("voltage", np.array(voltages), {"units": "V", "long_name": "supply voltage setpoint"}),
                  "pattern": ("pattern", np.array(patterns, dtype=str), {"long_name": "test pattern written"}),
                  "repeat": ("repeat", np.array(repeats, dtype=np.int32), {"long_name": "write/read repeat"}),
                  **_bound_coord()}
        supply = state.get("supply", {})
        attrs = {"title": "faultbench characterisation sweep", "chip_id": str(state.get("chip_id", "")),
                 "technology": str(state.get("technology", "")), "energy_of": str(settings.get("energy_of", "")),
                 "energy_method": str(supply.get("energy_method", "")),
                 "instrument": str(supply.get("instrument", "")), "settings": json.dumps(settings),
                 "started": str(state.get("started", "")), "source": "faultbench bench characterize"}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    return build


def _column(estimates: Sequence[Mapping[str, Any] | None], key: str, scale=None) -> np.ndarray:
    """``key`` of each estimate as floats (NaN for a missing estimate or value), over ``scale(e)``."""
    out = np.full(len(estimates), np.nan)
    for i, e in enumerate(estimates):
        if e is not None and e.get(key) is not None:
            out[i] = float(e[key]) / (scale(e) if scale else 1.0)
    return out


def _bound_coord() -> dict:
    return {"bound": ("bound", np.array(BOUNDS, dtype=str), {"long_name": "end of the 95% interval"})}


def _estimates(estimates: Sequence[Mapping[str, Any] | None], dim: str, names: Mapping[str, tuple[str, str]],
               scale=None) -> dict:
    """Variables over ``dim`` of energy estimates (``drivers.energy.EnergyEstimate.to_dict()``):
    the energy, its interval, the floor (named by ``names``: key -> (variable, long name)), whether
    it is below resolution, and the captures behind it."""
    ci = np.full((len(estimates), 2), np.nan)
    for i, e in enumerate(estimates):
        if e is not None and e.get("ci_J") is not None:
            ci[i] = np.asarray(e["ci_J"], dtype=float) / (scale(e) if scale else 1.0)
    energy_name, energy_long = names["energy_J"]
    ci_name, ci_long = names["ci_J"]
    floor_name, floor_long = names["floor_J"]
    return {energy_name: _variable((dim,), _column(estimates, "energy_J", scale), "J", energy_long),
            ci_name: _variable((dim, "bound"), ci, "J", ci_long),
            floor_name: _variable((dim,), _column(estimates, "floor_j", scale), "J", floor_long),
            "below_resolution": _variable((dim,), np.array([bool(e and e["below_resolution"]) for e in estimates]),
                                          "1", "true: below the instrument's resolution (no energy given)"),
            "capture_repeats": _variable((dim,), _column(estimates, "repeat"), "1",
                                         "runs of the work per capture window (N)"),
            "capture_pairs": _variable((dim,), _column(estimates, "pairs"), "1",
                                       "work/baseline capture pairs taken")}


def board_dataset(result: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The builder of ``board.nc`` from ``board.json``'s contents (its per-layer energy estimates
    and fault-map summary)."""

    def build(xr):
        layers = result["layers"]
        estimates = result["energy"]
        names = np.array([str(l["name"]) for l in layers], dtype=str)
        per_layer = lambda key: np.array([np.nan if l[key] is None else float(l[key]) for l in layers])  # noqa: E731
        per = result.get("energy_per", "inference")
        data = {**_estimates(estimates, "layer", {
                    "energy_J": ("energy_J", f"energy of the layer per {per} (mean over capture pairs)"),
                    "ci_J": ("energy_ci_J", "95% interval of the layer's energy"),
                    "floor_J": ("floor_J", "energy the instrument alone resolves for these windows (floor)")}),
                "target_met": _variable(("layer",), np.array([bool(e["target_met"]) for e in estimates]), "1",
                                        "true: the interval reached the target relative half-width"),
                "capture_window_s": _variable(("layer",), _column(estimates, "window_s"), "s",
                                              "capture window length"),
                "capture_overruns": _variable(("layer",), _column(estimates, "overruns"), "1",
                                              "captures dropped because the work outlasted them"),
                "static_W": _variable(("layer",), _column(estimates, "static_w"), "W",
                                      "rail power in the baseline windows (static current)"),
                "voltage": _variable(("layer",), per_layer("voltage"), "V", "operating point voltage of the layer"),
                "read_voltage": _variable(("layer",), per_layer("read_voltage"), "V",
                                          "rail voltage while the layer's weights are read"),
                "ber": _variable(("layer",), per_layer("ber"), "1", "bit-error rate of the weights read back"),
                "ber_0to1": _variable(("layer",), per_layer("ber_0to1"), "1", "0->1 flips per stored zero"),
                "ber_1to0": _variable(("layer",), per_layer("ber_1to0"), "1", "1->0 flips per stored one")}
        coords = {"layer": ("layer", names, {"long_name": "stored layer"}), **_bound_coord()}
        settings = result.get("energy_settings", {})
        attrs = {"title": "faultbench board stage: per-layer energy and fault-map summary",
                 "energy_kind": result["energy_kind"], "energy_per": per,
                 "energy_method": str(result.get("energy_method", "")),
                 "instrument": str(result.get("instrument", "")), "settings": json.dumps(settings),
                 "energy_captures": str(result.get("energy_captures", "")), "board": str(result.get("board", "")),
                 "source": "faultbench bench run (board stage)"}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    return build
