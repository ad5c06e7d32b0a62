"""The board firmware from Python and ``bench firmware``: build a target, run the C tests or one
emulated target's tests under QEMU, fuzz the protocol, flash a real board.

Wraps ``make -C firmware``, the QEMU tests and ``drivers.flash`` (pyOCD), and says what is
missing (compiler, QEMU, pyOCD, a probe) in one line with the command that installs it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dataclasses import dataclass
from typing import Callable

from bench.errors import BenchError, user_errors
from drivers.firmware_process import (APT_HINT, FIRMWARE_DIR, QEMU, QEMU_MACHINES, TARGET_OUTPUTS,
                                      FirmwareProcessError, build)
from drivers.flash import FLASH_TARGETS, FlashError, FlashResult, flash

__all__ = ["FLASH_TARGETS", "QEMU_MACHINES", "QEMU_TESTS", "TARGET_OUTPUTS", "build_target", "flash_board",
           "fuzz", "relative", "run_note", "test_c", "test_target"]

TOOLS = {"host": ["cc"], "mps2-an386": ["arm-none-eabi-gcc"], "nucleo-f411": ["arm-none-eabi-gcc"],
         "netduinoplus2": ["arm-none-eabi-gcc"]}
APT = {"cc": "sudo apt-get install -y --no-install-recommends gcc make",
       "make": "sudo apt-get install -y --no-install-recommends make",
       "arm-none-eabi-gcc": "sudo apt-get install -y --no-install-recommends gcc-arm-none-eabi"}
NOTES = {"host": "run it with `bench lab up` or drivers.firmware_process.start_host()",
         "mps2-an386": "run it under QEMU with `bench lab up --qemu`",
         "netduinoplus2": "test it under QEMU with `bench firmware test --target netduinoplus2`",
         "nucleo-f411": "flash it with `bench firmware flash --target nucleo-f411`; USART2 on the ST-LINK port "
                        "at 115200 (never flashed here)"}
#: what running a target needs on this machine (the hint is printed only when it is missing)
RUN_TOOLS = {"mps2-an386": QEMU, "netduinoplus2": QEMU}
#: the protocol, LOAD/READ/PATTERN and bit-exact INFER tests, parametrised over the QEMU targets
QEMU_TESTS = FIRMWARE_DIR.parent / "tests" / "drivers" / "test_board_qemu.py"
FUZZ_DIR = FIRMWARE_DIR / "build" / "fuzz"  # binary, libFuzzer corpus and crash artefacts
FUZZ_SEEDS = FIRMWARE_DIR / "tests" / "fuzz_seeds"
#: "N inputs in S s" (the seeded mutation loop) or "Done N runs in S second(s)" (libFuzzer)
_FUZZ_RUNS = re.compile(r"(\d+) inputs in ([\d.]+) s|Done (\d+) runs in (\d+) second")


def _require(tools: list[str]) -> None:
    missing = [t for t in ["make", *tools] if shutil.which(t) is None]
    if missing:
        raise BenchError(f"missing {', '.join(missing)}: install with `{' && '.join(APT[t] for t in missing)}`")


def _make(*goals: str, extra: str = "") -> str:
    """stdout + stderr of ``make -C firmware GOALS``; ``BenchError`` with its tail (and ``extra``) on failure."""
    r = subprocess.run(["make", "-C", str(FIRMWARE_DIR), *goals], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"make -C firmware {' '.join(goals)} failed:\n{(r.stdout + r.stderr).strip()[-3000:]}{extra}")
    return r.stdout + r.stderr


def run_note(target: str) -> str:
    """How to run a built target, with the install command only when a tool it needs is missing."""
    tool = RUN_TOOLS.get(target)
    if tool is not None and shutil.which(tool) is None:
        return f"{NOTES[target]} (needs {tool}, not found: {APT_HINT})"
    return NOTES[target]


def relative(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    return str(path.relative_to(FIRMWARE_DIR.parent)) if path.is_relative_to(FIRMWARE_DIR.parent) else str(path)


def _artefacts(since: float) -> list[Path]:
    """Crash/leak/timeout inputs libFuzzer wrote into :data:`FUZZ_DIR` since ``since``."""
    found = [p for p in FUZZ_DIR.glob("*-*") if p.name.split("-")[0] in ("crash", "leak", "timeout", "oom")]
    return sorted(p for p in found if p.stat().st_mtime >= since)


def fuzz_summary(output: str, seconds: int, seed: int, crashes: list[Path]) -> str:
    """One line: inputs run, crashes found, where the binary, seeds and artefacts are."""
    m = _FUZZ_RUNS.search(output)
    runs = f"{m.group(1) or m.group(3)} inputs in {m.group(2) or m.group(4)} s" if m else f"{seconds} s (input count not reported)"
    corpus = FUZZ_DIR / "corpus"
    where = (f"binary {relative(FUZZ_DIR / 'fuzz_protocol')}, seeds {relative(FUZZ_SEEDS)}"
             + (f", corpus {relative(corpus)}" if corpus.is_dir() else ""))
    found = f"{len(crashes)} crash(es): {', '.join(relative(p) for p in crashes)}" if crashes else "0 crashes"
    return f"fuzz (seed {seed}): {runs}, {found}; {where}"


@dataclass
class Built:
    target: str
    path: Path
    note: str   # how to run it (with the install command of a missing tool)


def build_target(target: str) -> Built:
    """Build one firmware target (``make -C firmware TARGET``)."""
    _require(TOOLS[target])
    with user_errors(FirmwareProcessError):
        path = build(target)
    return Built(target, path, run_note(target))


def test_c() -> list[str]:
    """The C unit tests (kernels, framing, protocol) under ASan/UBSan; the ``ok`` lines."""
    _require(TOOLS["host"])
    return [line for line in _make("test").splitlines() if line.endswith(": ok")]


def test_target(target: str) -> tuple[str, list[str]]:
    """One emulated target under QEMU over its serial socket (HELLO, LOAD/READ, PATTERN, INFER
    bit-exact with the reference interpreter): ``(summary line, tests passed)``."""
    _require(TOOLS[target])
    if shutil.which(QEMU) is None:
        raise BenchError(f"{QEMU} not found: {APT_HINT}")
    if importlib.util.find_spec("pytest") is None or not QEMU_TESTS.exists():
        raise BenchError(f"the target tests need pytest and {relative(QEMU_TESTS)} (a source checkout): "
                         "pip install -e '.[test]'")
    root = str(FIRMWARE_DIR.parent)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, "-m", "pytest", str(QEMU_TESTS), "-k", target, "-o", "addopts=",
            "-p", "no:cacheprovider", "-rA", "-q"]
    r = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(argv[2:])} failed:\n{(r.stdout + r.stderr).strip()[-3000:]}")
    passed = [l.split("::", 1)[1] for l in r.stdout.splitlines() if l.startswith("PASSED ") and "::" in l]
    summary = re.sub(r", \d+ deselected", "", r.stdout.strip().splitlines()[-1].strip("= "))
    return f"{target} under QEMU: {summary}", passed


def fuzz(seconds: int = 60, seed: int = 1) -> str:
    """Fuzz the frame parser, dispatcher and blob parser; one summary line."""
    _require(TOOLS["host"])
    if seconds < 1:
        raise BenchError(f"--seconds {seconds}: must be >= 1")
    start = time.time() - 1  # file times have a coarse resolution on some file systems
    hint = (f"\ncrash inputs: {FUZZ_DIR} (libFuzzer writes crash-*); the sanitizer report above names the "
            f"failing check; reproduce with {relative(FUZZ_DIR / 'fuzz_protocol')} FILE")
    out = _make("fuzz", f"FUZZ_SECONDS={seconds}", f"FUZZ_SEED={seed}", extra=hint)
    return fuzz_summary(out, seconds, seed, _artefacts(start))


def flash_board(target: str, probe: str | None = None, frequency: str | None = None,
                progress: Callable[[float], None] | None = None) -> FlashResult:
    """Build (if needed) and flash ``target`` through pyOCD (``drivers.flash``)."""
    with user_errors(FlashError, FirmwareProcessError):
        return flash(target, probe, frequency, progress=progress)
