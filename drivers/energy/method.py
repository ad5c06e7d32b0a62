"""Repeated, baseline-corrected energy captures with a confidence interval (docs/ENERGY_CAPTURES.md).

The energy of one run of a small piece of work (a layer step: ~1e-11 J) is far below what
the rail's static current spends during a capture window (~1e-7 J over 0.1 s, HARDWARE 7),
so :class:`RepeatedCapture` measures it as a real bench must, the same way for any
:class:`~drivers.energy.meter.EnergyMeter`:

1. *N repeats in one window*: the work runs ``N`` times back to back inside one capture;
2. *a baseline window of the same length*: the board idles (``IDLE``: core running, memory
   quiet) as long as the work took, at the same rail voltage, in its own capture; one pair gives
   ``d = (E_work - s E_baseline) / N`` per run, ``s = 1`` for fixed records (same length by
   construction), else the ratio of the two windows' durations;
3. *pairs until the interval is tight*: pairs alternate their order (work first, then baseline
   first: a linear drift cancels) and continue until the 95% interval of the mean of ``d`` has
   a half-width of at most ``target`` times the mean, between ``min_pairs`` and ``max_pairs``
   (the Monte-Carlo stopping rule of ``models``' evaluation);
4. *N from the instrument and the prediction*: the smallest ``N`` for which the instrument's
   own noise over ``min_pairs`` pairs (``window_noise``) and its resolution are half of
   the target's share of ``N`` times the predicted energy [choice: room for noise the
   datasheet does not state]; without a prediction a pilot pair gives one;
5. *interval and floor*: half-width ``sqrt((t s/sqrt(n))^2 + (g E)^2)`` with Student's ``t``
   over the pairs' spread ``s``, but never below the spread the instrument's stated noise
   gives a pair, ``sqrt(2) sigma_w / N`` (a small sample can look quieter than the instrument
   is), and the instrument's gain accuracy ``g`` (a systematic error repeats cannot remove);
   the *floor* is what the instrument alone resolves for these
   windows, ``(t sqrt(2) sigma_w / sqrt(n) + r_w) / N`` (``sigma_w``, ``r_w``: one window's
   noise and resolution). An energy whose interval reaches zero or whose mean is below the
   floor is *below resolution* and is reported as "below resolution: floor X", never as a number.

A capture the work outlasts (a fixed record too short: a loaded host, a slow link) is
dropped and the pair is captured again with a window twice as long; nothing of the work's
outcome is kept, so retries change no result but the energy's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import t as student_t

from drivers.energy.log import CaptureLog
from drivers.energy.meter import Capture, CaptureOverrun, EnergyMeter
from drivers.energy.work import IdleBaseline, WorkRun

PILOT_WINDOW_S = 0.03   # the first baseline at a voltage: the rail's static current (current range)
PILOT_WORK_S = 0.01     # without a prediction, a pilot pair runs the work this long [choice]
NOISE_SHARE = 0.5       # N: the instrument's noise uses this share of the target (step 4) [choice]


class EnergyCaptureError(RuntimeError):
    """Captures kept overrunning; the message says how often and with which window."""


@dataclass(frozen=True)
class CaptureSettings:
    """The method's options; defaults are our choices (module docstring)."""

    target: float = 0.05          # relative half-width of the 95% interval at which captures stop
    min_pairs: int = 3
    max_pairs: int = 20
    confidence: float = 0.95
    window_s: float | None = None  # first capture window; None: sized from the work's duration
    window_factor: float = 1.3    # window = factor * (link + N runs) + margin
    window_margin_s: float = 0.01
    max_overruns: int = 16

    def __post_init__(self):
        if not 0 < self.target < 1 or not 2 <= self.min_pairs <= self.max_pairs or not 0 < self.confidence < 1:
            raise ValueError("energy captures: need 0 < target < 1, 2 <= min_pairs <= max_pairs, 0 < confidence < 1")


@dataclass
class EnergyEstimate:
    """One measured energy per run of a work, with its interval and the instrument's floor."""

    label: str
    mean_j: float                 # mean of the pairs' per-run energies (a number only when resolved)
    half_width_j: float
    floor_j: float
    below_resolution: bool
    target_met: bool
    pairs: int
    repeat: int
    window_s: float
    overruns: int
    method: str
    instrument: str
    volts: float
    static_w: float               # the rail's power in the baseline windows
    confidence: float
    per_pair_j: list = field(default_factory=list)

    @property
    def energy_j(self) -> float | None:
        return None if self.below_resolution else self.mean_j

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.below_resolution else (self.mean_j - self.half_width_j, self.mean_j + self.half_width_j)

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["mean_j"], d["per_pair_j"]
        if self.below_resolution:
            d["half_width_j"] = None
        d.update(energy_J=self.energy_j, ci_J=None if self.interval is None else list(self.interval))
        return d


def summarize(per_pair: list[float], repeat: int, sigma_window_j: float, resolution_window_j: float,
              gain_accuracy: float, confidence: float = 0.95, target: float = 0.05,
              max_pairs: int | None = None) -> dict:
    """Mean, interval, floor and verdicts of the per-run energies of ``n >= 2`` pairs (step 5).

    ``hopeless``: even ``max_pairs`` pairs would leave the energy under the floor.
    """
    d = np.asarray(per_pair, dtype=np.float64)
    n = len(d)
    mean = float(d.mean())
    t = float(student_t.ppf(0.5 + confidence / 2, n - 1))
    spread = max(float(d.std(ddof=1)), math.sqrt(2) * sigma_window_j / repeat)
    half = math.hypot(t * spread / math.sqrt(n), gain_accuracy * abs(mean))

    def floor(pairs: int, tq: float) -> float:
        return (tq * math.sqrt(2) * sigma_window_j / math.sqrt(pairs) + resolution_window_j) / repeat

    fl = floor(n, t)
    below = mean - half <= 0 or mean <= fl
    m = max_pairs or n
    hopeless = mean + half < floor(m, float(student_t.ppf(0.5 + confidence / 2, m - 1)))
    return {"mean_j": mean, "half_width_j": half, "floor_j": fl, "below_resolution": below,
            "target_met": (not below) and half <= target * mean, "hopeless": hopeless}


class RepeatedCapture:
    """The method (module docstring) for one meter and one board's baseline; every capture
    goes to ``log`` when given."""

    def __init__(self, meter: EnergyMeter, baseline: IdleBaseline, settings: CaptureSettings | None = None,
                 log: CaptureLog | None = None):
        self.meter, self.baseline = meter, baseline
        self.settings = settings or CaptureSettings()
        self.log = log if log is not None else CaptureLog()
        self._static: dict[float, float] = {}

    # --- sizing -----------------------------------------------------------------------------

    def static_amps(self, volts: float, label: str) -> float:
        """The rail's static current at ``volts`` from one pilot baseline (cached per voltage)."""
        key = round(volts, 6)
        window, overruns = PILOT_WINDOW_S, 0
        while key not in self._static:
            like = WorkRun(None, window / 3)
            try:
                cap = self._capture(label, "pilot-baseline", None, 1, window, lambda: self._idle(like))[0]
            except CaptureOverrun:
                overruns += 1
                window = self._longer(window, overruns, label)
                continue
            self._static[key] = max(cap.energy_j, 0.0) / (volts * cap.duration_s) if volts > 0 else 0.0
        return self._static[key]

    def window_for(self, repeat: int, t_run: float, overhead: float) -> float:
        s = self.settings
        return s.window_factor * (overhead + repeat * t_run) + s.window_margin_s

    def choose_repeat(self, energy_j: float, t_run: float, overhead: float, volts: float, amps: float,
                      max_repeat: int) -> int:
        """The smallest N that meets step 4, within the work's limit and the longest window."""
        s = self.settings
        z = float(student_t.ppf(0.5 + s.confidence / 2, s.min_pairs - 1))
        n = 1
        for _ in range(30):
            noise = self.meter.window_noise(self.window_for(n, t_run, overhead), volts, amps)
            need = (z * math.sqrt(2) * noise.sigma_j / math.sqrt(s.min_pairs) + noise.resolution_j) / (NOISE_SHARE * s.target)
            nxt = int(min(max(1, math.ceil(need / max(energy_j, 1e-300))), max_repeat))
            while nxt > 1 and self.window_for(nxt, t_run, overhead) > self.meter.max_window_s:
                nxt = max(1, int(nxt * 0.8))
            if nxt == n:
                break
            n = nxt
        return n

    # --- captures ---------------------------------------------------------------------------

    def _idle(self, like: WorkRun) -> WorkRun:
        self.baseline.run(like)
        return like

    def _capture(self, label: str, kind: str, pair: int | None, repeat: int, window: float, body) -> tuple[Capture, WorkRun]:
        with self.meter.capture(window) as box:
            run = body()
        self.log.add(label, kind, pair, repeat, run, self.baseline.unit, window, box.capture)
        return box.capture, run

    def _pair(self, label: str, work, pair: int, repeat: int, window: float, like: WorkRun, expected_s: float,
              work_first: bool) -> tuple[Capture, Capture, WorkRun]:
        """One work capture and one baseline capture (in the given order)."""
        def run_work():
            return work.run(repeat, expected_s)

        if work_first:
            work.prepare()
            cw, run = self._capture(label, "work", pair, repeat, window, run_work)
            cb, _ = self._capture(label, "baseline", pair, repeat, window, lambda: self._idle(run))
        else:
            cb, _ = self._capture(label, "baseline", pair, repeat, window, lambda: self._idle(like))
            work.prepare()
            cw, run = self._capture(label, "work", pair, repeat, window, run_work)
        return cw, cb, run

    @staticmethod
    def per_run(work_cap: Capture, base_cap: Capture, repeat: int) -> float:
        scale = 1.0 if (work_cap.fixed_length and base_cap.fixed_length) else work_cap.duration_s / base_cap.duration_s
        return (work_cap.energy_j - scale * base_cap.energy_j) / repeat

    def measure(self, work, volts: float, label: str, predicted_j: float | None = None) -> EnergyEstimate:
        """The energy of one run of ``work`` at rail voltage ``volts`` (already set)."""
        s = self.settings
        amps = self.static_amps(volts, label)
        work.prepare()
        single = work.run(1)                 # warms the caches; its link time is the overhead
        work.prepare()
        probe = work.run(work.probe_repeat)
        t_run = max(self.baseline.seconds(probe) / work.probe_repeat, 1e-8)
        overhead = max(single.seconds - t_run, 0.0)
        window = s.window_s
        overruns = 0
        guess = predicted_j
        if guess is None or not guess > 0:
            n_pilot = int(min(max(1, PILOT_WORK_S // t_run), work.max_repeat))
            w = window or self.window_for(n_pilot, t_run, overhead)
            like = WorkRun(None if single.count is None else round(t_run * n_pilot * self.baseline.rate), t_run * n_pilot)
            while True:
                try:
                    cw, cb, _ = self._pair(label + " (pilot)", work, 0, n_pilot, w, like, n_pilot * t_run, True)
                    break
                except CaptureOverrun:
                    overruns += 1
                    w = self._longer(w, overruns, label)
            noise = self.meter.window_noise(w, volts, amps)
            guess = max(self.per_run(cw, cb, n_pilot), (noise.sigma_j + noise.resolution_j) / n_pilot)
        repeat = self.choose_repeat(guess, t_run, overhead, volts, amps, work.max_repeat)
        window = window or self.window_for(repeat, t_run, overhead)
        like = WorkRun(None if probe.count is None else round(t_run * repeat * self.baseline.rate), t_run * repeat)
        per_pair: list[float] = []
        powers: list[float] = []
        while len(per_pair) < s.max_pairs:
            try:
                cw, cb, run = self._pair(label, work, len(per_pair), repeat, window, like, repeat * t_run,
                                         work_first=len(per_pair) % 2 == 0)
            except CaptureOverrun:
                overruns += 1
                self.log.add(label, "overrun", len(per_pair), repeat, None, self.baseline.unit, window, None, True)
                window = self._longer(window, overruns, label)
                continue
            like = run
            per_pair.append(self.per_run(cw, cb, repeat))
            powers.append(cb.energy_j / cb.duration_s)
            if len(per_pair) >= s.min_pairs:
                noise = self.meter.window_noise(window, volts, amps)
                st = summarize(per_pair, repeat, noise.sigma_j, noise.resolution_j, self.meter.gain_accuracy(volts),
                               s.confidence, s.target, s.max_pairs)
                if st["target_met"] or st["hopeless"]:
                    break
        st.pop("hopeless")
        return EnergyEstimate(label, **st, pairs=len(per_pair), repeat=repeat, window_s=window, overruns=overruns,
                              method=self.meter.method, instrument=self.meter.name, volts=volts,
                              static_w=float(np.mean(powers)), confidence=s.confidence, per_pair_j=per_pair)

    def _longer(self, window: float, overruns: int, label: str) -> float:
        if overruns > self.settings.max_overruns or window >= self.meter.max_window_s:
            raise EnergyCaptureError(f"energy of {label}: {overruns} capture(s) outlasted by the work, the last "
                                     f"{window:.3f} s long (at most {self.meter.max_window_s:g} s)")
        return min(2 * window, self.meter.max_window_s)
