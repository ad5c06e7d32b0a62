"""WAGE: integer training of weights, activations, gradients and errors. [ALGORITHMS 7; seed 3]

Bit widths ``k_W-k_A-k_G-k_E`` (default ``2-8-8-8``); ``"f"`` in a slot means float (no
quantiser there), ``"C"`` means 12 bits (seed 3's hexadecimal shorthand), so ``2-8-f-f``,
``28ff``, ``28C8`` and ``2888`` all parse (:func:`parse_bits`).

Quantisers (the official code, ``source/Quantize.py``, confirms every formula):

    sigma(k) = 2^(1-k)                       smallest step of a k-bit signed fixed point
    Shift(x) = 2^round(log2 x)               nearest power of two; Shift(0) := 1 (guard)
    C(x, k)  = clip(x, -1 + sigma(k), 1 - sigma(k))      (k = 1 or float: clip to [-1, 1])
    Q(x, k)  = sigma(k) * round(x / sigma(k))             (k = 1: sign; float: identity)

Layer block: ``conv/fc -> [maxpool] -> relu -> Q_E -> Q_A``; last layer ``fc -> Q_E`` and
the sum-of-squared-errors loss; no bias, no BatchNorm. Weights are read through ``Q_W``
(:class:`QuantizeWeight`), activations through ``Q_A`` (:class:`QuantizeActivation`), the
backward errors through ``Q_E`` (:class:`QuantizeError`); the weight gradient becomes an
integer update with ``Q_G`` (:func:`quantize_gradient`, used by ``models.wage_method``).

Memory (what fault models corrupt) -- the layer's ``storage``, one of the shared encodings
of ``drivers.memory_layout``:

* ``int8`` (training storage, the default while training; seed 3 "during training the
  weight bitwidth is 8"): the latent weight ``W`` on the grid of the integer update,
  ``code = W / sigma(8)`` in two's complement int8 (``W = code / 128``). With ``k_G <= 8``
  every update is a multiple of ``sigma(k_G)`` so the grid is exact; with ``k_W = 2`` the
  clip keeps ``|code| <= 64``. A read returns ``W~ = code~ / 128`` and the MACs use
  ``Q_W(W~)``: a flipped MSB (bit 7) moves ``W~`` by 1.0, i.e. to the other clip bound.
  ``b_l = 8`` bits per weight in the energy model.
* ``ternary`` (inference storage, ``k_W = 2`` only): ``t = Q(C(W, 2), 2) / sigma(2)`` in
  ``{-1, 0, 1}`` as the two-plane ternary code (sign, nonzero); the weight the MACs use is
  ``t * weight_scale`` with ``weight_scale = sigma(k_W) / alpha``. ``b_l = 2 = k_W``.

Deployment algebra (for the exporter): with 8-bit activations ``a = n / 128`` (``n`` in
``0..127`` after relu and ``Q_A``) and ternary weights, a layer computes
``z = (sum_i n_i t_i) * 2^-7 * weight_scale``; the next ``Q_A(relu(z))`` is
``clip(round(acc * 2^-7 * weight_scale * 128), 0, 127)`` -- a shift, since ``alpha`` and
``sigma`` are powers of two. The network input is quantised by ``Q_A`` too (``n`` in
``-127..127``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.layers import BinaryConv2d, BinaryLinear, StoredWeights, stored_layers

FLOAT = None  # a float slot in a bit pattern
STORAGES = ("int8", "ternary")
INIT_MODES = {"code": 3.0, "paper": 6.0}  # L0 = sqrt(INIT_MODES[mode] / n_in)
TRAIN_STORE_BITS = 8  # int8 training storage: W on the 2^-7 grid


# --- bit patterns --------------------------------------------------------------------------

@dataclass(frozen=True)
class WageBits:
    """Bit widths ``k_W, k_A, k_G, k_E``; ``None`` = float (no quantiser in that slot)."""

    W: int | None = 2
    A: int | None = 8
    G: int | None = 8
    E: int | None = 8

    def __str__(self) -> str:
        return "-".join("f" if k is None else str(k) for k in (self.W, self.A, self.G, self.E))


_SLOT = r"(\d+|f|F|C|c)"


def _slot(token: str) -> int | None:
    if token in ("f", "F"):
        return FLOAT
    if token in ("C", "c"):
        return 12
    k = int(token)
    if not 1 <= k <= 32:
        raise ValueError(f"bit width {k} out of range 1..32")
    return None if k > 15 else k  # the code treats k > 15 as float


def parse_bits(text: str) -> WageBits:
    """``"2-8-8-8"``, ``"2-8-f-f"``, ``"28ff"``, ``"28C8"`` -> :class:`WageBits`.

    Dashed form: four slots, each an integer 1..32 (``> 15`` is float, as in the code), ``f``
    (float) or ``C`` (12). Compact form: four single characters ``[1-9fC]``.
    """
    s = text.strip()
    if "-" in s:
        m = re.fullmatch("-".join([_SLOT] * 4), s)
    else:
        m = re.fullmatch(r"([1-9fFcC])" * 4, s)
    if m is None:
        raise ValueError(f"--bits {text!r}: expected k_W-k_A-k_G-k_E such as 2-8-8-8, 2-8-f-f, 28ff or 28C8")
    return WageBits(*(_slot(t) for t in m.groups()))


# --- the four primitives -----------------------------------------------------------------

def sigma(k: int) -> float:
    """Smallest step of a ``k``-bit signed fixed-point number: ``sigma(k) = 2^(1-k)``. [ALGORITHMS 7]"""
    return 2.0 ** (1 - k)


def shift(x: torch.Tensor) -> torch.Tensor:
    """Nearest power of two: ``Shift(x) = 2^round(log2 x)``; ``Shift(0) = 1`` (guard). [ALGORITHMS 7]

    The guard keeps an all-zero error or gradient at zero instead of producing NaN.
    """
    x = torch.as_tensor(x)
    safe = torch.where(x > 0, x, torch.ones_like(x))
    return torch.where(x > 0, torch.exp2(torch.round(torch.log2(safe))), torch.ones_like(x))


def clip(x: torch.Tensor, k: int | None) -> torch.Tensor:
    """``C(x, k) = clip(x, -1 + sigma(k), 1 - sigma(k))``; ``k = 1`` or float: ``[-1, 1]``. [ALGORITHMS 7]"""
    d = 0.0 if (k is None or k == 1) else sigma(k)
    return x.clamp(-1.0 + d, 1.0 - d)


def quantize(x: torch.Tensor, k: int | None) -> torch.Tensor:
    """``Q(x, k) = sigma(k) * round(x / sigma(k))``; ``k = 1``: sign; float: identity. [ALGORITHMS 7]

    ``round`` is half-to-even, as ``tf.round`` in the official code.
    """
    if k is None:
        return x
    if k == 1:
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    s = sigma(k)
    return torch.round(x / s) * s


def layer_scale(n_in: int, k_w: int | None, init: str = "code") -> tuple[float, float]:
    """``(L, alpha)``: init limit ``L = max(L_min, L0)`` and layer scale ``alpha``. [ALGORITHMS 7; code]

    ``L0 = sqrt(3 / n_in)`` (``init="code"``) or ``sqrt(6 / n_in)`` (``init="paper"``);
    ``L_min = 1.5 * sigma(k_W)``; ``alpha = max(Shift(L_min / L0), 1)``. Float weights:
    ``L = L0``, ``alpha = 1``.
    """
    if init not in INIT_MODES:
        raise ValueError(f"WAGE init {init!r}: expected one of {sorted(INIT_MODES)}")
    l0 = math.sqrt(INIT_MODES[init] / n_in)
    if k_w is None:
        return l0, 1.0
    l_min = 1.5 * sigma(k_w)
    alpha = max(float(shift(torch.tensor(l_min / l0))), 1.0)
    return max(l_min, l0), alpha


# --- quantisers as autograd functions -------------------------------------------------------

class QuantizeWeight(torch.autograd.Function):
    """``Q_W(W) = Q(C(W, k_W), k_W) / alpha``; backward: straight through (identity). [ALGORITHMS 7; code ``W``]

    ``alpha = max(Shift(L_min / L0), 1)`` is the layer's constant scale that stands in for
    BatchNorm; the code's gradient skips both clip and round (``x + stop_gradient(y - x)``).
    """

    @staticmethod
    def forward(ctx, w, k, alpha):
        return quantize(clip(w, k), k) / alpha

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


class QuantizeActivation(torch.autograd.Function):
    """``Q_A(a) = Q(C(a, k_A), k_A)``; backward: ``dL/da = dL/dQ_A * 1{|a| <= 1 - sigma(k_A)}``. [ALGORITHMS 7; code ``A``]

    The clip's gradient is kept, the round is passed straight through.
    """

    @staticmethod
    def forward(ctx, a, k):
        d = 0.0 if k == 1 else sigma(k)
        ctx.save_for_backward((a >= -1.0 + d) & (a <= 1.0 - d))
        return quantize(clip(a, k), k)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside.to(grad.dtype), None


class QuantizeError(torch.autograd.Function):
    """Identity forward; backward ``Q_E(e) = Q(C(e / Shift(max|e|), k_E), k_E)``. [ALGORITHMS 7; code ``E``]

    Only the orientation of the error survives: it is scaled by a power of two so that its
    largest entry is near 1, clipped and rounded; entries below ``sigma(k_E) / 2`` vanish.
    ``max`` runs over the whole tensor (the mini-batch), as ``tf.reduce_max`` in the code.
    """

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x.view_as(x)

    @staticmethod
    def backward(ctx, e):
        return quantize(clip(e / shift(e.abs().max()), ctx.k), ctx.k), None


def quantize_gradient(g: torch.Tensor, k_g: int | None, eta: float, generator: torch.Generator,
                      k_r: int = 16) -> torch.Tensor:
    """``Q_G``: the weight gradient -> the integer weight update ``dW``. [ALGORITHMS 7; code ``G``]

        g_s = Q(eta * g / Shift(max|g|), k_R)           (k_R = 16: the code's "randomizer" width)
        dW  = sigma(k_G) * sign(g_s) * (floor|g_s| + Bernoulli(frac|g_s|))

    ``eta`` is the shift-based learning rate (a power of two: 8, 1, 1/8 in the schedule);
    the Bernoulli draw (stochastic rounding) uses ``generator``. Then ``W <- C(W - dW, k_W)``.
    Q_G acts on the gradient after backprop, so it is a plain function and has no backward.
    Float ``k_G`` [choice]: ``dW = sigma(8) * eta * g / Shift(max|g|)`` -- the same
    normalisation without rounding, so a float slot changes only the quantisation.
    """
    gs = eta * g / shift(g.abs().max())
    if k_g is None:
        return sigma(TRAIN_STORE_BITS) * gs
    gs = quantize(gs, k_r)
    mag = gs.abs()
    whole = torch.floor(mag)
    up = torch.rand(g.shape, generator=generator, device=generator.device).to(g.device) < (mag - whole)
    return sigma(k_g) * torch.sign(gs) * (whole + up.to(g.dtype))


def q_w(w: torch.Tensor, k: int | None, alpha: float) -> torch.Tensor:
    return w if k is None else QuantizeWeight.apply(w, k, alpha)


def q_a(a: torch.Tensor, k: int | None) -> torch.Tensor:
    return a if k is None else QuantizeActivation.apply(a, k)


def q_e(x: torch.Tensor, k: int | None) -> torch.Tensor:
    return x if k is None else QuantizeError.apply(x, k)


def sse_loss(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``L = 1/2 * sum (onehot(y) - out)^2`` over batch and classes. [ALGORITHMS 7; code ``SSE``]"""
    onehot = F.one_hot(targets, out.shape[-1]).to(out.dtype)
    return 0.5 * ((onehot - out) ** 2).sum()


# --- layers ----------------------------------------------------------------------------------

class WageWeights(StoredWeights):
    """WAGE weight memory: latent ``W`` stored as int8 (training) or ternary (inference).

    ``quantized_weight()`` is the value of the stored word, ``to_codes``/``from_codes`` map
    it to the memory word of :attr:`encoding` (fault models flip those bits) and
    :meth:`effective_weight` turns a (possibly corrupted) read into the weight the MACs use.
    """

    def _setup_wage(self, bits: WageBits, init: str, storage: str, generator: torch.Generator | None) -> None:
        self.wage_bits = bits
        self.init_mode = init
        _, self.alpha = layer_scale(self.weight[0].numel(), bits.W, init)
        self.storage = storage
        self.init_weights_(generator)

    @property
    def storage(self) -> str:
        return self._storage

    @storage.setter
    def storage(self, value: str) -> None:
        if value not in STORAGES:
            raise ValueError(f"WAGE storage {value!r}: expected one of {STORAGES}")
        if value == "ternary" and self.wage_bits.W != 2:
            raise ValueError(f"ternary storage needs k_W = 2 (bits {self.wage_bits})")
        self._storage = value

    @property
    def encoding(self) -> str:  # drivers.memory_layout encoding of the stored word
        return self._storage

    def init_weights_(self, generator: torch.Generator | None = None) -> None:
        """Draw ``W ~ U(-L, L)``, snap it to the ``k_W`` grid, then clip (code: ``W_q_op``).

        ``generator=None`` uses a fresh generator seeded with 0 (layers built alone, tests).
        """
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        limit, _ = layer_scale(self.weight[0].numel(), self.wage_bits.W, self.init_mode)
        with torch.no_grad():
            w = torch.rand(self.weight.shape, generator=generator) * 2 * limit - limit
            self.weight.copy_(quantize(w, self.wage_bits.W))
        self.clip_latent_()

    @property
    def weight_scale(self) -> float:
        """Value of one step of the inference weight: ``sigma(k_W) / alpha``."""
        return (1.0 if self.wage_bits.W is None else sigma(self.wage_bits.W)) / self.alpha

    def ternary_weights(self) -> torch.Tensor:
        """Inference weights as ``t`` in ``{-1, 0, 1}`` (int8), ``Q_W(W) = t * weight_scale``."""
        if self.wage_bits.W != 2:
            raise ValueError(f"ternary weights need k_W = 2 (bits {self.wage_bits})")
        return torch.round(quantize(clip(self.weight.detach(), 2), 2) / sigma(2)).to(torch.int8)

    def quantized_weight(self) -> torch.Tensor:
        if self._storage == "ternary":
            return q_w(self.weight, self.wage_bits.W, self.alpha)
        step = sigma(TRAIN_STORE_BITS)
        w = self.weight
        return w + (torch.round(w / step).clamp(-128, 127) * step - w).detach()

    def to_codes(self, weight_q: torch.Tensor) -> torch.Tensor:
        """Stored word, unsigned: int8 two's complement byte, or ternary ``sign | nonzero << 1``."""
        if self._storage == "ternary":
            t = torch.round(weight_q / self.weight_scale)
            return ((t < 0).to(torch.uint8) | ((t != 0).to(torch.uint8) << 1))
        code = torch.round(weight_q / sigma(TRAIN_STORE_BITS)).clamp(-128, 127).to(torch.int16)
        return (code & 0xFF).to(torch.uint8)

    def from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        c = codes.to(torch.int16)
        if self._storage == "ternary":
            sign, nonzero = c & 1, (c >> 1) & 1
            return ((1 - 2 * sign) * nonzero).float() * self.weight_scale
        return torch.where(c >= 128, c - 256, c).float() * sigma(TRAIN_STORE_BITS)

    def effective_weight(self, read: torch.Tensor) -> torch.Tensor:
        """The weight the MACs use, from the value read back from memory."""
        if self._storage == "ternary":
            return read
        return q_w(read, self.wage_bits.W, self.alpha)

    def clip_latent_(self) -> None:
        """``W <- C(W, k_W)`` after every update (no clip for float weights). [ALGORITHMS 7]"""
        if self.wage_bits.W is not None:
            with torch.no_grad():
                self.weight.copy_(clip(self.weight, self.wage_bits.W))


class WageLinear(WageWeights, BinaryLinear):
    """Fully connected WAGE layer (no bias); accepts stacked fault draws like :class:`BinaryLinear`."""

    def __init__(self, in_features: int, out_features: int, bits: WageBits = WageBits(),
                 init: str = "code", storage: str = "int8", generator: torch.Generator | None = None):
        super().__init__(in_features, out_features, bias=False)
        self._setup_wage(bits, init, storage, generator)


class WageConv2d(WageWeights, BinaryConv2d):
    """2-D WAGE convolution (no bias); accepts stacked fault draws like :class:`BinaryConv2d`."""

    def __init__(self, in_channels, out_channels, kernel_size, padding=0, bits: WageBits = WageBits(),
                 init: str = "code", storage: str = "int8", generator: torch.Generator | None = None):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        self._setup_wage(bits, init, storage, generator)


class WageBlock(nn.Module):
    """``layer -> [maxpool 2] -> relu -> Q_E -> Q_A``; the last block: ``layer -> Q_E``. [ALGORITHMS 7; code ``NN.py``]"""

    def __init__(self, layer: WageWeights, pool: bool = False, last: bool = False):
        super().__init__()
        self.layer, self.pool, self.last = layer, pool, last

    def forward(self, x):
        k = self.layer.wage_bits
        y = self.layer(x)
        if self.last:
            return q_e(y, k.E)
        if self.pool:
            y = F.max_pool2d(y, 2, ceil_mode=True)  # TF 'SAME' pooling keeps odd edges
        return q_a(q_e(F.relu(y), k.E), k.A)


class WageNet(nn.Module):
    """Input ``Q_A``, WAGE blocks, flatten before the first fully connected block."""

    def __init__(self, blocks: Sequence[WageBlock], bits: WageBits, flatten_at: int):
        super().__init__()
        self.bits = bits
        self.blocks = nn.ModuleList(blocks)
        self.flatten_at = flatten_at

    def forward(self, x):
        x = q_a(x, self.bits.A)
        for i, block in enumerate(self.blocks):
            if i == self.flatten_at:
                x = x.flatten(1)
            x = block(x)
        return x


def _conv_fc_net(in_shape: Sequence[int], n_classes: int, convs: Sequence[tuple[int, int, int, bool]],
                 fcs: Sequence[int], bits: WageBits, init: str, storage: str,
                 generator: torch.Generator | None) -> WageNet:
    c, h, w = in_shape
    blocks = []
    for out_c, ksize, pad, pool in convs:
        blocks.append(WageBlock(WageConv2d(c, out_c, ksize, pad, bits, init, storage, generator), pool=pool))
        c, h, w = out_c, h + 2 * pad - ksize + 1, w + 2 * pad - ksize + 1
        if pool:
            h, w = -(-h // 2), -(-w // 2)
    n = c * h * w
    widths = list(fcs) + [n_classes]
    for i, out_f in enumerate(widths):
        blocks.append(WageBlock(WageLinear(n, out_f, bits, init, storage, generator), last=i == len(widths) - 1))
        n = out_f
    return WageNet(blocks, bits, flatten_at=len(convs))


def wage_vgg7(in_shape, n_classes, bits: WageBits = WageBits(), init: str = "code", storage: str = "int8",
              generator: torch.Generator | None = None, width: int = 128) -> WageNet:
    """WAGE VGG-7 (code ``_VGG7``): 2x(w C3) MP 2x(2w C3) MP 2x(4w C3) MP FC 8w FC n; ``width=128`` as published."""
    w = width
    convs = [(w, 3, 1, False), (w, 3, 1, True), (2 * w, 3, 1, False), (2 * w, 3, 1, True),
             (4 * w, 3, 1, False), (4 * w, 3, 1, True)]
    return _conv_fc_net(in_shape, n_classes, convs, [8 * w], bits, init, storage, generator)


def wage_lenet5(in_shape, n_classes, bits: WageBits = WageBits(), init: str = "code", storage: str = "int8",
                generator: torch.Generator | None = None, width: int = 32, padding: int = 0) -> WageNet:
    """WAGE LeNet-5 (released MNIST log): (w C5) MP (2w C5) MP FC 16w FC n, ``width=32``: 32-64-512.

    ``padding=0`` as in the log (fc0 has 1024 = 64 * 4 * 4 inputs on 28x28 MNIST); inputs
    smaller than 16x16 (e.g. 8x8 digits) need ``padding=2``.
    """
    w = width
    h = in_shape[-1]
    if (((h + 2 * padding - 4 + 1) // 2) + 2 * padding - 4 + 1) < 1:
        raise ValueError(f"lenet5 with padding={padding} does not fit {h}x{h} inputs; use padding=2")
    convs = [(w, 5, padding, True), (2 * w, 5, padding, True)]
    return _conv_fc_net(in_shape, n_classes, convs, [16 * w], bits, init, storage, generator)


def wage_mlp(in_shape, n_classes, bits: WageBits = WageBits(), init: str = "code", storage: str = "int8",
             generator: torch.Generator | None = None, width: int = 256, depth: int = 2) -> WageNet:
    """Fully connected WAGE net: ``depth`` hidden layers of ``width`` units."""
    n = math.prod(in_shape)
    return _conv_fc_net((n, 1, 1), n_classes, [], [width] * depth, bits, init, storage, generator)


WAGE_ARCHITECTURES = {"vgg7": wage_vgg7, "lenet5": wage_lenet5, "mlp": wage_mlp}


def build_wage_net(arch: str, in_shape, n_classes, bits: WageBits = WageBits(), init: str = "code",
                   storage: str = "int8", generator: torch.Generator | None = None, **kwargs) -> WageNet:
    """A WAGE variant of ``arch``; weights drawn from ``generator`` in layer order (``None``: seed 0)."""
    if arch not in WAGE_ARCHITECTURES:
        raise ValueError(f"no WAGE variant of architecture {arch!r}; available: {sorted(WAGE_ARCHITECTURES)}")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    return WAGE_ARCHITECTURES[arch](in_shape, n_classes, bits, init, storage, generator, **kwargs)


def wage_layers(net: nn.Module) -> list[tuple[str, WageWeights]]:
    return [(n, m) for n, m in stored_layers(net) if isinstance(m, WageWeights)]


def set_storage(net: nn.Module, storage: str) -> None:
    """Switch every WAGE layer's memory to ``storage`` (``int8`` training, ``ternary`` inference).

    Memory regions change size with the encoding, so the caller re-assigns the memory map
    (``models.layers.assign_memory_map``) before attaching faults.
    """
    for _, layer in wage_layers(net):
        layer.storage = storage
        layer.fault_site = None
