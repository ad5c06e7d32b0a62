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
    low = np.iinfo(np.int64).min
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


def preactivation(layer: Layer, a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer ``z`` of a CONV/FC layer, ``[B, out_c, h, w]`` int64 (before pooling)."""
    wf = w.reshape(w.shape[0], -1).astype(np.float64)
    if layer.op == FC:
        z = a.reshape(a.shape[0], -1).astype(np.float64) @ wf.T
        return z.astype(np.int64)[:, :, None, None]
    p = _patches(a.astype(np.float64), *layer.kernel, layer.stride, layer.pad)
    return (p @ wf.T).astype(np.int64).transpose(0, 3, 1, 2)


def output_stage(layer: Layer, z: np.ndarray) -> np.ndarray:
    """Pooling then threshold / requantisation / scores (FORMAT.md B.3)."""
    if layer.pool_k:
        z = _maxpool(z, layer.pool_k, layer.pool_stride, layer.pool_ceil)
    if layer.out_type == BIN:
        tau = layer.tau.astype(np.int64)[None, :, None, None]
        plus = (z >= tau) ^ layer.flip[None, :, None, None]
        return np.where(plus, 1, -1).astype(np.int64)
    if layer.out_type == INT8:
        return np.clip(rshift_rne(z, layer.shift), layer.act_min, layer.act_max)
    return z


def run_layer(layer: Layer, a: np.ndarray, words: np.ndarray) -> np.ndarray:
    """One layer on activations ``a`` ``[B, C, H, W]`` (values: +-1 for BIN, codes for INT8)."""
    if layer.op == MAXPOOL:
        return _maxpool(a, layer.pool_k, layer.pool_stride, layer.pool_ceil)
    return output_stage(layer, preactivation(layer, a, layer_weights(layer, words)))


def _as_batch(blob: ModelBlob, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    n = int(np.prod(blob.in_shape))
    if x.dtype != np.int8:
        raise ValueError(f"inputs must be int8 codes (see quantize_input), got {x.dtype}")
    if x.size % n:
        raise ValueError(f"input of {x.size} codes is not a batch of {blob.in_shape} = {n} codes")
    return x.reshape(-1, *blob.in_shape).astype(np.int64)


def run_all(blob: ModelBlob | bytes, words: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output for a batch of int8 inputs; the last entry is the scores."""
    if not isinstance(blob, ModelBlob):
        blob = ModelBlob.from_bytes(blob)
    words = np.asarray(words, dtype=np.uint32)
    a, outs = _as_batch(blob, x), []
    for layer in blob.layers:
        a = run_layer(layer, a, words)
        outs.append(a)
    return outs


def scores(blob: ModelBlob | bytes, words: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int32 scores ``[B, n_scores]`` of a batch of int8 inputs (``[B, C, H, W]`` or flat)."""
    z = run_all(blob, words, x)[-1]
    return z.reshape(z.shape[0], -1).astype(np.int32)
