"""``bench firmware``: build the board firmware, run its C tests and its fuzz target.

    bench firmware build --target host|mps2-an386|nucleo-f411
    bench firmware test
    bench firmware fuzz --seconds 3600 --seed 1

Wraps ``make -C firmware`` and says what is missing (compiler, QEMU) with the apt command.
"""

from __future__ import annotations

import shutil
import subprocess

from rich.console import Console

from bench.errors import BenchError
from drivers.firmware_process import APT_HINT, FIRMWARE_DIR, TARGET_OUTPUTS, FirmwareProcessError, build

TOOLS = {"host": ["cc"], "mps2-an386": ["arm-none-eabi-gcc"], "nucleo-f411": ["arm-none-eabi-gcc"]}
APT = {"cc": "sudo apt-get install -y --no-install-recommends gcc make",
       "make": "sudo apt-get install -y --no-install-recommends make",
       "arm-none-eabi-gcc": "sudo apt-get install -y --no-install-recommends gcc-arm-none-eabi"}
NOTES = {"host": "run it with `bench lab up` or drivers.firmware_process.start_host()",
         "mps2-an386": "run it under QEMU with `bench lab up --qemu` (needs qemu-system-arm: " + APT_HINT + ")",
         "nucleo-f411": "flash with st-flash/openocd to a Nucleo-F411RE; USART2 at 115200 (not run here)"}


def _require(tools: list[str]) -> None:
    missing = [t for t in ["make", *tools] if shutil.which(t) is None]
    if missing:
        raise BenchError(f"missing {', '.join(missing)}: install with `{' && '.join(APT[t] for t in missing)}`")


def _make(*goals: str) -> str:
    r = subprocess.run(["make", "-C", str(FIRMWARE_DIR), *goals], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"make -C firmware {' '.join(goals)} failed:\n{(r.stdout + r.stderr).strip()[-3000:]}")
    return r.stdout


def cmd_build(args) -> int:
    _require(TOOLS[args.target])
    try:
        path = build(args.target)
    except FirmwareProcessError as exc:
        raise BenchError(str(exc)) from None
    Console().print(f"[green]built[/] {path} ({path.stat().st_size} bytes); {NOTES[args.target]}")
    return 0


def cmd_test(args) -> int:
    _require(TOOLS["host"])
    out = _make("test")
    Console().print("\n".join(l for l in out.splitlines() if l.endswith(": ok")))
    return 0


def cmd_fuzz(args) -> int:
    _require(TOOLS["host"])
    out = _make("fuzz", f"FUZZ_SECONDS={args.seconds}", f"FUZZ_SEED={args.seed}")
    Console().print(out.strip().splitlines()[-1])
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("firmware", help="build the board firmware, run its C tests and fuzz target",
                              description="Wraps `make -C firmware`; outputs go to firmware/build/.")
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
