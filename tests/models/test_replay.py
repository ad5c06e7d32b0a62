"""Replay fault model and ``bench replay`` on the shipped virtual-lab fault maps (pure-software CI)."""

import json
import shutil

import numpy as np
import pytest
import torch

from bench.cli import main
from drivers.faultmap import read_faultmap
from drivers.memory_layout import memory_map
from models.fault_registry import build_fault_model
from models.faults import FaultSite
from models.replay import ReplayFaults, recorded_reads
from models.training import TrainConfig, train

MAPS = "tests/data/faultmaps/sram_demo_256w/faultmaps"
OP = "0.4500 V"


def _site(shape=(64, 64), base_word=0, name="l"):
    return FaultSite(name, 0, memory_map([(name, shape, "binary")], base_word)[0])


def test_zeros_and_ones_merge_to_stuck_cells_with_their_values():
    zeros, ones = read_faultmap(f"{MAPS}/v0.4500_zeros.npz"), read_faultmap(f"{MAPS}/v0.4500_ones.npz")
    reads = recorded_reads([zeros, ones])
    assert len(reads) == 3 and reads[0].first_bit == 0 and len(reads[0].wrong) == 256 * 32
    z, o = zeros.bit_plane(zeros.xor[0]).astype(bool), ones.bit_plane(ones.xor[0]).astype(bool)
    np.testing.assert_array_equal(reads[0].wrong, z | o)
    # stuck at 1 seen on zeros, at 0 on ones (a cell wrong in both, transient: the later map wins)
    assert reads[0].value[z & ~o].all() and not reads[0].value[o].any()


def test_stuck_mode_returns_recorded_values_for_any_weights():
    model = ReplayFaults.from_files([MAPS], operating_point=OP)
    site = _site()
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 2, (64, 64), generator=g).to(torch.uint8)
    read = (codes ^ model.flip_mask(site, codes, None, g)).numpy()
    r = model.reads[0]
    idx = site.addresses[..., 0]
    wrong = r.wrong[idx]
    np.testing.assert_array_equal(read[wrong], r.value[idx][wrong])
    np.testing.assert_array_equal(read[~wrong], codes.numpy()[~wrong])
    # xor mode applies flips regardless of content; on the written pattern both modes agree
    zeros = torch.zeros((64, 64), dtype=torch.uint8)
    only_zeros = ReplayFaults.from_files([f"{MAPS}/v0.4500_zeros.npz"], mode="stuck")
    only_zeros_x = ReplayFaults.from_files([f"{MAPS}/v0.4500_zeros.npz"], mode="xor")
    assert torch.equal(only_zeros.flip_mask(site, zeros, None, g), only_zeros_x.flip_mask(site, zeros, None, g))


def test_deterministic_cycling_through_reads():
    model = ReplayFaults.from_files([MAPS], operating_point=OP)
    a, b = _site(name="a"), _site((32, 64), base_word=128, name="b")
    codes = torch.zeros((64, 64), dtype=torch.uint8)
    first = model.flip_mask(a, codes, 0.1, torch.Generator(), draws=2)
    third = model.flip_mask(a, codes, None, torch.Generator(), draws=2)  # reads 2, 0
    assert torch.equal(third[1], first[0]) and not torch.equal(first[0], first[1])
    assert model.read_indices(b, 4) == [0, 1, 2, 0]  # per-layer cursor: layer b starts at read 0
    model.reset()
    assert torch.equal(model.flip_mask(a, codes, None, None, draws=2), first)


def test_coverage_error_names_layer_and_registry():
    model = ReplayFaults.from_files([MAPS], operating_point=OP)
    with pytest.raises(ValueError, match=r"layer big occupies bits .* cover bits \[0, 8192\)"):
        model.flip_mask(_site((128, 128), name="big"), torch.zeros((128, 128), dtype=torch.uint8), None, None)
    with pytest.raises(ValueError, match="2 operating points"):
        ReplayFaults.from_files([MAPS])
    rebuilt = build_fault_model(model.describe() | {"operating_point": OP})
    assert rebuilt.n_reads == 3 and rebuilt.describe()["paths"] == model.sources


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "run"
    train(TrainConfig(arch="mlp", dataset="digits", width=1 / 64, epochs=1, seed=0), out)
    return out


def test_bench_replay_per_map_and_aggregated(tiny_run, tmp_path, capsys):
    out = tmp_path / "replay.json"
    assert main(["replay", str(tiny_run), "--faultmaps", MAPS, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    rows = {(r["operating_point"], r["maps"]): r for r in res["results"]}
    assert len(rows) == 6 and ("0.4500 V", "all maps") in rows and ("0.5000 V", "v0.5000_ones.npz") in rows
    assert all(r["reads"] == 3 and len(r["per_read"]) == 3 for r in rows.values())
    # more stuck cells (lower voltage, both patterns) cannot be better on average than fault-free
    assert rows[("0.4500 V", "all maps")]["accuracy"] < res["fault_free"]
    assert "all maps" in capsys.readouterr().out
    again = tmp_path / "again.json"
    assert main(["replay", str(tiny_run), "--faultmaps", MAPS, "--operating-point", OP, "--json", str(again)]) == 0
    assert json.loads(again.read_text())["results"][-1] == rows[("0.4500 V", "all maps")]  # deterministic


def test_bench_replay_errors_name_file_or_option(tiny_run, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert main(["replay", str(tiny_run), "--faultmaps", str(bad)]) == 2
    assert "bad.npz" in capsys.readouterr().err
    assert main(["replay", str(tiny_run), "--faultmaps", MAPS, "--operating-point", "0.1 V"]) == 2
    assert "--operating-point" in capsys.readouterr().err


def test_bench_replay_maps_too_small_say_words_needed_and_how_to_record(tmp_path, capsys):
    run = tmp_path / "wide"
    train(TrainConfig(arch="mlp", dataset="digits", width=1 / 8, epochs=1, seed=0, limit_train=64, limit_test=32), run)
    assert main(["replay", str(run), "--faultmaps", MAPS, "--operating-point", OP]) == 2
    err = capsys.readouterr().err
    assert "(2640 words, 3 layers)" in err and "cover words 0..255 (256 words)" in err
    assert "bench characterize --base-word 0 --words 2640" in err
    # the re-recorded maps linked by the calibrated profile cover it
    assert main(["replay", str(run), "--profile", "profiles/virtual_chip.yaml", "--operating-point", "500mV"]) == 0


def test_replay_help_has_no_literal_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "-h"])
    out = capsys.readouterr().out
    assert "%" not in out and "95 percent" in out


def test_bench_replay_checks_the_run_first_and_skips_other_npz(tiny_run, tmp_path, capsys):
    folder = tmp_path / "scan"
    (folder / "data").mkdir(parents=True)
    np.savez(folder / "data" / "unrelated.npz", x=np.arange(3))  # not a fault map: skipped, not blamed
    assert main(["replay", str(tmp_path / "nope"), "--faultmaps", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "unrelated.npz" not in err
    assert main(["replay", str(tiny_run), "--faultmaps", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "no fault maps" in err and "1 other .npz file(s) skipped" in err
    shutil.copytree(MAPS, folder / "maps")
    assert main(["replay", str(tiny_run), "--faultmaps", str(folder), "--operating-point", OP]) == 0
    assert "skipped 1 .npz file(s)" in capsys.readouterr().out


def test_bench_replay_of_a_profiles_linked_maps(tiny_run, tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["replay", str(tiny_run), "--profile", "profiles/virtual_chip.yaml", "--operating-point", "450mV",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())["results"]
    assert [r["maps"] for r in res] == ["v0.4500_zeros.npz", "v0.4500_ones.npz", "all maps"]
    assert main(["replay", str(tiny_run), "--profile", "profiles/virtual_chip.yaml", "--operating-point", "1V"]) == 2
    assert "no operating point '1V'" in capsys.readouterr().err


def test_replay_json_follows_its_documented_schema(tiny_run, tmp_path):
    """Every key of `bench replay --json`, and only those, as docs/FAULTMAP_FORMAT.md lists them."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "FAULTMAP_FORMAT.md").read_text()
    section = doc.split("## `bench replay --json` output", 1)[1]
    top, row = (re.findall(r"^\| `(\w+)` \| ([^|]+) \|", part, re.M) for part in section.split("Each element", 1))
    types = {"string": str, "number": (int, float), "integer": int, "array of objects": list,
             "array of strings": list, "array of numbers": list, "number or null": (int, float, type(None))}
    out = tmp_path / "replay.json"
    assert main(["replay", str(tiny_run), "--faultmaps", MAPS, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res) == {k for k, _ in top}
    assert all(isinstance(res[k], types[t.strip()]) for k, t in top)
    for r in res["results"]:
        assert set(r) == {k for k, _ in row}
        assert all(isinstance(r[k], types[t.strip()]) for k, t in row), r
        assert len(r["per_read"]) == r["reads"] and all(isinstance(f, str) for f in r["files"])
