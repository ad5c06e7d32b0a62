"""Random deployable networks for firmware tests: every kernel family of FORMAT.md B.2 with
shapes that are not multiples of 32, random weight words (padding bits included: the
firmware must ignore them) and thresholds near the middle of each layer's range."""

from __future__ import annotations

import numpy as np

from drivers.memory_layout import REGION_ALIGN_WORDS, region_words
from models.blob import BIN, CONV, FC, INT8, INT32, MAXPOOL, W_BINARY, W_NONE, W_TERNARY, Layer, ModelBlob, pooled_size


def _spec_layers(kind: str):
    """(op, w_enc, out_type, out_c, kernel, stride, pad, pool_k, pool_stride, pool_ceil)."""
    if kind == "mlp":
        return (3, 5, 4), 127, [(FC, W_BINARY, BIN, 37, 0, 0, 0, 0, 0, 0), (FC, W_BINARY, BIN, 45, 0, 0, 0, 0, 0, 0),
                                (FC, W_BINARY, INT32, 10, 0, 0, 0, 0, 0, 0)]
    if kind == "cnn":
        return (3, 9, 7), 127, [(CONV, W_BINARY, BIN, 19, 3, 1, 1, 2, 2, 0), (CONV, W_BINARY, BIN, 33, 5, 1, 2, 0, 0, 0),
                                (MAXPOOL, W_NONE, BIN, 33, 0, 0, 0, 2, 2, 1), (CONV, W_BINARY, BIN, 7, 3, 2, 1, 0, 0, 0),
                                (FC, W_BINARY, INT32, 10, 0, 0, 0, 0, 0, 0)]
    if kind == "wage":
        return (2, 8, 8), 128, [(CONV, W_TERNARY, INT8, 11, 3, 1, 1, 2, 2, 1), (MAXPOOL, W_NONE, INT8, 11, 0, 0, 0, 3, 2, 1),
                                (CONV, W_TERNARY, INT8, 13, 5, 1, 2, 0, 0, 0), (FC, W_TERNARY, INT32, 10, 0, 0, 0, 0, 0, 0)]
    if kind == "large_input":  # 3x32x32 = 3072 input bytes: more than one frame (INPUT chunks)
        return (3, 32, 32), 127, [(CONV, W_BINARY, BIN, 8, 3, 2, 1, 2, 2, 0), (FC, W_BINARY, INT32, 10, 0, 0, 0, 0, 0, 0)]
    raise ValueError(kind)


def random_net(kind: str, rng: np.random.Generator) -> tuple[ModelBlob, np.ndarray]:
    """A blob and a weight image (uint32 words) for ``kind`` in mlp | cnn | wage | large_input."""
    return build_net(*_spec_layers(kind), rng)


def build_net(in_shape, levels: int, specs, rng: np.random.Generator) -> tuple[ModelBlob, np.ndarray]:
    """Blob + random weight image from layer specs (see :func:`_spec_layers` for the tuple)."""
    shape, typ, base, layers = in_shape, INT8, 0, []
    for op, w_enc, out_type, oc, k, s, p, pk, ps, pc in specs:
        c, h, w = shape
        if op == CONV:
            hc, wc = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            wshape = (oc, c, k, k)
        elif op == FC:
            hc, wc, wshape = 1, 1, (oc, c * h * w)
        else:
            hc, wc, oc = h, w, c
        oh, ow = (pooled_size(hc, pk, ps, pc), pooled_size(wc, pk, ps, pc)) if pk else (hc, wc)
        l = Layer(op, typ, w_enc, out_type, shape, (oc, oh, ow), (k, k) if op == CONV else (0, 0), s, p, pk, ps, pc)
        if w_enc != W_NONE:
            base = -(-base // REGION_ALIGN_WORDS) * REGION_ALIGN_WORDS
            l.base_word, l.n_words = base, region_words(wshape, l.encoding)
            base += l.n_words
        if out_type == BIN and op != MAXPOOL:
            fan_in = int(np.prod(wshape[1:]))
            spread = fan_in * (60 if typ == INT8 else 1)
            l.tau = rng.integers(-spread // 8 - 1, spread // 8 + 2, oc).astype(np.int32)
            l.flip = rng.random(oc) < 0.3
        if out_type == INT8 and op != MAXPOOL:
            l.shift, l.act_min, l.act_max = 4, 0, 127
        layers.append(l)
        shape, typ = (oc, oh, ow), out_type
    words = rng.integers(0, 2 ** 32, base, dtype=np.uint64).astype(np.uint32)
    return ModelBlob(in_shape, levels, layers), words


def random_inputs(blob: ModelBlob, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(-127, 128, (n, int(np.prod(blob.in_shape)))).astype(np.int8)
