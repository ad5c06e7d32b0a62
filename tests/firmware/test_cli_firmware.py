"""``bench firmware``: what the user sees after a fuzz run, a build, a target test and a flash."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.firmware import fuzz_summary, run_note
from drivers.firmware_process import APT_HINT, QEMU

ROOT = Path(__file__).resolve().parents[2]
NEEDS_QEMU = pytest.mark.skipif(shutil.which(QEMU) is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and gcc-arm-none-eabi")


def bench(*args: str, pre: str = "") -> subprocess.CompletedProcess:
    """``bench ARGS`` in a fresh interpreter (after running ``pre``), as a user runs it."""
    code = f"import sys\n{pre}\nfrom bench.cli import main\nsys.exit(main({list(args)!r}))"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


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


@NEEDS_QEMU
def test_build_with_qemu_installed_says_no_apt(capsys):
    assert main(["firmware", "build", "--target", "mps2-an386"]) == 0
    out = capsys.readouterr().out
    assert "built" in out and "apt-get" not in out


@pytest.mark.qemu
@NEEDS_QEMU
def test_target_test_runs_the_qemu_suite_for_that_target_only():
    r = bench("firmware", "test", "--target", "netduinoplus2")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("netduinoplus2 under QEMU: ") and " passed in " in lines[0] and "failed" not in lines[0]
    ran = [l.strip() for l in lines[1:]]
    assert "ok test_hello_reports_the_target[netduinoplus2]" in ran
    assert {f"ok test_infer_bit_exact_with_instruction_counts[netduinoplus2-{k}]" for k in ("mlp", "cnn", "wage")} <= set(ran)
    assert not any("mps2-an386" in l for l in ran)


def test_target_test_without_qemu_is_one_line(monkeypatch, tmp_path, capsys):
    for tool in ("make", "arm-none-eabi-gcc"):
        if shutil.which(tool):
            (tmp_path / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(tmp_path))  # the compilers, no qemu-system-arm
    assert main(["firmware", "test", "--target", "netduinoplus2"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "apt-get install" in err


def test_flash_help_documents_the_probe_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["firmware", "flash", "--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--target {nucleo-f411}" in out and "--probe ID" in out and "--frequency HZ" in out
    assert "several probes are attached" in out and "pyocd pack install stm32f411retx" in out
    assert "pip install 'faultbench[flash]'" in out


def test_flash_without_pyocd_says_how_to_install_in_one_line():
    r = bench("firmware", "flash", "--target", "nucleo-f411", pre="sys.modules['pyocd'] = None  # import pyocd fails")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("bench firmware: error: flashing needs pyOCD, which is not installed: "
                               "pip install 'faultbench[flash]'")


def test_flash_without_a_probe_fails_in_one_line():
    pytest.importorskip("pyocd", reason="pyOCD not installed (pip install 'faultbench[flash]')")
    from drivers.flash import attached_probes

    if attached_probes():
        pytest.skip("a debug probe is attached: this test must not flash it")
    r = bench("firmware", "flash", "--target", "nucleo-f411")
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stdout + r.stderr
    assert r.stderr.startswith("bench firmware: error: no debug probe attached: connect the board's ST-LINK")
    r = bench("firmware", "flash", "--target", "nucleo-f411", "--probe", "066DFF", "--frequency", "4M")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "no attached debug probe matches --probe 066DFF; attached: none" in r.stderr


def test_flash_bad_frequency_is_one_line(capsys):
    assert main(["firmware", "flash", "--target", "nucleo-f411", "--frequency", "fast"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--frequency 'fast': expected a positive clock" in err
