"""glibc's malloc, tuned for blocks the size of a layer's tensors.

By default glibc hands a freed block of 128 KiB or more back to the kernel (the mmap
threshold, raised at run time to the largest block freed so far, at most 32 MiB) and trims
the top of its heap once twice that much is free there. The next tensor of that size comes
back as fresh pages, which the kernel zeroes on first touch. A training step allocates and
frees blocks the size of a layer's weights every batch (``sign(w)``, its gradient, the
straight-through mask), so which of the two modes a process drifts into decides a large share
of an epoch: an mlp of width 1 trained 880 ms or 1000-1290 ms per epoch on the same machine,
with 2.5-3 s of system time in 20 epochs against 0.6 s tuned (``benchmarks/train_overhead.py``).

:func:`tune_malloc` fixes both thresholds [choice]: ``M_MMAP_THRESHOLD`` at 32 MiB (glibc's
largest allowed value on 64-bit machines; larger blocks are still mapped and unmapped) and
``M_TRIM_THRESHOLD`` at 512 MiB (freed memory up to that much stays with the process for the
next batch). ``bench`` calls it at start, and so does every sweep trial's process. A user's
own ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` is left as it is, and outside
glibc nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 512 << 20
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds (module docstring); ``True`` if both were set."""
    if platform.libc_ver()[0] != "glibc" or any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
