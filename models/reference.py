"""Reference interpreter: what the firmware computes for a blob and a weight memory, bit for bit.

numpy only (no torch). Inputs: a model blob (``firmware/FORMAT.md`` part B), the words of
the weight memory (the exported image, or words read back from a faulty memory: replaying a
fault map is this interpreter over the corrupted words) and int8 input codes. Output: the
last layer's int32 scores. Every layer follows FORMAT.md B.3 literally; integer products are
summed in float64 matrix products, exact because ``|z| < 2^31 < 2^53``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from drivers.memory_layout import unpack_weights
from models.blob import BIN, FC, INT8, MAXPOOL, Layer, ModelBlob, pooled_size

PATCH_ELEMENTS = 1 << 22  # im2col entries per conv step (32 MiB of float64) [choice: memory bound]
BATCH = 256  # inputs per pass in scores() [choice: bounds activation memory]

def quantize_input(x: np.ndarray, levels: int) -> np.ndarray:
    """``x_int = clamp(round(x * L), -127, 127)`` in float32, ties to even (FORMAT.md B.5).

    ``L = 127``: BNN ``QuantizeInput(8)``, ``round(clamp(x, -1, 1) * 127)``; ``L = 128``:
    WAGE ``Q_A(x)`` with ``k_A = 8``. ``levels`` is the blob header's ``input_levels``.
    """
    x = np.asarray(x, dtype=np.float32) * np.float32(levels)
    return np.clip(np.rint(x), -127, 127).astype(np.int8)


def layer_weights(layer: Layer, words: np.ndarray) -> np.ndarray:
    """The layer's weights as read from ``words`` (torch order, int8 in {-1, 0, +1})."""
    end = layer.base_word + layer.n_words
    if len(words) < end:
        raise ValueError(f"weight memory has {len(words)} words; layer region ends at word {end}")
    return unpack_weights(words[layer.base_word:end], layer.weight_shape, layer.encoding)


def weight_matrices(blob: ModelBlob, words: np.ndarray) -> list[np.ndarray | None]:
    """Per layer, its weights as a float64 ``[out, K]`` matrix (``None`` for MAXPOOL)."""
    words = np.asarray(words, dtype=np.uint32)
    return [None if l.op == MAXPOOL else layer_weights(l, words).reshape(l.out_shape[0], -1).astype(np.float64)
            for l in blob.layers]


def _patches(a: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """``[B, C, H, W]`` -> ``[B, Ho, Wo, C*kh*kw]`` in torch weight order, zero padding."""
    a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(a, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]  # B C Ho Wo kh kw
    b, c, ho, wo = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(b, ho, wo, c * kh * kw)


def _maxpool(z: np.ndarray, k: int, stride: int, ceil: int) -> np.ndarray:
    """Max over ``k x k`` windows, no padding; ceil mode: partial edge windows (FORMAT.md B.3)."""
    ho, wo = (pooled_size(n, k, stride, ceil) for n in z.shape[2:])
    need_h, need_w = (ho - 1) * stride + k, (wo - 1) * stride + k
    low = np.iinfo(z.dtype).min
    z = np.pad(z, ((0, 0), (0, 0), (0, max(0, need_h - z.shape[2])), (0, max(0, need_w - z.shape[3]))),
               constant_values=low)
    return sliding_window_view(z, (k, k), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :ho, :wo].max(axis=(-2, -1))


def rshift_rne(z: np.ndarray, shift: int) -> np.ndarray:
    """``z / 2^shift`` rounded half to even, on integers (FORMAT.md B.3 ``rshift_rne``)."""
    if shift == 0:
        return z
    q = z >> shift
    r = z - (q << shift)
    half = 1 << (shift - 1)
    return q + ((r > half) | ((r == half) & (q & 1 == 1)))


def preactivation(layer: Layer, a: np.ndarray, wf: np.ndarray) -> np.ndarray:
    """Integer ``z`` of a CONV/FC layer, ``[B, out_c, h, w]`` int64 (before pooling).

    ``wf``: the layer's :func:`weight_matrices` entry. Conv im2col runs in batch slices of at
    most ``PATCH_ELEMENTS`` patch entries.
    """
    if layer.op == FC:
        z = a.reshape(a.shape[0], -1).astype(np.float64) @ wf.T
        return z.astype(np.int64)[:, :, None, None]
    hc, wc = layer.conv_shape()
    step = max(1, PATCH_ELEMENTS // (hc * wc * wf.shape[1]))
    z = np.empty((a.shape[0], wf.shape[0], hc, wc), dtype=np.int64)
    for i in range(0, a.shape[0], step):
        p = _patches(a[i:i + step].astype(np.float64), *layer.kernel, layer.stride, layer.pad)
        z[i:i + step] = (p @ wf.T).transpose(0, 3, 1, 2)
    return z


def output_stage(layer: Layer, z: np.ndarray) -> np.ndarray:
    """Pooling then threshold / requantisation / scores (FORMAT.md B.3)."""
    if layer.pool_k:
        z = _maxpool(z, layer.pool_k, layer.pool_stride, layer.pool_ceil)
    if layer.out_type == BIN:
        tau = layer.tau.astype(np.int64)[None, :, None, None]
        plus = (z >= tau) ^ layer.flip[None, :, None, None]
        return np.where(plus, 1, -1).astype(np.int8)
    if layer.out_type == INT8:
        return np.clip(rshift_rne(z, layer.shift), layer.act_min, layer.act_max).astype(np.int8)
    return z


def run_layer(layer: Layer, a: np.ndarray, wf: np.ndarray | None) -> np.ndarray:
    """One layer on activations ``a`` ``[B, C, H, W]`` (+-1 for BIN, codes for INT8; int8)."""
    if layer.op == MAXPOOL:
        return _maxpool(a, layer.pool_k, layer.pool_stride, layer.pool_ceil)
    return output_stage(layer, preactivation(layer, a, wf))


def _prepare(blob: ModelBlob | bytes, words: np.ndarray, x: np.ndarray):
    if not isinstance(blob, ModelBlob):
        blob = ModelBlob.from_bytes(blob)
    x = np.asarray(x)
    n = int(np.prod(blob.in_shape))
    if x.dtype != np.int8:
        raise ValueError(f"inputs must be int8 codes (see quantize_input), got {x.dtype}")
    if x.size % n:
        raise ValueError(f"input of {x.size} codes is not a batch of {blob.in_shape} = {n} codes")
    return blob, weight_matrices(blob, words), x.reshape(-1, *blob.in_shape)


def run_all(blob: ModelBlob | bytes, words: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output ``[B, C, H, W]`` for a batch of int8 inputs (as step mode sees
    them); the last entry is the int64 scores."""
    blob, mats, a = _prepare(blob, words, x)
    outs = []
    for layer, wf in zip(blob.layers, mats):
        a = run_layer(layer, a, wf)
        outs.append(a)
    return outs


def scores(blob: ModelBlob | bytes, words: np.ndarray, x: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """int32 scores ``[B, n_scores]`` of int8 inputs (``[B, C, H, W]`` or flat), ``batch`` at a time."""
    blob, mats, x = _prepare(blob, words, x)
    out = np.empty((len(x), blob.n_scores), dtype=np.int32)
    for i in range(0, len(x), batch):
        a = x[i:i + batch]
        for layer, wf in zip(blob.layers, mats):
            a = run_layer(layer, a, wf)
        out[i:i + batch] = a.reshape(len(a), -1)
    return out
