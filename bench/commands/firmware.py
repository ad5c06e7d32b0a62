"""``bench firmware``: build the board firmware, run its C tests and its fuzz target.

    bench firmware build --target host|mps2-an386|nucleo-f411
    bench firmware test
    bench firmware fuzz --seconds 3600 --seed 1

Wraps ``make -C firmware`` and says what is missing (compiler, QEMU) with the apt command.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from rich.console import Console

from bench.errors import BenchError
from drivers.firmware_process import APT_HINT, FIRMWARE_DIR, QEMU, TARGET_OUTPUTS, FirmwareProcessError, build

TOOLS = {"host": ["cc"], "mps2-an386": ["arm-none-eabi-gcc"], "nucleo-f411": ["arm-none-eabi-gcc"]}
APT = {"cc": "sudo apt-get install -y --no-install-recommends gcc make",
       "make": "sudo apt-get install -y --no-install-recommends make",
       "arm-none-eabi-gcc": "sudo apt-get install -y --no-install-recommends gcc-arm-none-eabi"}
NOTES = {"host": "run it with `bench lab up` or drivers.firmware_process.start_host()",
         "mps2-an386": "run it under QEMU with `bench lab up --qemu`",
         "nucleo-f411": "flash with st-flash/openocd to a Nucleo-F411RE; USART2 at 115200 (not run here)"}
#: what running a target needs on this machine (the hint is printed only when it is missing)
RUN_TOOLS = {"mps2-an386": QEMU}
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
    _require(TOOLS["host"])
    out = _make("test")
    Console().print("\n".join(l for l in out.splitlines() if l.endswith(": ok")))
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


def configure(p) -> None:
    p.description = "Wraps `make -C firmware`; outputs go to firmware/build/."
    sub = p.add_subparsers(dest="firmware_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build one target")
    b.add_argument("--target", required=True, choices=sorted(TARGET_OUTPUTS),
                   help="host (virtual lab), mps2-an386 (Cortex-M4 under QEMU), nucleo-f411 (real board, not run here)")
    b.set_defaults(func=cmd_build)
    t = sub.add_parser("test", help="C unit tests (kernels, framing, protocol) under ASan/UBSan")
    t.set_defaults(func=cmd_test)
    f = sub.add_parser("fuzz", help="fuzz the frame parser, dispatcher and blob parser")
    f.add_argument("--seconds", type=int, default=60, help="duration (default 60; CI runs 20)")
    f.add_argument("--seed", type=int, default=1, help="random seed of the mutation loop (default 1)")
    f.set_defaults(func=cmd_fuzz)
