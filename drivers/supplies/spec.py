"""What a supply model measures, from its datasheet: ``drivers/supplies/models/<name>.yaml``.

One file per supported model holds its measurement figures with their sources (current ranges
with resolution, gain and offset accuracy and noise against averaging time; voltage readback;
digitiser sample interval and record length, or energy-meter update and resolution; the
latency of starting and stopping a capture) and how the virtual lab presents it (``lab``:
identity, SCPI dialect, seed). The drivers read it to size captures and to state what they
can resolve (:meth:`SupplySpec.window_noise`); the virtual lab's supply simulator reads the
same file and measures as it says.

Noise at an averaging time between two tabulated points is interpolated log-log; past the last
point it falls as ``1/sqrt(t)`` (averaging white noise) [choice]; before the first it is the
first point's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from drivers.energy.meter import WindowNoise

MODELS_DIR = Path(__file__).with_name("models")
METHODS = ("array", "meter", "polling")


class SpecError(ValueError):
    """A supply model file that cannot be used; the message names the file and field."""


def _interpolate(table: tuple[tuple[float, float], ...], t: float) -> float:
    """Noise RMS at averaging time ``t`` (module docstring)."""
    if t <= table[0][0]:
        return table[0][1]
    for (t0, n0), (t1, n1) in zip(table, table[1:]):
        if t <= t1:
            w = math.log(t / t0) / math.log(t1 / t0)
            return math.exp((1 - w) * math.log(n0) + w * math.log(n1))
    t_last, n_last = table[-1]
    return n_last * math.sqrt(t_last / t)


@dataclass(frozen=True)
class Readback:
    """One measurement range: a current range (A) or the voltage readback (V)."""

    span: float          # the largest magnitude it measures (inf: the voltage readback's one range)
    resolution: float    # one digit
    gain: float          # +- fraction of reading
    offset: float        # +- in its unit
    noise: tuple[tuple[float, float], ...]   # (averaging time s, RMS of one reading)

    def noise_at(self, interval_s: float) -> float:
        return _interpolate(self.noise, interval_s)


@dataclass(frozen=True)
class SupplySpec:
    name: str
    model: str
    method: str
    current: tuple[Readback, ...]
    voltage: Readback
    readback_s: float
    start_latency_s: float
    stop_latency_s: float
    min_interval_s: float | None = None   # digitiser (array)
    max_points: int | None = None
    points: int | None = None
    meter_update_s: float | None = None   # energy meter
    meter_resolution_j: float | None = None
    lab: dict = field(default_factory=dict)
    path: Path | None = None

    def range_for(self, amps: float) -> Readback:
        """The lowest range that holds ``amps`` (seamless ranging), else the highest."""
        for r in self.current:
            if abs(amps) <= r.span:
                return r
        return self.current[-1]

    def sample_interval(self, window_s: float) -> tuple[float, int]:
        """Digitiser: ``(TINT, POIN)`` for a record of at least ``window_s``: ``points`` samples,
        none shorter than the fastest interval; TINT rounded to 6 digits as it is sent."""
        tint = float(f"{max(window_s / self.points, self.min_interval_s):.6g}")
        return tint, max(1, math.ceil(window_s / tint))

    def gain_accuracy(self, volts: float) -> float:
        """Bound on the relative error of an energy (current and voltage gain, voltage offset)."""
        worst = max(r.gain for r in self.current)
        return worst + self.voltage.gain + (self.voltage.offset / volts if volts > 0 else 0.0)

    def window_noise(self, window_s: float, volts: float, amps: float) -> WindowNoise:
        """The noise and resolution of one capture of ``window_s`` at ``volts`` and ``amps``."""
        rng = self.range_for(amps)
        if self.method == "array":
            interval, n = self.sample_interval(window_s)
        elif self.method == "meter":
            interval, n = self.meter_update_s, max(1, round(window_s / self.meter_update_s))
        else:
            interval, n = self.readback_s, max(1, round(window_s / self.readback_s))
        sigma_i = rng.noise_at(interval)
        sigma_j = volts * interval * sigma_i * math.sqrt(n) if self.method != "polling" else \
            volts * window_s * sigma_i / math.sqrt(n)
        resolution = volts * rng.resolution * window_s if sigma_i < rng.resolution else 0.0
        if self.meter_resolution_j:
            resolution = max(resolution, self.meter_resolution_j)
        return WindowNoise(sigma_j, resolution)


def _pairs(path: Path, where: str, value) -> tuple[tuple[float, float], ...]:
    try:
        table = tuple((float(t), float(x)) for t, x in value)
    except (TypeError, ValueError):
        raise SpecError(f"supply model {path}: {where}: expected a list of [seconds, RMS] pairs") from None
    if not table or any(t <= 0 or x <= 0 for t, x in table) or any(a[0] >= b[0] for a, b in zip(table, table[1:])):
        raise SpecError(f"supply model {path}: {where}: need positive pairs in increasing time")
    return table


def load_spec(name_or_path: str | Path) -> SupplySpec:
    """A model file by name (``n6705c_n6781a``) or path; errors name the file and field."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = MODELS_DIR / f"{name_or_path}.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        known = ", ".join(sorted(p.stem for p in MODELS_DIR.glob("*.yaml")))
        raise SpecError(f"supply model {path}: cannot read ({exc}); known models: {known}") from None
    try:
        method = raw["method"]
        if method not in METHODS:
            raise SpecError(f"supply model {path}: method {method!r}: expected one of {METHODS}")
        current = tuple(Readback(float(r["range_a"]), float(r["resolution_a"]), float(r["gain"]), float(r["offset_a"]),
                                 _pairs(path, f"current range {r['range_a']} noise_a", r["noise_a"]))
                        for r in raw["current"])
        v = raw["voltage"]
        voltage = Readback(math.inf, float(v["resolution_v"]), float(v["gain"]), float(v["offset_v"]),
                           _pairs(path, "voltage noise_v", v["noise_v"]))
        dig, meter, lat = raw.get("digitiser") or {}, raw.get("meter") or {}, raw["latency"]
        if method == "array" and not dig:
            raise SpecError(f"supply model {path}: method array needs a 'digitiser' section")
        if method == "meter" and not meter:
            raise SpecError(f"supply model {path}: method meter needs a 'meter' section")
        spec = SupplySpec(path.stem, str(raw["model"]), method, tuple(sorted(current, key=lambda r: r.span)), voltage,
                          float(raw["readback_s"]), float(lat["start_s"]), float(lat["stop_s"]),
                          float(dig["min_interval_s"]) if dig else None, int(dig["max_points"]) if dig else None,
                          int(dig["points"]) if dig else None, float(meter["update_s"]) if meter else None,
                          float(meter["resolution_j"]) if meter else None, dict(raw.get("lab") or {}), path)
    except KeyError as exc:
        raise SpecError(f"supply model {path}: field {exc.args[0]!r} is missing") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"supply model {path}: {exc}") from None
    return spec
