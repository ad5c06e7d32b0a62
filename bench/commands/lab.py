"""``bench lab up``: run the virtual lab in the foreground (docs/VIRTUAL_LAB.md)."""

from __future__ import annotations

import signal
import threading

from bench.errors import BenchError


def register(sub) -> None:
    p = sub.add_parser("lab", help="the virtual lab (simulated supply + board with a virtual chip)")
    lab_sub = p.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = lab_sub.add_parser("up", help="start the virtual lab in the foreground; Ctrl-C stops it")
    up.add_argument("--chip", help="chip file (default drivers/virtual_lab/chips/sram_demo.yaml)")
    up.add_argument("--qemu", action="store_true", help="board: Cortex-M4 firmware under QEMU (nominal memory)")
    up.set_defaults(func=up_command)


def up_command(args) -> int:
    from drivers.virtual_lab.lab import LabError, VirtualLab

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with VirtualLab(args.chip, qemu=args.qemu) as lab:
            print(f"board:  {lab.board_url}")
            print(f"supply: {lab.supply_resource}")
            if args.qemu:
                print("chip:   none: the QEMU board has nominal memory (no faults, no energy coupling)")
            else:
                print(f"chip:   {lab.chip_id} ({lab.chip_file})")
            print("try:    bench doctor --board {} --supply {}".format(lab.board_url, lab.supply_resource))
            print("Ctrl-C stops the lab.", flush=True)
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            print("stopping the virtual lab", flush=True)
    except (LabError, ValueError) as exc:
        raise BenchError(f"bench lab up: {exc}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
