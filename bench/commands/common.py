"""Arguments several commands share, declared once: run directory, device, seed, profile,
data set download."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bench.datasets import DOWNLOADABLE, MIRROR_ENV


RUN_HELP = "training run (bench train --out) or bench run folder (bench run --out: its main network unless --network)"


def add_run(p: argparse.ArgumentParser, what: str = RUN_HELP) -> None:
    p.add_argument("run", help=what)
    add_network(p)


def add_network(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", metavar="NAME", help="in a bench run folder: the network to use, main (default), "
                                                      "reliable/seed-0, uniform/POINT/seed-0, ... (the runs under train/ "
                                                      "and baselines/)")


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


def add_download(p: argparse.ArgumentParser) -> None:
    """``--download``, ``--mirror``, ``--checksums`` (:func:`bench.datasets.download`)."""
    p.add_argument("--download", action="store_true",
                   help=f"first fetch the data set ({', '.join(DOWNLOADABLE)}) into --data-dir: SHA-256 checked, "
                        "resumed if interrupted, files already there only verified")
    p.add_argument("--mirror", metavar="URL",
                   help=f"with --download: fetch URL/<data set>/<file> instead of the official location "
                        f"(default: ${MIRROR_ENV} when set)")
    p.add_argument("--checksums", metavar="FILE",
                   help="with --download: sha256sum listing of the mirror's files (default: the official SHA-256)")


def download_progress(progress):
    """A ``(file, bytes_done, bytes_total)`` callback drawing one bar per file on a rich Progress."""
    tasks: dict[str, int] = {}

    def update(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(f"download {name}", total=total)
        progress.update(tasks[name], completed=done, total=total)

    return update
def finite(text: str) -> float:
    """A finite number (argparse's ``float`` takes ``nan`` and ``inf``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value
