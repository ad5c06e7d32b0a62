"""Monte-Carlo accuracy of BNN-mode networks through the firmware's host kernels.

For networks with binary weights *and* binary activations (``mode="bnn"``, exportable by
:mod:`models.export`) the integer network the board runs is the network: the exported blob
and packed weight image, run by the firmware's XNOR-popcount kernels
(:mod:`drivers.kernels_native`, ``libfbkernels``), give the scores of the torch forward pass
(the bit-exactness tests of the firmware pin this). One fault draw is one faulty weight
memory: its flipped bits, drawn by the same fault model calls as the torch path, are XORed
into a copy of the packed image and every test input runs on it.

Flips are drawn exactly as :func:`models.evaluation.sample_masks` draws them (per batched pass
of ``draws_per_pass`` draws, stored layers in network order, the layer's rate or 0), through
the model's sparse :meth:`~models.faults.FaultModel.flip_positions` where it has one (which
is what its ``flip_mask`` does) and its dense ``flip_mask`` otherwise; each flipped weight bit
is mapped to its bit address in the weight memory (``FaultSite.addresses``). So the same
generator state gives the same faulty chips as :func:`models.evaluation.mc_accuracy`.

The torch path stays the reference, and the only path for networks with real activations.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn as nn
from numpy.lib.stride_tricks import sliding_window_view

from drivers import kernels_native as kn
from drivers.memory_layout import WORD_BITS
from models.blob import BIN, CONV, FC, INT8, INT32, MAXPOOL, W_BINARY, Layer, ModelBlob
from models.evaluation import DEFAULT_MAX_ROWS, MCResult, is_fault_free, until_confident
from models.export import export_model
from models.faults import BinarySymmetric, FaultModel, FaultSite, stored_bits
from models.layers import ensure_memory_map, stored_layers
from models.reference import quantize_input


class PackedEvalError(ValueError):
    """The network cannot run on the packed path; the message names the layer or reason."""


@dataclass
class _Stage:
    """One blob layer prepared for the native kernels."""

    layer: Layer
    shape: kn.ConvShape | None = None   # CONV
    flip_words: np.ndarray | None = None  # out_type BIN
    chw_perm: np.ndarray | None = None    # FC on a binary (c, h, w) input with h*w > 1: HWC bit of each torch-order bit


@dataclass
class PackedNet:
    """A BNN exported for the firmware, ready for the native kernels."""

    blob: ModelBlob
    image: np.ndarray                     # uint32 weight memory from word 0 (the fault-free image)
    sites: list[tuple[str, FaultSite]]    # stored layers in network order, with their fault sites
    codes: list[torch.Tensor]             # their stored codes (what fault models read)
    stages: list[_Stage]


_PACKED: weakref.WeakKeyDictionary[nn.Module, tuple[bytes, PackedNet]] = weakref.WeakKeyDictionary()


def _fingerprint(net: nn.Module, in_shape) -> bytes:
    """Digest of the input shape and every parameter and buffer (what the export reads)."""
    h = hashlib.blake2b(repr(tuple(in_shape)).encode(), digest_size=16)
    for name, t in list(net.named_parameters()) + list(net.named_buffers()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()


def pack_network(net: nn.Module, in_shape) -> PackedNet:
    """Export ``net`` (BNN mode: binary weights and activations) for the packed path. The
    export (exact threshold folding) is kept per network until its parameters or buffers
    change, so repeated evaluations (a sweep over rates) pay it once."""
    key = _fingerprint(net, in_shape)
    cached = _PACKED.get(net)
    if cached is not None and cached[0] == key:
        return cached[1]
    packed = _pack(net, in_shape)
    _PACKED[net] = (key, packed)
    return packed


def _pack(net: nn.Module, in_shape) -> PackedNet:
    try:
        ex = export_model(net, in_shape)
    except ValueError as exc:
        raise PackedEvalError(f"the packed path runs exportable BNN-mode networks only: {exc}") from None
    blob = ex.blob
    for i, l in enumerate(blob.layers):
        if l.op != MAXPOOL and l.w_enc != W_BINARY:
            raise PackedEvalError(f"layer {i}: {l.encoding} weights; the packed path runs binary (BNN) networks only")
        if (l.op == MAXPOOL and l.in_type != BIN) or (l.op != MAXPOOL and l.out_type == INT8):
            raise PackedEvalError(f"layer {i}: int8 activations after the input; the packed path runs BNN-mode networks only")
    ensure_memory_map(net)
    layers = stored_layers(net)
    with torch.no_grad():
        codes = [m.to_codes(m.quantized_weight().detach()).cpu() for _, m in layers]
    return PackedNet(blob, ex.image, [(n, m.fault_site) for n, m in layers], codes, [_stage(l) for l in blob.layers])


def _stage(l: Layer) -> _Stage:
    st = _Stage(l)
    if l.op == CONV:
        c, h, w = l.in_shape
        st.shape = kn.ConvShape(h, w, c, l.out_shape[0], l.kernel[0], l.kernel[1], l.stride, l.pad)
    if l.out_type == BIN and l.op != MAXPOOL:
        flips = np.zeros(kn.words(len(l.flip)) * WORD_BITS, dtype=np.uint8)
        flips[:len(l.flip)] = l.flip
        st.flip_words = np.packbits(flips, bitorder="little").view("<u4").astype(np.uint32)
    c, h, w = l.in_shape
    if l.op == FC and l.in_type == BIN and h * w > 1:  # FORMAT.md B.5: torch (c, h, w) order
        st.chw_perm = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()
    return st


def _to_chw(a: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Packed HWC bit streams ``[n, words]`` -> packed torch-order streams."""
    bits = np.unpackbits(a.view(np.uint8), axis=1, bitorder="little")[:, perm]
    out = np.zeros((len(a), kn.words(len(perm)) * WORD_BITS), dtype=np.uint8)
    out[:, :len(perm)] = bits
    return np.packbits(out, axis=1, bitorder="little").view("<u4").astype(np.uint32)


@dataclass
class FirstLayer:
    """The first layer's inputs, the same for every fault draw: int8 rows (FC: the inputs;
    CONV: the im2col patch of every input and output pixel, layout order (kh, kw, c), zero
    padding), their bit planes and sums (:func:`drivers.kernels_native.int8_planes_batch`)."""

    rows: np.ndarray
    planes: np.ndarray
    sx: np.ndarray


def first_layer_inputs(packed: PackedNet, codes: np.ndarray) -> FirstLayer:
    l = packed.stages[0].layer
    n = len(codes)
    a = codes.reshape(n, *l.in_shape)
    if l.op == FC:
        rows = np.ascontiguousarray(a.reshape(n, -1))
    else:
        kh, kw = l.kernel
        a = np.pad(a, ((0, 0), (0, 0), (l.pad, l.pad), (l.pad, l.pad)))
        win = sliding_window_view(a, (kh, kw), axis=(2, 3))[:, :, ::l.stride, ::l.stride]  # n C hc wc kh kw
        rows = np.ascontiguousarray(win.transpose(0, 2, 3, 4, 5, 1)).reshape(-1, l.row_length)
    return FirstLayer(rows, *kn.int8_planes_batch(rows, l.row_length))


def first_layer_z(packed: PackedNet, words: np.ndarray, first: FirstLayer) -> np.ndarray:
    """The first layer's pre-activations ``[rows, out_c]`` with the weight memory ``words``."""
    l = packed.stages[0].layer
    return kn.int8_fc_planes_batch(first.planes, first.sx, words[l.base_word:l.base_word + l.n_words],
                                   l.row_length, l.out_shape[0])


def first_layer_update(packed: PackedNet, z: np.ndarray, first: FirstLayer, flips: np.ndarray) -> None:
    """In place, from the fault-free ``z``: the exact pre-activations with the first layer's
    bits at addresses ``flips`` inverted. A flipped weight v becomes -v, so every output of
    its row changes by -2 v x_col (x the input at its position in the row)."""
    l = packed.stages[0].layer
    rel = flips - WORD_BITS * l.base_word
    word, bit = rel >> 5, rel & 31
    wpr = kn.words(l.row_length)
    clean = (packed.image[l.base_word + word] >> bit.astype(np.uint32)) & 1  # stored bit 1 = -1
    kn.int8_fc_update_batch(first.rows, z, word // wpr, (word % wpr) * WORD_BITS + bit, 4 * clean.astype(np.int32) - 2)


def _forward(packed: PackedNet, words: np.ndarray, z0: np.ndarray, n: int) -> np.ndarray:
    """Scores from the first layer's pre-activations ``z0`` on: one native call per layer."""
    a: np.ndarray | None = None
    for i, st in enumerate(packed.stages):
        l = st.layer
        c, h, w = l.in_shape
        if l.op == MAXPOOL:
            a = kn.bin_maxpool_batch(a, h, w, c, l.pool_k, l.pool_stride, l.out_shape[1], l.out_shape[2])
            continue
        wts = words[l.base_word:l.base_word + l.n_words]
        oc = l.out_shape[0]
        if i == 0:
            z = z0
        elif l.op == CONV:
            z = kn.bin_conv_batch(a, st.shape, wts)
        else:
            z = kn.bin_fc_batch(a if st.chw_perm is None else _to_chw(a, st.chw_perm), wts, l.row_length, oc)
        if l.op == CONV:
            z = z.reshape(n, *l.conv_shape(), oc)
            if l.pool_k:
                z = kn.maxpool_i32_batch(z, l.pool_k, l.pool_stride, l.out_shape[1], l.out_shape[2])
        if l.out_type == INT32:
            return z.reshape(n, oc)
        a = kn.threshold_batch(z.reshape(n, -1, oc), l.tau, st.flip_words)
    raise PackedEvalError("the blob has no scores layer")


def packed_scores(packed: PackedNet, words: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """int32 scores ``[N, n_scores]`` of int8 input codes ``[N, C, H, W]`` (torch order) with the
    weight memory ``words``, through the native kernels."""
    return _forward(packed, words, first_layer_z(packed, words, first_layer_inputs(packed, codes)), len(codes))


def _draw_flips(packed: PackedNet, fault_model: FaultModel, rates: Mapping[str, float],
                generator: torch.Generator, draws: int) -> list[list[np.ndarray]]:
    """Per faulty memory, per stored layer, the bit addresses flipped (the draws of one batched
    pass of :func:`models.evaluation.sample_masks`, same generator calls)."""
    per_draw: list[list[np.ndarray]] = [[] for _ in range(draws)]
    for (name, site), codes in zip(packed.sites, packed.codes):
        bits = site.bits_per_weight
        n = codes.numel() * bits
        rate = rates.get(name, 0.0)
        pos = fault_model.flip_positions(site, draws * n, rate, generator, codes.device)
        if pos is None:  # dense masks, as flip_mask gives them
            mask = fault_model.flip_mask(site, codes, rate, generator, draws)
            pos = torch.nonzero(stored_bits(mask, bits).reshape(-1)).reshape(-1)
        pos = pos.cpu().numpy()  # sorted: draw-major
        addr = site.addresses.reshape(-1)[pos % n]
        cut = np.searchsorted(pos // n, np.arange(draws + 1))
        for d in range(draws):
            per_draw[d].append(addr[cut[d]:cut[d + 1]])
    return per_draw


def faulty_words(packed: PackedNet, flips: np.ndarray) -> np.ndarray:
    """The weight memory with the bits at (distinct) addresses ``flips`` inverted: per word,
    the sum of distinct powers of two is their OR (exact in float64)."""
    xor = np.bincount(flips >> 5, weights=np.left_shift(1, flips & 31), minlength=len(packed.image))
    return packed.image ^ xor.astype(np.uint32)


def packed_accuracies(packed: PackedNet, codes: np.ndarray, y: np.ndarray, flips: list[list[np.ndarray]],
                      max_rows: int = DEFAULT_MAX_ROWS) -> torch.Tensor:
    """Accuracy on int8 ``codes`` of each faulty memory (per memory, per stored layer, the
    flipped bit addresses). The inputs go ``max_rows`` at a time; per chunk the first layer
    runs once on the fault-free words and each memory adds the change of its own flipped
    first-layer bits (:func:`first_layer_update`), exact; the later layers run on the
    memory's words."""
    memories = [faulty_words(packed, np.concatenate(f)) for f in flips]
    correct = np.zeros(len(memories), dtype=np.int64)
    for start in range(0, len(y), max_rows):
        chunk, labels = codes[start:start + max_rows], y[start:start + max_rows]
        first = first_layer_inputs(packed, chunk)
        clean = first_layer_z(packed, packed.image, first)
        for d, words in enumerate(memories):
            z0 = clean.copy()
            first_layer_update(packed, z0, first, flips[d][0])
            scores = _forward(packed, words, z0, len(chunk))
            correct[d] += int((scores.argmax(axis=1) == labels).sum())  # the first index of the maximum, as torch.argmax
    return torch.from_numpy(correct / len(y))


def packed_mc_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, rates: Mapping[str, float] | None,
                       generator: torch.Generator, fault_model: FaultModel | None = None,
                       target: float = 0.01, min_reps: int = 10, max_reps: int = 1000,
                       draws_per_pass: int = 16, max_rows: int = DEFAULT_MAX_ROWS,
                       on_progress: Callable[[MCResult], None] | None = None) -> MCResult:
    """:func:`models.evaluation.mc_accuracy` for BNN-mode networks, on the packed kernels.

    Same arguments, stopping rule and result; the same ``generator`` state draws the same
    faults. ``max_rows``: inputs per native pass (bounds activation memory). Raises
    :class:`PackedEvalError` for networks the firmware cannot run as BNNs.
    """
    if min_reps < 2 or max_reps < min_reps:
        raise ValueError(f"need 2 <= min_reps <= max_reps, got min_reps={min_reps}, max_reps={max_reps}")
    packed = pack_network(net, tuple(x.shape[1:]))
    codes = quantize_input(x.detach().cpu().numpy(), packed.blob.input_levels)
    labels = y.detach().cpu().numpy()
    if is_fault_free(rates):
        no_flips = [np.empty(0, dtype=np.int64) for _ in packed.sites]
        acc = float(packed_accuracies(packed, codes, labels, [no_flips], max_rows)[0])
        return MCResult(acc, 0.0, 1, [acc])
    fault_model = fault_model or BinarySymmetric()
    return until_confident(
        lambda k: packed_accuracies(packed, codes, labels, _draw_flips(packed, fault_model, rates, generator, k), max_rows),
        target, min_reps, max_reps, draws_per_pass, on_progress)
