"""Fixtures of the bench tests: one real ``bench run --quick`` shared by the tests that read a
finished bench run folder (its report, its networks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main as bench

PROFILES = Path(__file__).parents[2] / "profiles"


@pytest.fixture(scope="session")
def sram_quick_run(tmp_path_factory) -> Path:
    """``bench run --profile profiles/sram_lowvoltage.yaml --quick`` on the virtual lab: a
    finished bench run folder (train/main, baselines/reliable, baselines/uniform, report/).
    Read it, never change it."""
    out = tmp_path_factory.mktemp("sram-quick") / "run"
    assert bench(["run", "--profile", str(PROFILES / "sram_lowvoltage.yaml"), "--quick", "--out", str(out)]) == 0
    return out
