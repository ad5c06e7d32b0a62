"""Arguments several commands share, declared once: run directory, device, seed, profile."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def add_run(p: argparse.ArgumentParser, what: str = "run directory written by bench train") -> None:
    p.add_argument("run", help=what)


def add_epoch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epoch", type=int, help="use this epoch's checkpoint (default: the last)")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="cpu (default), cuda, cuda:N")


def add_seed(p: argparse.ArgumentParser, default: int | None, what: str = "seed") -> None:
    p.add_argument("--seed", type=int, default=default,
                   help=what + ("" if default is None else f" (default {default})"))


def add_profile(p: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    p.add_argument("--profile", type=Path, required=required, help=help)


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (for repeatable ``-o`` options)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    return key, value


def finite(text: str) -> float:
    """A finite number (argparse's ``float`` takes ``nan`` and ``inf``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value
