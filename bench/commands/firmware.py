"""``bench firmware``: build the board firmware, run its tests, fuzz it, flash a board.

    bench firmware build --target host|mps2-an386|netduinoplus2|nucleo-f411
    bench firmware test [--target mps2-an386|netduinoplus2]
    bench firmware fuzz --seconds 3600 --seed 1
    bench firmware flash --target nucleo-f411 [--probe ID] [--frequency 4M]

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

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.errors import BenchError
from drivers.firmware_process import (APT_HINT, FIRMWARE_DIR, QEMU, QEMU_MACHINES, TARGET_OUTPUTS,
                                      FirmwareProcessError, build)
from drivers.flash import FLASH_TARGETS, FlashError, flash

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


def _rel(path: Path) -> str:
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
    where = (f"binary {_rel(FUZZ_DIR / 'fuzz_protocol')}, seeds {_rel(FUZZ_SEEDS)}"
             + (f", corpus {_rel(corpus)}" if corpus.is_dir() else ""))
    found = f"{len(crashes)} crash(es): {', '.join(_rel(p) for p in crashes)}" if crashes else "0 crashes"
    return f"fuzz (seed {seed}): {runs}, {found}; {where}"


def cmd_build(args) -> int:
    _require(TOOLS[args.target])
    try:
        path = build(args.target)
    except FirmwareProcessError as exc:
        raise BenchError(str(exc)) from None
    Console().print(f"[green]built[/] {path} ({path.stat().st_size} bytes); {run_note(args.target)}")
    return 0


def cmd_test(args) -> int:
    if args.target is None:
        _require(TOOLS["host"])
        out = _make("test")
        Console().print("\n".join(l for l in out.splitlines() if l.endswith(": ok")))
        return 0
    _require(TOOLS[args.target])
    if shutil.which(QEMU) is None:
        raise BenchError(f"{QEMU} not found: {APT_HINT}")
    if importlib.util.find_spec("pytest") is None or not QEMU_TESTS.exists():
        raise BenchError(f"the target tests need pytest and {_rel(QEMU_TESTS)} (a source checkout): "
                         "pip install -e '.[test]'")
    root = str(FIRMWARE_DIR.parent)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, "-m", "pytest", str(QEMU_TESTS), "-k", args.target, "-o", "addopts=",
            "-p", "no:cacheprovider", "-rA", "-q"]
    with Console().status(f"{args.target} under QEMU: protocol, LOAD/READ/PATTERN, INFER against the reference"):
        r = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(argv[2:])} failed:\n{(r.stdout + r.stderr).strip()[-3000:]}")
    passed = [l.split("::", 1)[1] for l in r.stdout.splitlines() if l.startswith("PASSED ") and "::" in l]
    summary = re.sub(r", \d+ deselected", "", r.stdout.strip().splitlines()[-1].strip("= "))
    Console().print("\n".join([f"{args.target} under QEMU: {summary}", *(f"  ok {t}" for t in passed)]),
                    soft_wrap=True, markup=False)
    return 0


def cmd_fuzz(args) -> int:
    _require(TOOLS["host"])
    if args.seconds < 1:
        raise BenchError(f"--seconds {args.seconds}: must be >= 1")
    start = time.time() - 1  # file times have a coarse resolution on some file systems
    hint = (f"\ncrash inputs: {FUZZ_DIR} (libFuzzer writes crash-*); the sanitizer report above names the "
            f"failing check; reproduce with {_rel(FUZZ_DIR / 'fuzz_protocol')} FILE")
    out = _make("fuzz", f"FUZZ_SECONDS={args.seconds}", f"FUZZ_SEED={args.seed}", extra=hint)
    Console().print(fuzz_summary(out, args.seconds, args.seed, _artefacts(start)), soft_wrap=True)
    return 0


def cmd_flash(args) -> int:
    console = Console()
    bar = Progress(TextColumn(f"flashing {args.target}"), BarColumn(), TimeElapsedColumn(), console=console)
    task = None

    def advance(fraction: float) -> None:  # the bar starts with the first chunk written: no output on failure
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task("flash", total=1.0)
        bar.update(task, completed=fraction)

    try:
        result = flash(args.target, args.probe, args.frequency, progress=advance)
    except (FlashError, FirmwareProcessError) as exc:
        raise BenchError(str(exc)) from None
    finally:
        if task is not None:
            bar.stop()
    clock = f" at {result.frequency_hz / 1e6:g} MHz" if result.frequency_hz else ""
    console.print(f"[green]flashed[/] {_rel(result.elf)} to {result.chip} through probe {result.probe}{clock}; "
                  "the board restarted: open its serial port (ST-LINK virtual COM, e.g. /dev/ttyACM0) with "
                  "drivers.board.Board", soft_wrap=True)
    return 0


def configure(p) -> None:
    p.description = "Wraps `make -C firmware`; outputs go to firmware/build/."
    sub = p.add_subparsers(dest="firmware_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build one target")
    b.add_argument("--target", required=True, choices=sorted(TARGET_OUTPUTS),
                   help="host (virtual lab), mps2-an386 (Cortex-M4 under QEMU), netduinoplus2 (the Nucleo's "
                        "STM32F4 code under QEMU), nucleo-f411 (real board, never flashed here)")
    b.set_defaults(func=cmd_build)
    t = sub.add_parser("test", help="C unit tests under ASan/UBSan, or one emulated target under QEMU",
                       description="Without --target: the C unit tests (kernels, framing, protocol) under "
                                   "ASan/UBSan. With --target: that firmware under QEMU over its serial "
                                   "socket: HELLO, LOAD/READ, PATTERN, INFER bit-exact with the reference "
                                   f"interpreter on random networks ({_rel(QEMU_TESTS)}).")
    t.add_argument("--target", choices=sorted(QEMU_MACHINES), help="emulated target to test under QEMU")
    t.set_defaults(func=cmd_test)
    f = sub.add_parser("fuzz", help="fuzz the frame parser, dispatcher and blob parser")
    f.add_argument("--seconds", type=int, default=60, help="duration (default 60; CI runs 20)")
    f.add_argument("--seed", type=int, default=1, help="random seed of the mutation loop (default 1)")
    f.set_defaults(func=cmd_fuzz)
    fl = sub.add_parser("flash", help="build and flash a real board through pyOCD (pip install 'faultbench[flash]')",
                        description="Builds the target's ELF if needed, programs it through a debug probe with "
                                    "pyOCD and resets the board. Needs pyOCD (pip install 'faultbench[flash]') "
                                    "and, once per machine, the chip's CMSIS-Pack: "
                                    + "; ".join(f"{t}: pyocd pack install {c}" for t, c in FLASH_TARGETS.items())
                                    + ". See firmware/README.md.")
    fl.add_argument("--target", required=True, choices=sorted(FLASH_TARGETS), help="board to flash")
    fl.add_argument("--probe", metavar="ID",
                    help="debug probe to use: its unique ID or a unique part of it (`pyocd list` shows them); "
                         "needed when several probes are attached (default: the only one attached)")
    fl.add_argument("--frequency", metavar="HZ",
                    help="SWD clock in Hz, with an optional k or M suffix: 4M, 400k, 1000000 "
                         "(default: pyOCD's, 1 MHz)")
    fl.set_defaults(func=cmd_flash)
