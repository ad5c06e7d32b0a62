"""The one error type the CLI turns into a single clear line and a non-zero exit."""

from __future__ import annotations

import contextlib
from typing import Iterator


class BenchError(Exception):
    """A user-facing problem: say what is wrong and where (file, field, option, command)."""

    exit_code = 2


@contextlib.contextmanager
def user_errors(*types: type[BaseException], prefix: str = "", suffix: str = "") -> Iterator[None]:
    """Turn the libraries' user-facing errors (``types``: a bad profile, run directory, data
    set, fault map, ...) raised inside the block into one :class:`BenchError` line, with
    ``prefix`` naming the option or file when the message does not, and ``suffix`` saying
    what to do next."""
    try:
        yield
    except types as exc:
        message = str(exc.args[0] if len(exc.args) == 1 else exc)
        raise BenchError(f"{prefix}{message}{suffix}") from None
