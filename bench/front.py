"""Accuracy against memory energy: points with intervals, the Pareto front and the verdict at
iso-accuracy. The one home of this logic for ``bench run`` (stage software_eval, report
section ``accuracy``), ``bench sweep report`` and ``benchmarks/energy_isoaccuracy.py``.

A :class:`Point` is one method at one setting (a uniform eps or operating point, a lambda, a
width), measured over one or more training seeds, each seed's network by Monte-Carlo over
fault draws [ALGORITHMS 5]. Its accuracy is the mean of the seeds' Monte-Carlo means and its
95% interval [choice] the wider of

* *over seeds*: Student t over the seeds' means, ``t_{0.975, n-1} s / sqrt(n)`` (this one
  also contains the draws' noise, but with few seeds its own spread estimate is poor), and
* *over fault draws*: the Monte-Carlo error of that mean, ``sqrt(sum_i h_i^2) / n`` from the
  seeds' half-widths ``h_i``.

Its energy is the mean over seeds with the Student-t interval over seeds (0 when every seed
gives the same energy, as a uniform point at one operating point does).

Verdict at iso-accuracy [our definitions, as in seed 1 Fig. 3]: the reference is the most
accurate ``reliable`` point; a point is *iso-accurate* when its mean accuracy is at least the
reference's minus ``tolerance`` (default 0.5 point). The method's iso-accurate point of least
energy ``M`` is compared with the baseline's (uniform noise) iso-accurate point of least energy
``U``: the saving is ``E_U / E_M`` with the interval ``[(E_U - e_U) / (E_M + e_M),
(E_U + e_U) / (E_M - e_M)]`` (``e``: the energies' half-widths). A cheaper baseline point
whose accuracy interval still reaches the target may be iso-accurate as well: ``U_p``, the
cheapest baseline point with ``A + a >= target`` (``U`` itself when there is none cheaper). A
saving is claimed only when the intervals of ``E_U / E_M`` and of ``E_Up / E_M`` both lie
above 1 and ``M``'s accuracy interval reaches ``U``'s (the method is not measurably less
accurate); it meets the target ``target_x`` (default 1.3) only when both low ends do. A
method point whose own interval reaches below the target is said to be iso-accurate by
that margin only. A baseline point at least as accurate as ``M`` and at most as
costly, one of the two strictly, *dominates* it. When no setting of the method reaches
iso-accuracy, its most accurate point is checked for dominance instead. ``floor_J``, the
energy with every layer at the cheapest operating point, bounds any per-layer allocation:
``E_U / floor_J`` below the target says the target cannot be met, whatever the method does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

DEFAULT_TOLERANCE = 0.005
#: the saving over the best iso-accurate uniform point the verdict checks [choice]
TARGET_X = 1.3
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Point:
    """One method at one setting on the accuracy-energy plane (module docstring)."""

    name: str
    method: str
    setting: str
    accuracy: float
    accuracy_ci: float  # 95% half-width (the wider of over seeds and over draws)
    energy_J: float
    energy_ci: float = 0.0  # 95% half-width over seeds
    seeds: int = 1
    ci_seeds: float | None = None  # None with one seed
    ci_draws: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Point":
        return cls(**d)


def t_half_width(values: Sequence[float], confidence: float = CONFIDENCE) -> float | None:
    """Half-width of the Student-t interval of the mean of ``values`` (``None`` for fewer than 2)."""
    from scipy.stats import t as student_t  # on first use: scipy.stats is slow to import

    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return float(student_t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)


def point_from_seeds(name: str, method: str, setting: str, accuracies: Sequence[float],
                     draw_half_widths: Sequence[float], energies: Sequence[float]) -> Point:
    """A point from its seeds' Monte-Carlo means, half-widths and energies (module docstring)."""
    n = len(accuracies)
    if n == 0 or len(draw_half_widths) != n or len(energies) != n:
        raise ValueError(f"point {name}: need one accuracy, half-width and energy per seed")
    seeds_ci = t_half_width(accuracies)
    draws_ci = math.sqrt(sum(h * h for h in draw_half_widths)) / n
    same = max(energies) - min(energies) <= 1e-9 * max(abs(e) for e in energies)  # sums in another order
    energy_ci = 0.0 if same else t_half_width(energies) or 0.0
    return Point(name, method, setting, sum(accuracies) / n, max(seeds_ci or 0.0, draws_ci),
                 sum(energies) / n, energy_ci, n, seeds_ci, draws_ci)


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """Points no other point dominates (lower-or-equal energy and higher-or-equal accuracy,
    one strictly), cheapest first."""
    points = list(points)
    return sorted((p for p in points if not any(dominates(q, p) for q in points)), key=lambda p: p.energy_J)


def dominates(q: Point, p: Point) -> bool:
    """``q`` is at least as accurate and at most as costly as ``p``, one of the two strictly."""
    return (q.energy_J <= p.energy_J and q.accuracy >= p.accuracy
            and (q.energy_J < p.energy_J or q.accuracy > p.accuracy))


def reference_point(points: Iterable[Point], reference: str = "reliable") -> Point | None:
    """The most accurate point of the reference method (``None`` when there is none)."""
    refs = [p for p in points if p.method == reference]
    return max(refs, key=lambda p: p.accuracy) if refs else None


def cheapest_iso_accurate(points: Iterable[Point], method: str, target: float) -> Point | None:
    ok = [p for p in points if p.method == method and p.accuracy >= target]
    return min(ok, key=lambda p: p.energy_J) if ok else None


def iso_accuracy(points: Sequence[Point], tolerance: float = DEFAULT_TOLERANCE,
                 reference: str = "reliable") -> dict:
    """Per method: its cheapest iso-accurate point and ``E_ref / E`` (empty without a reference)."""
    ref = reference_point(points, reference)
    if ref is None:
        return {}
    target = ref.accuracy - tolerance
    out = {}
    for method in sorted({p.method for p in points}):
        best = cheapest_iso_accurate(points, method, target)
        out[method] = ({"name": None, "accuracy": None, "energy_J": None, "energy_saving_x": None} if best is None
                       else {"name": best.name, "accuracy": best.accuracy, "energy_J": best.energy_J,
                             "energy_saving_x": ref.energy_J / best.energy_J})
    return {"reference": {"name": ref.name, "accuracy": ref.accuracy, "energy_J": ref.energy_J, "target": target},
            "methods": out}


def _name(p: Point) -> str:
    return f"{p.method} ({p.setting})"


def _acc(p: Point) -> str:
    return f"{100 * p.accuracy:.2f}% ± {100 * p.accuracy_ci:.2f}"


def _energy(p: Point, unit_J: float | None) -> str:
    from models.energy import format_energy

    if unit_J:
        return f"{p.energy_J / unit_J:.3g}x reliable" + (f" ± {p.energy_ci / unit_J:.2g}" if p.energy_ci else "")
    return format_energy(p.energy_J) + (f" ± {format_energy(p.energy_ci)}" if p.energy_ci else "")


def verdict(points: Sequence[Point], method: str = "lanmax", baseline: str = "uniform",
            reference: str = "reliable", tolerance: float = DEFAULT_TOLERANCE, target_x: float = TARGET_X,
            floor_J: float | None = None) -> dict:
    """The method against the baseline's front at iso-accuracy (module docstring).

    Returns a JSON-able dict: ``kind`` (``win``, ``undecided``, ``loss``, ``dominated``,
    ``not_iso_accurate``, ``no_baseline``, ``incomplete``), ``text`` (one sentence with the
    numbers), ``supported`` (a saving the intervals support), ``meets_target``, ``why``
    (when the target is not met), ``saving_x`` and ``saving_ci``, ``headroom_x``, and the
    points involved.
    """
    ref = reference_point(points, reference)
    mine = [p for p in points if p.method == method]
    base = [p for p in points if p.method == baseline]
    out = {"method": method, "baseline": baseline, "tolerance": tolerance, "target_x": target_x,
           "kind": "incomplete", "supported": False, "meets_target": False, "saving_x": None, "saving_ci": None,
           "headroom_x": None, "reference": None if ref is None else ref.to_dict(), "target_accuracy": None,
           "method_point": None, "baseline_point": None, "dominated_by": None, "why": None,
           "plausible_baseline_point": None, "plausible_saving_x": None, "plausible_saving_ci": None}
    if method in (baseline, reference):
        out.update(text=f"No verdict: the method compared is {method} itself.", why="nothing to compare")
        return out
    if ref is None or not mine or not base:
        missing = [m for m, ps in ((reference, [ref] if ref else []), (method, mine), (baseline, base)) if not ps]
        out.update(text=f"No verdict: no {', '.join(missing)} point to compare.", why="points missing")
        return out
    unit = ref.energy_J or None
    target = ref.accuracy - tolerance
    out["target_accuracy"] = target
    best_base = cheapest_iso_accurate(base, baseline, target)
    out["baseline_point"] = None if best_base is None else best_base.to_dict()
    iso_text = (f"iso-accuracy (at least {100 * target:.2f}%: {reference} {100 * ref.accuracy:.2f}% "
                f"minus {100 * tolerance:.1f} point)")
    m = cheapest_iso_accurate(mine, method, target)
    if m is None:
        m = max(mine, key=lambda p: p.accuracy)
        out["method_point"] = m.to_dict()
        doms = [b for b in base if dominates(b, m)]
        if doms:
            d = min(doms, key=lambda p: p.energy_J)
            out.update(kind="dominated", dominated_by=d.to_dict(),
                       text=f"{method} is dominated here: {_name(d)} reaches {_acc(d)} at {_energy(d, unit)}, "
                            f"{_name(m)} {_acc(m)} at {_energy(m, unit)}; no setting of {method} reaches {iso_text}.")
        else:
            out["kind"] = "not_iso_accurate"
            out["text"] = (f"{method} does not reach {iso_text}: its most accurate setting, {_name(m)}, "
                           f"gives {_acc(m)} at {_energy(m, unit)}.")
        out["why"] = f"no setting of {method} is iso-accurate (a smaller lambda trades energy back for accuracy)"
        return out
    out["method_point"] = m.to_dict()
    if floor_J:
        out["headroom_x"] = (best_base.energy_J if best_base else ref.energy_J) / floor_J
    doms = [b for b in base if dominates(b, m)]
    if best_base is None:
        out.update(kind="no_baseline", supported=True,
                   text=f"Only {method} reaches {iso_text}: {_name(m)} gives {_acc(m)} at {_energy(m, unit)}; "
                        f"no {baseline} point is iso-accurate.",
                   why=f"no {baseline} point is iso-accurate, so there is no saving over {baseline} to measure")
        return out
    u = best_base
    saving, (lo, hi) = u.energy_J / m.energy_J, _ratio_interval(u, m)
    # the cheapest baseline point whose interval still reaches the target: with the intervals it may
    # be iso-accurate too, so a saving is claimed only against it as well
    p_base = min((b for b in base if b.accuracy + b.accuracy_ci >= target and b.energy_J <= u.energy_J),
                 key=lambda b: b.energy_J)
    p_lo, p_hi = _ratio_interval(p_base, m)
    same_accuracy = m.accuracy + m.accuracy_ci >= u.accuracy - u.accuracy_ci
    out.update(saving_x=saving, saving_ci=[lo, hi], plausible_baseline_point=p_base.to_dict(),
               plausible_saving_x=p_base.energy_J / m.energy_J, plausible_saving_ci=[p_lo, p_hi])
    pair = (f"{_name(m)}: {_acc(m)}, {_energy(m, unit)}; best iso-accurate {baseline} point, "
            f"{_name(u)}: {_acc(u)}, {_energy(u, unit)}")
    interval = f"{saving:.2f}x (95% interval {lo:.2f}-{hi:.2f}x)"
    near = "" if p_base is u else (
        f"; but {_name(p_base)} misses the target by only {100 * (target - p_base.accuracy):.2f} point, inside its "
        f"interval ({_acc(p_base)} at {_energy(p_base, unit)}), and against it {method} saves "
        f"{p_base.energy_J / m.energy_J:.2f}x ({p_lo:.2f}-{p_hi:.2f}x)")
    marginal = "" if m.accuracy - m.accuracy_ci >= target else (
        f" {method} itself is iso-accurate by {100 * (m.accuracy - target):.2f} point, inside its own interval.")
    if doms:
        d = min(doms, key=lambda p: p.energy_J)
        out.update(kind="dominated", dominated_by=d.to_dict(),
                   text=f"{method} is dominated here: {_name(d)} reaches {_acc(d)} at {_energy(d, unit)} "
                        f"against {_name(m)} {_acc(m)} at {_energy(m, unit)}; both reach {iso_text}.")
    elif lo > 1 and p_lo > 1 and same_accuracy:
        out.update(kind="win", supported=True, meets_target=min(lo, p_lo) >= target_x,
                   text=f"At {iso_text}, {method} uses {interval} less memory energy than {baseline} "
                        f"({pair}{near}).{marginal}")
    elif hi < 1:
        out["kind"] = "loss"
        out["text"] = f"At {iso_text}, {baseline} uses less energy than {method}: saving {interval} ({pair}).{marginal}"
    else:
        out["kind"] = "undecided"
        out["text"] = (f"At {iso_text}, the intervals do not support a saving of {method} over {baseline}: "
                       f"saving {interval}" + ("" if same_accuracy else f", and {method} is less accurate")
                       + f" ({pair}{near}).{marginal}")
    if not out["meets_target"]:
        headroom = out["headroom_x"]
        if out["kind"] == "dominated" and not (headroom is not None and headroom < target_x):
            out["why"] = (f"{_name(min(doms, key=lambda p: p.energy_J))} is at least as accurate as {_name(m)} "
                          f"and uses less energy")
        elif headroom is not None and headroom < target_x:
            out["why"] = (f"the target {target_x:g}x cannot be met here: every layer at the cheapest operating point "
                          f"would use only {headroom:.2f}x less energy than the best iso-accurate {baseline} point")
        elif out["kind"] == "win":
            out["why"] = f"the saving's interval reaches below the target {target_x:g}x"
        elif out["kind"] == "undecided" and not same_accuracy:
            out["why"] = f"{method} is less accurate than the {baseline} point beyond the intervals"
        elif out["kind"] == "undecided" and lo > 1:
            out["why"] = (f"a cheaper {baseline} point ({p_base.setting}) is iso-accurate within its interval, and "
                          f"{method}'s saving over it is not supported ({p_lo:.2f}-{p_hi:.2f}x)")
        else:
            out["why"] = f"{method} saves no energy over {baseline} that the intervals support"
    return out


def _ratio_interval(u: Point, m: Point) -> tuple[float, float]:
    """Interval of ``E_u / E_m`` from the two energies' intervals (module docstring)."""
    lo = (u.energy_J - u.energy_ci) / (m.energy_J + m.energy_ci)
    hi = (u.energy_J + u.energy_ci) / (m.energy_J - m.energy_ci) if m.energy_J > m.energy_ci else math.inf
    return lo, hi


def draw(ax, points: Sequence[Point], result: dict | None = None, unit_J: float | None = None) -> None:
    """Accuracy (%) against energy (relative to ``unit_J``, else joules) on ``ax``: one line per
    method through its points with both intervals, the reference as a star, the iso-accuracy
    target of ``result`` (a :func:`verdict`) as a dotted line and its saving as a label (marked
    when the intervals do not support it)."""
    scale = unit_J or 1.0
    markers = {"reliable": "*", "uniform": "s"}
    for method in sorted({p.method for p in points}):
        ps = sorted((p for p in points if p.method == method), key=lambda p: p.energy_J)
        ax.errorbar([p.energy_J / scale for p in ps], [100 * p.accuracy for p in ps],
                    xerr=[p.energy_ci / scale for p in ps], yerr=[100 * p.accuracy_ci for p in ps],
                    fmt=markers.get(method, "o") + ("" if method == "reliable" else "-"), capsize=3,
                    ms=10 if method == "reliable" else 5, label=method)
    if result and result.get("target_accuracy") is not None:
        ax.axhline(100 * result["target_accuracy"], color="0.5", lw=1, ls=":",
                   label=f"iso-accuracy (reliable - {100 * result['tolerance']:.1f} point)")
        m = result.get("method_point")
        if m and result.get("saving_x"):
            label = f"{result['saving_x']:.2f}x vs {result['baseline']}" + ("" if result["supported"] else " (not supported)")
            ax.annotate(label, (m["energy_J"] / scale, 100 * m["accuracy"]), textcoords="offset points",
                        xytext=(5, -12), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("memory energy / reliable" if unit_J else "memory energy (J)")
    ax.set_ylabel("test accuracy (%), 95% interval")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
