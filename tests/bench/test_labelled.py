"""NetCDF beside the measurement files (bench/labelled.py): a characterisation sweep opens with
``xr.open_dataset`` as arrays over named dimensions with units, holding the CSV's numbers and
each voltage's energy per bit with its interval; the board stage's per-layer energy estimates
(energy, interval, floor, repeats, below resolution) and fault-map summary likewise; without
xarray the job goes on."""

import builtins
import csv
import json

import numpy as np
import pytest

from bench.characterize import characterize
from bench.labelled import board_dataset, save_netcdf, sweep_dataset

xr = pytest.importorskip("xarray", reason="xarray not installed (pip install 'faultbench[xarray]')")


def test_a_characterisation_sweep_opens_with_named_dimensions_and_units(tmp_path):
    c = characterize(tmp_path / "sw", 0.5, 0.7, 3, patterns="checkerboard,random", repeats=2, words=256, settle=0.0)
    assert c.netcdf == tmp_path / "sw" / "sweep.nc"
    with xr.open_dataset(c.netcdf) as ds:
        assert ds["ber"].dims == ("voltage", "pattern", "repeat")
        assert ds["voltage"].values.tolist() == [0.7, 0.6, 0.5] and ds["voltage"].attrs["units"] == "V"
        assert ds["pattern"].values.tolist() == ["checkerboard", "random"] and ds["repeat"].values.tolist() == [0, 1]
        assert ds["energy_per_bit_J"].dims == ("voltage",) and ds["energy_per_bit_J"].attrs["units"] == "J"
        assert ds["energy_per_bit_ci_J"].dims == ("voltage", "bound") and ds["bound"].values.tolist() == ["low", "high"]
        assert ds["ber"].attrs["units"] == "1"
        assert ds["persistent_bits"].dims == ("voltage", "pattern") and ds["persistent_bits"].attrs["units"] == "bit"
        assert ds.attrs["chip_id"] == c.chip_id and json.loads(ds.attrs["settings"])["repeats"] == 2
        with open(c.sweep.csv_path, newline="") as f:
            for row in csv.DictReader(f):
                cell = ds.sel(voltage=float(row["voltage_V"]), pattern=row["pattern"], repeat=int(row["repeat"]))
                assert int(cell["flips_0to1"]) == int(row["flips_0to1"])
                assert float(cell["energy_per_bit_J"]) == pytest.approx(float(row["energy_per_bit_J"]), rel=1e-5)
        for e in c.sweep.state["energy"]:   # the energy per voltage, as sweep.json has it
            cell = ds.sel(voltage=e["voltage_V"])
            assert bool(cell["below_resolution"]) == e["below_resolution"] and int(cell["capture_repeats"]) == e["repeat"]
            assert float(cell["floor_per_bit_J"]) == pytest.approx(e["floor_per_bit_J"], rel=1e-9)
            if e["energy_per_bit_J"] is not None:
                assert float(cell["energy_per_bit_J"]) == pytest.approx(e["energy_per_bit_J"], rel=1e-9)
                assert cell["energy_per_bit_ci_J"].values.tolist() == pytest.approx(e["ci_per_bit_J"], rel=1e-9)
        points = {(p["voltage_V"], p["pattern"]): p for p in c.sweep.state["points"]}
        for (v, pattern), p in points.items():
            assert int(ds["transient_bits"].sel(voltage=v, pattern=pattern)) == p["transient_bits"]
        assert ds["measured_voltage_V"].sel(voltage=0.6).item() == pytest.approx(0.6, abs=1e-3)   # read back, with its errors


def estimate(energy, half, floor, below, repeat, pairs):
    """A per-layer energy estimate as board.json holds it (drivers.energy.EnergyEstimate.to_dict())."""
    return {"label": "x", "half_width_j": None if below else half, "floor_j": floor, "below_resolution": below,
            "target_met": not below, "pairs": pairs, "repeat": repeat, "window_s": 0.02, "overruns": 1,
            "method": "stream", "instrument": "PPK2", "volts": 0.56, "static_w": 1.5e-6, "confidence": 0.95,
            "energy_J": None if below else energy, "ci_J": None if below else [energy - half, energy + half]}


def test_board_energy_estimates_and_fault_map_summary(tmp_path):
    result = {"energy_kind": "read", "energy_per": "inference", "energy_method": "stream", "board": "virtual lab",
              "instrument": "PPK2", "energy_settings": {"target": 0.05}, "energy_captures": "energy_captures.jsonl",
              "energy": [estimate(3.2e-11, 1e-12, 4e-13, False, 430, 3), estimate(None, None, 2e-12, True, 65535, 20)],
              "layers": [{"name": "fc1", "voltage": 0.56, "read_voltage": 0.56, "ber": 1e-4, "ber_0to1": 1.2e-4,
                          "ber_1to0": 0.8e-4},
                         {"name": "fc2", "voltage": None, "read_voltage": 1.0, "ber": 0.0, "ber_0to1": 0.0,
                          "ber_1to0": 0.0}]}
    path, why = save_netcdf(tmp_path / "board.nc", board_dataset(result))
    assert why == "" and path.is_file() and not list(tmp_path.glob(".*tmp"))
    with xr.open_dataset(path) as ds:
        assert ds["energy_J"].dims == ("layer",) and ds["energy_J"].attrs["units"] == "J"
        assert ds["energy_ci_J"].dims == ("layer", "bound") and ds["floor_J"].attrs["units"] == "J"
        fc1, fc2 = ds.sel(layer="fc1"), ds.sel(layer="fc2")
        assert float(fc1["energy_J"]) == 3.2e-11 and fc1["energy_ci_J"].values.tolist() == [3.2e-11 - 1e-12, 3.2e-11 + 1e-12]
        assert int(fc1["capture_repeats"]) == 430 and int(fc1["capture_pairs"]) == 3 and not bool(fc1["below_resolution"])
        # below resolution: no energy, no interval, but the floor and the captures it took
        assert np.isnan(fc2["energy_J"]) and np.isnan(fc2["energy_ci_J"]).all() and bool(fc2["below_resolution"])
        assert float(fc2["floor_J"]) == 2e-12 and int(fc2["capture_pairs"]) == 20
        assert ds["layer"].values.tolist() == ["fc1", "fc2"] and np.isnan(ds["voltage"].sel(layer="fc2"))
        assert ds.attrs["energy_method"] == "stream" and ds.attrs["instrument"] == "PPK2"


def test_without_xarray_the_file_is_skipped_with_one_line(tmp_path, monkeypatch, caplog):
    real_import = builtins.__import__

    def no_xarray(name, *args, **kwargs):
        if name == "xarray":
            raise ImportError("No module named 'xarray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_xarray)
    path, why = save_netcdf(tmp_path / "sweep.nc", sweep_dataset([], {"settings": {"patterns": [], "repeats": 1}}))
    assert path is None and not (tmp_path / "sweep.nc").exists()
    assert why == f"{tmp_path / 'sweep.nc'} (NetCDF) not written: xarray is not installed (pip install 'faultbench[xarray]')"
    assert why in caplog.text
