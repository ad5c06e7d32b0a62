"""Per-cell uniform draws from a chip seed: which cells of a chip are weak, and how they fail.

The virtual chip (``drivers/virtual_lab/physics.py`` and its C twin
``firmware/ports/host/vchip.c``) and the profile fault model (``models/profile/faults.py``)
draw from the same hash, so a profile calibrated on a virtual chip, with ``chip_seed`` set to
that chip's seed, picks the same cells as the chip.

Hash: splitmix64's finaliser ``mix`` [Steele et al., OOPSLA 2014]; a uniform is
``(mix(key ^ a) >> 11) * 2**-53`` with ``key = mix(seed + stream * GOLDEN)``, for a cell's
global bit address ``a`` (``drivers/memory_layout.py``).
"""

from __future__ import annotations

import numpy as np

GOLDEN = 0x9E3779B97F4A7C15
M64 = (1 << 64) - 1
#: Streams: a cell's threshold (faulty iff below the fault probability), its stuck value, and
#: RRAM write failures (drawn per write generation).
STREAM_THRESHOLD, STREAM_STUCK, STREAM_WRITE = 1, 2, 3


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic, as in C)."""
    z = np.asarray(x, dtype=np.uint64) + np.uint64(GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_key(seed: int, stream: int) -> int:
    return int(mix64(np.array([(seed + stream * GOLDEN) & M64], dtype=np.uint64))[0])


def uniforms(seed: int, stream: int, index: np.ndarray) -> np.ndarray:
    """``(mix(key ^ index) >> 11) * 2**-53`` for each uint64 index: exact doubles in [0, 1)."""
    h = mix64(np.uint64(stream_key(seed, stream)) ^ np.asarray(index, dtype=np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53
