"""Calibration of the energy-reliability curve ``E(eps) = E0 + beta ln(1/eps)`` [ALGORITHMS 3].

Input: a characterisation sweep of ``bench characterize`` (``sweep.csv`` + ``sweep.json`` +
``faultmaps/``) or a plain CSV ``voltage,ber,energy_per_bit`` (optional columns ``bits``,
``ber_0to1``, ``ber_1to0``). Per voltage we take

* ``eps`` = the BER of a balanced pattern, ``(ber_0to1 + ber_1to0) / 2`` (the profile's eps);
* the energy per bit: a sweep of ``bench characterize`` (format 2) measured it per voltage with
  the repeated, baseline-corrected method (drivers/energy): the **mean** over its capture pairs
  (the method's estimate; option ``energy_stat``: ``median``); a voltage whose energy stayed
  below the instrument's resolution has no energy and is left out (``Measurements.meta
  ["below_resolution_V"]``). Older sweeps (format 1) and plain CSVs: one energy per read.

Fit [choice, documented]: the noisy quantity is the measured BER, so we regress
``y = ln(1/eps)`` on ``E`` by weighted least squares, ``y = a + b E`` with weights
``w = n eps / (1 - eps)`` (inverse delta-method variance of ``ln eps_hat`` for ``n`` cells),
then ``beta = 1/b`` and ``E0 = -a/b``. Points without flips (eps = 0: censored), with fewer
than ``min_flips`` flips, or above ``max_ber`` (saturation, where the exponential model does
not apply) are excluded from the fit but kept in the profile.

Confidence intervals: ``bootstrap`` (default when fault maps are there) resamples memory
*cells* with replacement, the same cells at every voltage, so the persistence and nesting
of faults across voltages are respected; ``analytic`` is the delta method on the WLS
covariance, scaled by the reduced chi-square when it exceeds 1 (plain CSVs).
Goodness of fit: R^2 and RMS relative residual of the energy, reduced chi-square of the
WLS; the fit is flagged bad (but still written) outside ``min_r2`` / ``max_rel_rms``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.stats import norm, t as student_t

from bench.errors import BenchError, user_errors
from drivers import atomic
from drivers.faultmap import FaultMapError, read_faultmap
from models.energy import EPS_REF
from models.plots import plt, save_figure
from models.profile import ProfileError, dump_profile, mean_ber

CI_METHODS = ("auto", "bootstrap", "analytic")
ENERGY_STATS = ("median", "mean")


@dataclass
class CalPoint:
    """One voltage of the measurements (most reliable = highest voltage first)."""

    voltage: float
    ber_0to1: float
    ber_1to0: float
    n_cells: int | None        # distinct cells behind the BER (None: unknown, plain CSV without bits)
    energy_per_bit: float
    n_reads: int = 1
    fault_maps: list[Path] = field(default_factory=list)
    energies: list[float] = field(default_factory=list)  # per read (sweeps), for the bootstrap

    @property
    def eps(self) -> float:
        return mean_ber(self.ber_0to1, self.ber_1to0)

    @property
    def flips(self) -> float | None:
        return None if self.n_cells is None else self.eps * self.n_cells


@dataclass
class CellCounts:
    """Per voltage and cell: flips 0->1 / 1->0 and reads of a written 0 / 1 (for the cell bootstrap)."""

    f01: np.ndarray  # [voltages, cells]
    f10: np.ndarray
    z0: np.ndarray
    z1: np.ndarray

    def bers(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ber_0to1, ber_1to0)`` per voltage with cell multiplicities ``weights``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            b01 = (self.f01 @ weights) / (self.z0 @ weights)
            b10 = (self.f10 @ weights) / (self.z1 @ weights)
        return np.nan_to_num(b01), np.nan_to_num(b10)


@dataclass
class Measurements:
    points: list[CalPoint]
    source: Path
    kind: str                          # "sweep" or "csv"
    meta: dict = field(default_factory=dict)
    cells: CellCounts | None = None
    persistent_fraction: float | None = None
    energy_stat: str = "mean"


# --- loading ------------------------------------------------------------------------------

def load_measurements(source: str | os.PathLike, energy_stat: str = "mean") -> Measurements:
    """A sweep directory of ``bench characterize`` or a plain CSV; errors name the file/column."""
    source = Path(source)
    if energy_stat not in ENERGY_STATS:
        raise BenchError(f"energy statistic {energy_stat!r}: expected one of {ENERGY_STATS}")
    if source.is_dir():
        return _load_sweep(source, energy_stat)
    if source.is_file():
        return _load_csv(source)
    raise BenchError(f"{source}: no such sweep directory or CSV file")


def _read_csv(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: cannot read CSV ({exc})") from None


def _floats(path: Path, rows: list[dict], columns: list[str]) -> list[dict]:
    out = []
    for i, row in enumerate(rows, start=2):
        try:
            out.append({c: float(row[c]) for c in columns if row.get(c) not in (None, "")})
        except ValueError as exc:
            raise BenchError(f"{path}:{i}: {exc}") from None
    return out


def _load_csv(path: Path) -> Measurements:
    rows = _read_csv(path)
    need = ["voltage", "ber", "energy_per_bit"]
    missing = [c for c in need if not rows or c not in rows[0]]
    if missing:
        raise BenchError(f"{path}: missing column(s) {missing}; expected voltage,ber,energy_per_bit "
                         f"[,bits,ber_0to1,ber_1to0]")
    vals = _floats(path, rows, need + ["bits", "ber_0to1", "ber_1to0"])
    points = []
    for i, r in enumerate(vals, start=2):
        if not 0 <= r["ber"] <= 0.5:
            raise BenchError(f"{path}:{i}: ber {r['ber']} outside [0, 0.5]")
        if r["energy_per_bit"] <= 0:
            raise BenchError(f"{path}:{i}: energy_per_bit {r['energy_per_bit']} must be > 0 (joules)")
        b01, b10 = r.get("ber_0to1", r["ber"]), r.get("ber_1to0", r["ber"])
        bits = int(r["bits"]) if "bits" in r else None
        points.append(CalPoint(r["voltage"], b01, b10, bits, r["energy_per_bit"]))
    points.sort(key=lambda p: -p.voltage)
    return Measurements(points, path, "csv", {"chip_id": path.stem})


def _load_sweep(path: Path, energy_stat: str) -> Measurements:
    csv_path, json_path = path / "sweep.csv", path / "sweep.json"
    for p in (csv_path, json_path):
        if not p.is_file():
            raise BenchError(f"{path}: not a sweep directory of bench characterize ({p.name} missing)")
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(f"{json_path}: cannot read ({exc})") from None
    columns = ["voltage_V", "repeat", "bits", "flips_0to1", "flips_1to0", "ber_0to1", "ber_1to0", "energy_per_bit_J"]
    raw = _read_csv(csv_path)
    missing = [c for c in columns + ["pattern"] if not raw or c not in raw[0]]
    if missing:
        raise BenchError(f"{csv_path}: missing column(s) {missing}")
    rows = [dict(v, pattern=r["pattern"]) for v, r in zip(_floats(csv_path, raw, columns), raw)]
    maps = {}
    for point in meta.get("points", []):
        if point.get("faultmap"):
            maps.setdefault(point["voltage_V"], []).append(path / point["faultmap"])
    records = {e["voltage_V"]: e for e in meta.get("energy", [])}   # format 2: per-voltage energy
    below = sorted((v for v, e in records.items() if e["energy_per_bit_J"] is None), reverse=True)
    if below:
        meta["below_resolution_V"] = below
    points = []
    for v in sorted({r["voltage_V"] for r in rows} - set(below), reverse=True):
        sel = [r for r in rows if r["voltage_V"] == v]
        f01, f10 = sum(r["flips_0to1"] for r in sel), sum(r["flips_1to0"] for r in sel)
        z0 = sum(_written_zeros(rows, r) for r in sel)
        z1 = sum(r["bits"] for r in sel) - z0
        reads_per_pattern = max(1, len(sel) // max(1, len({r["pattern"] for r in sel})))
        energies = records[v]["pairs_per_bit_J"] if v in records else [r["energy_per_bit_J"] for r in sel]
        if any(e is None for e in energies):
            raise BenchError(f"{csv_path}: voltage {v} has no energy per bit (an unfinished sweep? run characterize "
                             f"again to complete it)")
        energy = float(np.median(energies) if energy_stat == "median" else np.mean(energies))
        points.append(CalPoint(v, f01 / z0 if z0 else 0.0, f10 / z1 if z1 else 0.0,
                               int(sum(r["bits"] for r in sel) / reads_per_pattern), energy, len(sel),
                               [p for p in maps.get(v, []) if p.is_file()], energies))
    meas = Measurements(points, path, "sweep", meta, energy_stat=energy_stat)
    meas.cells = _cell_counts(points)
    meas.persistent_fraction = _persistent_fraction(meta, rows)
    return meas


def _written_zeros(rows: list[dict], row: dict) -> float:
    """Zeros written in ``row``'s read: from this pattern's rows with 0->1 flips (same words every
    read), else from its 1->0 rows, else half the bits."""
    same = [r for r in rows if r["pattern"] == row["pattern"] and r["bits"] == row["bits"]]
    for r in same:
        if r["ber_0to1"] > 0:
            return round(r["flips_0to1"] / r["ber_0to1"])
    for r in same:
        if r["ber_1to0"] > 0:
            return row["bits"] - round(r["flips_1to0"] / r["ber_1to0"])
    return row["bits"] / 2


def _cell_counts(points: list[CalPoint]) -> CellCounts | None:
    """Per-cell counts from the fault maps (None if any voltage lacks readable maps)."""
    per_v = []
    for p in points:
        if not p.fault_maps:
            return None
        acc = None
        for path in p.fault_maps:
            try:
                fm = read_faultmap(path)
            except FaultMapError:
                return None
            w = fm.bit_plane(fm.written).astype(np.int32)
            x = fm.bit_plane(fm.xor).astype(np.int32)  # [reads, bits]
            part = np.stack([(x * (1 - w)).sum(0), (x * w).sum(0), fm.n_reads * (1 - w), fm.n_reads * w])
            if acc is not None and acc.shape != part.shape:
                return None
            acc = part if acc is None else acc + part
        per_v.append(acc)
    arr = np.stack(per_v).astype(np.float64)  # [V, 4, cells]
    return CellCounts(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


def _persistent_fraction(meta: dict, rows: list[dict]) -> float | None:
    """Share of the errors per read that are persistent: ``sum P / sum(flips per read)``
    over (voltage, pattern) points with at least two reads (``sweep.json`` split)."""
    num = den = 0.0
    for point in meta.get("points", []):
        sel = [r for r in rows if r["voltage_V"] == point["voltage_V"] and r["pattern"] == point["pattern"]]
        if len(sel) < 2:
            continue
        per_read = sum(r["flips_0to1"] + r["flips_1to0"] for r in sel) / len(sel)
        num += point.get("persistent_bits", 0)
        den += per_read
    return None if den == 0 else float(min(1.0, num / den))


# --- the fit ------------------------------------------------------------------------------

@dataclass
class Fit:
    """Fitted ``E0``, ``beta`` with CIs, goodness of fit and per-point residuals."""

    E0: float
    beta: float
    E0_ci: tuple[float, float]
    beta_ci: tuple[float, float]
    ci_method: str
    confidence: float
    used: list[bool]
    excluded_why: list[str]
    residuals: list[float | None]          # E_measured - E_fit(eps), J (None: excluded)
    r2: float
    reduced_chi2: float
    rms_relative_residual: float
    good: bool
    warning: str | None = None

    @property
    def n_points(self) -> int:
        return sum(self.used)

    def energy(self, eps: float) -> float:
        return self.E0 + self.beta * math.log(1.0 / eps)


def wls_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares ``y = a + b x``: coefficients, covariance (unscaled), chi-square."""
    X = np.column_stack([np.ones_like(x), x])
    W = w / w.sum()  # scale-free for conditioning; the covariance is rescaled below
    xtwx = X.T @ (X * W[:, None])
    coef = np.linalg.solve(xtwx, X.T @ (W * y))
    cov = np.linalg.inv(xtwx) / w.sum()
    chi2 = float((w * (y - X @ coef) ** 2).sum())
    return coef, cov, chi2


def _beta_e0(coef: np.ndarray) -> tuple[float, float]:
    a, b = coef
    return 1.0 / b, -a / b


def fit_energy_model(meas: Measurements, ci: str = "auto", confidence: float = 0.95, max_ber: float = 0.2,
                     min_flips: float = 3, n_boot: int = 400, seed: int = 0, min_r2: float = 0.98,
                     max_rel_rms: float = 0.05) -> Fit:
    """Fit ``E = E0 + beta ln(1/eps)`` to the measurements (see the module docstring)."""
    if ci not in CI_METHODS:
        raise BenchError(f"--ci {ci!r}: expected one of {CI_METHODS}")
    pts = meas.points
    why = []
    for p in pts:
        if p.eps <= 0:
            why.append("no flips (censored)")
        elif p.flips is not None and p.flips < min_flips:
            why.append(f"fewer than {min_flips:g} flips")
        elif p.eps > max_ber:
            why.append(f"BER above {max_ber:g} (saturation)")
        else:
            why.append("")
    used = [w == "" for w in why]
    if sum(used) < 3:
        raise BenchError(f"{meas.source}: only {sum(used)} usable point(s) (need 3 with flips and BER <= {max_ber:g}); "
                         f"sweep lower voltages or more words")
    sel = [p for p, u in zip(pts, used) if u]
    E = np.array([p.energy_per_bit for p in sel])
    eps = np.array([p.eps for p in sel])
    n = np.array([p.n_cells if p.n_cells is not None else np.nan for p in sel], dtype=float)
    weighted = not np.isnan(n).any()
    w = n * eps / (1 - eps) if weighted else np.ones_like(eps)
    y = np.log(1.0 / eps)
    coef, cov, chi2 = wls_line(E, y, w)
    if coef[1] <= 0:
        raise BenchError(f"{meas.source}: BER does not fall as the energy rises (fitted slope {coef[1]:.3g}); "
                         f"is this a sweep of the memory's supply?")
    beta, E0 = _beta_e0(coef)
    dof = max(1, len(sel) - 2)
    red = chi2 / dof
    method = ci if ci != "auto" else ("bootstrap" if meas.cells is not None else "analytic")
    if method == "bootstrap":
        if meas.cells is None:
            raise BenchError(f"{meas.source}: --ci bootstrap needs the sweep's fault maps (cell resampling); "
                             f"use --ci analytic")
        E0_ci, beta_ci = _bootstrap_ci(meas, used, E, n_boot, seed, confidence)
    else:
        E0_ci, beta_ci = _analytic_ci(coef, cov * (max(1.0, red) if weighted else red), confidence, dof, weighted)
    e_fit = E0 + beta * y
    resid = E - e_fit
    ss_tot = float(((E - E.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    rms_rel = float(np.sqrt(np.mean((resid / E) ** 2)))
    good = r2 >= min_r2 and rms_rel <= max_rel_rms
    warning = None if good else (f"the exponential model fits badly (R^2 {r2:.3f} < {min_r2} or RMS relative "
                                 f"residual {rms_rel:.1%} > {max_rel_rms:.0%}); the measured points are kept")
    it = iter(resid.tolist())
    residuals = [next(it) if u else None for u in used]
    return Fit(E0, beta, E0_ci, beta_ci, method, confidence, used, why, residuals, r2, red, rms_rel, good, warning)


def _analytic_ci(coef, cov, confidence, dof, weighted):
    """Delta method: ``beta = 1/b``, ``E0 = -a/b``; Student t on ``dof`` when the scale was estimated."""
    a, b = coef
    g_beta = np.array([0.0, -1.0 / b**2])
    g_e0 = np.array([-1.0 / b, a / b**2])
    q = float(student_t.ppf(0.5 + confidence / 2, dof)) if not weighted or dof < 30 else float(norm.ppf(0.5 + confidence / 2))
    beta, E0 = _beta_e0(coef)
    se_b, se_e = math.sqrt(g_beta @ cov @ g_beta), math.sqrt(g_e0 @ cov @ g_e0)
    return (E0 - q * se_e, E0 + q * se_e), (beta - q * se_b, beta + q * se_b)


def _bootstrap_ci(meas: Measurements, used: list[bool], E: np.ndarray, n_boot: int, seed: int, confidence: float):
    """Percentile CI from resampling cells (the same cells at every voltage) and, per voltage,
    the capture pairs (or reads) whose energies give the energy per bit (so energy noise is in
    the CI too)."""
    cells = meas.cells
    idx = np.flatnonzero(used)
    n_cells = cells.f01.shape[1]
    sub = CellCounts(cells.f01[idx], cells.f10[idx], cells.z0[idx], cells.z1[idx])
    stat = np.median if meas.energy_stat == "median" else np.mean
    reads = [np.asarray(meas.points[i].energies or [E[k]]) for k, i in enumerate(idx)]
    n = np.array([meas.points[i].n_cells for i in idx], dtype=float)
    rng = np.random.default_rng(seed)
    betas, e0s = [], []
    for _ in range(n_boot):
        weights = np.bincount(rng.integers(0, n_cells, n_cells), minlength=n_cells).astype(np.float64)
        b01, b10 = sub.bers(weights)
        eps = mean_ber(b01, b10)
        energy = np.array([stat(r[rng.integers(0, len(r), len(r))]) for r in reads])
        ok = eps > 0
        if ok.sum() < 3:
            continue
        coef, _, _ = wls_line(energy[ok], np.log(1 / eps[ok]), n[ok] * eps[ok] / (1 - eps[ok]))
        if coef[1] > 0:
            beta, E0 = _beta_e0(coef)
            betas.append(beta)
            e0s.append(E0)
    if len(betas) < n_boot // 2:
        raise BenchError(f"{meas.source}: bootstrap failed ({len(betas)} of {n_boot} replicates usable); use --ci analytic")
    lo, hi = 50 * (1 - confidence), 50 * (1 + confidence)
    return tuple(np.percentile(e0s, [lo, hi]).tolist()), tuple(np.percentile(betas, [lo, hi]).tolist())


# --- outputs -------------------------------------------------------------------------------

def isotonic(values: list[float], weights: list[float], increasing: bool = True) -> list[float]:
    """Weighted least-squares monotone fit (pool adjacent violators)."""
    sign = 1 if increasing else -1
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([sign * v, max(w, 1e-300), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return [sign * m for m, _, c in blocks for _ in range(c)]


def point_name(voltage: float) -> str:
    return f"{voltage * 1000:g}mV"


def calibrated_profile(meas: Measurements, fit: Fit, out: Path, name: str | None = None, technology: str | None = None,
                       plot: Path | None = None, persistent_fraction: float | None = None,
                       experiment: dict | None = None) -> dict:
    """A schema-v1 profile (plain data) with the measured points (made monotone) and the fit."""
    pts = meas.points
    wts = [p.n_cells or 1 for p in pts]
    b01 = isotonic([p.ber_0to1 for p in pts], wts)
    b10 = isotonic([p.ber_1to0 for p in pts], wts)
    energy = isotonic([p.energy_per_bit for p in pts], [p.n_reads for p in pts], increasing=False)
    adjusted = sum(1 for p, a, b, e in zip(pts, b01, b10, energy)
                   if (a, b, e) != (p.ber_0to1, p.ber_1to0, p.energy_per_bit))
    f = persistent_fraction if persistent_fraction is not None else meas.persistent_fraction
    f_note = "measured (sweep repeats)" if f is not None else "assumed 1.0 (no repeated reads to measure it)"
    f = 1.0 if f is None else round(f, 4)
    tech = technology or meas.meta.get("technology") or "sram"
    if tech == "rram":
        raise BenchError("calibrate fits the energy per bit *read* that a sweep measures; an RRAM profile trades "
                         "programming (write) energy, which a read sweep does not measure: write that profile by hand")
    ops = []
    for p, a, b, e in zip(pts, b01, b10, energy):
        op = {"name": point_name(p.voltage), "voltage": float(p.voltage), "ber_0to1": float(a), "ber_1to0": float(b),
              "persistent_fraction": f, "energy_read_per_bit": float(e)}
        if p.n_cells is not None:
            op["samples"] = {"bits": int(p.n_cells), "reads": int(p.n_reads)}
        if p.fault_maps:
            op["fault_maps"] = [os.path.relpath(m, out.parent) for m in p.fault_maps]
        ops.append(op)
    fit_d = {"method": "WLS of ln(1/eps) on E, weights n eps/(1-eps)", "ci_method": fit.ci_method,
             "confidence": fit.confidence, "n_points": fit.n_points, "n_excluded": len(pts) - fit.n_points,
             "E0_ci": [float(x) for x in fit.E0_ci], "beta_ci": [float(x) for x in fit.beta_ci],
             "r2": round(fit.r2, 6), "reduced_chi2": round(fit.reduced_chi2, 4),
             "rms_relative_residual": round(fit.rms_relative_residual, 6), "good_fit": bool(fit.good),
             "source": os.path.relpath(meas.source, out.parent)}
    if plot is not None:
        fit_d["plot"] = os.path.relpath(plot, out.parent)
    if fit.warning:
        fit_d["warning"] = fit.warning
    chip_id = str(meas.meta.get("chip_id", "unknown-chip"))
    date = str(meas.meta.get("finished") or meas.meta.get("started") or
               datetime.now(timezone.utc).isoformat(timespec="seconds"))
    profile = {
        "schema_version": 1,
        "name": name or out.stem,
        "description": f"Calibrated from {meas.kind} {meas.source.name} of chip {chip_id} by bench calibrate.",
        "technology": tech,
        "provenance": {"source": "calibrated", "chip_id": chip_id, "date": date,
                       "notes": f"Operating points are the measured voltages (BER {'pooled over patterns and repeats'}; "
                                f"energy per bit the {meas.energy_stat} over capture pairs or reads); persistent "
                                f"fraction {f_note}; "
                                f"{adjusted} point(s) adjusted to make the curves monotone (pool adjacent violators).",
                       "illustrative": "nothing: every number is measured or fitted"},
        "knob": {"name": "supply voltage", "unit": "V"},
        "operating_points": ops,
        "energy_model": {"E0": float(fit.E0), "beta": float(fit.beta), "eps_ref": EPS_REF,
                         "applies_to": "read", "eps_definition": "mean_ber",
                         "fit": fit_d},
    }
    if experiment is not None:
        profile["experiment"] = experiment
    return profile


def default_experiment(meas: Measurements) -> dict:
    """``bench run`` defaults for a calibrated chip: the hardware it was measured on."""
    board, supply = meas.meta.get("board") or {}, meas.meta.get("supply") or {}
    if not board or board.get("target") == "host":
        hardware: str | dict = "virtual"
    else:
        hardware = {"kind": "board", "board": board["url"], "supply": supply.get("resource", ""),
                    "channel": int(supply.get("channel", 1)), "vmax": max(p.voltage for p in meas.points)}
    return {"dataset": "digits", "arch": "mlp", "width": 0.125, "method": "lanmax", "lambda": 0.5, "epochs": 20,
            "seed": 0, "chip_seed": 0, "operating_point": point_name(meas.points[len(meas.points) // 2].voltage),
            "hardware": hardware, "quick": {"epochs": 4, "test_subset": 40}}


def plot_fit(meas: Measurements, fit: Fit, path: Path) -> Path:
    """Data (eps vs energy per bit, binomial 95% bars), the fitted curve, and residuals."""
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(6.4, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for used, style, label in ((True, "o", "fitted points"), (False, "x", "excluded")):
        sel = [(p, r) for p, u, r in zip(meas.points, fit.used, fit.residuals) if u == used and p.eps > 0]
        if not sel:
            continue
        E = np.array([p.energy_per_bit for p, _ in sel]) * 1e15
        eps = np.array([p.eps for p, _ in sel])
        err = [1.96 * math.sqrt(p.eps * (1 - p.eps) / p.n_cells) if p.n_cells else 0.0 for p, _ in sel]
        ax.errorbar(E, eps, yerr=[np.minimum(err, eps * 0.999), err], fmt=style, capsize=3, label=label)
        if used:
            axr.plot(E, [100 * r / p.energy_per_bit for p, r in sel], "o")
    e_used = [p.eps for p, u in zip(meas.points, fit.used) if u]
    grid = np.logspace(math.log10(min(e_used)) - 0.5, math.log10(max(e_used)) + 0.3, 100)
    ax.plot([fit.energy(e) * 1e15 for e in grid], grid, "-",
            label=f"E0 = {fit.E0 * 1e15:.4g} fJ, beta = {fit.beta * 1e15:.4g} fJ (R² {fit.r2:.4f})")
    ax.set_yscale("log")
    ax.set_ylabel("bit-error rate eps")
    ax.set_title(f"E = E0 + beta ln(1/eps): {meas.source.name}" + ("" if fit.good else "  [poor fit]"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    axr.axhline(0, color="k", lw=0.8)
    axr.set_xlabel("energy per bit (fJ)")
    axr.set_ylabel("residual (%)")
    axr.grid(True, alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def write_residuals(meas: Measurements, fit: Fit, path: Path) -> Path:
    """CSV of every point: voltage, eps, split, cells, energy, fitted energy, residual, used / why not."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["voltage_V", "eps", "ber_0to1", "ber_1to0", "cells", "energy_per_bit_J", "fit_energy_J",
                "residual_J", "used", "excluded_because"])
    for p, u, r, why in zip(meas.points, fit.used, fit.residuals, fit.excluded_why):
        fe = fit.energy(p.eps) if p.eps > 0 else ""
        w.writerow([p.voltage, p.eps, p.ber_0to1, p.ber_1to0, p.n_cells or "", p.energy_per_bit, fe,
                    "" if r is None else r, int(u), why])
    return atomic.write_text(path, buf.getvalue())


@dataclass
class Calibration:
    """What ``bench calibrate`` produced: the measurements, the fit and the files written."""

    meas: Measurements
    fit: Fit
    profile: Path
    plot: Path
    residuals: Path


def calibrate(source: str | Path, out: str | Path, *, name: str | None = None, technology: str | None = None,
              chip_id: str | None = None, ci: str = "auto", confidence: float = 0.95, n_boot: int = 400,
              seed: int = 0, max_ber: float = 0.2, min_flips: float = 3, energy_stat: str = "mean",
              persistent_fraction: float | None = None, min_r2: float = 0.98,
              max_rel_rms: float = 0.05) -> Calibration:
    """Fit ``E(eps) = E0 + beta ln(1/eps)`` to a sweep (or CSV) and write a valid profile
    ``out`` with the measured operating points and the fit, ``OUT_fit.png`` (data and fit)
    and ``OUT_fit.csv`` (residuals)."""
    out = Path(out)
    if not 0 < confidence < 1:
        raise BenchError(f"--confidence {confidence}: must lie in (0, 1)")
    if persistent_fraction is not None and not 0 <= persistent_fraction <= 1:
        raise BenchError(f"--persistent-fraction {persistent_fraction}: must lie in [0, 1]")
    if out.suffix not in (".yaml", ".yml"):
        raise BenchError(f"-o {out}: a profile is a .yaml file")
    meas = load_measurements(source, energy_stat)
    if chip_id:
        meas.meta["chip_id"] = chip_id
    fit = fit_energy_model(meas, ci=ci, confidence=confidence, max_ber=max_ber, min_flips=min_flips, n_boot=n_boot,
                           seed=seed, min_r2=min_r2, max_rel_rms=max_rel_rms)
    stem = out.with_suffix("")
    plot = plot_fit(meas, fit, stem.with_name(stem.name + "_fit.png"))
    resid = write_residuals(meas, fit, stem.with_name(stem.name + "_fit.csv"))
    data = calibrated_profile(meas, fit, out, name, technology, plot, persistent_fraction, default_experiment(meas))
    with user_errors(ProfileError):
        dump_profile(data, out)
    return Calibration(meas, fit, out, plot, resid)
