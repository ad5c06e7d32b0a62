"""``bench firmware``: what the user sees after a fuzz run and a build."""

import shutil

import pytest

from bench.cli import main
from bench.commands.firmware import fuzz_summary, run_note
from drivers.firmware_process import APT_HINT, QEMU


def test_fuzz_prints_a_summary(capsys):
    assert main(["firmware", "fuzz", "--seconds", "1", "--seed", "3"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("fuzz (seed 3): ") and ", 0 crashes; binary firmware/build/fuzz/fuzz_protocol" in out
    runs = int(out.split(": ")[1].split(" inputs in ")[0])
    assert runs > 100  # the loop really ran


def test_fuzz_summary_reads_libfuzzer_and_lists_crashes(tmp_path):
    crash = tmp_path / "crash-0123"
    line = fuzz_summary("#2\tINITED\nDone 5000 runs in 2 second(s)\n", 2, 1, [crash])
    assert "5000 inputs in 2 s, 1 crash(es): " + str(crash) in line


def test_fuzz_refuses_zero_seconds(capsys):
    assert main(["firmware", "fuzz", "--seconds", "0"]) == 2
    assert "--seconds 0: must be >= 1" in capsys.readouterr().err


def test_qemu_hint_only_when_qemu_is_missing(monkeypatch, tmp_path):
    if shutil.which(QEMU) is not None:
        assert APT_HINT not in run_note("mps2-an386")
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: qemu-system-arm is not found
    assert f"needs {QEMU}, not found: {APT_HINT}" in run_note("mps2-an386")
    assert "apt-get" not in run_note("host")


@pytest.mark.skipif(shutil.which(QEMU) is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and gcc-arm-none-eabi")
def test_build_with_qemu_installed_says_no_apt(capsys):
    assert main(["firmware", "build", "--target", "mps2-an386"]) == 0
    out = capsys.readouterr().out
    assert "built" in out and "apt-get" not in out
