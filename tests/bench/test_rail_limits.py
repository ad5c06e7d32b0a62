"""The memory rail's limits: a vmax above the absolute maximum that the chip file or the profile
states is refused with one line before anything is started or sent; far above nominal is
warned about; ``bench doctor`` checks at the chip's or profile's nominal voltage."""

from __future__ import annotations

import logging
import textwrap

import pytest

from bench.cli import main
from bench.doctor import run_checks
from bench.rail_limits import FAR_ABOVE_NOMINAL, RailLimits, check_vmax
from bench.errors import BenchError
from drivers.virtual_lab.physics import CHIPS_DIR, Chip
from models.profile import check_profile, load_profile

LOWVOLTAGE_CHIP = CHIPS_DIR / "sram_lowvoltage.yaml"


def test_characterize_refuses_vmax_above_the_chips_absolute_maximum(tmp_path, capsys):
    assert main(["characterize", "--vmin", "0.5", "--vmax", "9", "--out", str(tmp_path / "sw")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--vmax 9 V: above the absolute maximum 1.32 V" in err, err
    assert "sram_demo.yaml" in err and not (tmp_path / "sw").exists()


@pytest.mark.parametrize("argv", [["characterize", "--vmin", "0.5", "--vmax", "inf", "--out", "x"],
                                  ["characterize", "--vmin", "nan", "--vmax", "1.0", "--out", "x"],
                                  ["doctor", "--nominal", "nan"], ["run", "--profile", "p.yaml", "--width", "inf"]])
def test_non_finite_voltages_and_sizes_are_refused_by_the_options(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "is not a finite number" in capsys.readouterr().err


def test_characterize_refuses_vmax_above_the_profiles_absolute_maximum(tmp_path, capsys):
    """Real instruments (never reached here): the profile of the memory states the bound."""
    argv = ["characterize", "--board", "socket://127.0.0.1:9", "--supply", "TCPIP0::127.0.0.1::9::SOCKET",
            "--profile", "profiles/sram_lowvoltage.yaml", "--vmin", "0.5", "--vmax", "1.5", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--vmax 1.5 V: above the absolute maximum 1.2 V that the profile profiles/sram_lowvoltage.yaml" \
        in capsys.readouterr().err


def test_vmax_far_above_nominal_or_without_a_maximum_is_warned(caplog):
    with caplog.at_level(logging.WARNING, logger="bench.rail_limits"):
        check_vmax(1.3, RailLimits(1.0, 2.0, "chip file x"))
        check_vmax(1.1, RailLimits(1.0, None, "profile y"))
        check_vmax(1.0, RailLimits(1.0, 1.2, "chip file z"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "--vmax 1.3 V is 1.3 x the nominal 1 V (chip file x)" in messages[0]
    assert "no absolute maximum voltage is known" in messages[1] and "profile y" in messages[1]
    assert 1.3 > FAR_ABOVE_NOMINAL * 1.0 > 1.2


def test_doctor_takes_the_nominal_voltage_from_the_chip_file(virtual_lab):
    """A 1.0 V chip is checked at 1.0 V, not at a fixed default."""
    nominal = Chip.load(LOWVOLTAGE_CHIP).nominal_v
    checks = {c.name: c for c in run_checks(supply=virtual_lab.supply_resource, chip=str(LOWVOLTAGE_CHIP))}
    assert checks["supply nominal voltage"].detail.startswith(f"set {nominal} V"), checks["supply nominal voltage"]
    assert checks["supply shutdown"].ok


def test_doctor_without_a_nominal_voltage_sets_nothing(virtual_lab):
    checks = {c.name: c for c in run_checks(supply=virtual_lab.supply_resource)}
    assert checks["supply identify"].ok and checks["supply nominal voltage"].ok is None
    assert "--nominal" in checks["supply nominal voltage"].fix
    assert "supply shutdown" not in checks   # never opened for setting: nothing to switch off


def test_doctor_refuses_a_nominal_above_the_absolute_maximum(capsys):
    assert main(["doctor", "--supply", "TCPIP0::127.0.0.1::9::SOCKET", "--chip", str(LOWVOLTAGE_CHIP),
                 "--nominal", "5"]) == 2
    assert "--nominal 5 V: above the absolute maximum 1.2 V" in capsys.readouterr().err


def test_bench_run_refuses_hardware_vmax_above_the_maximum_before_training(tmp_path, capsys):
    hw = tmp_path / "hw.yaml"
    hw.write_text("kind: board\nboard: socket://127.0.0.1:9\nsupply: TCPIP0::127.0.0.1::9::SOCKET\nvmax: 1.5 V\n")
    argv = ["run", "--profile", "profiles/sram_lowvoltage.yaml", "--quick", "--hardware", str(hw),
            "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "hardware vmax 1.5 V: above the absolute maximum 1.2 V" in err, err
    assert not (tmp_path / "run").exists()


def test_default_vmax_is_capped_at_the_chips_maximum():
    from bench.pipeline.hardware import VMAX_MARGIN, rail_vmax

    profile = load_profile("profiles/rram_lowpower.yaml")   # nominal 1.7321 V, chip and profile: 2.0 V
    assert VMAX_MARGIN * profile.nominal_volts > 2.0
    assert rail_vmax({"kind": "virtual", "chip": str(CHIPS_DIR / "rram_lowpower.yaml")}, profile) == 2.0


def test_profile_voltages_above_its_absolute_maximum_are_reported(tmp_path):
    text = open("profiles/sram_lowvoltage.yaml").read().replace("absolute_max_voltage: 1.2 V", "absolute_max_voltage: 0.9 V")
    path = tmp_path / "p.yaml"
    path.write_text(text)
    _, problems = check_profile(path)
    assert [p.field for p in problems] == ["operating_points[0].voltage"], problems
    assert "1 V is above absolute_max_voltage 0.9 V" in str(problems[0])


def test_profile_nominal_voltage_field_overrides_the_highest_point(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(open("profiles/sram_lowvoltage.yaml").read().replace(
        "absolute_max_voltage: 1.2 V", "absolute_max_voltage: 1.2 V\nnominal_voltage: 1.05 V"))
    profile = load_profile(path)
    assert (profile.nominal_volts, profile.absolute_max_volts) == (pytest.approx(1.05), pytest.approx(1.2))


def test_chip_file_absolute_maximum_below_nominal_is_named(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text(textwrap.dedent("""\
        chip_id: x
        nominal_v: 1.1
        abs_max_v: 1.0
        """))
    with pytest.raises(BenchError, match=r"chip.yaml.*abs_max_v 1.0 V must be at least nominal_v 1.1 V"):
        RailLimits.of_chip(path)
