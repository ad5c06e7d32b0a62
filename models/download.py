"""Download the standard data sets into a data folder: checksummed, resumable, one clear line
on failure (``bench train --download``, ``bench run --download``, :func:`download_dataset`).

Where the files go (the places :mod:`models.data` looks first):

* ``mnist``: ``DATA_DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``;
* ``fashion-mnist``: ``DATA_DIR/fashion-mnist/`` the same four names;
* ``cifar10``: ``DATA_DIR/cifar-10-python.tar.gz``, extracted to ``DATA_DIR/cifar-10-batches-py/``
  (the archive is kept, so a second ``--download`` only verifies).

Where they come from: the official locations (:data:`OFFICIAL`), or a mirror, given as
``mirror=`` / ``--mirror URL`` or the environment variable ``FAULTBENCH_DATA_MIRROR``, that
serves ``MIRROR/<data set>/<file name>`` (e.g. ``MIRROR/mnist/train-images-idx3-ubyte.gz``).
The standard proxy variables (``https_proxy``, ``http_proxy``, ``no_proxy``) apply as usual.

Every file is checked against its SHA-256 (the official files' digests, or a table passed in
for a mirror that serves other files, e.g. a test server). A download goes to ``FILE.part``
and is renamed only once its digest matches; an interrupted one resumes from the bytes
already there (HTTP ``Range``), also in a later run. A file whose digest differs is removed
(never a user's own file: one already in place that does not match is reported, not deleted).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from drivers import atomic

MIRROR_ENV = "FAULTBENCH_DATA_MIRROR"
TIMEOUT_S = 30.0       # per connection attempt and per read (socket timeout) [choice]
ATTEMPTS = 5           # connections per file; each resumes where the previous one stopped [choice]
CHUNK = 1 << 16
USER_AGENT = "faultbench-download"

Progress = Callable[[str, int, "int | None"], None]   # (file name, bytes done, bytes total or None)


class DownloadError(RuntimeError):
    """A download failed (offline, HTTP error, checksum mismatch); one line saying what to do."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    sha256: str
    size: int | None = None   # bytes, when known: progress total and a complete ``.part`` check


@dataclass(frozen=True)
class RemoteDataset:
    """One data set's files at its official location and where they land under the data folder."""

    name: str
    base_url: str
    folder: str                      # relative to the data folder
    files: tuple[RemoteFile, ...]
    extract_dir: str | None = None   # a tar.gz to unpack into this folder (relative to the data folder)


_IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz")

#: Official files, their SHA-256 and sizes (the digests torchvision, TensorFlow Datasets and
#: Keras pin for these files; MNIST from PyTorch's mirror of LeCun's files, which stay
#: byte-identical, Fashion-MNIST from Zalando's bucket, CIFAR-10 from its author's page).
OFFICIAL: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset("mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/", "mnist", tuple(
        RemoteFile(n, h, s) for n, h, s in zip(_IDX, (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
            (9912422, 28881, 1648877, 4542)))),
    "fashion-mnist": RemoteDataset(
        "fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "fashion-mnist", tuple(
            RemoteFile(n, h, s) for n, h, s in zip(_IDX, (
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
                (26421880, 29515, 4422102, 5148)))),
    "cifar10": RemoteDataset("cifar10", "https://www.cs.toronto.edu/~kriz/", "", (
        RemoteFile("cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                   170498071),), extract_dir="cifar-10-batches-py"),
}


def read_checksums(path: str | os.PathLike) -> dict[str, str]:
    """A ``sha256sum`` listing (``HEX  NAME`` per line, ``*NAME`` for binary mode) as a mapping."""
    table = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise DownloadError(f"--checksums {path}: cannot read ({exc.strerror or exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or not name or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise DownloadError(f"--checksums {path} line {number}: expected '<64 hex digits>  <file name>'")
        table[name] = digest.lower()
    return table


def resolve(name: str, mirror: str | None = None, checksums: Mapping[str, str] | None = None) -> tuple[RemoteDataset, str]:
    """The data set's files (with ``checksums`` instead of the official digests, sizes then
    unknown) and the base URL they are fetched from (``mirror`` or ``$FAULTBENCH_DATA_MIRROR``
    plus ``/<name>/``, else the official one)."""
    if name not in OFFICIAL:
        raise DownloadError(f"--download: no download for data set {name!r}; downloadable: {', '.join(OFFICIAL)}")
    spec = OFFICIAL[name]
    if checksums is not None:
        missing = [f.name for f in spec.files if f.name not in checksums]
        if missing:
            raise DownloadError(f"--checksums: no SHA-256 for {', '.join(missing)} (data set {name})")
        spec = RemoteDataset(spec.name, spec.base_url, spec.folder,
                             tuple(RemoteFile(f.name, checksums[f.name].lower()) for f in spec.files), spec.extract_dir)
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    base = f"{mirror.rstrip('/')}/{name}/" if mirror else spec.base_url
    return spec, base


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _where(base: str) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    return f"--mirror URL (or {MIRROR_ENV}={mirror!r})" if mirror else f"--mirror URL or {MIRROR_ENV}"


def _fetch_once(url: str, part: Path, timeout: float, on_bytes: Callable[[int], None]) -> int | None:
    """One HTTP request appending to ``part`` from its present size; returns the full size
    when the server says it, and ``part``'s size is then that size unless the transfer broke."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **({"Range": f"bytes={have}-"} if have else {})})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:   # nothing left past what we hold: the part is complete
            return have
        raise
    with response:
        total = None
        if response.status == 206:
            content_range = response.headers.get("Content-Range", "")
            start, _, rest = content_range.removeprefix("bytes ").partition("-")
            if not start.isdigit() or int(start) != have:
                raise DownloadError(f"{url}: the server resumed at byte {start or '?'} instead of {have} "
                                    f"(Content-Range {content_range!r})")
            size = rest.partition("/")[2]
            total = int(size) if size.isdigit() else None
            mode = "ab"
        else:  # 200: the whole file (a server without Range support starts over)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        on_bytes(have)
        with open(part, mode) as out:
            while block := response.read(CHUNK):
                out.write(block)
                have += len(block)
                on_bytes(have)
    return total


def fetch_file(url: str, target: Path, expected: RemoteFile, *, timeout: float = TIMEOUT_S,
               progress: Progress | None = None, attempts: int = ATTEMPTS) -> Path:
    """``url`` to ``target`` through ``target.part``: resumed across broken connections and
    earlier runs, renamed to ``target`` only when its SHA-256 is ``expected.sha256``."""
    part = target.with_name(target.name + ".part")
    report = (lambda done: progress(target.name, done, expected.size)) if progress else (lambda done: None)
    last_error = ""
    for _ in range(attempts):
        try:
            total = _fetch_once(url, part, timeout, report)
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; check the data set's address or give "
                                f"{_where(url)}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason if not isinstance(exc.reason, socket.timeout) else f"no answer within {timeout:g} s"
            raise DownloadError(f"cannot reach {url} ({reason}): offline? Connect to the network or give "
                                f"{_where(url)} (a mirror that serves <mirror>/<data set>/<file>)") from None
        except (http.client.HTTPException, OSError) as exc:  # broken mid-transfer: resume
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        have = part.stat().st_size if part.exists() else 0
        size = expected.size or total
        if size is None or have >= size:
            break
        last_error = f"connection closed at byte {have} of {size}"
    else:
        have = part.stat().st_size if part.exists() else 0
        raise DownloadError(f"{url}: download interrupted at byte {have} ({last_error}); run the same command "
                            f"again to resume from {part}")
    got = sha256_of(part)
    if got != expected.sha256:
        part.unlink()
        raise DownloadError(f"{url}: checksum mismatch: SHA-256 {got} instead of {expected.sha256}; the download was "
                            f"removed: try again, or another {_where(url)}")
    os.replace(part, target)
    return target


def _extract(archive: Path, data_dir: Path, folder: str) -> None:
    """The regular files of ``folder/`` in a tar.gz, each written atomically (those already
    there are kept); anything else (links, absolute paths, ``..``, other folders) is refused."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if member.isdir() and parts == (folder,):
                    continue
                if not member.isfile() or len(parts) != 2 or parts[0] != folder or parts[1] in ("..", "."):
                    raise DownloadError(f"{archive}: unexpected member {member.name!r} (expected files in {folder}/)")
                target = data_dir / folder / parts[1]
                if not target.exists():  # each file is written whole: one there is complete
                    atomic.write_bytes(target, tar.extractfile(member).read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{archive}: cannot extract ({exc}); remove it and download again") from None


def download_dataset(name: str, data_dir: str | os.PathLike, *, mirror: str | None = None,
                     checksums: Mapping[str, str] | str | os.PathLike | None = None,
                     progress: Progress | None = None, timeout: float = TIMEOUT_S) -> list[Path]:
    """Fetch data set ``name`` into ``data_dir`` (created if missing); returns the files.

    ``mirror``: base URL serving ``<mirror>/<name>/<file>`` (default ``$FAULTBENCH_DATA_MIRROR``,
    else the official location). ``checksums``: the SHA-256 of each file by name (a mapping or
    a ``sha256sum`` file), for a mirror that serves files other than the official ones.
    ``progress(file, bytes_done, bytes_total_or_None)`` as bytes arrive. Files already in place
    are verified, not fetched again. Failures: :class:`DownloadError`, one line.
    """
    if checksums is not None and not isinstance(checksums, Mapping):
        checksums = read_checksums(checksums)
    spec, base = resolve(name, mirror, checksums)
    data_dir = Path(data_dir)
    folder = data_dir / spec.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"--data-dir {data_dir}: cannot create {folder} ({exc.strerror or exc})") from None
    paths = []
    for remote in spec.files:
        target = folder / remote.name
        if target.exists():
            got = sha256_of(target)
            if got != remote.sha256:
                raise DownloadError(f"{target}: already there but its SHA-256 {got} is not the expected {remote.sha256}; "
                                    f"move it away to download it again")
            if progress:
                progress(remote.name, target.stat().st_size, target.stat().st_size)
        else:
            fetch_file(base + remote.name, target, remote, timeout=timeout, progress=progress)
        paths.append(target)
    if spec.extract_dir:
        _extract(paths[0], data_dir, spec.extract_dir)
    return paths


__all__ = ["DownloadError", "MIRROR_ENV", "OFFICIAL", "RemoteDataset", "RemoteFile", "download_dataset",
           "fetch_file", "read_checksums", "resolve", "sha256_of"]
