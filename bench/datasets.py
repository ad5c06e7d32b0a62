"""Data sets from Python and the CLI: :func:`download` fetches mnist, fashion-mnist or
cifar10 into a data folder (``--download``; checksums, resume, mirrors:
:mod:`models.download`). ``bench train`` and ``bench run`` call it before loading the data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from bench.errors import BenchError, user_errors
from models.download import MIRROR_ENV, OFFICIAL, DownloadError, Progress, download_dataset

__all__ = ["DOWNLOADABLE", "MIRROR_ENV", "download"]

DOWNLOADABLE = tuple(OFFICIAL)


def download(name: str, data_dir: str | os.PathLike | None, *, mirror: str | None = None,
             checksums: Mapping[str, str] | str | os.PathLike | None = None,
             progress: Progress | None = None) -> list[Path]:
    """Fetch data set ``name`` into ``data_dir`` (``bench ... --download``); returns its files.
    The built-in data sets (digits, synthetic) need nothing and return ``[]``. ``mirror``,
    ``checksums``, ``progress``: see :func:`models.download.download_dataset`. Offline, an
    HTTP error or a checksum mismatch: one :class:`BenchError` line."""
    if name not in OFFICIAL:
        return []
    if data_dir is None:
        raise BenchError(f"--download: give the folder to download {name} into with --data-dir")
    with user_errors(DownloadError, prefix=f"--dataset {name}: "):
        return download_dataset(name, data_dir, mirror=mirror, checksums=checksums, progress=progress)
