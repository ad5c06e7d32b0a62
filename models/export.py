"""Export a trained network for the firmware: model blob + weight image (``firmware/FORMAT.md``).

Two network families export:

* BNN (``models.architectures`` sequential nets): ``QuantizeInput(8)``, blocks
  ``BinaryConv2d | BinaryLinear -> [MaxPool2d] -> [BatchNorm] -> BinaryActivation``
  (``MaxPool2d`` after an activation becomes a MAXPOOL layer), last ``BinaryLinear``
  -> ``Scale``. Weights are stored as sign bits; each BatchNorm folds into an integer
  threshold and a sign flip per output channel (:func:`fold_threshold`, FORMAT.md B.4);
  the last layer reports the integer scores before ``Scale``.
* WAGE (``models.wage.WageNet`` with ``k_W = 2``, ``k_A = 8``): ternary weights in two
  bit planes, 8-bit activations requantised by a shift (FORMAT.md B.3), integer scores.

The weight image holds the sign (or ternary) codes only, never latent floats, packed by
``drivers.memory_layout.pack_weights`` at the regions of ``drivers.memory_layout.memory_map``
(the same map ``models.layers.assign_memory_map`` gives the fault models).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn

from drivers.memory_layout import memory_map, pack_weights, total_words
from models.blob import (BIN, CONV, FC, INT8, INT32, INT32_MAX, INT32_MIN, MAXPOOL, W_BINARY, W_NONE,
                         W_TERNARY, W_ENCODINGS, Layer, ModelBlob, pooled_size)
from models.layers import BinaryActivation, BinaryConv2d, QuantizeInput, Scale, StoredWeights, stored_layers
from models.wage import WageNet, WageWeights, sigma


class ExportError(ValueError):
    """The network cannot be deployed as it is; the message names the module at fault."""


@dataclass
class Exported:
    """A deployable network: the blob, the weight image and the stored layers' names."""

    blob: ModelBlob
    image: np.ndarray        # uint32 [weight_words]: the weight memory from word 0
    layer_names: list[str]   # module name of each stored layer, in region order

    def blob_bytes(self) -> bytes:
        return self.blob.to_bytes()

    def image_bytes(self) -> bytes:
        return self.image.astype("<u4").tobytes()


# --- BatchNorm -> (tau, flip) --------------------------------------------------------------

def _ge0_with_sqrt(p: Fraction, q: Fraction, v: Fraction) -> bool:
    """Exactly ``p + q * sqrt(v) >= 0`` for rationals ``p, q`` and ``v > 0``."""
    if q >= 0:
        return p >= 0 or q * q * v >= p * p
    return p >= 0 and p * p >= q * q * v


def fold_threshold(gamma, beta, mean, var, eps: float, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(tau, flip)`` with ``sign(BN(z / scale)) = +1  iff  (z >= tau) XOR flip``. [FORMAT.md B.4]

    ``BN(y) = gamma * (y - mean) / sqrt(var + eps) + beta`` and ``sign(0) = +1``, so with
    ``f(z) = BN(z / scale)`` (affine in the integer ``z``):

    * ``gamma > 0``: ``tau = min{z : f(z) >= 0}``, ``flip = 0``;
    * ``gamma < 0``: ``tau = max{z : f(z) >= 0} + 1``, ``flip = 1``;
    * ``gamma = 0``: ``tau = INT32_MIN`` (``beta >= 0``, always +1) or ``INT32_MAX``
      (always -1), ``flip = 0``.

    The boundary is decided in exact rational arithmetic: ``f(z) >= 0`` iff
    ``gamma * (z/scale - mean) + beta * sqrt(var + eps) >= 0`` (:func:`_ge0_with_sqrt`);
    a float64 estimate only picks the starting point. ``tau`` is clamped to int32.
    """
    params = [np.asarray(a, dtype=np.float64).ravel() for a in (gamma, beta, mean, var)]
    n = len(params[0])
    tau, flip = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for c, (g, b, m, v) in enumerate(zip(*params)):
        if g == 0:
            tau[c] = INT32_MIN if b >= 0 else INT32_MAX
            continue
        G, B, M, V = Fraction(g), Fraction(b), Fraction(m), Fraction(v) + Fraction(eps)
        if V <= 0:
            raise ExportError(f"BatchNorm channel {c}: var + eps = {float(V)} must be > 0")

        def ok(z: int) -> bool:
            return _ge0_with_sqrt(G * (Fraction(z, scale) - M), B, V)

        t = scale * (m - b * math.sqrt(float(V)) / g)  # the real boundary, approximately
        if not abs(t) < 2.0 ** 31:  # boundary beyond any reachable z (|z| < 2^31 - 1)
            tau[c], flip[c] = (INT32_MAX if t > 0 else INT32_MIN), g < 0
            continue
        if g > 0:
            z = math.ceil(t)
            while ok(z - 1):
                z -= 1
            while not ok(z):
                z += 1
            tau[c] = z
        else:
            z = math.floor(t)
            while ok(z + 1):
                z += 1
            while not ok(z):
                z -= 1
            tau[c], flip[c] = z + 1, True
    return np.clip(tau, INT32_MIN, INT32_MAX).astype(np.int32), flip


# --- walking a network ---------------------------------------------------------------------

class _Builder:
    """Accumulates layer records while a network is walked in order."""

    def __init__(self, in_shape, levels: int):
        shape = tuple(int(s) for s in in_shape)
        self.in_shape = shape if len(shape) == 3 else (int(np.prod(shape)), 1, 1)
        self.levels = levels
        self.shape, self.type = self.in_shape, INT8
        self.layers: list[Layer] = []
        self.stored: list[tuple[str, str, np.ndarray]] = []  # (name, encoding, weight values)
        self.open: Layer | None = None
        self.open_name = ""
        self.bias: np.ndarray | None = None
        self.bn: nn.Module | None = None

    # a weighted layer starts ...
    def start(self, name: str, m: StoredWeights, w_enc: int, values: torch.Tensor) -> None:
        if self.open is not None:
            raise ExportError(f"{name}: follows {self.open_name} without an activation in between")
        c, h, w = self.shape
        if isinstance(m, BinaryConv2d):
            if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros" \
                    or isinstance(m.padding, str) or len(set(m.padding)) != 1 or len(set(m.stride)) != 1:
                raise ExportError(f"{name}: only groups=1, dilation=1, equal integer zero padding and stride export")
            if m.in_channels != c:
                raise ExportError(f"{name}: expects {m.in_channels} input channels, gets {c}")
            layer = Layer(CONV, self.type, w_enc, BIN, self.shape, (m.out_channels, 0, 0),
                          tuple(m.kernel_size), m.stride[0], m.padding[0])
        else:
            if m.in_features != c * h * w:
                raise ExportError(f"{name}: expects {m.in_features} inputs, gets {c}x{h}x{w} = {c * h * w}")
            layer = Layer(FC, self.type, w_enc, BIN, self.shape, (m.out_features, 1, 1))
        layer.out_shape = (layer.out_shape[0], *layer.conv_shape())
        self.open, self.open_name, self.bn = layer, name, None
        self.bias = None if m.bias is None else m.bias.detach().double().cpu().numpy()
        self.stored.append((name, W_ENCODINGS[w_enc], values.detach().cpu().numpy()))

    def pool(self, name: str, k: int, stride: int, ceil: int) -> None:
        """Max-pool on ``z`` (before BatchNorm) or, after an activation, a MAXPOOL layer."""
        if self.open is None:
            c, h, w = self.shape
            out = (c, pooled_size(h, k, stride, ceil), pooled_size(w, k, stride, ceil))
            self._close(Layer(MAXPOOL, self.type, W_NONE, self.type, self.shape, out, pool_k=k,
                              pool_stride=stride, pool_ceil=ceil))
            return
        l = self.open
        if l.op != CONV or l.pool_k or self.bn is not None:
            raise ExportError(f"{name}: max-pool must follow a conv layer directly (before its BatchNorm)")
        l.pool_k, l.pool_stride, l.pool_ceil = k, stride, ceil
        hc, wc = l.conv_shape()
        l.out_shape = (l.out_shape[0], pooled_size(hc, k, stride, ceil), pooled_size(wc, k, stride, ceil))

    def batchnorm(self, name: str, bn: nn.Module) -> None:
        if self.open is None or self.bn is not None:
            raise ExportError(f"{name}: BatchNorm must follow a binary layer (and its max-pool)")
        if bn.running_mean is None or bn.running_var is None:
            raise ExportError(f"{name}: BatchNorm without running statistics cannot fold into thresholds")
        if bn.num_features != self.open.out_shape[0]:
            raise ExportError(f"{name}: BatchNorm of {bn.num_features} features after {self.open.out_shape[0]} channels")
        self.bn = bn

    # ... and ends with one of three output stages
    def threshold(self, name: str) -> None:
        if self.open is None:
            raise ExportError(f"{name}: activation without a binary layer before it")
        c = self.open.out_shape[0]
        bn = self.bn
        gamma = np.ones(c) if bn is None or bn.weight is None else bn.weight.detach().double().cpu().numpy()
        beta = np.zeros(c) if bn is None or bn.bias is None else bn.bias.detach().double().cpu().numpy()
        mean = np.zeros(c) if bn is None else bn.running_mean.detach().double().cpu().numpy()
        var = np.ones(c) if bn is None else bn.running_var.detach().double().cpu().numpy()
        if self.bias is not None:  # BN(z/s + b): the bias moves into the mean
            mean = mean - self.bias
        scale = self.levels if self.open.in_type == INT8 and self.open.w_enc == W_BINARY else 1
        self.open.tau, self.open.flip = fold_threshold(gamma, beta, mean, var, 0.0 if bn is None else bn.eps, scale)
        self._close(self.open)

    def requantize(self, name: str, shift: int, lo: int, hi: int) -> None:
        self.open.out_type, self.open.shift, self.open.act_min, self.open.act_max = INT8, shift, lo, hi
        self._close(self.open)

    def scores(self, name: str) -> None:
        if self.open is None or self.bn is not None or self.bias is not None:
            raise ExportError(f"{name}: scores need a binary layer without BatchNorm or bias right before")
        self.open.out_type = INT32
        self._close(self.open)

    def _close(self, layer: Layer) -> None:
        self.layers.append(layer)
        self.shape, self.type = tuple(layer.out_shape), layer.out_type
        self.open = self.bn = self.bias = None

    def finish(self, net: nn.Module) -> Exported:
        if self.open is not None:
            self.scores(self.open_name)
        names = [n for n, _ in stored_layers(net)]
        if names != [n for n, _, _ in self.stored]:
            raise ExportError(f"stored layers {names} are not all on the exported path")
        regions = memory_map([(n, v.shape, enc) for n, enc, v in self.stored])
        image = np.zeros(total_words(regions), dtype=np.uint32)
        weighted = iter(l for l in self.layers if l.w_enc != W_NONE)
        for (name, enc, values), region, layer in zip(self.stored, regions, weighted):
            _check_fault_site(net.get_submodule(name), region)
            image[region.base_word:region.end_word] = pack_weights(values, enc)
            layer.base_word, layer.n_words = region.base_word, region.n_words
        blob = ModelBlob(self.in_shape, self.levels, self.layers)
        blob.validate()
        return Exported(blob, image, names)


def _check_fault_site(m: StoredWeights, region) -> None:
    """Training-time fault addresses must be the board's: same region when encodings agree."""
    site = m.fault_site
    if site is not None and site.region.encoding == region.encoding and \
            (site.region.base_word, site.region.n_words) != (region.base_word, region.n_words):
        raise ExportError(f"{region.name}: fault site region {site.region.base_word}+{site.region.n_words} "
                          f"differs from the exported memory map {region.base_word}+{region.n_words}")


def _pool_args(name: str, m: nn.MaxPool2d) -> tuple[int, int, int]:
    k, s = m.kernel_size, m.stride
    k = k if isinstance(k, int) else (k[0] if len(set(k)) == 1 else None)
    s = s if isinstance(s, int) else (s[0] if len(set(s)) == 1 else None)
    pad, dil = m.padding, m.dilation
    if k is None or s is None or pad not in (0, (0, 0)) or dil not in (1, (1, 1)):
        raise ExportError(f"{name}: only square max-pool windows without padding or dilation export")
    return k, s, int(m.ceil_mode)


def _children(net: nn.Module, prefix: str = ""):
    for name, m in net.named_children():
        full = f"{prefix}{name}"
        if isinstance(m, nn.Sequential):
            yield from _children(m, full + ".")
        else:
            yield full, m


def _export_bnn(net: nn.Sequential, in_shape) -> Exported:
    items = list(_children(net))
    if not items or not isinstance(items[0][1], QuantizeInput) or items[0][1].bits != 8:
        raise ExportError("the first module must be QuantizeInput(bits=8): the firmware's first layer takes int8 inputs")
    b = _Builder(in_shape, items[0][1].levels)
    for name, m in items[1:]:
        if isinstance(m, (nn.Flatten, nn.Identity, nn.Dropout)):
            continue  # FC layers flatten (c, h, w) in torch order (FORMAT.md B.5)
        if isinstance(m, StoredWeights):
            if m.encoding != "binary":
                raise ExportError(f"{name}: a {m.encoding} layer in a BNN; only binary layers export here")
            b.start(name, m, W_BINARY, m.quantized_weight())
        elif isinstance(m, nn.MaxPool2d):
            b.pool(name, *_pool_args(name, m))
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            b.batchnorm(name, m)
        elif isinstance(m, BinaryActivation):
            b.threshold(name)
        elif isinstance(m, Scale):
            b.scores(name)
        else:
            raise ExportError(f"{name}: {type(m).__name__} has no firmware kernel (export needs mode 'bnn' "
                              f"with binary activations)")
    return b.finish(net)


def _ternary_codes(name: str, layer: WageWeights) -> torch.Tensor:
    """``t`` in {-1, 0, 1} of the weights the forward pass uses (``Q_W`` of the stored word)."""
    with torch.no_grad():
        t = torch.round(layer.effective_weight(layer.quantized_weight()) / layer.weight_scale)
    if t.abs().max() > 1:
        raise ExportError(f"{name}: weights are not ternary (k_W = 2 needed)")
    return t.to(torch.int8)


def _export_wage(net: WageNet, in_shape) -> Exported:
    bits = net.bits
    if bits.W != 2 or bits.A != 8:
        raise ExportError(f"WAGE bits {bits}: the firmware runs k_W = 2 (ternary) and k_A = 8 only")
    b = _Builder(in_shape, levels=round(1 / sigma(bits.A)))
    for i, block in enumerate(net.blocks):
        name = f"blocks.{i}.layer"
        layer = block.layer
        b.start(name, layer, W_TERNARY, _ternary_codes(name, layer))
        if block.last:
            b.scores(name)
            continue
        if block.pool:
            b.pool(f"blocks.{i}", 2, 2, ceil=1)  # WageBlock: F.max_pool2d(y, 2, ceil_mode=True)
        # n' = Q_A(relu(y)) * 128 with y = S * sigma(2) / alpha / 128: round(S * sigma(2) / alpha)
        shift = math.log2(layer.alpha / sigma(2))
        if shift != int(shift) or shift < 0:
            raise ExportError(f"{name}: alpha {layer.alpha} is not a power of two >= 1/2; no shift requantises it")
        b.requantize(name, int(shift), 0, 127)
    return b.finish(net)


def export_model(net: nn.Module, in_shape) -> Exported:
    """Blob + weight image of a BNN (sequential) or WAGE network for inputs of ``in_shape``."""
    if isinstance(net, WageNet):
        return _export_wage(net, in_shape)
    if isinstance(net, nn.Sequential):
        return _export_bnn(net, in_shape)
    raise ExportError(f"{type(net).__name__} is not exportable: the firmware runs sequential BNNs "
                      f"(models.architectures) and WageNet only")


# --- the PyTorch side of the comparison ----------------------------------------------------

def torch_scores(net: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """Integer scores of the PyTorch forward pass: the last stored layer's output in units
    of one integer step (BNN: before ``Scale``; WAGE: ``y * 128 * alpha / sigma(2)``).

    Runs a copy of ``net`` in eval mode in ``dtype``. In a BNN the first layer sums
    ``w_i * n_i / 127``, which float arithmetic leaves a residue (~1e-17 in float64) away from
    the exact ``z / 127``; where ``z = 0`` that residue, not the network, would decide the sign.
    So the first layer's output is snapped to its exact grid ``round(y * 127) / 127`` (a
    no-op up to rounding). Raises if the scores are not within 1e-3 of integers (a forward
    pass that is not the deployed integer network).
    """
    model = copy.deepcopy(net).to(dtype).eval()
    layers = [m for _, m in stored_layers(model)]
    got, hooks = {}, []
    if not isinstance(layers[0], WageWeights):
        levels = model[0].levels
        hooks.append(layers[0].register_forward_hook(lambda mod, inp, out: torch.round(out * levels) / levels))
    hooks.append(layers[-1].register_forward_hook(lambda mod, inp, out: got.__setitem__("y", out)))
    with torch.no_grad():
        model(x.to(dtype))
    for h in hooks:
        h.remove()
    y = got["y"].double().cpu().numpy()
    if isinstance(layers[-1], WageWeights):
        unit = layers[-1].weight_scale * sigma(model.bits.A)
    else:
        unit = 1.0 / levels if len(layers) == 1 else 1.0
    z = y / unit
    if np.abs(z - np.rint(z)).max(initial=0) > 1e-3:
        raise ValueError("the forward pass does not produce integer scores; is the net in 'bnn' mode?")
    return np.rint(z).astype(np.int64)
