"""The README's main command, ``bench run --profile profiles/rram_lowpower.yaml --quick``, end
to end on the virtual lab with its realistic physics, which emulates the profile's own chip (the
chip file the profile links, drivers/virtual_lab/chips/rram_lowpower.yaml); and a user profile
without a chip link, for which the lab runs its default chip and the report refuses the energy
comparison.

Energy threshold, from the physics: the bench measures each layer's programming energy by
programming the layer's words (LOAD) ``N`` times into a scratch region with the rail at its
operating point's voltage ``V``, against baseline windows of the same length; the virtual RRAM
spends exactly ``c_write V^2`` per bit written, so a layer of ``N_l b_l`` bits (fully connected
rows of 64 bits: no padding) draws ``N_l b_l c_write V^2``, on top of the rail's leakage and the
N6781A's noise. The prediction is ``N_l b_l E_point`` with the profile's energy per bit, which
the chip's voltage reproduces within 0.02%. The method's 95% interval targets +-5%: a layer off
by more than that is a failure of the method; layers at different points differ by a factor of
ten, so a wrong voltage or a layer programmed at nominal moves R^2 far below 0.99."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main as bench

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
R2_MIN = 0.99
REL_ERR_MAX = 0.05


def results(out: Path) -> dict:
    return json.loads((out / "report" / "results.json").read_text())


def test_readme_main_command_measures_the_predicted_write_energy(tmp_path):
    out = tmp_path / "rram"
    assert bench(["run", "--profile", str(ROOT / "profiles" / "rram_lowpower.yaml"), "--quick", "--out", str(out)]) == 0
    r = results(out)
    e = r["compare"]["energy"]
    assert e["energy_kind"] == "write" and e["virtual_chip"]["chip_id"] == "rram-lowpower-1"
    assert e["virtual_chip"]["matches_profile"]
    assert e["r2"] >= R2_MIN and e["n_below_resolution"] == 0, e
    assert all(abs(l["relative_error"]) <= REL_ERR_MAX for l in e["layers"]), e["layers"]
    assert all(l["ci_J"][0] < l["measured_J"] < l["ci_J"][1] for l in e["layers"]), e["layers"]
    points = {l["operating_point"] for l in r["operating_points"]["layers"]}
    assert len(points) > 1, points                  # layers at different programming voltages
    layers = r["board"]["layers"]
    nominal = r["deploy"]["nominal_volts"]
    assert all(l["voltage"] <= nominal for l in layers) and any(l["voltage"] < nominal for l in layers), layers
    assert r["compare"]["ber_flagged"] == [], r["compare"]["ber"]
    a = r["compare"]["accuracy"]
    assert a["overlap"] and a["software"]["chips"] == "fresh per repetition"
    # over 16 chips; at the quick run's low error rates they may all classify the 40 inputs alike
    assert a["software"]["reps"] > 1 and a["software"]["ci_low"] <= a["software"]["accuracy"] <= a["software"]["ci_high"]
    assert "## Energy on the board" in (out / "report" / "report.md").read_text()


def test_profile_without_chip_link_reports_energy_r2_not_applicable(tmp_path):
    text = (ROOT / "profiles" / "sram_lowvoltage.yaml").read_text()
    linked = "  hardware: {kind: virtual, chip: drivers/virtual_lab/chips/sram_lowvoltage.yaml}\n"
    assert linked in text
    profile = tmp_path / "my_sram.yaml"
    profile.write_text(text.replace(linked, "  hardware: virtual\n").replace("name: sram_lowvoltage", "name: my_sram"))
    out = tmp_path / "user"
    assert bench(["run", "--profile", str(profile), "--quick", "--out", str(out)]) == 0
    e = results(out)["compare"]["energy"]
    assert e["r2"] is None and e["virtual_chip"]["chip_id"] == "sram-demo-1" and not e["virtual_chip"]["matches_profile"]
    md = (out / "report" / "report.md").read_text()
    assert "n/a (the virtual chip is not the profile's chip)" in md
    assert "the virtual chip is not the profile's chip.** The lab emulated `sram-demo-1`" in md
