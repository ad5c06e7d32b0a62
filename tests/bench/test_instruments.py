"""Supply and energy meter from their specs (bench/instruments.py) in ``bench characterize`` and
``bench run``: the virtual lab's simulated PPK2 (realistic physics: the rail's leakage, the
meter's noise and gain error) as the energy meter beside the SCPI supply, and as the rail's
source meter, measured with the repeated, baseline-corrected method; specs that cannot work are
one line naming the option or file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.characterize import characterize
from bench.cli import main as bench
from bench.errors import BenchError
from bench.instruments import check_specs
from bench.pipeline.hardware import hardware_spec
from drivers.virtual_lab.physics import Chip

ROOT = Path(__file__).parents[2]
CHIP = ROOT / "drivers/virtual_lab/chips/sram_lowvoltage.yaml"


@pytest.mark.parametrize("supply, meter, virtual, message", [
    (None, "joulescope", True, "the virtual lab has a simulated PPK2 only"),
    (None, "ppk2:/dev/ttyACM1", True, "the virtual lab has a simulated PPK2 only"),
    ("TCPIP0::h::5025::SOCKET", "ppk2", False, "meter ppk2 needs its serial port"),
    ("ppk2:/dev/ttyACM0", "ppk2:/dev/ttyACM1", False, "the PPK2 source meter measures its own energy"),
    ("ppk2", None, False, "supply ppk2 needs its serial port"),
    ("TCPIP0::h::5025::SOCKET", "keithley", False, "expected ppk2:PORT or joulescope"),
    ("TCPIP0::h::5025::SOCKET", None, True, "supply: supply model .*TCPIP0::h::5025::SOCKET.yaml: cannot read"),
    ("ppk2:/dev/ttyACM0", None, True, "the virtual lab has a simulated PPK2 only: supply: ppk2"),
])
def test_specs_that_cannot_work_are_one_line(supply, meter, virtual, message):
    with pytest.raises(BenchError, match=message) as e:
        check_specs(supply, meter, virtual, "hardware hw.yaml")
    assert str(e.value).startswith("hardware hw.yaml: ") and "\n" not in str(e.value)
    with pytest.raises(BenchError, match="hardware .*: meter 'joulescope': the virtual lab has a simulated PPK2"):
        hardware_spec({"kind": "virtual", "meter": "joulescope"})
    assert hardware_spec({"kind": "board", "board": "/dev/ttyACM0", "supply": "ppk2:/dev/ttyACM1"})["supply"]
    # in the virtual lab a supply names the simulator's supply model, beside which the PPK2 may sit
    assert hardware_spec({"kind": "virtual", "supply": "dp832", "meter": "ppk2"})["meter"] == "ppk2"


def check_energy_per_bit(c, chip: Chip, energy_of: str = "read") -> None:
    """Each voltage's energy per bit within 5% of the chip's truth (never read by the bench),
    most intervals covering it."""
    truth = chip.read_energy if energy_of == "read" else chip.write_energy
    covered = 0
    for e in c.sweep.state["energy"]:
        v = e["voltage_V"]
        assert not e["below_resolution"] and e["method"] == "stream" and "PPK2" in e["instrument"], e
        assert abs(e["energy_per_bit_J"] / truth(v) - 1) <= 0.05, (e, truth(v))
        lo, hi = e["ci_per_bit_J"]
        covered += lo <= truth(v) <= hi
    assert covered >= len(c.sweep.state["energy"]) - 1


def test_characterize_with_the_ppk2_beside_the_supply(tmp_path):
    c = characterize(tmp_path / "sw", 0.6, 0.8, 2, meter="ppk2", chip=str(CHIP), patterns="checkerboard",
                     repeats=2, words=1024, settle=0.0)
    state = c.sweep.state
    assert state["supply"]["energy_method"] == "stream" and state["supply"]["driver"] == "KeysightN6705C"
    assert state["supply"]["meter"]["driver"] == "PPK2" and state["supply"]["meter"]["sample_rate_hz"] == 100_000
    assert state["supply"]["instrument"].startswith("Nordic PPK2")
    check_energy_per_bit(c, Chip.load(CHIP))


def test_characterize_with_the_ppk2_as_the_rail_source(tmp_path):
    c = characterize(tmp_path / "sw", 0.8, 1.0, 2, supply="ppk2", chip=str(CHIP), patterns="checkerboard",
                     repeats=1, words=512, settle=0.0)
    assert c.sweep.state["supply"]["driver"] == "PPK2" and c.sweep.state["measured_voltage_V"] == {"1.0000": 1.0,
                                                                                                    "0.8000": 0.8}
    check_energy_per_bit(c, Chip.load(CHIP))
    with pytest.raises(BenchError, match="0.7 V refused: the PPK2 source meter outputs 0.8-5.0 V"):
        characterize(tmp_path / "low", 0.7, 0.9, 2, supply="ppk2", chip=str(CHIP), patterns="checkerboard",
                     repeats=1, words=64, settle=0.0)


@pytest.mark.slow
def test_bench_run_quick_with_the_ppk2_simulator_as_energy_meter(tmp_path):
    """The issue's done-when: ``bench run --profile profiles/sram_lowvoltage.yaml --quick`` end to end with
    the PPK2 simulator (ampere meter in series with the supply's rail, realistic physics) as the energy
    meter. A layer read is a few pJ, below the PPK2's noise over one capture (tens of pJ) and far below
    the rail's leakage over it: the repeated, baseline-corrected captures give each layer a number
    with its interval (or flag it below resolution with the floor), never a noise-sized reading."""
    hardware = tmp_path / "hw.yaml"
    hardware.write_text(f"kind: virtual\nchip: {CHIP}\nmeter: ppk2\n")
    out = tmp_path / "run"
    assert bench(["run", "--profile", str(ROOT / "profiles/sram_lowvoltage.yaml"), "--quick",
                  "--hardware", str(hardware), "--out", str(out)]) == 0
    board = json.loads((out / "board" / "board.json").read_text())
    assert board["energy_method"] == "stream" and board["energy_kind"] == "read"
    assert board["instrument"].startswith("Nordic PPK2")
    ops = json.loads((out / "operating_points" / "operating_points.json").read_text())
    for est, layer in zip(board["energy"], ops["layers"]):
        if est["below_resolution"]:
            assert est["energy_J"] is None and est["floor_j"] > 0
            continue
        lo, hi = est["ci_J"]
        assert lo > 0 and abs(est["energy_J"] / layer["predicted_energy_J"] - 1) <= 0.1, (est, layer)
    results = json.loads((out / "report" / "results.json").read_text())
    e = results["compare"]["energy"]
    assert e["energy_method"] == "stream" and e["n_measured"] >= 2 and e["r2"] is not None and e["r2"] > 0.9, e
    assert (out / "report" / "report.html").is_file() and (out / "board" / "energy_captures.jsonl").is_file()
