"""The firmware's host kernels called from Python (ctypes; numpy only, no torch).

``firmware/build/host/libfbkernels.so`` (``make -C firmware libkernels``) holds the fast and
reference kernels of ``firmware/include/kernels.h`` plus batch entry points (one call per
layer for ``n`` inputs). The library is built on first use (make is incremental: a changed
kernel source rebuilds it). Tensors follow the firmware's layouts: binary activations are
packed HWC bit streams (``fb_words(h*w*c)`` uint32 words per input, bit 1 = -1), int8 and
int32 tensors are HWC arrays, weights are the packed rows of ``firmware/FORMAT.md`` A.2.
Every function allocates its outputs and scratch here (the caller owns buffers in C).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from ctypes import POINTER, c_int8, c_int32, c_uint8, c_uint16, c_uint32
from functools import lru_cache
from pathlib import Path

import numpy as np

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"
LIBRARY = FIRMWARE_DIR / "build" / "host" / "libfbkernels.so"


class KernelsNativeError(RuntimeError):
    """The kernel library could not be built or loaded; the message says why in one line."""


class ConvShape(ctypes.Structure):
    """``fb_conv_shape`` (kernels.h)."""

    _fields_ = [("in_h", c_uint16), ("in_w", c_uint16), ("in_c", c_uint16), ("out_c", c_uint16),
                ("kh", c_uint8), ("kw", c_uint8), ("stride", c_uint8), ("pad", c_uint8)]

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.pad - self.kh) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.pad - self.kw) // self.stride + 1

    @property
    def k(self) -> int:
        return self.kh * self.kw * self.in_c


def words(bits: int) -> int:
    """32-bit words holding ``bits`` bits (``fb_words``)."""
    return (bits + 31) // 32


_U32, _I32, _I8 = POINTER(c_uint32), POINTER(c_int32), POINTER(c_int8)
_SHAPE = POINTER(ConvShape)
_SIGNATURES = {  # name: (restype, argtypes)
    "fb_bin_fc_fast": (None, [_U32, _U32, c_uint32, c_uint32, _I32]),
    "fb_bin_fc_ref": (None, [_U32, _U32, c_uint32, c_uint32, _I32]),
    "fb_int8_fc_fast": (None, [_I8, _U32, c_uint32, c_uint32, _I32]),
    "fb_int8_fc_ref": (None, [_I8, _U32, c_uint32, c_uint32, _I32]),
    "fb_bin_conv_buffer_size": (c_uint32, [_SHAPE]),
    "fb_int8_conv_buffer_size": (c_uint32, [_SHAPE]),
    "fb_bin_conv_fast": (None, [_U32, _SHAPE, _U32, _I32, _U32]),
    "fb_bin_conv_ref": (None, [_U32, _SHAPE, _U32, _I32]),
    "fb_int8_conv_fast": (None, [_I8, _SHAPE, _U32, _I32, _U32]),
    "fb_int8_conv_ref": (None, [_I8, _SHAPE, _U32, _I32]),
    "fb_bin_fc_batch": (None, [_U32, c_uint32, c_uint32, _U32, c_uint32, c_uint32, _I32]),
    "fb_int8_fc_batch": (None, [_I8, c_uint32, c_uint32, _U32, c_uint32, c_uint32, _I32]),
    "fb_bin_conv_batch": (None, [_U32, c_uint32, c_uint32, _SHAPE, _U32, _I32, _U32]),
    "fb_int8_conv_batch": (None, [_I8, c_uint32, c_uint32, _SHAPE, _U32, _I32, _U32]),
    "fb_maxpool_i32_batch": (None, [_I32, c_uint32] + [c_uint32] * 7 + [_I32]),
    "fb_bin_maxpool_batch": (None, [_U32, c_uint32] + [c_uint32] * 7 + [_U32]),
    "fb_threshold_batch": (None, [_I32, c_uint32, c_uint32, c_uint32, _I32, _U32, _U32]),
    "fb_int8_planes_words": (c_uint32, [c_uint32]),
    "fb_int8_planes_batch": (None, [_I8, c_uint32, c_uint32, c_uint32, _U32, _I32]),
    "fb_int8_fc_planes_batch": (None, [_U32, _I32, c_uint32, _U32, c_uint32, c_uint32, _I32]),
    "fb_int8_fc_update_batch": (None, [_I8, c_uint32, c_uint32, _U32, _U32, _I32, c_uint32, c_uint32, _I32]),
}


def _make() -> None:
    """``make -C firmware libkernels`` (incremental); an existing library is used when no
    toolchain is there to check it."""
    missing = [tool for tool in ("make", "cc") if shutil.which(tool) is None]
    if missing:
        if LIBRARY.exists():
            return
        raise KernelsNativeError(f"cannot build {LIBRARY.relative_to(FIRMWARE_DIR.parent)}: {' and '.join(missing)} "
                                 f"not found (sudo apt-get install -y build-essential)")
    r = subprocess.run(["make", "-C", str(FIRMWARE_DIR), "libkernels"], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        last = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["no output"]
        raise KernelsNativeError(f"make -C firmware libkernels failed: {last[0]}")


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The loaded kernel library (built first if needed), argument types declared."""
    _make()
    try:
        lib = ctypes.CDLL(str(LIBRARY))
    except OSError as exc:
        raise KernelsNativeError(f"cannot load {LIBRARY}: {exc}") from None
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def _ptr(a: np.ndarray, ctype):
    return a.ctypes.data_as(POINTER(ctype))


def _array(a, dtype, name: str) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.ndim < 1:
        raise ValueError(f"{name}: expected an array, got a scalar")
    return a


def _check_words(w: np.ndarray, need: int, what: str) -> None:
    if w.size < need:
        raise ValueError(f"{what}: {w.size} weight words, the layer needs {need}")


# --- binary weights, binary ("bin": packed words) or int8 activations --------------------------
_ACTIVATIONS = {"bin": (np.uint32, c_uint32), "int8": (np.int8, c_int8)}


def _input_len(kind: str, n_values: int) -> int:
    """Array entries one input of ``n_values`` activations takes (bin: packed words)."""
    return words(n_values) if kind == "bin" else n_values


def _fc(kind: str, x, w, k: int, n_out: int, reference: bool) -> np.ndarray:
    dtype, ctype = _ACTIVATIONS[kind]
    x, w = _array(x, dtype, "x"), _array(w, np.uint32, "w")
    _check_words(w, n_out * words(k), f"{kind}_fc")
    out = np.empty(n_out, dtype=np.int32)
    getattr(library(), f"fb_{kind}_fc_{'ref' if reference else 'fast'}")(_ptr(x, ctype), _ptr(w, c_uint32), k, n_out,
                                                                        _ptr(out, c_int32))
    return out


def _conv(kind: str, x, shape: ConvShape, w, reference: bool) -> np.ndarray:
    dtype, ctype = _ACTIVATIONS[kind]
    x, w = _array(x, dtype, "x"), _array(w, np.uint32, "w")
    _check_words(w, shape.out_c * words(shape.k), f"{kind}_conv")
    out = np.empty((shape.out_h, shape.out_w, shape.out_c), dtype=np.int32)
    lib = library()
    if reference:
        getattr(lib, f"fb_{kind}_conv_ref")(_ptr(x, ctype), ctypes.byref(shape), _ptr(w, c_uint32), _ptr(out, c_int32))
    else:
        buf = np.empty(getattr(lib, f"fb_{kind}_conv_buffer_size")(ctypes.byref(shape)), dtype=np.uint32)
        getattr(lib, f"fb_{kind}_conv_fast")(_ptr(x, ctype), ctypes.byref(shape), _ptr(w, c_uint32), _ptr(out, c_int32),
                                             _ptr(buf, c_uint32))
    return out


def _fc_batch(kind: str, x, w, k: int, n_out: int) -> np.ndarray:
    dtype, ctype = _ACTIVATIONS[kind]
    x, w = _array(x, dtype, "x"), _array(w, np.uint32, "w")
    _check_words(w, n_out * words(k), f"{kind}_fc_batch")
    n, stride = x.shape[0], int(np.prod(x.shape[1:]))
    if stride < _input_len(kind, k):
        raise ValueError(f"{kind}_fc_batch: inputs of {stride} entries, k={k} needs {_input_len(kind, k)}")
    out = np.empty((n, n_out), dtype=np.int32)
    getattr(library(), f"fb_{kind}_fc_batch")(_ptr(x, ctype), stride, n, _ptr(w, c_uint32), k, n_out, _ptr(out, c_int32))
    return out


def _conv_batch(kind: str, x, shape: ConvShape, w) -> np.ndarray:
    dtype, ctype = _ACTIVATIONS[kind]
    x, w = _array(x, dtype, "x"), _array(w, np.uint32, "w")
    _check_words(w, shape.out_c * words(shape.k), f"{kind}_conv_batch")
    n, stride = x.shape[0], int(np.prod(x.shape[1:]))
    need = _input_len(kind, shape.in_h * shape.in_w * shape.in_c)
    if stride < need:
        raise ValueError(f"{kind}_conv_batch: inputs of {stride} entries, the shape needs {need}")
    lib = library()
    out = np.empty((n, shape.out_h, shape.out_w, shape.out_c), dtype=np.int32)
    buf = np.empty(getattr(lib, f"fb_{kind}_conv_buffer_size")(ctypes.byref(shape)), dtype=np.uint32)
    getattr(lib, f"fb_{kind}_conv_batch")(_ptr(x, ctype), stride, n, ctypes.byref(shape), _ptr(w, c_uint32),
                                          _ptr(out, c_int32), _ptr(buf, c_uint32))
    return out


def bin_fc(x: np.ndarray, w: np.ndarray, k: int, n_out: int, reference: bool = False) -> np.ndarray:
    """``dot(x, w_o)`` of packed activations ``x`` (``words(k)`` words) and ``n_out`` rows."""
    return _fc("bin", x, w, k, n_out, reference)


def int8_fc(x: np.ndarray, w: np.ndarray, k: int, n_out: int, reference: bool = False) -> np.ndarray:
    """``dot(x, w_o)`` of ``k`` int8 codes ``x`` and ``n_out`` binary rows."""
    return _fc("int8", x, w, k, n_out, reference)


def bin_conv(x: np.ndarray, shape: ConvShape, w: np.ndarray, reference: bool = False) -> np.ndarray:
    """Binary conv of one packed HWC input: int32 ``[out_h, out_w, out_c]``."""
    return _conv("bin", x, shape, w, reference)


def int8_conv(x: np.ndarray, shape: ConvShape, w: np.ndarray, reference: bool = False) -> np.ndarray:
    """Conv of one int8 HWC input with binary weights: int32 ``[out_h, out_w, out_c]``."""
    return _conv("int8", x, shape, w, reference)


def bin_fc_batch(x: np.ndarray, w: np.ndarray, k: int, n_out: int) -> np.ndarray:
    """``[n, >= words(k)]`` packed activations -> int32 ``[n, n_out]``."""
    return _fc_batch("bin", x, w, k, n_out)


def int8_fc_batch(x: np.ndarray, w: np.ndarray, k: int, n_out: int) -> np.ndarray:
    """``[n, >= k]`` int8 codes -> int32 ``[n, n_out]``."""
    return _fc_batch("int8", x, w, k, n_out)


def bin_conv_batch(x: np.ndarray, shape: ConvShape, w: np.ndarray) -> np.ndarray:
    """``[n, words(h*w*c)]`` packed HWC inputs -> int32 ``[n, out_h, out_w, out_c]``."""
    return _conv_batch("bin", x, shape, w)


def int8_conv_batch(x: np.ndarray, shape: ConvShape, w: np.ndarray) -> np.ndarray:
    """``[n, h, w, c]`` int8 HWC inputs -> int32 ``[n, out_h, out_w, out_c]``."""
    return _conv_batch("int8", x, shape, w)


def maxpool_i32_batch(z: np.ndarray, p: int, stride: int, out_h: int, out_w: int) -> np.ndarray:
    """int32 ``[n, h, w, c]`` -> ``[n, out_h, out_w, c]`` (window ``p``, no padding)."""
    z = _array(z, np.int32, "z")
    n, h, w, c = z.shape
    out = np.empty((n, out_h, out_w, c), dtype=np.int32)
    library().fb_maxpool_i32_batch(_ptr(z, c_int32), n, h, w, c, p, stride, out_h, out_w, _ptr(out, c_int32))
    return out


def bin_maxpool_batch(x: np.ndarray, h: int, w: int, c: int, p: int, stride: int, out_h: int, out_w: int) -> np.ndarray:
    """Packed ``[n, words(h*w*c)]`` -> ``[n, words(out_h*out_w*c)]`` (max of +-1 = AND of the bits)."""
    x = _array(x, np.uint32, "x")
    n = x.shape[0]
    if x.size != n * words(h * w * c):
        raise ValueError(f"bin_maxpool_batch: {x.size} words for {n} inputs of {h}x{w}x{c} bits")
    out = np.empty((n, words(out_h * out_w * c)), dtype=np.uint32)
    library().fb_bin_maxpool_batch(_ptr(x, c_uint32), n, h, w, c, p, stride, out_h, out_w, _ptr(out, c_uint32))
    return out


def threshold_batch(acc: np.ndarray, tau: np.ndarray, flip_words: np.ndarray) -> np.ndarray:
    """int32 ``[n, n_pix, c]`` (or ``[n, c]``) -> packed ``[n, words(n_pix*c)]``: bit = (acc < tau) XOR flip."""
    acc = _array(acc, np.int32, "acc")
    n, c = acc.shape[0], acc.shape[-1]
    n_pix = int(np.prod(acc.shape[1:-1]))
    tau, flip_words = _array(tau, np.int32, "tau"), _array(flip_words, np.uint32, "flip")
    if tau.size != c or flip_words.size < words(c):
        raise ValueError(f"threshold_batch: {c} channels, tau has {tau.size}, flip {flip_words.size} words")
    out = np.empty((n, words(n_pix * c)), dtype=np.uint32)
    library().fb_threshold_batch(_ptr(acc, c_int32), n, n_pix, c, _ptr(tau, c_int32), _ptr(flip_words, c_uint32),
                                 _ptr(out, c_uint32))
    return out


def int8_planes_batch(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Bit planes ``[n, 8 * words(k)]`` and sums ``[n]`` of ``[n, >= k]`` int8 codes (first
    ``k`` of each row), for :func:`int8_fc_planes_batch`."""
    x = _array(x, np.int8, "x")
    n, stride = x.shape[0], int(np.prod(x.shape[1:]))
    if stride < k:
        raise ValueError(f"int8_planes_batch: inputs of {stride} codes, k={k}")
    lib = library()
    planes = np.empty((n, lib.fb_int8_planes_words(k)), dtype=np.uint32)
    sx = np.empty(n, dtype=np.int32)
    lib.fb_int8_planes_batch(_ptr(x, c_int8), stride, n, k, _ptr(planes, c_uint32), _ptr(sx, c_int32))
    return planes, sx


def int8_fc_planes_batch(planes: np.ndarray, sx: np.ndarray, w: np.ndarray, k: int, n_out: int) -> np.ndarray:
    """``dot(x_i, w_o)`` from the planes and sums of :func:`int8_planes_batch`: int32 ``[n, n_out]``."""
    planes, sx, w = _array(planes, np.uint32, "planes"), _array(sx, np.int32, "sx"), _array(w, np.uint32, "w")
    _check_words(w, n_out * words(k), "int8_fc_planes_batch")
    n = len(sx)
    if planes.size != n * 8 * words(k):
        raise ValueError(f"int8_fc_planes_batch: {planes.size} plane words for {n} inputs of k={k}")
    out = np.empty((n, n_out), dtype=np.int32)
    library().fb_int8_fc_planes_batch(_ptr(planes, c_uint32), _ptr(sx, c_int32), n, _ptr(w, c_uint32), k, n_out,
                                      _ptr(out, c_int32))
    return out


def int8_fc_update_batch(x: np.ndarray, out: np.ndarray, row: np.ndarray, col: np.ndarray, coef: np.ndarray) -> None:
    """In place: ``out[i, row[f]] += coef[f] * x[i, col[f]]`` for every input ``i`` of int8 ``x``
    ``[n, K]`` and change ``f`` (int32 ``out`` ``[n, n_out]``, C-contiguous)."""
    x = _array(x, np.int8, "x")
    if out.dtype != np.int32 or not out.flags.c_contiguous or out.ndim != 2 or len(out) != len(x):
        raise ValueError("int8_fc_update_batch: out must be a C-contiguous int32 [n, n_out] array")
    row, col, coef = _array(row, np.uint32, "row"), _array(col, np.uint32, "col"), _array(coef, np.int32, "coef")
    n, stride, n_out = len(x), int(np.prod(x.shape[1:])), out.shape[1]
    if len(row) != len(col) or len(row) != len(coef) or (len(row) and (row.max() >= n_out or col.max() >= stride)):
        raise ValueError("int8_fc_update_batch: row/col/coef of different lengths or out of range")
    library().fb_int8_fc_update_batch(_ptr(x, c_int8), stride, n, _ptr(row, c_uint32), _ptr(col, c_uint32),
                                      _ptr(coef, c_int32), len(row), n_out, _ptr(out, c_int32))
