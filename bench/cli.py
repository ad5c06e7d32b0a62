"""``bench``: the faultbench command line.

Each subcommand lives in ``bench/commands/<name>.py`` with ``configure(parser)``, which adds
its arguments and sets ``func(args) -> int | None``; the command calls one function of the
Python API (docs/API.md) and prints. Only the command being run is imported (the dispatch
pip and git use), so ``bench --help`` and the light commands start without torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bench.errors import BenchError
from drivers import stop_signals

#: command -> one-line summary (``bench --help``); ``bench.commands.<command>`` holds the rest.
COMMANDS = {
    "run": "the whole loop: train, operating points, evaluate, deploy, board energy, report",
    "train": "train a binary network under faults into a run directory",
    "evaluate": "accuracy of a trained run under faults, with its 95 percent confidence interval",
    "energy": "per-layer memory energy table of a run",
    "analyze": "analyses of trained networks (tables and PNG plots)",
    "export": "export a trained run for the firmware (model blob + weight image)",
    "replay": "accuracy of a trained run under recorded fault maps (pure-software replay)",
    "profile": "check and list memory error profiles (profiles/*.yaml)",
    "calibrate": "fit the energy-reliability curve to a sweep and write a profile",
    "characterize": "sweep the supply voltage: fault maps, BER and energy per bit",
    "lab": "the virtual lab (simulated supply + board with a virtual chip)",
    "doctor": "check the board, the supply and the tools; print fixes",
    "firmware": "build the board firmware, run its C tests and fuzz target",
    "report": "regenerate a bench run's report from its results.json",
    "sweep": "run a grid of trials (local or Ray); `bench sweep report DIR` aggregates",
}


def _chosen(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that is one), if any."""
    return next((a for a in argv if a in COMMANDS), None)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="faultbench: memory-fault test bench for binarized networks")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (every serial frame, every SCPI exchange)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    for name, summary in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == chosen:
            importlib.import_module(f"bench.commands.{name}").configure(p)
    return parser


class _Stderr(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record comes (rich's live progress display
    swaps it for a proxy that prints above the bars)."""

    stream = property(lambda self: sys.stderr, lambda self, value: None)


CLOSING_LOG = "drivers.supplies.closing"


def _logging(verbose: bool) -> None:
    """Warnings as ``name: message``; the supply's closing line (``drivers.supplies.closing``,
    INFO: output OFF read back, or the loud failure) as a plain line of its own."""
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(lambda record: record.name != CLOSING_LOG)  # printed once, by its own handler
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])
    closing = logging.getLogger(CLOSING_LOG)
    closing.setLevel(logging.INFO)
    if not any(isinstance(h, _Stderr) for h in closing.handlers):
        plain = _Stderr()
        plain.setFormatter(logging.Formatter("%(message)s"))
        closing.addHandler(plain)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    _logging(args.verbose)
    try:
        with stop_signals.interrupting():  # SIGTERM and SIGHUP take the Ctrl-C path
            return int(args.func(args) or 0)
    except BenchError as exc:
        print(f"bench {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(f"bench {args.command}: stopped by {stop_signals.signal_name(exc)}; the run can be resumed",
              file=sys.stderr)
        return stop_signals.exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
