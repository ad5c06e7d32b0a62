"""The :class:`Profile` object: a validated profile file, with quantities in SI floats."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping

from models.energy import EPS_REF, EnergyModel, format_energy
from models.profile.points import OperatingPoint, OperatingPointChoice, choose_operating_point

#: The repository root: profiles name files relative to their own folder or to it.
ROOT = Path(__file__).resolve().parents[2]
#: Fallback nominal voltage of a profile without a voltage axis [choice].
DEFAULT_NOMINAL_VOLTS = 1.0


def resolve(base: Path, ref: str) -> Path:
    """A path written in a profile: relative to the profile's folder, or to the repository root."""
    p = Path(ref)
    if p.is_absolute():
        return p
    local = base / p
    return local if local.exists() or not (ROOT / p).exists() else ROOT / p


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (file, YAML line, field path) and what."""

    file: str
    line: int
    path: tuple
    message: str
    column: int | None = None  # YAML syntax errors: where the parser stopped

    @property
    def field(self) -> str:
        return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in self.path).replace(".[", "[") or "(top level)"

    def __str__(self) -> str:
        if self.column is not None:
            return f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ProfileError(ValueError):
    """An invalid profile, or a request the profile cannot answer; carries every problem found.

    One problem is one line ``FILE:LINE[:COLUMN]: field: message``."""

    def __init__(self, path: Path | str, problems: list[Problem] | str):
        if isinstance(problems, str):  # a request the valid profile cannot answer
            self.problems = []
            super().__init__(f"profile {path}: {problems}")
            return
        self.problems = problems
        if len(problems) == 1:
            super().__init__(str(problems[0]))
            return
        lines = "\n  ".join(str(p) for p in problems)
        super().__init__(f"profile {path}: {len(problems)} problem(s):\n  {lines}")


@dataclass
class Profile:
    """A validated profile: ``raw`` as written, ``data`` with quantities in SI floats.

    A command loads its profile once (``models.profile.load_profile``) and hands this object
    to every part that needs it; nothing re-reads the file.
    """

    path: Path
    raw: dict
    data: dict
    problems: list[Problem] = field(default_factory=list)
    sha256: str = ""  # of the file's bytes as read

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def technology(self) -> str:
        return self.data["technology"]

    @cached_property
    def operating_points(self) -> list[OperatingPoint]:
        """Most reliable first (the validation checks the order)."""
        return [OperatingPoint.from_dict(d) for d in self.data["operating_points"]]

    def operating_point(self, name: str) -> OperatingPoint:
        for op in self.operating_points:
            if op.name == name:
                return op
        raise ProfileError(self.path, f"no operating point {name!r} (have: {self.point_names()})")

    def point_names(self) -> str:
        return ", ".join(op.name for op in self.operating_points)

    @cached_property
    def energy_model(self) -> EnergyModel | None:
        """The calibrated ``E(eps) = E0 + beta ln(1/eps)``, or None without ``energy_model``."""
        em = self.data.get("energy_model")
        if not em:
            return None
        return EnergyModel(E0=float(em["E0"]), beta=float(em["beta"]), eps_ref=float(em.get("eps_ref", EPS_REF)))

    @property
    def energy_kind(self) -> str:
        """Which energy the operating points trade: ``read`` (SRAM undervolting) or ``write``
        (RRAM programming; the default for ``technology: rram``)."""
        em = self.data.get("energy_model") or {}
        return em.get("applies_to", "write" if self.technology == "rram" else "read")

    @property
    def most_reliable(self) -> OperatingPoint:
        return min(self.operating_points, key=lambda p: p.ber)

    @property
    def nominal_volts(self) -> float:
        """``nominal_voltage``, else the highest operating-point voltage, else
        :data:`DEFAULT_NOMINAL_VOLTS` [choice]."""
        if self.data.get("nominal_voltage") is not None:
            return float(self.data["nominal_voltage"])
        volts = [p.voltage for p in self.operating_points if p.voltage is not None]
        return max(volts) if volts else DEFAULT_NOMINAL_VOLTS

    @property
    def absolute_max_volts(self) -> float | None:
        """``absolute_max_voltage``: the memory's supply must never exceed it (None: not stated)."""
        value = self.data.get("absolute_max_voltage")
        return None if value is None else float(value)

    @property
    def chip_seed(self) -> int:
        """The chip whose persistent faults the fault model draws (``experiment.chip_seed``, else 0)."""
        return int((self.data.get("experiment") or {}).get("chip_seed", 0))

    def choose(self, eps: float | None) -> OperatingPointChoice:
        """The cheapest point at least as reliable as ``eps`` (None: the most reliable), priced."""
        return choose_operating_point(self.operating_points, eps, self.energy_model, self.energy_kind)

    def choose_per_layer(self, eps: Mapping[str, float | None]) -> dict[str, OperatingPointChoice]:
        """:meth:`choose` for each layer's eps."""
        return {name: self.choose(e) for name, e in eps.items()}

    @property
    def experiment(self) -> dict:
        """The ``experiment`` section, with ``hardware: virtual`` as a mapping and the chip path resolved."""
        exp = copy.deepcopy(self.data.get("experiment", {}))
        if exp.get("hardware") == "virtual":
            exp["hardware"] = {"kind": "virtual"}
        hw = exp.get("hardware")
        if isinstance(hw, dict) and isinstance(hw.get("chip"), str):
            hw["chip"] = str(resolve(self.path.parent, hw["chip"]))
        return exp

    def fault_map_paths(self, operating_point: str | None = None) -> list[Path]:
        """Linked fault-map files/folders (all, or those of one operating point)."""
        refs = [] if operating_point else list(self.data.get("fault_maps", []))
        for op in self.data["operating_points"]:
            if operating_point in (None, op["name"]):
                refs += op.get("fault_maps", [])
        return [resolve(self.path.parent, r) for r in refs]

    def record(self) -> dict:
        """What a run keeps of the profile it used: ``path``, ``sha256`` of the file's bytes and
        ``name`` (a run stores the fault model's points beside it, so it rebuilds without the
        file; the hash tells whether the file changed since)."""
        return {"path": str(self.path), "sha256": self.sha256, "name": self.name}

    def summary(self) -> str:
        """One line: technology, points, BER and energy ranges, energy model, source."""
        kind = self.energy_kind
        ops = self.operating_points
        bers = [op.ber for op in ops]
        energies = [op.energy(kind) or op.energy_read_per_bit for op in ops]
        em = self.energy_model
        model = f"E0 {format_energy(em.E0)}, beta {format_energy(em.beta)}" if em else "no energy model"
        return (f"{self.technology}, {len(ops)} operating points, BER {min(bers):.3g}..{max(bers):.3g}, "
                f"{kind} {format_energy(min(energies))}..{format_energy(max(energies))}/bit, {model}, "
                f"{self.data['provenance']['source']}")
