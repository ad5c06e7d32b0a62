"""Interleaved, repeated timing shared by the benchmark scripts: median and spread.

Every round runs every path once (the order rotates from round to round), so a busy shared
machine slows all paths of a round alike; ratios are taken per round (``a[i] / b[i]``) and
reported as their median with the min-max over the rounds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Callable, Mapping, Sequence

MIN_ROUNDS = 5
#: ``cpu``: this process's CPU time. For single-threaded paths in this process it is the time
#: an idle core would take, while wall time on a shared, oversubscribed machine adds the other
#: jobs' turns (caches and memory bandwidth stay shared either way). ``wall``: wall time.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def add_rounds_arg(parser: argparse.ArgumentParser, default: int, flag: str = "--rounds",
                   what: str = "interleaved rounds") -> None:
    """``flag`` (an int, default ``default``), refused below ``MIN_ROUNDS``."""
    def rounds(text: str) -> int:
        n = int(text)
        if n < MIN_ROUNDS:
            raise argparse.ArgumentTypeError(f"must be at least {MIN_ROUNDS}")
        return n

    parser.add_argument(flag, type=rounds, default=default, help=f"{what} (default {default}, at least {MIN_ROUNDS})")


def add_clock_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clock", choices=CLOCKS, default="cpu",
                        help="cpu: this process's CPU time (default; the shared machine's other jobs do not "
                             "count), wall: wall time")


def calls_for(fn: Callable[[], object], min_seconds: float, clock: Callable[[], float] = time.perf_counter) -> int:
    """How many back-to-back calls of ``fn`` take about ``min_seconds`` (one warm-up call,
    then one timed call; at least 1): short calls are timed in blocks, above timer noise."""
    fn()
    t0 = clock()
    fn()
    return max(1, math.ceil(min_seconds / max(clock() - t0, 1e-9)))


def interleaved(paths: Mapping[str, Callable[[], object]], rounds: int, calls: Mapping[str, int] | None = None,
                alternate: bool = False, clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per call of each path in each round (``calls[name]`` calls per round, default
    1). ``alternate``: within a round the paths' calls take turns one by one (each sees the
    same load), instead of each path's calls back to back (each keeps its data in the caches).
    ``clock``: wall time by default; ``CLOCKS["cpu"]`` for paths that run in this process."""
    names = list(paths)
    calls = {name: (calls or {}).get(name, 1) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        spent = dict.fromkeys(names, 0.0)
        if alternate:
            schedule = [(name, 1) for i in range(max(calls.values())) for name in order if i < calls[name]]
        else:
            schedule = [(name, calls[name]) for name in order]
        for name, n in schedule:
            t0 = clock()
            for _ in range(n):
                paths[name]()
            spent[name] += clock() - t0
        for name in names:
            times[name].append(spent[name] / calls[name])
    return times


def per_round(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """``a[i] / b[i]``: the ratio within each round."""
    return [x / y for x, y in zip(a, b)]


def spread(values: Sequence[float], fmt: str = ".3g", scale: float = 1.0) -> str:
    """``median [min-max]`` of ``values * scale``."""
    v = [x * scale for x in values]
    return f"{statistics.median(v):{fmt}} [{min(v):{fmt}}-{max(v):{fmt}}]"


def verdicts(console, results: Sequence[tuple[str, bool]]) -> int:
    """Prints each target's line as PASS or FAIL; the exit status: 0 when all pass."""
    for text, ok in results:
        console.print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in results) else 1
