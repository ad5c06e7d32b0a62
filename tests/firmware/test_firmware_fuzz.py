"""Bounded fuzz run of the frame parser, dispatcher and blob parser/runner under ASan/UBSan
(libFuzzer when clang ships it, else the seeded mutation loop; firmware/README.md has the long run)."""

import subprocess

import pytest

from drivers.firmware_process import FIRMWARE_DIR


@pytest.mark.slow
def test_fuzz_20_seconds_without_a_crash():
    r = subprocess.run(["make", "-C", str(FIRMWARE_DIR), "fuzz", "FUZZ_SECONDS=20", "FUZZ_SEED=1"],
                       capture_output=True, text=True, timeout=240)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "no crash" in out or "Done" in out, out[-2000:]
