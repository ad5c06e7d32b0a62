"""The lab state file shared by the supply simulator and the host firmware (docs/VIRTUAL_LAB.md).

64 bytes, little-endian: magic ``FBLS``, u32 version, f64 rail voltage, u32 output on,
u32 reserved, u64 words read, u64 words written, u64 time of the latest access (ns,
CLOCK_MONOTONIC, the clock of Python's ``time.monotonic``), reserved to 64 bytes.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from drivers import atomic

MAGIC = b"FBLS"
VERSION = 1
SIZE = 64
_HEADER = struct.Struct("<4sI")
_RAIL = struct.Struct("<dI")      # at offset 8
_ACTIVITY = struct.Struct("<QQQ")  # at offset 24


class LabState:
    """Read/write view of a lab state file (the supply simulator creates it)."""

    def __init__(self, path: str | Path, create: bool = False):
        self.path = Path(path)
        if create:
            data = bytearray(SIZE)
            _HEADER.pack_into(data, 0, MAGIC, VERSION)
            atomic.write_bytes(self.path, bytes(data))
        with open(self.path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), SIZE)
        magic, version = _HEADER.unpack_from(self._map, 0)
        if magic != MAGIC or version != VERSION:
            self._map.close()
            raise ValueError(f"lab state file {self.path}: not a version-{VERSION} lab state file (magic {MAGIC!r})")

    def set_rail(self, volts: float, output_on: bool) -> None:
        _RAIL.pack_into(self._map, 8, float(volts) if output_on else 0.0, int(output_on))

    def rail(self) -> tuple[float, bool]:
        volts, on = _RAIL.unpack_from(self._map, 8)
        return volts, bool(on)

    def activity(self) -> tuple[int, int, float]:
        """(cumulative words read, words written, time.monotonic() of the latest access)."""
        reads, writes, ns = _ACTIVITY.unpack_from(self._map, 24)
        return reads, writes, ns * 1e-9

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
