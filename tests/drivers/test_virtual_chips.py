"""Each shipped profile names the virtual chip that emulates it (``experiment.hardware.chip``),
and that chip's ground-truth physics (drivers/virtual_lab/physics.py, bit-exact with vchip.c)
reproduces the profile's operating points: energy per bit at each point's voltage, BER split
and persistent fraction. SRAM: the chip's BER curve is the profile's fitted exponential, so
at each faulty point it is within the fit's residuals (factor 2); RRAM: the profile's points
lie on its exponential, so the chip matches them within 1%."""

from __future__ import annotations

import pytest

from models.profile import load_profile
from drivers.virtual_lab.physics import Chip
from tests.shipped import SHIPPED_PROFILES

PROFILES = SHIPPED_PROFILES


def linked_chip(profile) -> Chip:
    hw = profile.experiment.get("hardware") or {}
    assert hw.get("kind") == "virtual" and hw.get("chip"), f"{profile.path}: no virtual chip linked"
    return Chip.load(hw["chip"])


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_shipped_profile_links_a_chip_with_its_technology(path):
    profile = load_profile(path)
    assert linked_chip(profile).technology == profile.data["technology"]


@pytest.mark.parametrize("name", ["sram_lowvoltage", "rram_lowpower"])
def test_chip_reproduces_the_profile_operating_points(name):
    profile = load_profile(f"profiles/{name}.yaml")
    chip = linked_chip(profile)
    kind = profile.energy_kind
    assert chip.seed == profile.experiment["chip_seed"]
    for p in profile.operating_points:
        assert p.voltage is not None, p.name   # the bench needs a setpoint for every point
        energy = chip.write_energy(p.voltage) if kind == "write" else chip.read_energy(p.voltage)
        assert energy == pytest.approx(p.energy(kind), rel=1e-3), p.name
        if chip.technology == "rram":
            assert chip.p_write(p.voltage) == pytest.approx(p.ber, rel=0.01), p.name
            continue
        ber = chip.expected_ber(p.voltage)
        if p.ber == 0:
            assert ber["ber"] < 1e-15, p.name
            continue
        assert 0.5 < ber["ber"] / p.ber < 2, p.name
        assert ber["p01"] / (ber["p01"] + ber["p10"]) == pytest.approx(p.ber_0to1 / (2 * p.ber), abs=0.01)
        persistent = ber["p"] / 2   # stuck cells seen by a balanced pattern
        assert persistent / ber["ber"] == pytest.approx(p.persistent_fraction, abs=0.01)
