"""The model blob of ``firmware/FORMAT.md`` part B: dataclasses, bytes out, bytes in.

numpy only (no torch), so the reference interpreter and host tools read blobs without
the training stack. :meth:`ModelBlob.to_bytes` writes exactly the layout of FORMAT.md B.1-B.6
and :meth:`ModelBlob.from_bytes` checks every rule a firmware parser checks (FORMAT.md B.2),
raising :class:`BlobError` with the field and layer at fault.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from drivers.memory_layout import (LAYOUT_VERSION, REGION_ALIGN_WORDS, LayerRegion, pack_bit_rows, region_words,
                                   unpack_bit_rows)

MAGIC = b"FBMB"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sHHHHHHHHHHII")  # FORMAT.md B.1
RECORD = struct.Struct("<BBBBHHHHHHBBBBBBBBbbHIII")  # FORMAT.md B.2
assert HEADER.size == 32 and RECORD.size == 40

# op codes, activation types and weight encodings (FORMAT.md B.2)
CONV, FC, MAXPOOL = 1, 2, 3
BIN, INT8, INT32 = 0, 1, 2
W_NONE, W_BINARY, W_TERNARY = 0, 1, 2
OP_NAMES = {CONV: "conv", FC: "fc", MAXPOOL: "maxpool"}
TYPE_NAMES = {BIN: "bin", INT8: "int8", INT32: "int32"}
W_ENCODINGS = {W_NONE: None, W_BINARY: "binary", W_TERNARY: "ternary"}

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
INPUT_LEVELS = (127, 128)  # BNN QuantizeInput(8) / WAGE Q_A with k_A = 8 (FORMAT.md B.5)


class BlobError(ValueError):
    """A blob that breaks FORMAT.md; the message names the field (and layer)."""


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def pooled_size(n: int, k: int, stride: int, ceil: int) -> int:
    """Max-pool output length, no padding; ``ceil`` as torch ``ceil_mode`` (FORMAT.md B.3)."""
    if not ceil:
        return (n - k) // stride + 1
    out = _ceil_div(n - k, stride) + 1
    return out - 1 if (out - 1) * stride >= n else out


@dataclass
class Layer:
    """One layer record (FORMAT.md B.2) plus its threshold parameters (B.3)."""

    op: int
    in_type: int
    w_enc: int
    out_type: int
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: tuple[int, int] = (0, 0)
    stride: int = 0
    pad: int = 0
    pool_k: int = 0
    pool_stride: int = 0
    pool_ceil: int = 0
    shift: int = 0
    act_min: int = 0
    act_max: int = 0
    base_word: int = 0
    n_words: int = 0
    tau: np.ndarray | None = None   # int32 [out_c], out_type BIN
    flip: np.ndarray | None = None  # bool [out_c], out_type BIN

    @property
    def encoding(self) -> str | None:
        return W_ENCODINGS[self.w_enc]

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Torch weight shape of the layer's region (``()`` for MAXPOOL)."""
        c, h, w = self.in_shape
        if self.op == CONV:
            return (self.out_shape[0], c, *self.kernel)
        if self.op == FC:
            return (self.out_shape[0], c * h * w)
        return ()

    @property
    def row_length(self) -> int:
        shape = self.weight_shape
        return int(np.prod(shape[1:])) if shape else 0

    def conv_shape(self) -> tuple[int, int]:
        """Spatial size of ``z`` before pooling (FORMAT.md B.3)."""
        _, h, w = self.in_shape
        if self.op == FC:
            return 1, 1
        if self.op == MAXPOOL:
            return h, w
        (kh, kw), s, p = self.kernel, self.stride, self.pad
        return (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1

    def region(self, name: str = "") -> LayerRegion:
        return LayerRegion(name, self.weight_shape, self.encoding, self.base_word, self.n_words)

    def param_bytes(self) -> int:
        c = self.out_shape[0]
        return 4 * c + 4 * _ceil_div(c, 32) if self.out_type == BIN and self.op != MAXPOOL else 0


def _pack_flips(flip: np.ndarray) -> bytes:
    """Flip bits packed as one binary row of the memory layout (bit ``o % 32`` of word ``o // 32``)."""
    return pack_bit_rows(np.asarray(flip, np.uint8)[None]).astype("<u4").tobytes()


def _unpack_flips(data: bytes, n: int) -> np.ndarray:
    return unpack_bit_rows(np.frombuffer(data, "<u4")[None], n)[0].astype(bool)


@dataclass
class ModelBlob:
    """A deployable network: input shape, layer table, weight memory size."""

    in_shape: tuple[int, int, int]
    input_levels: int
    layers: list[Layer] = field(default_factory=list)

    @property
    def n_scores(self) -> int:
        return self.layers[-1].out_shape[0]

    @property
    def weight_words(self) -> int:
        return max((l.base_word + l.n_words for l in self.layers), default=0)

    def regions(self) -> list[LayerRegion]:
        """Memory-map regions of the layers that store weights, in network order."""
        return [l.region(f"layer{i}") for i, l in enumerate(self.layers) if l.w_enc != W_NONE]

    def stored_index(self) -> list[int | None]:
        """Per blob layer (one firmware STEP each): the index of its stored layer among
        :meth:`regions`, or None for a layer without weights (max-pool)."""
        out, k = [], 0
        for layer in self.layers:
            out.append(None if layer.w_enc == W_NONE else k)
            k += layer.w_enc != W_NONE
        return out

    # --- bytes out ---------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        self.validate()
        params, offsets = [], []
        at = HEADER.size + RECORD.size * len(self.layers)
        for l in self.layers:
            if l.param_bytes():
                offsets.append(at)
                chunk = np.asarray(l.tau, dtype="<i4").tobytes() + _pack_flips(np.asarray(l.flip, bool))
                params.append(chunk)
                at += len(chunk)
            else:
                offsets.append(0)
        total = at + 4
        out = [HEADER.pack(MAGIC, FORMAT_VERSION, LAYOUT_VERSION, HEADER.size, RECORD.size,
                           len(self.layers), self.n_scores, *self.in_shape, self.input_levels, self.weight_words, total)]
        for l, off in zip(self.layers, offsets):
            out.append(RECORD.pack(l.op, l.in_type, l.w_enc, l.out_type, *l.in_shape, *l.out_shape,
                                   *l.kernel, l.stride, l.pad, l.pool_k, l.pool_stride, l.shift, l.pool_ceil,
                                   l.act_min, l.act_max, 0, l.base_word, l.n_words, off))
        body = b"".join(out + params)
        return body + struct.pack("<I", zlib.crc32(body))

    # --- bytes in ----------------------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes) -> "ModelBlob":
        data = bytes(data)
        if len(data) < HEADER.size + 4:
            raise BlobError(f"blob of {len(data)} bytes is shorter than header + CRC ({HEADER.size + 4})")
        (magic, fmt, layout, hbytes, rbytes, n_layers, n_scores, in_c, in_h, in_w, levels,
         weight_words, blob_bytes) = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise BlobError(f"header magic {magic!r}: expected {MAGIC!r}")
        if fmt != FORMAT_VERSION:
            raise BlobError(f"header format_version {fmt}: this reader knows {FORMAT_VERSION}")
        if layout != LAYOUT_VERSION:
            raise BlobError(f"header layout_version {layout}: this reader knows {LAYOUT_VERSION}")
        if (hbytes, rbytes) != (HEADER.size, RECORD.size):
            raise BlobError(f"header header_bytes/record_bytes = {hbytes}/{rbytes}: "
                            f"expected {HEADER.size}/{RECORD.size}")
        if blob_bytes != len(data):
            raise BlobError(f"header blob_bytes {blob_bytes} != {len(data)} bytes given")
        (crc,) = struct.unpack_from("<I", data, len(data) - 4)
        if crc != zlib.crc32(data[:-4]):
            raise BlobError(f"CRC32 trailer {crc:#010x} != {zlib.crc32(data[:-4]):#010x} computed")
        table_end = HEADER.size + RECORD.size * n_layers
        if n_layers < 1 or table_end > len(data) - 4:
            raise BlobError(f"header n_layers {n_layers}: the layer table does not fit the blob")
        blob = cls((in_c, in_h, in_w), levels)
        for i in range(n_layers):
            (op, in_type, w_enc, out_type, ic, ih, iw, oc, oh, ow, kh, kw, stride, pad, pool_k,
             pool_stride, shift, pool_ceil, act_min, act_max, res, base, n_words, poff) = \
                RECORD.unpack_from(data, HEADER.size + RECORD.size * i)
            if res:
                raise BlobError(f"layer {i}: reserved field (offset 26) must be 0")
            layer = Layer(op, in_type, w_enc, out_type, (ic, ih, iw), (oc, oh, ow), (kh, kw), stride, pad,
                          pool_k, pool_stride, pool_ceil, shift, act_min, act_max, base, n_words)
            nbytes = layer.param_bytes() if op in OP_NAMES and out_type in TYPE_NAMES else 0
            if nbytes:
                if poff < table_end or poff % 4 or poff + nbytes > len(data) - 4:
                    raise BlobError(f"layer {i}: param_offset {poff} (+{nbytes} bytes) outside the parameter area")
                layer.tau = np.frombuffer(data, "<i4", oc, poff).astype(np.int32)
                layer.flip = _unpack_flips(data[poff + 4 * oc: poff + nbytes], oc)
            elif poff:
                raise BlobError(f"layer {i}: param_offset {poff} set on a layer without parameters")
            blob.layers.append(layer)
        if n_scores != blob.n_scores:
            raise BlobError(f"header n_scores {n_scores} != last layer out_c {blob.n_scores}")
        if weight_words != blob.weight_words:
            raise BlobError(f"header weight_words {weight_words} != end of the last region {blob.weight_words}")
        blob.validate()
        return blob

    # --- the rules of FORMAT.md B.2 ----------------------------------------------------

    def validate(self) -> None:
        """Raise :class:`BlobError` unless the layer table follows FORMAT.md B.2/B.3."""
        if not self.layers:
            raise BlobError("model has no layers")
        if self.input_levels not in INPUT_LEVELS:
            raise BlobError(f"header input_levels {self.input_levels}: expected one of {INPUT_LEVELS}")
        prev_type, prev_shape = INT8, tuple(self.in_shape)
        for i, l in enumerate(self.layers):
            where = f"layer {i} ({OP_NAMES.get(l.op, l.op)})"
            if l.op not in OP_NAMES or l.in_type not in (BIN, INT8) or l.out_type not in TYPE_NAMES \
                    or l.w_enc not in W_ENCODINGS:
                raise BlobError(f"{where}: unknown op/in_type/w_enc/out_type {l.op}/{l.in_type}/{l.w_enc}/{l.out_type}")
            if (l.in_type, tuple(l.in_shape)) != (prev_type, prev_shape):
                raise BlobError(f"{where}: input {TYPE_NAMES[l.in_type]} {l.in_shape} != previous output "
                                f"{TYPE_NAMES[prev_type]} {prev_shape}")
            last = i == len(self.layers) - 1
            if (l.out_type == INT32) != last:
                raise BlobError(f"{where}: out_type int32 (scores) must be used by the last layer and only there")
            self._check_kind(where, l)
            self._check_shape(where, l)
            prev_type, prev_shape = l.out_type, tuple(l.out_shape)
        if tuple(self.layers[-1].out_shape[1:]) != (1, 1):
            raise BlobError("last layer: scores must have out_h = out_w = 1")
        spans = sorted((l.base_word, l.base_word + l.n_words, i) for i, l in enumerate(self.layers) if l.n_words)
        for (_, end, i), (start, _, j) in zip(spans, spans[1:]):
            if start < end:
                raise BlobError(f"layer {j}: weight region overlaps the region of layer {i}")

    @staticmethod
    def _check_kind(where: str, l: Layer) -> None:
        kinds = {(BIN, W_BINARY, BIN), (INT8, W_BINARY, BIN), (BIN, W_BINARY, INT32), (INT8, W_BINARY, INT32),
                 (INT8, W_TERNARY, INT8), (INT8, W_TERNARY, INT32)}
        if l.op == MAXPOOL:
            if l.w_enc != W_NONE or l.out_type != l.in_type:
                raise BlobError(f"{where}: max-pool has no weights and keeps its input type")
        elif (l.in_type, l.w_enc, l.out_type) not in kinds:
            raise BlobError(f"{where}: no kernel family for in {TYPE_NAMES[l.in_type]}, weights "
                            f"{W_ENCODINGS[l.w_enc]}, out {TYPE_NAMES[l.out_type]} (FORMAT.md B.2)")
        if l.out_type == BIN and l.op != MAXPOOL:
            c = l.out_shape[0]
            if l.tau is None or l.flip is None or len(l.tau) != c or len(l.flip) != c:
                raise BlobError(f"{where}: threshold layer needs tau and flip of length out_c = {c}")
        if l.out_type == INT8:
            if not (-128 <= l.act_min <= l.act_max <= 127) or not 0 <= l.shift < 31:
                raise BlobError(f"{where}: shift {l.shift} / act_min {l.act_min} / act_max {l.act_max} out of range")
        elif l.shift or l.act_min or l.act_max:
            raise BlobError(f"{where}: shift/act_min/act_max are only for out_type int8")

    @staticmethod
    def _check_shape(where: str, l: Layer) -> None:
        if min(l.in_shape) < 1 or min(l.out_shape) < 1:
            raise BlobError(f"{where}: empty tensor shape {l.in_shape} -> {l.out_shape}")
        if l.op == CONV:
            if min(l.kernel) < 1 or l.stride < 1:
                raise BlobError(f"{where}: kernel {l.kernel} and stride {l.stride} must be >= 1")
        elif l.kernel != (0, 0) or l.stride or l.pad:
            raise BlobError(f"{where}: kernel/stride/pad are only for conv")
        hc, wc = l.conv_shape()
        if hc < 1 or wc < 1:
            raise BlobError(f"{where}: kernel {l.kernel} larger than the padded input {l.in_shape}")
        if l.pool_k:
            if l.op == FC or l.pool_stride < 1 or l.pool_k > min(hc, wc) or l.pool_ceil not in (0, 1):
                raise BlobError(f"{where}: pool {l.pool_k}/{l.pool_stride}/ceil {l.pool_ceil} does not fit {hc}x{wc}")
            hc, wc = (pooled_size(n, l.pool_k, l.pool_stride, l.pool_ceil) for n in (hc, wc))
        elif l.pool_stride or l.pool_ceil or l.op == MAXPOOL:
            raise BlobError(f"{where}: pool_stride/pool_ceil without pool_k (or max-pool without a window)")
        out_c = l.in_shape[0] if l.op == MAXPOOL else l.out_shape[0]
        if tuple(l.out_shape) != (out_c, hc, wc):
            raise BlobError(f"{where}: out shape {l.out_shape} != computed {(out_c, hc, wc)}")
        if l.w_enc == W_NONE:
            if l.base_word or l.n_words:
                raise BlobError(f"{where}: a layer without weights has no region")
        else:
            expect = region_words(l.weight_shape, l.encoding)
            if l.n_words != expect:
                raise BlobError(f"{where}: weight_words {l.n_words} != {expect} for weights {l.weight_shape} "
                                f"({l.encoding})")
            if l.base_word % REGION_ALIGN_WORDS:
                raise BlobError(f"{where}: weight_base_word {l.base_word} is not {REGION_ALIGN_WORDS}-word aligned")
            if l.row_length * 128 >= INT32_MAX:
                raise BlobError(f"{where}: rows of {l.row_length} weights could overflow int32 z")
