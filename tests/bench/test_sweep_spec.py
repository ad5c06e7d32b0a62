"""Sweep files and trial naming (no training)."""

import pytest

from bench.errors import BenchError
from bench.sweep.spec import from_cli, load_sweep_file


def write(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_groups_cross_lists_and_seeds(tmp_path):
    spec = load_sweep_file(write(tmp_path, """
base: {arch: mlp, epochs: 2}
groups:
  - {method: reliable, width: [0.5, 1]}
  - {method: lanmax, lambda: [0.1, 0.5, 1.0]}
seeds: [0, 1]
"""))
    trials = spec.trials()
    assert len(trials) == (2 + 3) * 2
    names = [t.name for t in trials]
    assert len(set(names)) == len(names)
    assert "method-lanmax_lambda-0.5_seed-1" in names
    t = next(t for t in trials if t.name == "method-reliable_width-0.5_seed-0")
    assert t.params == {"arch": "mlp", "epochs": 2, "method": "reliable", "width": 0.5, "seed": 0}
    argv = t.argv(tmp_path / "out")
    assert argv[:1] == ["train"] and argv[argv.index("--width") + 1] == "0.5"
    assert argv[-2:] == ["--out", str(tmp_path / "out")]


def test_cli_grid_parses_numbers():
    spec = from_cli(["arch=mlp", "epochs=3"], ["lambda=0.1,0.5"], [0], "train")
    assert [t.params["lambda"] for t in spec.trials()] == [0.1, 0.5]
    assert spec.base["epochs"] == 3


@pytest.mark.parametrize("text, words", [
    ("base: {}\nbogus: 1\n", "unknown key"),
    ("command: fly\n", "command"),
    ("groups: {method: lanmax}\n", "groups"),
    ("base: {out: x}\n", "'out'"),
    ("seeds: [a]\n", "seeds"),
    ("base: [unclosed\n", "not valid YAML"),
])
def test_bad_sweep_files_name_the_problem(tmp_path, text, words):
    with pytest.raises(BenchError, match=words):
        load_sweep_file(write(tmp_path, text))


def test_missing_sweep_file(tmp_path):
    with pytest.raises(BenchError, match="does not exist"):
        load_sweep_file(tmp_path / "nope.yaml")


def test_shipped_example_sweep_parses():
    from pathlib import Path

    spec = load_sweep_file(Path(__file__).resolve().parents[2] / "examples" / "sweep_digits.yaml")
    methods = {t.params["method"] for t in spec.trials()}
    assert methods == {"reliable", "uniform", "lanmax"}
