"""Every malformed profile of the corpus (``tests/profile_corpus.py``: types, NaN and
infinities, bounds, structure, encodings, size, aliases, nesting, links) gets one clear line
``FILE:LINE[:COLUMN]: [field: ]message`` from ``bench profile check`` and from ``bench run
--profile``, never a traceback or a hang. Speed is by construction (size, depth and alias
caps ahead of any parsing); ``benchmarks/bad_profiles.py`` times each case."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bench.cli import main
from tests.profile_corpus import CASES, link, not_a_chip

KINDS = Counter(c.kind for c in CASES)


def test_corpus_covers_every_kind_of_defect():
    assert len(CASES) >= 60 and len({c.name for c in CASES}) == len(CASES)
    assert set(KINDS) == {"types", "nan-inf", "bounds", "structure", "encoding", "size", "aliases", "nesting", "links"}
    assert all(n >= 3 for n in KINDS.values()), KINDS


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_profile_is_one_clear_line(case, tmp_path, capsys):
    path = case.make(tmp_path)
    for argv, prefix in ((["profile", "check", str(path)], "bench profile: error: "),
                         (["run", "--profile", str(path), "--out", str(tmp_path / "run")], "bench run: error: ")):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert "\n" not in err and "Traceback" not in err, err
        assert err.startswith(prefix), err
        line = err[len(prefix):]
        assert re.match(rf"{re.escape(str(path))}:\d+(:\d+)?: ", line) or line.startswith(f"--profile {path}"), line
        assert case.expect in line, line
        assert len(line) < 600, line
    assert not (tmp_path / "run").exists()


def test_a_linked_file_that_is_no_chip_file_stops_bench_run_in_one_line(tmp_path, capsys):
    """The profile check sees a regular file; the run, which loads the chip, names what is wrong."""
    path = link("not_a_chip", not_a_chip)(tmp_path)
    assert main(["profile", "check", str(path)]) == 0
    capsys.readouterr()
    assert main(["run", "--profile", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("bench run: error: experiment.hardware.chip: chip file "), err
    assert "unknown field(s) ['colour']" in err and not (tmp_path / "run").exists()
