"""The one memory layout of faultbench: bit encoding, packing order and addresses.

The exporter, the firmware (``firmware/FORMAT.md`` restates this in prose for C), the
fault models and the fault-map format all use this module; nothing else defines a layout.
numpy only: ``drivers/`` imports it without torch.

Encodings (ALGORITHMS.md 1 and 7):

* ``binary``: one bit per weight, **bit 1 means -1, bit 0 means +1** (a sign bit).
* ``ternary``: a WAGE weight in {-1, 0, +1} stored as two bit planes of the binary
  packing: the *sign* plane (1 = negative) followed by the *nonzero* plane (1 = |w| = 1).
* ``int8``: a signed 8-bit code in two's complement, four codes per 32-bit word, code
  ``4k + j`` in byte ``j`` (little-endian) of word ``k``.

Packing: a layer's weight tensor is viewed as *rows*, one per output unit. Fully connected
``[out, in]`` gives rows of ``in`` weights; conv ``[out, in_c, kh, kw]`` gives rows of
``kh * kw * in_c`` weights ordered (kh, kw, in_c) with the channel fastest (the order in
which the firmware's im2col gathers a patch). Each row starts on a 32-bit word boundary:
weight ``k`` of a binary row is bit ``k % 32`` of word ``k // 32`` of that row. Padding
bits are 0 (i.e. +1); the kernels pad activations with 0 too, so padding never changes a
popcount.

Memory map: layers are placed one after another from word address 0 of the weight memory
in network order, each region starting on a ``REGION_ALIGN_WORDS`` boundary. Bit ``b`` of
word ``a`` has the global *bit address* ``32 * a + b``; persistent faults and fault maps
are indexed by it.
"""

from __future__ import annotations

from dataclasses import dataclass, asdict
from typing import Iterable, Sequence

import numpy as np

LAYOUT_VERSION = 1
WORD_BITS = 32
REGION_ALIGN_WORDS = 4  # 16-byte aligned regions (friendly to word and DMA loops)

ENCODINGS = ("binary", "ternary", "int8")
BITS_PER_WEIGHT = {"binary": 1, "ternary": 2, "int8": 8}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def row_shape(weight_shape: Sequence[int]) -> tuple[int, int]:
    """(rows, row_length) of a weight tensor of torch shape ``[out, in]`` or ``[out, in_c, kh, kw]``."""
    if len(weight_shape) == 2:
        return int(weight_shape[0]), int(weight_shape[1])
    if len(weight_shape) == 4:
        out, in_c, kh, kw = (int(s) for s in weight_shape)
        return out, in_c * kh * kw
    raise ValueError(f"unsupported weight shape {tuple(weight_shape)}: expected 2-D (fc) or 4-D (conv)")


def to_rows(weight: np.ndarray) -> np.ndarray:
    """Torch-order weights -> ``[rows, row_length]`` in layout order (conv: kh, kw, in_c)."""
    w = np.asarray(weight)
    if w.ndim == 2:
        return w
    if w.ndim == 4:
        return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    raise ValueError(f"unsupported weight shape {w.shape}")


def from_rows(rows: np.ndarray, weight_shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`to_rows`."""
    if len(weight_shape) == 2:
        return rows.reshape(weight_shape)
    out, in_c, kh, kw = weight_shape
    return rows.reshape(out, kh, kw, in_c).transpose(0, 3, 1, 2)


def words_per_row(row_length: int, encoding: str) -> int:
    """32-bit words one row takes (for ``ternary``: per bit plane)."""
    if encoding in ("binary", "ternary"):
        return _ceil_div(row_length, WORD_BITS)
    if encoding == "int8":
        return _ceil_div(row_length, 4)
    raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")


def region_words(weight_shape: Sequence[int], encoding: str) -> int:
    rows, k = row_shape(weight_shape)
    planes = 2 if encoding == "ternary" else 1
    return planes * rows * words_per_row(k, encoding)


# --- bit codes <-> values -------------------------------------------------------------

def binary_bits(values: np.ndarray) -> np.ndarray:
    """Sign bit of each value: 1 for negative, 0 otherwise (``sign(0) = +1``)."""
    return (np.asarray(values) < 0).astype(np.uint8)


def bits_to_binary(bits: np.ndarray) -> np.ndarray:
    """Bits -> {+1, -1} as int8 (bit 1 = -1)."""
    return (1 - 2 * np.asarray(bits, dtype=np.int8)).astype(np.int8)


# --- packing --------------------------------------------------------------------------

def pack_bit_rows(bits: np.ndarray) -> np.ndarray:
    """``[rows, K]`` of 0/1 -> ``[rows, ceil(K/32)]`` uint32, bit k%32 of word k//32."""
    bits = np.asarray(bits, dtype=np.uint8)
    rows, k = bits.shape
    wpr = _ceil_div(k, WORD_BITS)
    padded = np.zeros((rows, wpr * WORD_BITS), dtype=np.uint8)
    padded[:, :k] = bits
    by = np.packbits(padded.reshape(rows, wpr, 4, 8), axis=-1, bitorder="little")
    return by.reshape(rows, wpr, 4).view("<u4").reshape(rows, wpr).astype(np.uint32)


def unpack_bit_rows(words: np.ndarray, row_length: int) -> np.ndarray:
    """Inverse of :func:`pack_bit_rows` (drops padding)."""
    words = np.ascontiguousarray(words, dtype="<u4")
    rows, wpr = words.shape
    by = words.view(np.uint8).reshape(rows, wpr, 4)
    bits = np.unpackbits(by, axis=-1, bitorder="little").reshape(rows, wpr * WORD_BITS)
    return bits[:, :row_length]


def pack_int8_rows(codes: np.ndarray) -> np.ndarray:
    """``[rows, K]`` int8 -> ``[rows, ceil(K/4)]`` uint32 (two's complement, LE bytes)."""
    codes = np.asarray(codes, dtype=np.int8)
    rows, k = codes.shape
    wpr = _ceil_div(k, 4)
    padded = np.zeros((rows, wpr * 4), dtype=np.int8)
    padded[:, :k] = codes
    return padded.view("<u4").reshape(rows, wpr).astype(np.uint32)


def unpack_int8_rows(words: np.ndarray, row_length: int) -> np.ndarray:
    words = np.ascontiguousarray(words, dtype="<u4")
    return words.view(np.int8).reshape(words.shape[0], -1)[:, :row_length]


def pack_weights(weight: np.ndarray, encoding: str) -> np.ndarray:
    """Torch-order weight values -> the layer's region as a flat uint32 array.

    ``binary`` takes real values (sign taken), ``ternary`` values in {-1, 0, 1},
    ``int8`` integer codes in [-128, 127].
    """
    rows = to_rows(np.asarray(weight))
    if encoding == "binary":
        return pack_bit_rows(binary_bits(rows)).ravel()
    if encoding == "ternary":
        sign = pack_bit_rows(binary_bits(rows))
        nonzero = pack_bit_rows((rows != 0).astype(np.uint8))
        return np.concatenate([sign.ravel(), nonzero.ravel()])
    if encoding == "int8":
        return pack_int8_rows(rows).ravel()
    raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")


def unpack_weights(words: np.ndarray, weight_shape: Sequence[int], encoding: str) -> np.ndarray:
    """Region words -> torch-order weights (binary/ternary as int8 in {-1,0,1}, int8 codes)."""
    rows, k = row_shape(weight_shape)
    wpr = words_per_row(k, encoding)
    words = np.asarray(words, dtype=np.uint32)
    if encoding == "binary":
        vals = bits_to_binary(unpack_bit_rows(words.reshape(rows, wpr), k))
    elif encoding == "ternary":
        half = rows * wpr
        sign = unpack_bit_rows(words[:half].reshape(rows, wpr), k)
        nonzero = unpack_bit_rows(words[half:].reshape(rows, wpr), k)
        vals = (bits_to_binary(sign) * nonzero).astype(np.int8)
    elif encoding == "int8":
        vals = unpack_int8_rows(words.reshape(rows, wpr), k)
    else:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")
    return from_rows(vals, weight_shape)


# --- the memory map -------------------------------------------------------------------

@dataclass(frozen=True)
class LayerRegion:
    """Where one layer's weights live in the weight memory."""

    name: str
    weight_shape: tuple[int, ...]
    encoding: str
    base_word: int
    n_words: int

    @property
    def bits_per_weight(self) -> int:
        return BITS_PER_WEIGHT[self.encoding]

    @property
    def end_word(self) -> int:
        return self.base_word + self.n_words

    def to_dict(self) -> dict:
        d = asdict(self)
        d["weight_shape"] = list(self.weight_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LayerRegion":
        return cls(d["name"], tuple(d["weight_shape"]), d["encoding"], int(d["base_word"]), int(d["n_words"]))


def memory_map(layers: Iterable[tuple[str, Sequence[int], str]], base_word: int = 0) -> list[LayerRegion]:
    """Place ``(name, weight_shape, encoding)`` layers in order, each region aligned."""
    regions, addr = [], base_word
    for name, shape, encoding in layers:
        addr = _ceil_div(addr, REGION_ALIGN_WORDS) * REGION_ALIGN_WORDS
        n = region_words(shape, encoding)
        regions.append(LayerRegion(name, tuple(int(s) for s in shape), encoding, addr, n))
        addr += n
    return regions


def total_words(regions: Sequence[LayerRegion]) -> int:
    return max((r.end_word for r in regions), default=0)


def bit_addresses(region: LayerRegion) -> np.ndarray:
    """Global bit address of every stored bit of a layer, in torch weight order.

    Shape ``weight_shape + (bits_per_weight,)``; for ``ternary`` the last axis is
    (sign, nonzero), for ``int8`` bit position 0 (LSB) .. 7 (MSB). A fault model indexed by
    bit address therefore hits exactly the weights that the same faulty cells hit on the board.
    """
    rows, k = row_shape(region.weight_shape)
    wpr = words_per_row(k, region.encoding)
    r = np.arange(rows, dtype=np.int64)[:, None]
    c = np.arange(k, dtype=np.int64)[None, :]
    if region.encoding in ("binary", "ternary"):
        word = region.base_word + r * wpr + c // WORD_BITS
        addr = (word * WORD_BITS + c % WORD_BITS)[..., None]
        if region.encoding == "ternary":
            addr = np.concatenate([addr, addr + rows * wpr * WORD_BITS], axis=-1)
    else:  # int8: byte c % 4 of word c // 4
        word = region.base_word + r * wpr + c // 4
        first = word * WORD_BITS + (c % 4) * 8
        addr = first[..., None] + np.arange(8, dtype=np.int64)
    nb = addr.shape[-1]
    if len(region.weight_shape) == 2:
        return addr
    out, in_c, kh, kw = region.weight_shape
    return addr.reshape(out, kh, kw, in_c, nb).transpose(0, 3, 1, 2, 4)
