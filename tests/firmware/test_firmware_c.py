"""The firmware's C unit tests (kernels ref == fast, framing, protocol dispatcher) under
ASan/UBSan, and the cross builds, run through make."""

import shutil
import subprocess

import pytest

from drivers.firmware_process import FIRMWARE_DIR, build


def test_c_unit_tests_pass():
    r = subprocess.run(["make", "-C", str(FIRMWARE_DIR), "test"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ("test_kernels: ok", "test_framing: ok", "test_protocol: ok"):
        assert name in r.stdout


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="gcc-arm-none-eabi not installed")
@pytest.mark.parametrize("target", ["mps2-an386", "nucleo-f411", "netduinoplus2"])
def test_cross_builds(target):
    elf = build(target)
    assert elf.exists() and elf.stat().st_size > 0


def test_bench_firmware_build_names_the_missing_cross_compiler(monkeypatch, tmp_path, capsys):
    from bench.cli import main

    (tmp_path / "make").symlink_to(shutil.which("make"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["firmware", "build", "--target", "mps2-an386"]) == 2
    assert "apt-get install -y --no-install-recommends gcc-arm-none-eabi" in capsys.readouterr().err


def test_bench_firmware_build_host(capsys):
    from bench.cli import main

    assert main(["firmware", "build", "--target", "host"]) == 0
    assert "fw-host" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs gcc-arm-none-eabi and qemu-system-arm")
def test_kernel_unit_tests_on_the_cortex_m4():
    """The Harley-Seal and DSP (SXTAB16) paths only exist on the M4: ref == fast there too."""
    r = subprocess.run(["make", "-C", str(FIRMWARE_DIR), "test-m4"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "test_kernels: ok" in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-3000:]
