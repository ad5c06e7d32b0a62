"""Raw energy captures, kept beside the results (format: docs/ENERGY_CAPTURES.md).

``energy_captures.jsonl``: one JSON object per capture, in the order taken; ``energy_traces.npz``:
the raw samples of the captures that have them, keyed ``c<id>_current_A``, ``c<id>_voltage_V``
and (irregular readings) ``c<id>_time_s``.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from drivers import atomic
from drivers.energy.meter import Capture
from drivers.energy.work import WorkRun

CAPTURES_FILE = "energy_captures.jsonl"
TRACES_FILE = "energy_traces.npz"


class CaptureLog:
    """Collects captures in memory; :meth:`save` writes both files (atomically, whole)."""

    def __init__(self):
        self.records: list[dict] = []
        self.traces: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, directory: str | Path) -> "CaptureLog":
        """The captures saved in ``directory`` (empty if none), to add to (a resumed sweep)."""
        log = cls()
        if (Path(directory) / CAPTURES_FILE).is_file():
            log.records = read_captures(directory)
            with np.load(Path(directory) / TRACES_FILE) as traces:
                log.traces = {k: traces[k] for k in traces.files}
        return log

    def add(self, measurement: str, kind: str, pair: int | None, repeat: int, run: WorkRun | None, count_unit: str,
            window_s: float, capture: Capture | None, overrun: bool = False) -> None:
        cid = len(self.records)
        rec = {"id": cid, "measurement": measurement, "kind": kind, "pair": pair, "repeat": repeat,
               "count": None if run is None else run.count, "count_unit": count_unit,
               "work_s": None if run is None else run.seconds, "window_s": window_s, "overrun": overrun,
               "energy_J": None, "duration_s": None, "fixed_length": None, "volts": None, "interval_s": None,
               "samples": 0, "trace": None}
        if capture is not None:
            rec.update(energy_J=_finite(capture.energy_j), duration_s=capture.duration_s,
                       fixed_length=capture.fixed_length, volts=_finite(capture.volts), interval_s=capture.interval_s)
            if capture.currents is not None:
                key = f"c{cid:06d}"
                rec.update(samples=int(len(capture.currents)), trace=key)
                self.traces[f"{key}_current_A"] = capture.currents
                if capture.voltages is not None:
                    self.traces[f"{key}_voltage_V"] = capture.voltages
                if capture.times is not None:
                    self.traces[f"{key}_time_s"] = capture.times
        self.records.append(rec)

    def save(self, directory: str | Path) -> tuple[Path, Path]:
        directory = Path(directory)
        lines = "".join(json.dumps(r, allow_nan=False) + "\n" for r in self.records)
        buf = io.BytesIO()
        np.savez(buf, **self.traces)
        return (atomic.write_text(directory / CAPTURES_FILE, lines),
                atomic.write_bytes(directory / TRACES_FILE, buf.getvalue()))


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def read_captures(directory: str | Path) -> list[dict]:
    """The capture records of a directory (``energy_captures.jsonl``)."""
    with open(Path(directory) / CAPTURES_FILE) as f:
        return [json.loads(line) for line in f if line.strip()]
