"""Accuracy under weight-memory faults, one draw or Monte-Carlo to a target CI.

One *repetition* is one fault draw (one mask per stored layer) kept for the whole test set,
like one faulty chip. ``K`` repetitions run in one batched pass: masks are drawn with a
leading axis of ``K`` (:meth:`FaultModel.flip_mask` with ``draws=K``), the input batch is
repeated ``K`` times draw-major and every stored layer meets each draw's weights
(``BinaryLinear``/``BinaryConv2d`` accept stacked weights; BatchNorm runs in eval mode, so
its running statistics treat the ``K * B`` rows independently).

Monte-Carlo stopping rule [ALGORITHMS 5; seed 1 sec. IV]: keep adding repetitions until
the 95% confidence half-width ``t_{0.975, n-1} * s / sqrt(n)`` of the mean accuracy is below
``target`` (absolute, accuracy as a fraction) with at least ``min_reps`` and at most
``max_reps`` repetitions.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch
import torch.nn as nn

from models.faults import BinarySymmetric, FaultInjector, FaultModel, FixedMasks
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
    """``draws`` independent masks per stored layer (``[draws, *weight.shape]``).

    A layer missing from ``rates`` reads at rate 0.
    """
    ensure_memory_map(net)
    masks = {}
    for name, layer in stored_layers(net):
        codes = layer.to_codes(layer.quantized_weight().detach())
        masks[name] = fault_model.flip_mask(layer.fault_site, codes, rates.get(name, 0.0), generator, draws)
    return masks


def accuracies_with_masks(net: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          masks: Mapping[str, torch.Tensor], draws: int,
                          max_rows: int = DEFAULT_MAX_ROWS) -> torch.Tensor:
    """Accuracy of each of ``draws`` stacked mask sets, in one batched pass per input chunk."""
    injector = FaultInjector(FixedMasks(masks), torch.Generator(), draws=draws)
    with faults_attached(net, injector):
        return correct_counts(net, x, y, draws, max_rows).double() / len(y)


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
        lambda k: accuracies_with_masks(net, x, y, sample_masks(net, fault_model, rates, generator, k), k, max_rows),
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
