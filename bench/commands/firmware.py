"""``bench firmware``: build the board firmware, run its tests, fuzz it, flash a board.

    bench firmware build --target host|mps2-an386|netduinoplus2|nucleo-f411
    bench firmware test [--target mps2-an386|netduinoplus2]
    bench firmware fuzz --seconds 3600 --seed 1
    bench firmware flash --target nucleo-f411 [--probe ID] [--frequency 4M]
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.firmware import (FLASH_TARGETS, QEMU_MACHINES, QEMU_TESTS, TARGET_OUTPUTS, build_target, flash_board, fuzz,
                            relative, test_c, test_target)


def cmd_build(args) -> int:
    b = build_target(args.target)
    Console().print(f"[green]built[/] {b.path} ({b.path.stat().st_size} bytes); {b.note}")
    return 0


def cmd_test(args) -> int:
    console = Console()
    if args.target is None:
        console.print("\n".join(test_c()))
        return 0
    with console.status(f"{args.target} under QEMU: protocol, LOAD/READ/PATTERN, INFER against the reference"):
        summary, passed = test_target(args.target)
    console.print("\n".join([summary, *(f"  ok {t}" for t in passed)]), soft_wrap=True, markup=False)
    return 0


def cmd_fuzz(args) -> int:
    Console().print(fuzz(args.seconds, args.seed), soft_wrap=True)
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
        result = flash_board(args.target, args.probe, args.frequency, progress=advance)
    finally:
        if task is not None:
            bar.stop()
    clock = f" at {result.frequency_hz / 1e6:g} MHz" if result.frequency_hz else ""
    console.print(f"[green]flashed[/] {relative(result.elf)} to {result.chip} through probe {result.probe}{clock}; "
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
                                   f"interpreter on random networks ({relative(QEMU_TESTS)}).")
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
