"""Atomic writes: a reader (or a resumed run) sees a file or directory whole or not at all.

Files are written to a temporary sibling, flushed, ``fsync``-ed and renamed over the target
(``os.replace`` is atomic on POSIX). A stage's output directory is built under
``NAME.partial`` and swapped in by :func:`commit_dir`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml


def write_bytes(path: Path, data: bytes) -> Path:
    """Temp sibling, fsync, ``os.replace`` (models.run_dir's writer, shared with training)."""
    from models.run_dir import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, data)
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def write_yaml(path: Path, obj: Any) -> Path:
    return write_text(path, yaml.safe_dump(obj, sort_keys=False))


def commit_dir(partial: Path, final: Path) -> None:
    """Swap a finished ``partial`` directory in as ``final`` (old contents removed).

    The only window without ``final`` is between two renames; a run killed there simply
    redoes the stage (its done-marker was removed before the swap).
    """
    partial, final = Path(partial), Path(final)
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(partial, final)
    if old.exists():
        shutil.rmtree(old)
