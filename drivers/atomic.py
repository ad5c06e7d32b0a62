"""Atomic writes: a reader (or a resumed run) sees a file or a directory whole or not at all.

A file is written to a temporary sibling, flushed, ``fsync``-ed and renamed over the target
(``os.replace`` is atomic on POSIX). The file gets the mode a plain ``open(path, "w")`` would
give it (``0o666`` less the process umask), so colleagues read results as they read any other
file. A directory is built under a temporary name and swapped in by :func:`commit_dir`.

Every writer of faultbench (run directories, pipeline stages, sweeps, fault maps, the virtual
lab's state file) goes through this module; it needs neither torch nor anything of the bench.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml


def _umask() -> int:
    """The process umask (read by setting it and putting it back: POSIX has no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Temporary siblings are named ``.NAME.RANDOM.tmp`` (:func:`remove_strays` finds them by it).
TMP_PREFIX, TMP_SUFFIX = ".", ".tmp"


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp creates 0600
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    """JSON with sorted keys and a final newline (NaN allowed, as Python's json writes it)."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=True) + "\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, yaml.safe_dump(obj, sort_keys=False))


def remove_strays(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers killed mid-write (SIGKILL, power loss) left in
    ``folder`` and below; returns them. Call it before resuming work in a folder."""
    strays = [p for p in Path(folder).rglob(f"{TMP_PREFIX}*{TMP_SUFFIX}") if p.is_file() and p.name.count(".") >= 3]
    for p in strays:
        p.unlink(missing_ok=True)
    return strays


def commit_dir(partial: str | os.PathLike, final: str | os.PathLike) -> None:
    """Swap a finished ``partial`` directory in as ``final`` (old contents removed).

    The only window without ``final`` is between two renames; a process killed there finds
    ``final`` missing and redoes the work that produced it.
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
