"""Profile schema and validation: shipped profiles are valid; every problem is reported at once
with file, YAML line and field path; the published JSON Schema is the one we validate with."""

import importlib
import json
import os
import textwrap

import jsonschema
import pytest
import yaml

from bench.cli import main
from models.profile import ProfileError, check_profile, list_profiles, load_profile
from models.profile.checks import SCHEMA_PATH
from models.profile.loading import _Loader
from models.profile.units import parse_quantity
from tests.shipped import PROFILES_DIR, SHIPPED_PROFILES

BROKEN = textwrap.dedent("""\
    schema_version: 1
    name: broken
    technology: sram
    colour: blue
    provenance:
      source: measured
    operating_points:
      - name: a
        voltage: 0.9 V
        ber_0to1: 0.0
        ber_1to0: 0.0
        persistent_fraction: 1.0
        energy_read_per_bit: 3 V
      - name: b
        voltage: 800
        ber_0to1: 0.7
        ber_1to0: 0.01
        persistent_fraction: 1.0
        energy_read_per_bit: 1.5
        fault_maps: [maps/missing.npz]
      - name: a
        voltage: 0.7 V
        ber_0to1: 1e-4
        ber_1to0: 1e-4
        persistent_fraction: 1.0
        energy_read_per_bit: 20 fJ
    experiment:
      operating_point: nowhere
      method: no-such-method
    """)


def test_shipped_profiles_are_valid():
    assert {p.name for p in SHIPPED_PROFILES} <= {p.name for p in list_profiles()}
    for path in SHIPPED_PROFILES:
        profile = load_profile(path)
        assert profile.experiment["hardware"]["kind"] == "virtual"
        assert profile.data["provenance"]["illustrative"] or profile.data["provenance"]["source"] == "calibrated"


def test_published_schema_validates_shipped_yaml_as_editors_would():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in SHIPPED_PROFILES:
        raw = yaml.load(path.read_text(), Loader=_Loader)
        assert not list(jsonschema.Draft202012Validator(schema).iter_errors(raw)), path


def test_every_problem_reported_with_line_and_field(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    _, problems = check_profile(path)
    found = {(p.line, p.field) for p in problems}
    text = "\n".join(str(p) for p in problems)
    expected = {
        (4, "colour"),                                   # unknown key
        (5, "provenance"),                               # measured without chip_id
        (13, "operating_points[0].energy_read_per_bit"),  # wrong unit: '3 V' for an energy
        (15, "operating_points[1].voltage"),             # implausible: 800 V (meant mV)
        (16, "operating_points[1].ber_0to1"),            # BER outside [0, 0.5]
        (19, "operating_points[1].energy_read_per_bit"),  # implausible: 1.5 J per bit
        (20, "operating_points[1].fault_maps[0]"),       # missing referenced file
        (21, "operating_points[2].name"),                # duplicate name
        (28, "experiment.operating_point"),              # unknown operating point
        (29, "experiment.method"),                       # unknown method
    }
    assert expected <= found, text
    assert all(p.file == str(path) for p in problems)
    # one wrong value, one problem: point b's out-of-range BER (0.7) and implausible voltage are
    # not compared with their neighbours again (no "BER must not fall", no "voltage does not fall")
    assert sum(p.path[:2] == ("operating_points", 1) for p in problems) == 4, text
    assert not any("must not fall" in p.message or "does not fall" in p.message for p in problems), text
    assert "unknown key 'colour'" in text and "'3 V' is not a valid energy" in text


def test_curves_must_be_monotone(tmp_path):
    """Along the points, most reliable first: BER must not fall, energy must not rise, voltage must fall."""
    text = open("profiles/sram_lowvoltage.yaml").read()
    for old, new, field, words in (
            ("ber_0to1: 7.2e-4\n    ber_1to0: 4.8e-4", "ber_0to1: 1.0e-5\n    ber_1to0: 1.0e-5", "operating_points[5]",
             "BER must not fall"),
            ("energy_read_per_bit: 5.832 fJ", "energy_read_per_bit: 6.5 fJ", "operating_points[5].energy_read_per_bit",
             "rises above the previous point's"),
            ("voltage: 0.54 V", "voltage: 0.57 V", "operating_points[5].voltage", "does not fall below")):
        path = tmp_path / "p.yaml"
        path.write_text(text.replace(old, new))
        _, problems = check_profile(path)
        assert [(p.field, words in p.message) for p in problems] == [(field, True)], problems


def test_cli_check_reports_all_problems_and_fails(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    assert main(["profile", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: colour: unknown key" in err and f"{path}:29: experiment.method" in err
    assert main(["profile", "check", "profiles/sram_lowvoltage.yaml"]) == 0
    assert "OK" in capsys.readouterr().out


def test_a_users_profile_in_the_folder_leaves_the_shipped_profile_tests_passing():
    """The README's own example leaves a calibrated profile (linking no virtual chip) in
    profiles/; the tests of the shipped profiles name what they check, so they still pass."""
    from tests.drivers import test_faultmap, test_virtual_chips

    user = PROFILES_DIR / f"zz_user_{os.getpid()}.yaml"
    try:
        assert main(["calibrate", "tests/data/faultmaps/sweep_sram_demo", "-o", str(user)]) == 0
        assert user in list_profiles()
        chips = importlib.reload(test_virtual_chips)   # its parametrisation, as a fresh collection sees it
        assert user not in chips.PROFILES
        for path in chips.PROFILES:
            chips.test_shipped_profile_links_a_chip_with_its_technology(path)
        test_shipped_profiles_are_valid()
        test_published_schema_validates_shipped_yaml_as_editors_would()
        test_faultmap.test_shipped_profile_maps_cover_the_quick_mlp_of_every_shipped_profile()
    finally:
        for path in PROFILES_DIR.glob(f"{user.stem}*"):
            path.unlink()


def test_cli_list_shows_each_profile(capsys):
    assert main(["profile", "list"]) == 0
    out = capsys.readouterr().out
    assert "rram_lowpower" in out and "sram_lowvoltage" in out and "operating points" in out


def test_load_raises_profile_error_and_bad_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml:\d+:\d+: YAML syntax error: "):
        load_profile(bad)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "absent.yaml")


def test_yaml_syntax_error_is_one_line_with_file_line_column(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("schema_version: 1\nname: x\nfoo: [1, 2\nbar: 3\n")
    for argv in (["profile", "check", str(bad)], ["run", "--profile", str(bad)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "<unicode string>" not in err, err
        assert f"{bad}:4:4: YAML syntax error: " in err and "expected ',' or ']'" in err  # libyaml: "did not find ..."


def test_quantities_and_yaml12_floats():
    assert parse_quantity("650 mV", "voltage") == pytest.approx(0.65)
    assert parse_quantity("1.2 pJ", "energy") == pytest.approx(1.2e-12)
    assert parse_quantity("300 K", "temperature") == pytest.approx(26.85)
    with pytest.raises(ValueError, match="units: V, mV"):
        parse_quantity("3 J", "voltage")
    profile = load_profile("profiles/sram_lowvoltage.yaml")
    assert profile.data["energy_model"]["eps_ref"] == 1e-12  # '1.0e-12' is a float, not a string
    assert profile.operating_point("v056").voltage == pytest.approx(0.56)


def test_experiment_schema_matches_bench_run_settings():
    """Every setting `bench run` reads from a profile's experiment section is in the schema (and back)."""
    from bench.pipeline.config import DEFAULTS, IGNORED_EXPERIMENT_KEYS

    props = json.loads(SCHEMA_PATH.read_text())["$defs"]["experiment"]["properties"]
    assert set(props) == set(DEFAULTS) | set(IGNORED_EXPERIMENT_KEYS) | {"quick"}
    assert set(props["quick"]["properties"]) <= set(DEFAULTS)


def test_sram_energy_model_is_the_fit_of_its_own_faulty_points():
    """sram_lowvoltage.yaml says its E0/beta are a least-squares fit to its faulty points: check it."""
    import numpy as np

    p = load_profile("profiles/sram_lowvoltage.yaml")
    pts = [op for op in p.operating_points if op.ber > 0]
    y = np.log(1 / np.array([op.ber for op in pts]))
    beta, e0 = np.polyfit(y, [op.energy_read_per_bit for op in pts], 1)
    assert beta == pytest.approx(p.data["energy_model"]["beta"], rel=1e-3)
    assert e0 == pytest.approx(p.data["energy_model"]["E0"], rel=1e-3)


def test_duplicate_keys_reported_with_line(tmp_path):
    text = open("profiles/sram_lowvoltage.yaml").read().replace("name: sram_lowvoltage\n",
                                                                "name: sram_lowvoltage\nname: again\n", 1)
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    _, problems = check_profile(path)
    assert [(p.line, p.field) for p in problems] == [(5, "name")] and "duplicate key" in problems[0].message


def test_missing_fields_and_hardware_forms(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("schema_version: 1\nexperiment:\n  hardware: {kind: board, board: socket://x:1}\n")
    _, problems = check_profile(path)
    text = [str(p) for p in problems]
    for key in ("name", "technology", "provenance", "operating_points"):
        assert f"{path}:1: {key}: required field is missing" in text
    assert any(p.line == 3 and p.field == "experiment.hardware" and "'supply' is a required property" in p.message
               for p in problems), text
