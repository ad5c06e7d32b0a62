"""``bench lab up``: run the virtual lab in the foreground (docs/VIRTUAL_LAB.md)."""

from __future__ import annotations

import time

from bench.lab import virtual_lab


def configure(p) -> None:
    lab_sub = p.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = lab_sub.add_parser("up", help="start the virtual lab in the foreground; Ctrl-C stops it")
    up.add_argument("--chip", help="chip file (default drivers/virtual_lab/chips/sram_demo.yaml)")
    up.add_argument("--qemu", action="store_true", help="board: Cortex-M4 firmware under QEMU (nominal memory)")
    up.add_argument("--supply", help="supply model the simulator presents: n6705c_n6781a (default), e36312a, dp832, "
                                     "hmc8043, or a model file (drivers/supplies/models/)")
    up.add_argument("--ideal", action="store_true",
                    help="ideal physics: exact measurements, no rail leakage, no link latency (default: realistic)")
    up.add_argument("--ppk2", choices=("meter", "source"),
                    help="add a simulated Nordic PPK2: meter (ampere meter in series with the supply's rail) or "
                         "source (it powers the rail instead of the supply)")
    up.set_defaults(func=up_command)


def up_command(args) -> int:
    """Runs until a stop signal: Ctrl-C, SIGTERM and SIGHUP all arrive as ``KeyboardInterrupt``
    (``bench.cli``), and the lab stops in order."""
    with virtual_lab(args.chip, qemu=args.qemu, supply=args.supply, physics="ideal" if args.ideal else "realistic",
                     ppk2=args.ppk2) as lab:
        print(f"board:  {lab.board_url}")
        if lab.supply_resource:
            print(f"supply: {lab.supply_resource}")
            print(f"model:  {lab.supply_spec.model} ({lab.supply_spec.path.name}), {lab.physics} physics")
        else:
            print(f"supply: none: the PPK2 powers the rail ({lab.physics} physics)")
        if lab.ppk2_port:
            print(f"ppk2:   {lab.ppk2_port} ({args.ppk2})")
        if args.qemu:
            print("chip:   none: the QEMU board has nominal memory (no faults, no energy coupling)")
        else:
            print(f"chip:   {lab.chip_id} ({lab.chip_file})")
        if lab.supply_resource:
            chip = "" if args.qemu else f" --chip {lab.chip_file}"
            print(f"try:    bench doctor --board {lab.board_url} --supply {lab.supply_resource}{chip}")
        try:  # entered before the ready line: a stop right after it still stops the lab in order
            print("Ctrl-C stops the lab.", flush=True)
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        print("stopping the virtual lab", flush=True)
    return 0
