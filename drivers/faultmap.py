"""Recorded fault maps: what a region of the memory under test read back at one operating point.

On-disk format (``docs/FAULTMAP_FORMAT.md``, version :data:`FORMAT_VERSION`): an ``.npz``
(zip, no pickles) with three members:

* ``meta``: UTF-8 JSON (a 1-D uint8 array) with chip id, operating point, temperature,
  pattern, repeats, memory-layout version, timestamp, base word, word count and a checksum;
* ``written``: ``uint32[n_words]``, the words written before the reads;
* ``xor``: ``uint32[n_reads, n_words]``, per read the bits that read back wrong
  (``read = written ^ xor``), so the flipped bit addresses, the read-back (stuck) values and
  the 0->1 / 1->0 split all follow from the file.

Word ``i`` of the map is word ``base_word + i`` of the weight memory; bit ``b`` of it has the
global bit address ``32 * (base_word + i) + b`` of ``drivers.memory_layout``.
numpy only (``drivers/`` never imports torch).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from drivers import atomic
from drivers.memory_layout import LAYOUT_VERSION, WORD_BITS

FORMAT_NAME = "faultbench-faultmap"
FORMAT_VERSION = 1
SUFFIX = ".npz"
_MEMBERS = ("meta", "written", "xor")


class FaultMapError(ValueError):
    """A fault-map file that cannot be used; the message names the file and the problem."""


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _popcount(words: np.ndarray) -> int:
    return int(np.unpackbits(np.ascontiguousarray(words, dtype="<u4").view(np.uint8)).sum())


@dataclass
class FaultMap:
    """Reads of ``n_words`` words from ``base_word`` after writing ``written``.

    ``operating_point``: ``{"name": ..., "voltage_V": ...}`` for a supply voltage, or
    ``{"name": ..., "condition": ...}`` for e.g. an RRAM programming condition.
    ``repeats``: the sweep's repeat index of each read (``len == n_reads``).
    """

    written: np.ndarray
    xor: np.ndarray
    chip_id: str
    operating_point: dict
    pattern: str
    base_word: int = 0
    repeats: list[int] | None = None
    temperature_C: float | None = None
    layout_version: int = LAYOUT_VERSION
    timestamp: str = field(default_factory=_utc_now)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.written = np.ascontiguousarray(self.written, dtype=np.uint32).reshape(-1)
        self.xor = np.ascontiguousarray(self.xor, dtype=np.uint32)
        if self.xor.ndim == 1:
            self.xor = self.xor[None, :]
        if self.xor.ndim != 2 or self.xor.shape[1] != self.written.size:
            raise ValueError(f"xor has shape {self.xor.shape}; expected [n_reads, {self.written.size}]")
        if "name" not in self.operating_point:
            raise ValueError("operating_point needs a 'name'")
        self.repeats = list(range(self.n_reads)) if self.repeats is None else [int(r) for r in self.repeats]
        if len(self.repeats) != self.n_reads:
            raise ValueError(f"{len(self.repeats)} repeats for {self.n_reads} reads")

    @classmethod
    def from_reads(cls, written: np.ndarray, reads: Sequence[np.ndarray], **meta) -> "FaultMap":
        """Build a map from the written words and the raw words read back (one array per read)."""
        written = np.asarray(written, dtype=np.uint32).reshape(-1)
        xor = np.stack([np.asarray(r, dtype=np.uint32).reshape(-1) ^ written for r in reads])
        return cls(written=written, xor=xor, **meta)

    # --- views -----------------------------------------------------------------------
    @property
    def n_words(self) -> int:
        return int(self.written.size)

    @property
    def n_reads(self) -> int:
        return int(self.xor.shape[0])

    @property
    def n_bits(self) -> int:
        return self.n_words * WORD_BITS

    @property
    def first_bit(self) -> int:
        return self.base_word * WORD_BITS

    def read(self, i: int = 0) -> np.ndarray:
        """The words that read ``i`` returned."""
        return self.written ^ self.xor[i]

    def flipped_addresses(self, i: int = 0) -> np.ndarray:
        """Sorted global bit addresses that read ``i`` returned flipped."""
        bits = np.unpackbits(self.xor[i].astype("<u4").view(np.uint8), bitorder="little")
        return np.flatnonzero(bits).astype(np.int64) + self.first_bit

    def bit_plane(self, words: np.ndarray) -> np.ndarray:
        """``uint32[..., n_words]`` -> ``uint8[..., n_bits]`` indexed by bit address - first_bit."""
        w = np.ascontiguousarray(words, dtype="<u4")
        return np.unpackbits(w.view(np.uint8), axis=-1, bitorder="little")

    def flip_counts(self, i: int | None = None) -> tuple[int, int]:
        """``(flips 0->1, flips 1->0)`` of read ``i`` (all reads summed when ``None``)."""
        xor = self.xor if i is None else self.xor[i:i + 1]
        return _popcount(xor & ~self.written), _popcount(xor & self.written)

    def ber(self) -> dict:
        """Bit-error rates over all reads: total and split by written value (ALGORITHMS 2)."""
        ones = _popcount(self.written)
        zeros = self.n_bits - ones
        f01, f10 = self.flip_counts()
        r = self.n_reads
        return {"ber": (f01 + f10) / (r * self.n_bits),
                "ber_0to1": f01 / (r * zeros) if zeros else 0.0,
                "ber_1to0": f10 / (r * ones) if ones else 0.0}

    # --- metadata ----------------------------------------------------------------------
    def metadata(self) -> dict:
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "chip_id": self.chip_id,
                "operating_point": dict(self.operating_point), "temperature_C": self.temperature_C,
                "pattern": self.pattern, "repeats": self.repeats, "layout_version": self.layout_version,
                "timestamp": self.timestamp, "base_word": self.base_word, "n_words": self.n_words,
                "n_reads": self.n_reads, "extra": self.extra}


def canonical_json(obj) -> bytes:
    """The canonical JSON of docs/FAULTMAP_FORMAT.md "Checksum": keys sorted by code point,
    ``", "`` and ``": "`` separators, ASCII with ``\\uXXXX`` escapes, integers in decimal, floats
    in their shortest round-trip form (Python ``repr``); NaN and infinities raise ValueError."""
    return json.dumps(obj, sort_keys=True, separators=(", ", ": "), ensure_ascii=True, allow_nan=False).encode("ascii")


def checksum(meta: dict, written: np.ndarray, xor: np.ndarray) -> str:
    """``sha256:`` over the canonical JSON of ``meta`` (without ``checksum``) and the words (LE)."""
    h = hashlib.sha256()
    h.update(canonical_json({k: v for k, v in meta.items() if k != "checksum"}))
    h.update(np.ascontiguousarray(written, dtype="<u4").tobytes())
    h.update(np.ascontiguousarray(xor, dtype="<u4").tobytes())
    return "sha256:" + h.hexdigest()


def write_faultmap(path: str | os.PathLike, fmap: FaultMap) -> Path:
    """Write ``fmap`` atomically (``drivers.atomic``); returns the path."""
    path = Path(path)
    meta = fmap.metadata()
    try:
        meta["checksum"] = checksum(meta, fmap.written, fmap.xor)
    except ValueError as exc:  # NaN or an infinity: not JSON
        raise FaultMapError(f"fault map {path}: metadata cannot be written ({exc})") from None
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.frombuffer(canonical_json(meta), dtype=np.uint8),
                        written=fmap.written.astype("<u4"), xor=fmap.xor.astype("<u4"))
    return atomic.write_bytes(path, buf.getvalue())


def read_faultmap(path: str | os.PathLike) -> FaultMap:
    """Read and verify a fault map; any problem raises :class:`FaultMapError` naming the file."""
    path = Path(path)

    def fail(why: str) -> FaultMapError:
        return FaultMapError(f"fault map {path}: {why}")

    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [m for m in _MEMBERS if m not in z.files]
            if missing:
                raise fail(f"not a faultbench fault map (missing members {missing})")
            arrays = {m: z[m] for m in _MEMBERS}
    except FaultMapError:
        raise
    except FileNotFoundError:
        raise fail("no such file") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        raise fail(f"truncated or corrupted ({type(exc).__name__}: {exc})") from None
    def no_constant(name: str):
        raise ValueError(f"{name} is not a JSON number")

    try:
        meta = json.loads(arrays["meta"].tobytes().decode("utf-8"), parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise fail(f"metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise fail(f"metadata is a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT_NAME:
        raise fail(f"format is {meta.get('format')!r}, expected {FORMAT_NAME!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise fail(f"format_version {meta.get('format_version')!r} is not supported (this reader: {FORMAT_VERSION})")
    if meta.get("layout_version") != LAYOUT_VERSION:
        raise fail(f"recorded with memory layout version {meta.get('layout_version')}, this is version {LAYOUT_VERSION}")
    written, xor = arrays["written"], arrays["xor"]
    if written.dtype != np.uint32 or xor.dtype != np.uint32 or xor.ndim != 2 or written.ndim != 1:
        raise fail(f"arrays have unexpected types/shapes (written {written.dtype}{written.shape}, xor {xor.dtype}{xor.shape})")
    if xor.shape != (meta.get("n_reads"), meta.get("n_words")) or written.size != meta.get("n_words"):
        raise fail(f"array shapes {written.shape}/{xor.shape} disagree with n_words={meta.get('n_words')}, "
                   f"n_reads={meta.get('n_reads')}")
    if checksum(meta, written, xor) != meta.get("checksum"):
        raise fail("checksum mismatch: the file was modified or corrupted")
    try:
        return FaultMap(written=written, xor=xor, chip_id=meta["chip_id"], operating_point=meta["operating_point"],
                        pattern=meta["pattern"], base_word=int(meta["base_word"]), repeats=meta["repeats"],
                        temperature_C=meta["temperature_C"], layout_version=meta["layout_version"],
                        timestamp=meta["timestamp"], extra=meta.get("extra", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(f"incomplete metadata ({type(exc).__name__}: {exc})") from None


#: File names ``bench characterize`` gives its maps: ``v<volts>_<pattern>.npz``.
NAME_PATTERN = re.compile(r"^v\d+\.\d+_[\w:.-]+\.npz$")


def claims_faultmap(path: str | os.PathLike) -> bool:
    """Does this ``.npz`` claim to be a fault map? Its zip members are exactly ours
    (``meta``, ``written``, ``xor``: the format's magic; extra members are refused later by
    :func:`read_faultmap`), or, for a file that is no readable
    zip (truncated, corrupted), its name is one ``bench characterize`` writes. Other ``.npz``
    files (data sets, checkpoints) do not, so a folder scan skips them."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            return {f"{m}.npy" for m in _MEMBERS} <= set(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return bool(NAME_PATTERN.match(path.name))


def scan_faultmaps(directory: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """``(maps, skipped)``: the ``.npz`` files under ``directory`` (recursively, sorted by
    path) that claim to be fault maps (:func:`claims_faultmap`), and the ones that do not."""
    files = sorted(p for p in Path(directory).rglob(f"*{SUFFIX}") if p.is_file())
    claims = [claims_faultmap(p) for p in files]
    return [p for p, c in zip(files, claims) if c], [p for p, c in zip(files, claims) if not c]


def list_faultmaps(directory: str | os.PathLike) -> list[Path]:
    """Fault-map files in ``directory`` (recursively), sorted by path; see :func:`scan_faultmaps`."""
    return scan_faultmaps(directory)[0]
