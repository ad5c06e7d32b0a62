"""What the board does inside a capture window, and its baseline (docs/ENERGY_CAPTURES.md).

A work is run ``repeat`` times back to back inside one window: :class:`LayerStep` by the
firmware itself (``STEP`` with a repeat count: one layer reads its weights ``repeat`` times,
PROTOCOL.md "Repeats"), :class:`HostLoop` by the host, request after request (programming a
region with ``LOAD``, reading one with ``PATTERN``) where the firmware has no repeat.
``prepare()`` runs before each work window, uncaptured (a layer step needs the earlier layers
stepped first); ``probe_repeat`` is how many runs the method times to size the window. :class:`IdleBaseline` fills a baseline window of the same length with ``IDLE``
(the core running, the memory quiet): the count the work took, in the board's count unit, or
the host-measured seconds of a host loop converted with the board's count rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from drivers.board import MAX_IDLE_COUNT, MAX_REPEAT, Board

#: IDLE counts per second for a count unit other than ns: measured with an IDLE of this many
#: units against the host clock [choice: ~20-80 ms at 25-100 MHz]
RATE_PROBE_COUNT = 2_000_000
TIMEOUT_FACTOR = 3.0   # a long run's reply deadline: this many times its expected length, plus the link's


@dataclass(frozen=True)
class WorkRun:
    count: int | None   # the board's count of the whole run (its count unit); None: not reported
    seconds: float      # host time from request to reply


class LayerStep:
    """The layer at ``position`` of the deployed model on input ``x``, ``STEP(repeat)``."""

    max_repeat = MAX_REPEAT
    probe_repeat = 256   # a run this long tells the time per repeat (the first run is slower: cold caches)

    def __init__(self, board: Board, x, position: int):
        self.board, self.x, self.position = board, x, position

    def prepare(self) -> None:
        self.board.step_input(self.x)
        for _ in range(self.position):
            self.board.step()

    def run(self, repeat: int, expected_s: float = 0.0) -> WorkRun:
        t0 = time.monotonic()
        r = self.board.step(repeat=repeat, timeout=self.board.timeout + TIMEOUT_FACTOR * expected_s)
        return WorkRun(int(r.total_count), time.monotonic() - t0)


class HostLoop:
    """``once()`` (one request) ``repeat`` times; the board reports no count for it."""

    max_repeat = MAX_REPEAT
    probe_repeat = 2

    def __init__(self, once: Callable[[], object]):
        self.once = once

    def prepare(self) -> None:
        pass

    def run(self, repeat: int, expected_s: float = 0.0) -> WorkRun:
        t0 = time.monotonic()
        for _ in range(repeat):
            self.once()
        return WorkRun(None, time.monotonic() - t0)


class IdleBaseline:
    """``IDLE`` for as long as a work run took; ``rate``: count units per second."""

    def __init__(self, board: Board):
        self.board = board
        self.unit = board.info.count_unit
        self.rate = 1e9 if self.unit == "ns" else self._measure_rate()

    def _measure_rate(self) -> float:
        t0 = time.monotonic()
        self.board.idle(1)
        t1 = time.monotonic()
        spent = self.board.idle(RATE_PROBE_COUNT, timeout=self.board.timeout + 10.0).count
        t2 = time.monotonic()
        return (spent - 1) / max((t2 - t1) - (t1 - t0), 1e-6)

    def seconds(self, run: WorkRun) -> float:
        """The board time of a work run: its count, or the host's time for a host loop."""
        return run.count / self.rate if run.count is not None else run.seconds

    def run(self, like: WorkRun) -> int:
        """Idle as long as ``like`` took on the board; returns the count spent."""
        remaining = like.count if like.count is not None else max(1, round(like.seconds * self.rate))
        spent = 0
        while remaining > 0:
            chunk = min(remaining, MAX_IDLE_COUNT)
            got = self.board.idle(chunk, timeout=self.board.timeout + TIMEOUT_FACTOR * chunk / self.rate).count
            spent += got
            remaining -= got
        return spent
