"""Memory energy of a network under the exponential energy-reliability model.

Per bit read [ALGORITHMS 3; seed 1 eq. 1]::

    eps = exp(-(E - E0) / beta)   <=>   E(eps) = E0 + beta * ln(1/eps)

Network memory energy [ALGORITHMS 3; seed 1 eq. 3]::

    E_net = sum_l N_l * b_l * E(eps_l)

with ``N_l`` parameters of ``b_l`` bits in layer ``l``. A *reliable* network is evaluated
at every layer's ``eps_l = eps_ref`` (eq. 1 is undefined at 0; seed 1 sec. IV).
Energies are in joules; reports print fJ/pJ. Every report states ``eps_ref``, ``E0`` and
``beta`` because the ratios depend on them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

#: The eps of a "reliable" memory [choice, ALGORITHMS 3]: eq. 1 is undefined at 0, so a reliable
#: implementation is priced at this small rate. The one default of every energy model,
#: profile and method.
EPS_REF = 1e-12


@dataclass(frozen=True)
class EnergyModel:
    """``E(eps) = E0 + beta * ln(1/eps)`` joules per bit read. [ALGORITHMS 3]

    Defaults [choice]: ``E0 = 0`` (the pure exponential model of seed 1; a calibrated chip
    gives its own offset), ``beta = 1 fJ`` per bit and neper (only a scale: with ``E0 = 0``
    every *ratio* is independent of ``beta``), ``eps_ref = 1e-12`` (the rate of a
    "reliable" memory, ALGORITHMS 3).
    """

    E0: float = 0.0
    beta: float = 1e-15
    eps_ref: float = EPS_REF

    def __post_init__(self):
        if not self.beta > 0:
            raise ValueError(f"beta={self.beta}: the energy-reliability slope must be > 0 J")
        check_eps(self.eps_ref, "eps_ref")

    def bit_energy(self, eps: float) -> float:
        """Energy of one bit read at rate ``eps``: ``E0 + beta * ln(1/eps)`` (J)."""
        check_eps(eps)
        return self.E0 + self.beta * math.log(1.0 / eps)

    def describe(self) -> str:
        return (f"E(eps) = E0 + beta ln(1/eps), E0 = {format_energy(self.E0)}, "
                f"beta = {format_energy(self.beta)}, eps_ref = {self.eps_ref:.3g}")


def check_eps(eps: float, name: str = "eps") -> float:
    if not (0.0 < eps <= 1.0):
        raise ValueError(f"{name}={eps}: the energy model needs 0 < {name} <= 1")
    return eps


@dataclass(frozen=True)
class LayerMemory:
    """What one layer stores: ``N_l`` parameters of ``b_l`` bits."""

    name: str
    n_params: int
    bits: int

    @property
    def n_bits(self) -> int:
        return self.n_params * self.bits


def network_energy(layers: Sequence[LayerMemory], eps: Mapping[str, float], model: EnergyModel) -> float:
    """``E_net = sum_l N_l b_l E(eps_l)`` in joules. [ALGORITHMS 3; seed 1 eq. 3]"""
    return sum(l.n_bits * model.bit_energy(layer_eps(eps, l.name)) for l in layers)


def reliable_energy(layers: Sequence[LayerMemory], model: EnergyModel) -> float:
    """``E_ref``: the same network with every layer at ``eps_ref``."""
    return sum(l.n_bits for l in layers) * model.bit_energy(model.eps_ref)


def deployed_eps(layers: Sequence[LayerMemory], eps: Mapping[str, float] | None, model: EnergyModel) -> dict[str, float]:
    """Per-layer eps as deployed: a layer without eps (reliable run) or below ``eps_ref`` is
    reliable and costs the reference energy ``E(eps_ref)`` per bit (eq. 1 is undefined at 0)."""
    return {l.name: max(model.eps_ref, (eps or {}).get(l.name, model.eps_ref)) for l in layers}


def layer_eps(eps: Mapping[str, float], name: str) -> float:
    if name not in eps:
        raise KeyError(f"no eps for layer {name!r} (have: {', '.join(eps) or 'none'})")
    return eps[name]


@dataclass(frozen=True)
class LayerEnergy:
    name: str
    n_params: int
    bits: int
    eps: float
    energy: float  # J, N_l * b_l * E(eps_l)
    share: float  # of the network total


@dataclass(frozen=True)
class EnergyReport:
    """Per-layer energy table plus totals; ``ratio = E_net / E_ref``, ``savings = 1/ratio``."""

    rows: tuple[LayerEnergy, ...]
    total: float
    reliable_total: float
    model: EnergyModel

    @property
    def ratio(self) -> float:
        return self.total / self.reliable_total

    @property
    def savings(self) -> float:
        return self.reliable_total / self.total if self.total > 0 else math.inf

    def header(self) -> str:
        return (f"memory energy {format_energy(self.total)} = {self.ratio:.3f} x reliable "
                f"({format_energy(self.reliable_total)}; {self.savings:.2f}x less); {self.model.describe()}")

    def to_dict(self) -> dict:
        return {"model": asdict(self.model), "total_J": self.total, "reliable_total_J": self.reliable_total,
                "ratio_to_reliable": self.ratio, "savings_vs_reliable": self.savings,
                "layers": [asdict(r) for r in self.rows]}

    def to_markdown(self, labels: Mapping[str, str] | None = None) -> str:
        """Markdown table; ``labels`` (``{name: label}``, e.g. ``layer_labels``) name the rows."""
        labels = labels or {}
        lines = [self.header(), "", "| layer | N_l | b_l | eps_l | energy | share |",
                 "|---|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            lines.append(f"| {labels.get(r.name, r.name)} | {r.n_params} | {r.bits} | {r.eps:.3g} | {format_energy(r.energy)} "
                         f"| {100 * r.share:.1f}% |")
        lines.append(f"| total | {sum(r.n_params for r in self.rows)} | | | {format_energy(self.total)} | 100% |")
        return "\n".join(lines) + "\n"


def energy_report(layers: Sequence[LayerMemory], eps: Mapping[str, float], model: EnergyModel) -> EnergyReport:
    """Per-layer table (name, N_l, b_l, eps_l, energy, share) and the ratio to reliable."""
    energies = [l.n_bits * model.bit_energy(layer_eps(eps, l.name)) for l in layers]
    total = sum(energies)
    rows = tuple(LayerEnergy(l.name, l.n_params, l.bits, layer_eps(eps, l.name), e,
                             e / total if total > 0 else 0.0) for l, e in zip(layers, energies))
    return EnergyReport(rows, total, reliable_energy(layers, model), model)


_UNITS = (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12), ("fJ", 1e-15), ("aJ", 1e-18))


def format_energy(joules: float) -> str:
    """``1.5e-13`` -> ``'150 fJ'``: the largest SI unit that keeps the mantissa >= 1."""
    if joules == 0 or not math.isfinite(joules):
        return f"{joules:g} J"
    for unit, scale in _UNITS:
        if abs(joules) >= scale:
            return f"{joules / scale:.4g} {unit}"
    return f"{joules / _UNITS[-1][1]:.4g} {_UNITS[-1][0]}"
