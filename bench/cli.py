"""``bench``: the faultbench command line.

Each subcommand lives in ``bench/commands/<name>.py`` with ``register(subparsers)``, which
adds its parser and sets ``func(args) -> int | None`` as the default.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bench.errors import BenchError

COMMAND_MODULES = [
    "firmware",
    "train",
    "evaluate",
    "energy",
    "analyze",
    "profile",
    "calibrate",
    "replay",
    "lab",
    "doctor",
    "characterize",
    "run",
    "report",
    "export",
    "sweep",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="faultbench: memory-fault test bench for binarized networks")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (every serial frame, every SCPI exchange)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"bench.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except BenchError as exc:
        print(f"bench {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"bench {args.command}: interrupted; the run can be resumed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
