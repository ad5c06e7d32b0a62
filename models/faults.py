"""Fault injection on weight reads: one interface for every fault model.

A fault model answers one question: *what does a read of this layer's weight memory
return?* It answers with an integer XOR mask over the layer's stored codes (the bit codes
of ``drivers.memory_layout``: for binary weights bit 1 = -1), so software channels,
measured profiles, replayed fault maps and live board readback all plug in here without
touching training code. A fault model is where (which cells, :class:`FaultSite` carries
their bit addresses) times what (the error mode); models compose with :class:`Compose` (kind ``compose`` in ``models.fault_registry``).

The :class:`FaultInjector` owns the per-layer rates (``eps_l``), the generator and the
gradient mode; layers call :meth:`FaultInjector.corrupt` on their quantised weights.
"""

from __future__ import annotations

import math
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import torch

from drivers.memory_layout import LayerRegion, bit_addresses

GRADIENT_MODES = ("straight-through", "aware")


@dataclass(frozen=True)
class FaultSite:
    """One layer's weight memory: its name, position and region in the memory map."""

    name: str
    index: int
    region: LayerRegion

    @property
    def bits_per_weight(self) -> int:
        return self.region.bits_per_weight

    @cached_property
    def addresses(self) -> np.ndarray:
        """Global bit address of every stored bit, shape ``weight_shape + (bits,)``."""
        return bit_addresses(self.region)


class FaultModel(ABC):
    """What a read returns: an XOR mask over stored codes.

    ``codes``: integer tensor of the layer's stored codes in torch weight order (binary:
    0/1 with 1 = -1; multi-bit: the unsigned ``bits_per_weight``-bit word). ``rate``: the
    layer's nominal bit-error rate (``eps_l`` from uniform/LaNMax training) or ``None``
    where the model fixes its own. ``draws``: when given, return ``draws`` independent
    masks stacked on a new leading axis (batched Monte-Carlo evaluation).
    Returns an integer tensor of the codes' dtype: bit ``j`` set = bit ``j`` reads flipped.
    """

    @abstractmethod
    def flip_mask(self, site: FaultSite, codes: torch.Tensor, rate: float | None,
                  generator: torch.Generator, draws: int | None = None) -> torch.Tensor:
        ...

    def flip_positions(self, site: FaultSite, n_bits: int, rate: float | None,
                       generator: torch.Generator, device: torch.device) -> torch.Tensor | None:
        """Optional fast path: sorted flat indices of the flipped bits among ``n_bits`` stored
        bits (``[draws, *weight_shape, bits]`` flattened), or ``None`` when the model only
        gives dense masks. Must describe the same distribution as :meth:`flip_mask`."""
        return None

    def reads_per_call(self, site: FaultSite, n_bits: int, rate: float | None) -> int:
        """How many independent reads of a layer (``n_bits`` stored bits) one call may draw
        ahead (``flip_mask(..., draws)``; :meth:`FaultInjector.read_flips` hands them out one
        per read). 1 (the default) for models whose reads are not independent draws from
        the generator alone (fault maps, replays, a board)."""
        return 1

    def describe(self) -> dict:
        """Plain-data description recorded in a run's config."""
        return {"kind": type(self).__name__}


def _shape(codes: torch.Tensor, bits: int, draws: int | None) -> tuple[int, ...]:
    lead = (draws,) if draws else ()
    return lead + tuple(codes.shape) + (bits,)


def bits_to_mask(flips: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[..., bits]`` bool -> integer mask ``sum_j flips_j << j``."""
    bits = flips.shape[-1]
    if bits == 1:
        return flips[..., 0].to(dtype)
    weights = (2 ** torch.arange(bits, device=flips.device)).to(torch.int64)
    return (flips.to(torch.int64) * weights).sum(-1).to(dtype)


#: A sparse model draws at most this many of a layer's reads in one call
#: (:meth:`BinarySymmetric.reads_per_call`), keeping their expected flips under ``READS_AHEAD_FLIPS``.
READS_AHEAD_MAX, READS_AHEAD_FLIPS = 16, 1 << 15

#: From this many draws on, :func:`geometric_gaps` transforms uniforms itself on the CPU [choice:
#: below it the three extra tensor calls cost more than torch's per-draw ``geometric_`` loop saves]
VECTOR_GEOMETRIC_FROM = 1024


def geometric_gaps(m: int, p: float, generator: torch.Generator, device) -> torch.Tensor:
    """``m`` Geometric(p) draws on {1, 2, ...} (int64): the draws of ``Tensor.geometric_``.

    On the CPU ``geometric_`` draws one float64 uniform ``u`` per value, as ``torch.rand``
    does, and returns ``ceil(ln u / ln(1 - p))``; for ``m >= VECTOR_GEOMETRIC_FROM`` the same
    uniforms are transformed here with vectorised calls, 1.3-1.7x faster (equal on 1.2e8
    draws over p in [1e-5, 0.24]; other devices draw their uniforms differently and keep
    ``geometric_``).
    """
    if torch.device(device).type != "cpu" or m < VECTOR_GEOMETRIC_FROM:
        return torch.empty(m, dtype=torch.long, device=device).geometric_(p, generator=generator)
    return torch.rand(m, dtype=torch.float64, generator=generator).log_().div_(math.log1p(-p)).ceil_().long()


def bernoulli_positions(n: int, p: float, generator: torch.Generator, device, chunk: int | None = None) -> torch.Tensor:
    """Sorted indices ``i < n`` of an i.i.d. Bernoulli(p) sequence, in O(n p) work.

    The gaps between successes of a Bernoulli process are Geometric(p) on {1, 2, ...}, so
    ``cumsum(gaps) - 1`` are exactly the success positions (no approximation). Gaps are
    drawn ``chunk`` at a time (default ``n p + 6 sqrt(n p) + 16`` [choice]: one chunk nearly
    always reaches past ``n``, and then the positions cost seven tensor calls; on small
    layers the calls, not the draws, are the cost).
    """
    if p <= 0.0 or n == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    m = chunk or int(n * p + 6 * math.sqrt(n * p) + 16)
    chunks, last = [], -1
    while True:
        pos = geometric_gaps(m, p, generator, device).cumsum_(0).add_(last)
        chunks.append(pos)
        below = int(torch.searchsorted(pos, n))  # positions < n (sorted)
        if below < m:
            break
        last = int(pos[-1])
        if last >= n - 1:
            break
    pos = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
    return pos[:len(pos) - m + below]


def stored_bits(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer codes -> ``[..., bits]`` 0/1 (LSB first)."""
    shifts = torch.arange(bits, device=codes.device)
    return (codes.to(torch.int64).unsqueeze(-1) >> shifts) & 1


class BinarySymmetric(FaultModel):
    """BSC(eps): every stored bit flips independently with probability eps.

    ``P(read != stored) = eps`` per bit, re-drawn on every read. [ALGORITHMS 2; seed 1 eq. 2]
    ``bit_rates`` (optional, multi-bit words): a relative rate per bit position, LSB first,
    multiplied into eps (default: uniform over positions).
    """

    def __init__(self, eps: float | None = None, bit_rates: Sequence[float] | None = None,
                 sparse_below: float = 0.25):
        self.eps = eps
        self.bit_rates = None if bit_rates is None else torch.tensor(list(bit_rates), dtype=torch.float64)
        self.sparse_below = sparse_below

    def _eps(self, rate):
        eps = self.eps if rate is None else rate
        if eps is None:
            raise ValueError("BinarySymmetric needs eps: give it to the model or as the layer rate")
        return float(eps)

    def _sparse(self, eps: float) -> bool:
        """Whether reads at ``eps`` take the sparse path (:meth:`flip_positions`)."""
        return self.bit_rates is None and eps < self.sparse_below

    def flip_positions(self, site, n_bits, rate, generator, device):
        """Sparse sampling (:func:`bernoulli_positions`) while ``eps < sparse_below`` and the
        rate is the same for every bit. Default 0.25 [choice]: measured on a 2048x2048 layer,
        sparse reads cost 6 ms at eps 0.01 and 25 ms at 0.2 against ~35 ms dense; at 0.3 dense wins."""
        eps = self._eps(rate)
        return bernoulli_positions(n_bits, eps, generator, device) if self._sparse(eps) else None

    def reads_per_call(self, site, n_bits, rate):
        """On the sparse path, up to ``READS_AHEAD_MAX`` reads per call while their expected
        flips stay under ``READS_AHEAD_FLIPS`` [choice]: a sparse draw costs about ten tensor
        calls whatever its size, which on small layers is most of a read's cost; on large
        ones a read is drawn alone (its flips, not the calls, cost)."""
        eps = self._eps(rate)
        if not self._sparse(eps):
            return 1
        return max(1, min(READS_AHEAD_MAX, int(READS_AHEAD_FLIPS // max(1.0, n_bits * eps))))

    def flip_mask(self, site, codes, rate, generator, draws=None):
        eps = self._eps(rate)
        bits = site.bits_per_weight
        shape = _shape(codes, bits, draws)
        pos = self.flip_positions(site, math.prod(shape), rate, generator, codes.device)
        if pos is not None:
            flips = torch.zeros(shape, dtype=torch.bool, device=codes.device)
            flips.view(-1)[pos] = True
            return bits_to_mask(flips, codes.dtype)
        p = torch.full((bits,), float(eps), dtype=torch.float64)
        if self.bit_rates is not None:
            if len(self.bit_rates) != bits:
                raise ValueError(f"bit_rates has {len(self.bit_rates)} entries, layer {site.name} stores {bits} bits")
            p = p * self.bit_rates
        u = torch.rand(shape, generator=generator, device=codes.device)
        return bits_to_mask(u < p.to(u.device, torch.float32), codes.dtype)

    def describe(self):
        return {"kind": "bsc", "eps": self.eps, "sparse_below": self.sparse_below,
                "bit_rates": None if self.bit_rates is None else self.bit_rates.tolist()}


class Asymmetric(FaultModel):
    """Asymmetric channel: ``P(0->1) = p01``, ``P(1->0) = p10`` per stored bit. [ALGORITHMS 2]

    With a layer ``rate`` the pair is rescaled so that its mean equals the rate while the
    ratio ``p01 : p10`` is kept.
    """

    def __init__(self, p01: float, p10: float):
        if not (0 <= p01 <= 1 and 0 <= p10 <= 1):
            raise ValueError(f"p01={p01}, p10={p10}: rates must lie in [0, 1]")
        self.p01, self.p10 = float(p01), float(p10)

    def flip_mask(self, site, codes, rate, generator, draws=None):
        p01, p10 = self.p01, self.p10
        if rate is not None and p01 + p10 > 0:
            scale = 2 * rate / (p01 + p10)
            p01, p10 = p01 * scale, p10 * scale
        bits = site.bits_per_weight
        stored = stored_bits(codes, bits)
        p = torch.where(stored.bool(), torch.tensor(p10), torch.tensor(p01)).float()
        u = torch.rand(_shape(codes, bits, draws), generator=generator, device=codes.device)
        return bits_to_mask(u < p, codes.dtype)

    def describe(self):
        return {"kind": "asymmetric", "p01": self.p01, "p10": self.p10}


class Compose(FaultModel):
    """Independent fault sources acting on the same read: the masks XOR together."""

    def __init__(self, *models: FaultModel):
        self.models = models

    def flip_mask(self, site, codes, rate, generator, draws=None):
        mask = None
        for m in self.models:
            part = m.flip_mask(site, codes, rate, generator, draws)
            mask = part if mask is None else mask ^ part
        return mask

    def describe(self):
        return {"kind": "compose", "models": [m.describe() for m in self.models]}


_MINUS_ONE: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def negate_at(flat: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``flat[positions] *= -1`` in place (1-D ``flat``, distinct ``positions``): one scatter,
    no gathered copy. ``scatter_reduce_("prod")`` from an expanded ``-1`` is about twice as fast
    as ``scatter_(reduce="multiply")`` on the CPU."""
    key = (flat.dtype, flat.device)
    if key not in _MINUS_ONE:
        _MINUS_ONE[key] = torch.full((1,), -1, dtype=flat.dtype, device=flat.device)
    return flat.scatter_reduce_(0, positions, _MINUS_ONE[key].expand(len(positions)), "prod")


class Flips(NamedTuple):
    """One read's faults in one layer, sparse: ``index`` (int64) are the flat indices, in
    torch weight order, of the weights that read wrong; ``xor`` the XOR of each over its
    stored code for multi-bit words, ``None`` for single-bit words (each listed weight reads
    its other value). Memory: the flips, not the layer."""

    index: torch.Tensor
    xor: torch.Tensor | None = None

    @classmethod
    def from_positions(cls, positions: torch.Tensor, bits: int) -> "Flips":
        """From the sorted flat indices of flipped bits (``[*weight_shape, bits]`` flattened)."""
        if bits == 1:
            return cls(positions)
        index, inverse = torch.unique_consecutive(torch.div(positions, bits, rounding_mode="floor"),
                                                  return_inverse=True)
        bit = 1 << (positions % bits)  # distinct bits of one word: their sum is their XOR
        return cls(index, torch.zeros_like(index).scatter_add_(0, inverse, bit))

    @classmethod
    def from_mask(cls, mask: torch.Tensor, bits: int) -> "Flips":
        """From a dense XOR mask over the layer's codes (:meth:`FaultModel.flip_mask`)."""
        flat = mask.reshape(-1)
        index = flat.nonzero().squeeze(1)
        return cls(index, None if bits == 1 else flat[index])


def draw_flips(model: FaultModel, layer, rate: float | None, generator: torch.Generator,
               draws: int | None = None) -> list[Flips]:
    """Independent reads of ``layer``'s weight memory (``draws`` of them, or one) as
    :class:`Flips`, with the generator calls of ``model.flip_mask(..., draws)``: through the
    model's sparse :meth:`FaultModel.flip_positions` where it has one (no dense mask is
    built: cost and memory grow with the flips), its dense mask otherwise."""
    site, n = layer.fault_site, layer.weight.numel()
    bits, k = site.bits_per_weight, draws or 1
    pos = model.flip_positions(site, k * n * bits, rate, generator, layer.weight.device)
    if pos is None:
        mask = model.flip_mask(site, layer.stored_codes(), rate, generator, draws)
        return [Flips.from_mask(m, bits) for m in (mask if draws else [mask])]
    if k == 1:
        return [Flips.from_positions(pos, bits)]
    step = n * bits
    bounds = torch.searchsorted(pos, torch.arange(1, k, device=pos.device) * step).tolist()
    return [Flips.from_positions(p - d * step, bits) for d, p in enumerate(torch.tensor_split(pos, bounds))]


class FlipSigns(torch.autograd.Function):
    """Binary weights read with the signs at flat ``positions`` flipped (sparse fast path).

    forward:  ``w~ = m * w_b`` (``[draws, *shape]`` when ``draws``), ``m = -1`` at positions
    backward: straight-through ``dL/dw_b = dL/dw~``, aware ``dL/dw_b = m * dL/dw~``
    (summed over the draw axis) -- the same gradients as the dense path. [ALGORITHMS 2]
    ``inplace`` (single read only): flip ``weight_q`` itself instead of a copy; for a
    temporary that only this read holds (a fresh ``sign(w)``), it saves a full pass over
    the layer's weights per read.
    """

    @staticmethod
    def forward(ctx, weight_q, positions, draws, aware, inplace=False):
        if draws:
            out = weight_q.detach().expand(draws, *weight_q.shape).clone()
        elif inplace:
            ctx.mark_dirty(weight_q)
            out = weight_q
        else:
            out = weight_q.detach().clone()
        negate_at(out.view(-1), positions)
        if aware:
            ctx.save_for_backward(positions)
        ctx.draws, ctx.aware = draws, aware
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.aware:
            (positions,) = ctx.saved_tensors
            grad = grad.clone(memory_format=torch.contiguous_format)
            negate_at(grad.view(-1), positions)
        if ctx.draws:
            grad = grad.sum(0)
        return grad, None, None, None, None


@dataclass
class FaultInjector:
    """Applies a fault model to every layer that stores weights.

    ``rates``: per-layer nominal eps (layer name -> rate); a missing name uses ``default_rate``.
    ``gradient``: ``straight-through`` (default; dL/dw_b = dL/dw~, Buschjaeger et al. and
    LaNMax sec. III-A) or ``aware`` (dL/dw_b = m * dL/dw~, Hirtzlin et al.). [ALGORITHMS 2]
    ``draws``: when set, every read returns that many independent corrupted copies stacked
    on a leading axis (layers then evaluate all draws in one batched pass).
    """

    model: FaultModel
    generator: torch.Generator
    rates: Mapping[str, float] = field(default_factory=dict)
    default_rate: float | None = None
    gradient: str = "straight-through"
    enabled: bool = True
    draws: int | None = None
    _reads_ahead: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary, init=False,
                                                    repr=False, compare=False)

    def __post_init__(self):
        if self.gradient not in GRADIENT_MODES:
            raise ValueError(f"gradient mode {self.gradient!r}: expected one of {GRADIENT_MODES}")

    def rate(self, site: FaultSite) -> float | None:
        return self.rates.get(site.name, self.default_rate)

    def read_flips(self, layer) -> Flips:
        """This read's faults in ``layer``: an independent draw at every call. Where the
        model allows it (:meth:`FaultModel.reads_per_call`), a layer's reads are drawn
        several at a time (the generator calls of ``flip_mask(..., draws)``) and handed out
        one per call, in order; a change of the layer's site, rate or device discards the rest."""
        key = (layer.fault_site, self.rate(layer.fault_site), layer.weight.device)
        ahead = self._reads_ahead.get(layer)
        if ahead is None or ahead[0] != key or not ahead[1]:
            site, rate = key[0], key[1]
            k = self.model.reads_per_call(site, layer.weight.numel() * site.bits_per_weight, rate)
            ahead = (key, draw_flips(self.model, layer, rate, self.generator, k if k > 1 else None)[::-1])
            self._reads_ahead[layer] = ahead
        return ahead[1].pop()

    def corrupt(self, layer, weight_q: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """Quantised weights as read back from faulty memory (gradients per ``gradient``).

        ``inplace``: ``weight_q`` is a temporary that only this read holds (``read_weight``'s
        fresh sign); the sparse path may then flip it in place instead of copying it.
        """
        if not self.enabled:
            return weight_q
        site = layer.fault_site
        if layer.encoding == "binary":
            n_bits = weight_q.numel() * (self.draws or 1)
            pos = self.model.flip_positions(site, n_bits, self.rate(site), self.generator, weight_q.device)
            if pos is not None:
                if inplace and not self.draws and self.gradient == "straight-through":
                    # flipped behind autograd's back: the read's gradient is dL/dw~ itself
                    negate_at(weight_q.detach().view(-1), pos)
                    return weight_q
                return FlipSigns.apply(weight_q, pos, self.draws, self.gradient == "aware", inplace)
        codes = layer.to_codes(weight_q.detach())
        mask = self.model.flip_mask(site, codes, self.rate(site), self.generator, self.draws)
        if self.gradient == "aware":
            if layer.encoding != "binary":
                raise ValueError(f"gradient 'aware' is defined for binary layers only (layer {site.name})")
            return weight_q * (1 - 2 * mask.to(weight_q.dtype))
        read = layer.from_codes(codes ^ mask).to(weight_q.dtype)
        return weight_q + (read - weight_q).detach()


class FixedMasks(FaultModel):
    """Replays masks drawn once: ``masks[layer name]`` (with a leading draw axis when batched).

    The same faulty memory for every read (one "chip"): read-path tests, stacked evaluation
    (``benchmarks/mc_eval.py``) and replays of recorded masks through the layers.
    """

    def __init__(self, masks: Mapping[str, torch.Tensor]):
        self.masks = dict(masks)

    def flip_mask(self, site, codes, rate, generator, draws=None):
        return self.masks[site.name]

    def describe(self):
        return {"kind": "fixed-masks", "layers": sorted(self.masks)}
