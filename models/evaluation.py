"""Accuracy under weight-memory faults, one draw or Monte-Carlo to a target CI.

One *repetition* is one fault draw (one read of every stored layer's memory) kept for the
whole test set, like one faulty chip. A draw is sparse (:class:`models.faults.Flips`: the
weights that read wrong): it is applied in place to the layers' cached clean weights
(:meth:`StoredWeights.flip_`), the test set runs, and it is undone, so a draw costs a
clean forward pass plus its flips, and its memory is its flips. Draws are sampled
``draws_per_pass`` at a time with one fault-model call per layer (the calls of
:func:`sample_masks`, so a seed gives the same chips either way); the test set runs in
chunks of ``max_rows`` rows. Stacking draws on a leading weight axis (the layers accept
``[K, ...]`` weights, :func:`correct_counts` with ``draws=K``) costs a copy of every weight
per draw; on the CPU it is slower than the in-place path (``benchmarks/mc_eval.py``), so the
Monte-Carlo path does not stack.

Monte-Carlo stopping rule [ALGORITHMS 5; seed 1 sec. IV]: keep adding repetitions until
the 95% confidence half-width ``t_{0.975, n-1} * s / sqrt(n)`` of the mean accuracy is below
``target`` (absolute, accuracy as a fraction) with at least ``min_reps`` and at most
``max_reps`` repetitions.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn

from models.faults import BinarySymmetric, FaultInjector, FaultModel, Flips, draw_flips
from models.layers import attach_faults, ensure_memory_map, stored_layers

#: Largest number of rows (``draws * batch``) one forward pass may carry (memory bound).
DEFAULT_MAX_ROWS = 8192


@contextmanager
def faults_attached(net: nn.Module, injector: FaultInjector | None):
    """Attach ``injector`` for the block, then restore the layers' previous injectors."""
    previous = [m.fault_injector for _, m in stored_layers(net)]
    attach_faults(net, injector)
    try:
        yield
    finally:
        for (_, m), inj in zip(stored_layers(net), previous):
            m.fault_injector = inj


@torch.no_grad()
def correct_counts(net: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 1,
                   max_rows: int = DEFAULT_MAX_ROWS) -> torch.Tensor:
    """Correct predictions per draw, ``[draws]``, with whatever injectors are attached.

    With ``draws > 1`` the attached injector must return ``draws`` stacked weight copies.
    """
    net.eval()
    device = next(net.parameters()).device
    batch = max(1, max_rows // draws)
    counts = torch.zeros(draws, dtype=torch.long)
    for start in range(0, len(y), batch):
        xb, yb = x[start:start + batch].to(device), y[start:start + batch].to(device)
        xk = xb.repeat(draws, *([1] * (xb.dim() - 1)))  # draw-major: [x; x; ...]
        pred = net(xk).argmax(-1).reshape(draws, -1)
        counts += (pred == yb).sum(1).cpu()
    return counts


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, max_rows: int = DEFAULT_MAX_ROWS) -> float:
    """Fault-free accuracy (injectors detached for the call)."""
    with faults_attached(net, None):
        return float(correct_counts(net, x, y, 1, max_rows)[0]) / len(y)


def sample_masks(net: nn.Module, fault_model: FaultModel, rates: Mapping[str, float],
                 generator: torch.Generator, draws: int) -> dict[str, torch.Tensor]:
    """``draws`` independent dense masks per stored layer (``[draws, *weight.shape]``).

    A layer missing from ``rates`` reads at rate 0.
    """
    ensure_memory_map(net)
    return {name: fault_model.flip_mask(layer.fault_site, layer.stored_codes(), rates.get(name, 0.0), generator, draws)
            for name, layer in stored_layers(net)}


def sample_flips(net: nn.Module, fault_model: FaultModel, rates: Mapping[str, float],
                 generator: torch.Generator, draws: int) -> list[dict[str, Flips]]:
    """``draws`` independent fault draws, sparse: per draw, per stored layer, its
    :class:`Flips` (:func:`models.faults.draw_flips`; the generator calls of
    :func:`sample_masks`). A layer missing from ``rates`` reads at rate 0."""
    ensure_memory_map(net)
    out: list[dict[str, Flips]] = [{} for _ in range(draws)]
    for name, layer in stored_layers(net):
        for d, flips in enumerate(draw_flips(fault_model, layer, rates.get(name, 0.0), generator, draws)):
            out[d][name] = flips
    return out


@contextmanager
def flipped(net: nn.Module, draw: Mapping[str, Flips]):
    """The draw's flips applied in place to the stored layers' clean weights for the block
    (evaluation without autograd), undone after it."""
    done = []
    try:
        for name, layer in stored_layers(net):
            if name in draw:
                done.append((layer, draw[name], layer.flip_(draw[name])))
        yield
    finally:
        for layer, flips, saved in reversed(done):
            layer.unflip_(flips, saved)


@torch.no_grad()
def accuracies_with_flips(net: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: Sequence[Mapping[str, Flips]],
                          max_rows: int = DEFAULT_MAX_ROWS) -> torch.Tensor:
    """Accuracy of each fault draw over the whole test set (``[len(draws)]``, float64)."""
    net.eval()
    device = next(net.parameters()).device
    chunks = [(x[s:s + max_rows].to(device), y[s:s + max_rows].to(device)) for s in range(0, len(y), max_rows)]
    accs = torch.empty(len(draws), dtype=torch.float64)
    with faults_attached(net, None):
        for d, draw in enumerate(draws):
            with flipped(net, draw):
                correct = sum(int((net(xb).argmax(-1) == yb).sum()) for xb, yb in chunks)
            accs[d] = correct / len(y)
    return accs


def accuracies_with_masks(net: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          masks: Mapping[str, torch.Tensor], draws: int,
                          max_rows: int = DEFAULT_MAX_ROWS) -> torch.Tensor:
    """Accuracy of each of ``draws`` stacked mask sets (``masks[name]``: ``[draws, *shape]``)."""
    ensure_memory_map(net)
    bits = {name: layer.fault_site.bits_per_weight for name, layer in stored_layers(net)}
    return accuracies_with_flips(net, x, y, [{name: Flips.from_mask(m[d], bits[name]) for name, m in masks.items()}
                                             for d in range(draws)], max_rows)


def ci_half_width(values: torch.Tensor, confidence: float = 0.95) -> float:
    """Half-width of the Student-t confidence interval of the mean (inf for n < 2)."""
    from scipy.stats import t as student_t  # imported on first use: scipy.stats is slow to load

    n = len(values)
    if n < 2:
        return math.inf
    t = float(student_t.ppf(0.5 + confidence / 2, n - 1))
    return t * float(values.double().std(unbiased=True)) / math.sqrt(n)


#: two-sided 95% standard normal quantile
Z95 = 1.959963984540054


def wilson(correct: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``correct / n`` [Wilson 1927]: inside
    [0, 1] and never zero-width, so honest for few trials (unlike ``p +- z sqrt(p(1-p)/n)``)."""
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@dataclass
class MCResult:
    mean: float
    half_width: float
    reps: int
    accuracies: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"mean": self.mean, "half_width": self.half_width, "reps": self.reps}


def is_fault_free(rates: Mapping[str, float] | None) -> bool:
    return not rates or all(r == 0 for r in rates.values())


def mc_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, rates: Mapping[str, float] | None,
                generator: torch.Generator, fault_model: FaultModel | None = None,
                target: float = 0.01, min_reps: int = 10, max_reps: int = 1000,
                draws_per_pass: int = 16, max_rows: int = DEFAULT_MAX_ROWS,
                on_progress: Callable[[MCResult], None] | None = None) -> MCResult:
    """Monte-Carlo accuracy at per-layer ``rates`` until the 95% CI half-width < ``target``.

    Fault-free rates give the exact accuracy with ``reps = 1`` and half-width 0.
    ``on_progress`` is called after every batched pass (e.g. to drive a progress bar).
    """
    if min_reps < 2 or max_reps < min_reps:
        raise ValueError(f"need 2 <= min_reps <= max_reps, got min_reps={min_reps}, max_reps={max_reps}")
    if is_fault_free(rates):
        acc = accuracy(net, x, y, max_rows)
        return MCResult(acc, 0.0, 1, [acc])
    fault_model = fault_model or BinarySymmetric()
    return until_confident(
        lambda k: accuracies_with_flips(net, x, y, sample_flips(net, fault_model, rates, generator, k), max_rows),
        target, min_reps, max_reps, draws_per_pass, on_progress)


def until_confident(pass_accuracies: Callable[[int], torch.Tensor], target: float, min_reps: int, max_reps: int,
                    draws_per_pass: int, on_progress: Callable[[MCResult], None] | None = None) -> MCResult:
    """The stopping rule of :func:`mc_accuracy` (module docstring) over passes of at most
    ``draws_per_pass`` repetitions; ``pass_accuracies(k)`` evaluates ``k`` fresh fault draws."""
    accs = torch.empty(0, dtype=torch.float64)
    while len(accs) < max_reps:
        accs = torch.cat([accs, pass_accuracies(min(draws_per_pass, max_reps - len(accs)))])
        result = MCResult(float(accs.mean()), ci_half_width(accs), len(accs), accs.tolist())
        if on_progress is not None:
            on_progress(result)
        if len(accs) >= min_reps and result.half_width < target:
            break
    return result
