"""``bench``: the faultbench command line.

Each subcommand lives in ``bench/commands/<name>.py`` with ``configure(parser)``, which adds
its arguments and sets ``func(args) -> int | None``; the command calls one function of the
Python API (docs/API.md) and prints. Only the command being run is imported (the dispatch
pip and git use), so ``bench --help`` and the light commands start without torch.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import re
import sys

from bench.errors import BenchError
from drivers import stop_signals
from drivers.allocator import tune_malloc

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
    "runs": "key results of many run directories side by side (list, compare; CSV and Parquet export)",
}


#: what a newcomer runs first (``bench --help``, ``bench`` alone)
FIRST_STEPS = """first steps:
  bench run --profile profiles/rram_lowpower.yaml --quick
      the whole loop on the virtual lab (no hardware) in about a minute: trains, deploys,
      measures, and writes runs/rram_lowpower-quick/report/report.html
  bench profile list                   the shipped memory error profiles
  bench lab up                         a virtual board and supply to try the other commands on
  bench doctor --board URL --supply RESOURCE
                                       check a real bench before a run
  bench COMMAND --help                 the options of one command"""

#: options every (sub)command accepts besides its own
GLOBAL_OPTIONS = ("-h", "--help", "-v", "--verbose")


def _chosen(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that is one), if any."""
    return next((a for a in argv if a in COMMANDS), None)


class Parser(argparse.ArgumentParser):
    """argparse that answers a typo with the closest option or command ("did you mean
    --profile?"), under the usage of the command that was typed."""

    argv: list[str] = []   # the command line being parsed (set by :func:`build_parser`)

    def unknown_options(self) -> list[str]:
        """Options on the command line that this parser does not know (nor abbreviates)."""
        known = [o for o in self._option_string_actions if o.startswith("--") or len(o) == 2]
        unknown = []
        for token in self.argv:
            option = token.split("=", 1)[0]
            if not option.startswith("-") or option == "-" or re.fullmatch(r"-\d.*", option):
                continue
            if option in known or option in GLOBAL_OPTIONS or (
                    option.startswith("--") and sum(k.startswith(option) for k in known) == 1):
                continue
            unknown.append(option)
        return unknown

    def error(self, message: str):
        hints = []
        for option in self.unknown_options():
            close = difflib.get_close_matches(option, [o for o in self._option_string_actions if o.startswith("--")],
                                              n=1, cutoff=0.6)
            hints.append(f"unknown option {option}" + (f": did you mean {close[0]}?" if close else ""))
        if m := re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message):
            choices = re.findall(r"'([^']*)'", m[2])
            close = difflib.get_close_matches(m[1], choices, n=1, cutoff=0.5)
            if close:
                hints.append(f"did you mean {close[0]!r}?")
        if hints and message.startswith("unrecognized arguments"):
            message = "; ".join(hints)
        elif hints:
            message = "; ".join(hints) + f" ({message})"
        super().error(message)


def build_parser(argv: list[str]) -> Parser:
    Parser.argv = list(argv)
    parser = Parser(prog="bench", description="faultbench: memory-fault test bench for binarized networks",
                    epilog=FIRST_STEPS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (every serial frame, every SCPI exchange)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    for name, summary in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == chosen:
            importlib.import_module(f"bench.commands.{name}").configure(p)
    return parser


def typed(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost (sub)command parser the command line chose (``bench analyze bet``'s)."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or getattr(args, sub.dest, None) not in sub.choices:
            return parser
        parser = sub.choices[getattr(args, sub.dest)]
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
    parser = build_parser(argv)
    if not argv:
        parser.print_help()
        return 2
    args, extra = parser.parse_known_args(argv)
    if extra:   # the typed command's usage and a suggestion, not the top-level usage
        typed(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    _logging(args.verbose)
    tune_malloc()  # tensor-sized blocks reused, not mapped afresh (drivers/allocator.py)
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
