"""Binary layers (BinaryConnect / BNN) that carry their memory metadata.

Every layer that stores weights exposes ``n_params`` (``N_l``), ``bits`` (``b_l``),
``encoding`` (see ``drivers.memory_layout``) and ``fault_site`` so per-layer memory and
energy tables, fault injection and export need no special cases.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from drivers.memory_layout import BITS_PER_WEIGHT, memory_map
from models.energy import LayerMemory
from models.faults import FaultInjector, FaultSite, Flips, negate_at


class SignSTE(torch.autograd.Function):
    """Binarise with the straight-through estimator. [ALGORITHMS 1; seed 2]

    forward:  ``x_b = sign(x)`` with ``sign(0) = +1``
    backward: ``dL/dx = dL/dx_b * 1{|x| <= 1}``
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.ge(0).to(x.dtype).mul_(2).sub_(1)  # vectorised passes: 5x faster than torch.where here

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    return SignSTE.apply(x)


class BinaryActivation(nn.Module):
    """BNN activation: ``sign`` forward, straight-through (hardtanh) backward."""

    def forward(self, x):
        return sign_ste(x)


class StoredWeights:
    """Mixin for layers whose weights live in the (faulty) weight memory.

    Reads without autograd (evaluation: ``torch.no_grad``) use the layer's stored codes and
    clean weights, computed once per weight update (:meth:`clean_weight`,
    :meth:`stored_codes`): the cache is keyed by the latent weight's version counter, which
    every in-place change bumps (optimiser steps, :meth:`clip_latent_`, ``load_state_dict``),
    and by its storage, dtype and the layer's encoding (changes made through ``weight.data``
    bypass the counter, as they bypass autograd). A read's faults are then applied to
    the cached weights in place and undone after the forward (:meth:`flip_`), so a faulty
    read costs its flips, not a pass over the weights. Reads with autograd quantise afresh
    (the straight-through graph). ``effective_weight`` must act elementwise. Because of the
    in-place flips, one network is not evaluated from several threads at once.
    """

    encoding = "binary"
    fault_injector: FaultInjector | None = None
    fault_site: FaultSite | None = None
    _stored_cache: dict | None = None

    @property
    def bits(self) -> int:
        return BITS_PER_WEIGHT[self.encoding]

    @property
    def n_params(self) -> int:
        return self.weight.numel()

    def quantized_weight(self) -> torch.Tensor:
        """``sign(w)``: a fresh tensor on every call (``read_weight`` may flip it in place)."""
        return sign_ste(self.weight)

    def to_codes(self, weight_q: torch.Tensor) -> torch.Tensor:
        """Binary: stored bit 1 = -1, 0 = +1 (ALGORITHMS 1)."""
        return (weight_q < 0).to(torch.uint8)

    def from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return 1.0 - 2.0 * codes.float()

    def effective_weight(self, read: torch.Tensor) -> torch.Tensor:
        """The weight the MACs use, from the value read back from memory (binary: the read)."""
        return read

    def _stored(self) -> dict:
        w = self.weight
        key = (w._version, w.data_ptr(), w.dtype, w.device, self.encoding)
        cache = self._stored_cache
        if cache is None or cache["key"] != key:
            cache = {"key": key}
            self._stored_cache = cache
        return cache

    def clean_weight(self) -> torch.Tensor:
        """The weights the MACs use with a fault-free memory, without autograd; computed once
        per weight update and shared: callers must not change it (:meth:`flip_` does, and
        :meth:`unflip_` undoes it)."""
        cache = self._stored()
        if "weight" not in cache:
            with torch.inference_mode(False), torch.no_grad():  # a normal tensor: flipped in any mode
                cache["weight"] = self.effective_weight(self.quantized_weight()).contiguous()
        return cache["weight"]

    def stored_codes(self) -> torch.Tensor:
        """The stored codes (``to_codes`` of the quantised weights), computed once per weight
        update and shared: callers must not change it."""
        cache = self._stored()
        if "codes" not in cache:
            with torch.inference_mode(False), torch.no_grad():
                cache["codes"] = self.to_codes(self.quantized_weight()).contiguous()
        return cache["codes"]

    def flip_(self, flips: Flips) -> torch.Tensor | None:
        """Apply ``flips`` to the cached clean weights in place; returns what
        :meth:`unflip_` needs to undo it (no autograd; the cache is shared until then)."""
        w = self.clean_weight().view(-1)
        if flips.xor is None:  # single-bit words: every listed weight reads its other value
            negate_at(w, flips.index)
            return None
        saved = w[flips.index]
        codes = self.stored_codes().view(-1)[flips.index] ^ flips.xor.to(self.stored_codes().dtype)
        w.index_copy_(0, flips.index, self.effective_weight(self.from_codes(codes)).to(w.dtype))
        return saved

    def unflip_(self, flips: Flips, saved: torch.Tensor | None) -> None:
        """Undo :meth:`flip_` (``saved``: its return value)."""
        w = self.clean_weight().view(-1)
        if saved is None:
            negate_at(w, flips.index)
        else:
            w.index_copy_(0, flips.index, saved)

    def read_weight(self) -> torch.Tensor:
        """The weights the layer computes with, read from the (faulty when an injector is
        attached) memory: a tensor the caller owns."""
        w = self.quantized_weight()
        if self.fault_injector is not None:
            w = self.fault_injector.corrupt(self, w, inplace=True)  # w: a fresh temporary
        return self.effective_weight(w)

    @contextmanager
    def weights_for_forward(self) -> Iterator[torch.Tensor]:
        """The weights for one forward pass. Without autograd: the cached clean weights, with
        this read's faults applied in place and undone afterwards; with autograd (or stacked
        fault draws): :meth:`read_weight`."""
        inj = self.fault_injector
        if torch.is_grad_enabled() or (inj is not None and inj.enabled and inj.draws):
            yield self.read_weight()
        elif inj is None or not inj.enabled:
            yield self.clean_weight()
        else:
            flips = inj.read_flips(self)
            saved = self.flip_(flips)
            try:
                yield self.clean_weight()
            finally:
                self.unflip_(flips, saved)

    def clip_latent_(self) -> None:
        """Latent weights stay in [-1, 1] after every update. [ALGORITHMS 1]"""
        with torch.no_grad():
            self.weight.clamp_(-1.0, 1.0)


class BinaryLinear(StoredWeights, nn.Linear):
    """Fully connected layer with binary weights; accepts stacked fault draws.

    With weights of shape ``[K, out, in]`` (K fault draws) the input batch is ``K * B``
    rows, draw-major, and each draw's rows meet that draw's weights.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__(in_features, out_features, bias=bias)
        nn.init.uniform_(self.weight, -1.0, 1.0)

    def forward(self, x):
        with self.weights_for_forward() as w:
            if w.dim() == 2:
                return F.linear(x, w, self.bias)
            k = w.shape[0]
            out = torch.bmm(x.reshape(k, -1, x.shape[-1]), w.transpose(1, 2)).reshape(x.shape[0], -1)
            return out if self.bias is None else out + self.bias


class BinaryConv2d(StoredWeights, nn.Conv2d):
    """2-D convolution with binary weights; accepts stacked fault draws (grouped conv)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=False):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
        nn.init.uniform_(self.weight, -1.0, 1.0)

    def forward(self, x):
        with self.weights_for_forward() as w:
            if w.dim() == 4:
                return F.conv2d(x, w, self.bias, self.stride, self.padding)
            k, out_c = w.shape[0], w.shape[1]
            b = x.shape[0] // k
            xg = x.reshape(k, b, *x.shape[1:]).transpose(0, 1).reshape(b, -1, *x.shape[2:])
            y = F.conv2d(xg, w.reshape(k * out_c, *w.shape[2:]), None, self.stride, self.padding, groups=k)
        y = y.reshape(b, k, out_c, *y.shape[2:]).transpose(0, 1).reshape(k * b, out_c, *y.shape[2:])
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


def stored_layers(net: nn.Module) -> list[tuple[str, StoredWeights]]:
    """Layers whose weights live in the weight memory, in network order."""
    return [(name, m) for name, m in net.named_modules() if isinstance(m, StoredWeights)]


def layer_memory(net: nn.Module) -> list[LayerMemory]:
    """What each stored layer keeps in memory (``N_l``, ``b_l``), in network order."""
    return [LayerMemory(name, m.n_params, m.bits) for name, m in stored_layers(net)]


def assign_memory_map(net: nn.Module, base_word: int = 0) -> None:
    """Give every stored layer its :class:`FaultSite` (region in the shared memory map)."""
    layers = stored_layers(net)
    regions = memory_map([(n, tuple(m.weight.shape), m.encoding) for n, m in layers], base_word)
    for i, ((name, m), region) in enumerate(zip(layers, regions)):
        m.fault_site = FaultSite(name, i, region)


def ensure_memory_map(net: nn.Module) -> None:
    """Assign the memory map (:func:`assign_memory_map`) unless every stored layer has its site."""
    if any(m.fault_site is None for _, m in stored_layers(net)):
        assign_memory_map(net)


def attach_faults(net: nn.Module, injector: FaultInjector | None) -> None:
    """Route every stored layer's weight reads through ``injector`` (``None`` detaches)."""
    ensure_memory_map(net)
    for _, m in stored_layers(net):
        m.fault_injector = injector


def clip_latent_weights(net: nn.Module) -> None:
    for _, m in stored_layers(net):
        m.clip_latent_()


class QuantizeInput(nn.Module):
    """Inputs as the firmware receives them: signed ``bits``-bit fixed point in [-1, 1].

    ``q(x) = round(clamp(x, -1, 1) * L) / L`` with ``L = 2^(bits-1) - 1`` (127 for 8 bits);
    straight-through backward (identity inside [-1, 1]).
    """

    def __init__(self, bits: int = 8):
        super().__init__()
        self.bits = bits
        self.levels = 2 ** (bits - 1) - 1

    def forward(self, x):
        x = x.clamp(-1.0, 1.0)
        q = torch.round(x * self.levels) / self.levels
        if not torch.is_grad_enabled():
            # the same values (a zero may be -0.0): |q - x| <= x's half step, so q - x and
            # x + (q - x) are exact (Sterbenz); checked over every float32 in [-1, 1] for 8 bits
            return q
        return x + (q - x).detach()

    def extra_repr(self):
        return f"bits={self.bits}"


class Scale(nn.Module):
    """Positive scalar on the last layer's integer scores: ``y = s * z``, ``s = exp(log_s) > 0``.

    The only float op after the last binary layer; ``s > 0`` keeps ``argmax`` unchanged, so
    deployment reports the integer scores ``z``. ``learnable=False`` fixes ``s`` at ``init``.
    """

    def __init__(self, init: float = 1.0, learnable: bool = True):
        super().__init__()
        if init <= 0:
            raise ValueError(f"Scale init {init} must be > 0")
        log_s = torch.tensor(float(init)).log()
        if learnable:
            self.log_s = nn.Parameter(log_s)
        else:
            self.register_buffer("log_s", log_s)

    @property
    def value(self) -> float:
        return float(self.log_s.detach().exp())

    def forward(self, x):
        return x * self.log_s.exp()
