"""glibc malloc tuning: a tensor-sized block stays in the heap instead of a fresh mapping."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# mapped blocks before and after a 16 MiB malloc (glibc's mallinfo2), with or without tuning
PROBE = """
import ctypes, sys
from drivers.allocator import tune_malloc
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
tuned = tune_malloc() if sys.argv[1] == "tune" else None
before = libc.mallinfo2().hblks
block = libc.malloc(16 << 20)
print(tuned, libc.mallinfo2().hblks - before)
libc.free(block)
"""

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")


def _probe(mode: str, **env) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=REPO, env=environ, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    return out[0], int(out[1])


def test_a_16_mib_block_is_mapped_by_default_and_taken_from_the_heap_once_tuned():
    assert _probe("plain") == ("None", 1)
    assert _probe("tune") == ("True", 0)


def test_the_users_own_malloc_setting_stands():
    assert _probe("tune", MALLOC_MMAP_THRESHOLD_="131072") == ("False", 1)
