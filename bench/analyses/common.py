"""What the analyses share: opening a run, progress tasks that may be absent."""

from __future__ import annotations

from bench.errors import user_errors
from models.run_dir import RunDirError
from models.training import load_run


def open_run(run, **kwargs):
    """``models.training.load_run`` (``net, config, extra``), errors as one CLI line."""
    with user_errors(RunDirError, FileNotFoundError, ValueError, KeyError):
        return load_run(run, **kwargs)


class Steps:
    """A progress task that is a no-op without a progress display."""

    def __init__(self, progress, description: str, total: int | None):
        self.progress = progress
        self.task = progress.add_task(description, total=total, status="") if progress is not None else None

    def update(self, **kwargs) -> None:
        if self.task is not None:
            self.progress.update(self.task, **kwargs)
