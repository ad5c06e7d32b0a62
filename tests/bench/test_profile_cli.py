"""``bench train --profile FILE [--operating-point NAME]`` and ``bench evaluate RUN --profile FILE
--operating-point NAME``: training and evaluation under a profile's fault model, recorded in the
run's config.yaml (path and sha256) so that load_run and bench evaluate rebuild it."""

import hashlib
import json
import math

import pytest
import torch
import yaml

from bench.cli import main
from models.profile import load_profile
from models.fault_registry import build_fault_model
from models.layers import stored_layers
from models.profile.faults import fault_model_from_profile
from models.training import load_run

PROFILE = "profiles/rram_lowpower.yaml"
TINY = ["--arch", "mlp", "--width", "0.03125", "--limit-train", "200", "--limit-test", "100", "--batch-size", "50",
        "--epochs", "1"]
EVAL = ["--ci", "0.05", "--min-reps", "4", "--max-reps", "4"]


@pytest.fixture(scope="module")
def point_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "ultra"
    assert main(["train", *TINY, "--profile", PROFILE, "--operating-point", "ultra_low", "--out", str(out)]) == 0
    return out


def test_train_at_a_point_records_the_profile_and_load_run_rebuilds_it(point_run):
    config = yaml.safe_load((point_run / "config.yaml").read_text())
    faults = config["faults"]
    assert config["method"] == "uniform" and config["method_options"]["eps"] == pytest.approx(0.033)
    assert faults["kind"] == "profile" and faults["operating_point"] == "ultra_low" and faults["chip_seed"] == 2
    assert faults["profile"]["sha256"] == hashlib.sha256(open(PROFILE, "rb").read()).hexdigest()
    assert faults["profile"]["path"] == PROFILE and faults["profile"]["name"] == "rram_lowpower"
    net, cfg, _ = load_run(point_run)
    name, layer = stored_layers(net)[0]
    codes = layer.to_codes(layer.weight.detach())
    site = layer.fault_site
    again = build_fault_model(cfg.faults).flip_mask(site, codes, None, torch.Generator().manual_seed(1))
    direct = fault_model_from_profile(load_profile(PROFILE), "ultra_low").flip_mask(
        site, codes, None, torch.Generator().manual_seed(1))
    assert torch.equal(again, direct) and again.any()


def test_evaluate_at_a_point_prints_point_and_model(point_run, tmp_path, capsys):
    capsys.readouterr()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["evaluate", str(point_run), *EVAL, "--profile", PROFILE, "--operating-point", "standard",
                 "--json", str(a)]) == 0
    out = capsys.readouterr().out
    assert "faults: profile rram_lowpower at standard" in out and "chip seed 2" in out
    assert "operating point" in out and "standard" in out
    res = json.loads(a.read_text())
    assert set(res["operating_points"].values()) == {"standard"}
    # without --profile: the profile the run was trained under, same chip, same draws
    assert main(["evaluate", str(point_run), *EVAL, "--operating-point", "standard", "--json", str(b)]) == 0
    again = json.loads(b.read_text())
    assert (again["mean"], again["half_width"], again["operating_points"]) == \
        (res["mean"], res["half_width"], res["operating_points"])


def test_eps_on_a_profile_run_is_labelled_with_the_profile_model(point_run, tmp_path, capsys):
    capsys.readouterr()
    out_json = tmp_path / "e.json"
    assert main(["evaluate", str(point_run), *EVAL, "--eps", "0.1", "--json", str(out_json)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "eps 0.1 on every layer under profile rram_lowpower" in out and "eps = mean BER" in out
    assert "chip seed 2" in out
    res = json.loads(out_json.read_text())
    assert res["faults"].startswith("eps 0.1 on every layer under profile rram_lowpower")
    assert all(p.endswith("(shape; rates scaled to eps)") for p in res["operating_points"].values())


def test_lanmax_under_a_profile_bounds_eps_and_maps_layers_to_points(tmp_path, capsys):
    out = tmp_path / "lan"
    argv = ["train", *TINY, "--batch-size", "25", "--profile", PROFILE, "--out", str(out)]
    assert main(argv) == 0  # method: the profile's (lanmax)
    text = capsys.readouterr().out
    config = yaml.safe_load((out / "config.yaml").read_text())
    eps_max = max(p.ber for p in load_profile(PROFILE).operating_points)
    assert config["method"] == "lanmax" and config["faults"]["rate_mapping"] == "scale"
    assert config["method_options"]["theta_max"] == pytest.approx(math.log10(eps_max))
    assert "per-layer eps -> operating point" in text and "energy/bit" in text


@pytest.mark.parametrize("argv, needles", [
    (["train", *TINY, "--profile", PROFILE, "--operating-point", "nope"],
     ["--operating-point 'nope'", PROFILE, "have: standard, reduced, low, very_low, ultra_low"]),
    (["train", *TINY, "--operating-point", "low"], ["--operating-point needs --profile"]),
    (["train", *TINY, "--profile", "profiles/absent.yaml"], ["profiles/absent.yaml", "cannot read"]),
    (["train", *TINY, "--profile", PROFILE, "--method", "reliable"], ["--method reliable", PROFILE]),
])
def test_bad_profile_or_point_is_one_line(tmp_path, capsys, argv, needles):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and all(n in err for n in needles), err
    assert not (tmp_path / "x").exists()


def test_evaluate_unknown_point_names_file_and_valid_points(point_run, capsys):
    assert main(["evaluate", str(point_run), "--profile", PROFILE, "--operating-point", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'nope'" in err and PROFILE in err and "ultra_low" in err
