"""Opening a training run directory (``bench train``'s output) for a command."""

from __future__ import annotations

from bench.errors import BenchError


def load_run(run, **kwargs):
    """:func:`models.run_dir.load_run` (``net, config, extra``); a missing or damaged run
    directory, checkpoint or config is one :class:`BenchError` line with its message."""
    from models.run_dir import RunDirError, load_run as load

    try:
        return load(run, **kwargs)
    except (RunDirError, FileNotFoundError, ValueError, KeyError) as exc:
        raise BenchError(str(exc.args[0] if exc.args else exc)) from None
