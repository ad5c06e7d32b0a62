"""The signals that stop a run, and how the bench takes them: every one the Ctrl-C way.

A user's Ctrl-C (SIGINT), a ``kill`` or a job scheduler's stop (SIGTERM) and a closed
terminal or dropped SSH session (SIGHUP) all mean "stop now": :func:`interrupting` makes each
raise :class:`StopSignal` (a ``KeyboardInterrupt``), so one exit path (``finally`` blocks:
supply off, board and lab closed, run resumable) serves them all. SIGKILL cannot be caught;
the supply's own output watchdog covers it (``drivers/supplies``).

:func:`deferred` holds stop signals back while a short critical section runs (switching a
supply off, forking a helper process): a second Ctrl-C must not abort the shutdown it
triggered. The signal is raised when the section ends.

A signal's ``KeyboardInterrupt`` can also be lost without any of this: Python runs a handler
wherever the main thread happens to be, and an exception raised inside a finalizer
(``__del__``, a weakref callback, the garbage collector) or an at-fork callback is printed
("Exception ignored in ...") and dropped. So the handler also *latches* the signal, and long
loops call :func:`check` at safe points (each training batch, each trial, each pipeline
stage, each board input, after each helper process is forked): a stop whose exception was
dropped is raised there.

Python runs signal handlers in the main thread only; elsewhere both context managers do
nothing (the main thread's handlers stay in charge).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

#: Signals a user, a terminal or a job scheduler sends to stop a run.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignal(KeyboardInterrupt):
    """A stop signal taken the Ctrl-C way; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_name(exc: BaseException) -> str:
    """``SIGTERM`` for a :class:`StopSignal`, ``SIGINT`` for a plain ``KeyboardInterrupt``."""
    return signal.Signals(getattr(exc, "signum", signal.SIGINT)).name


def exit_code(exc: BaseException) -> int:
    """The shell's convention for a process stopped by a signal: 128 + its number."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


#: The first stop signal received inside :func:`interrupting` (or after :func:`install`).
_received: int | None = None
#: How many :func:`interrupting` blocks are open: a nested one (a command's inside the CLI's)
#: keeps the latch of the block around it.
_depth = 0


def _raise_stop(signum, frame) -> None:
    global _received
    if _received is None:
        _received = signum
    raise StopSignal(signum)


def check() -> None:
    """Raise :class:`StopSignal` if a stop signal has arrived: a safe point in a long loop,
    where a stop whose first exception Python dropped (see the module's note) is raised again."""
    if _received is not None:
        raise StopSignal(_received)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _takes_over_sigint() -> bool:
    """Python's own Ctrl-C handler (or none) is replaced; a handler someone installed stays."""
    return signal.getsignal(signal.SIGINT) in (signal.default_int_handler, signal.SIG_DFL, signal.SIG_IGN, None)


def install() -> None:
    """From now on (a worker process's initializer) every stop signal raises (and latches)
    :class:`StopSignal`, as :func:`interrupting` does for a block."""
    global _received
    _received = None
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stop)


@contextlib.contextmanager
def interrupting() -> Iterator[None]:
    """Inside the block every stop signal raises :class:`StopSignal` (a ``KeyboardInterrupt``)
    and latches it for :func:`check` (SIGINT only where Python's own handler, or none, is in
    place); the previous handlers come back after, and after the outermost block an unlatched
    state."""
    global _received, _depth
    if not _main_thread():
        yield
        return
    if _depth == 0:
        _received = None
    _depth += 1
    ours = [sig for sig in STOP_SIGNALS if sig != signal.SIGINT or _takes_over_sigint()]
    previous = {sig: signal.signal(sig, _raise_stop) for sig in ours}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _depth -= 1
        if _depth == 0:  # the stop went out with the block's exception (or the work was done)
            _received = None


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold stop signals back while the block runs; when it ends, the first one that arrived
    goes to the handler that was in place before (``KeyboardInterrupt``, :class:`StopSignal`,
    or an enclosing :func:`deferred`, which holds it in turn); a default disposition takes
    the Ctrl-C way, an ignored signal stays ignored. Nothing is delivered if the block raised."""
    if not _main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        handler = previous[caught[0]]
        if callable(handler):
            handler(caught[0], None)
        elif handler is not signal.SIG_IGN:
            _raise_stop(caught[0], None) if caught[0] != signal.SIGINT else signal.default_int_handler(caught[0], None)
