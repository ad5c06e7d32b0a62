"""Joulescope (JS110, JS220) energy analyser through its Python package ``joulescope``
(optional extra: ``pip install 'faultbench[joulescope]'``) [HARDWARE 7].

    with Joulescope("002345") as meter:      # serial number, or None for the only one attached
        with meter.energy() as e:
            board.step()
        e.joules, e.method                   # -> joules, "stream"

It uses the package's documented v1 API: ``joulescope.scan(config=...)``, a device's
``open()``, ``parameter_set(name, value)``, ``start()`` / ``stop()`` streaming into its
``stream_buffer`` (``sample_id_range``, ``samples_get(start, stop, fields=[...])`` with
``{'signals': {'current': {'value': ..., 'units': 'A'}, ...}}``), ``output_sampling_frequency``,
``close()``. The instrument measures current and voltage itself (2 MSa/s on a JS110, ranges
switched automatically), so the energy is ``sum(P_k) / fs`` over the samples of the window;
NaN samples (lost on USB) count at the window's mean power.

Window: the stream is started once and runs into the package's ring buffer (30 s). A window
starts at the newest sample id when the body starts and ends :data:`TAIL_S` after the body
ends, in samples: the USB stream reaches the host a few milliseconds late, so without the tail
the end of the body's work could fall outside the window [choice; the tail adds its idle
energy]. Nothing was run against a real Joulescope here (no device): the driver is tested
against a fake of the package's documented API (``tests/drivers/fake_joulescope.py``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from types import ModuleType
from typing import Iterator

import numpy as np

from drivers.meters.capture import Capture, ConfiguredOnEnter
from drivers.supplies.base import SupplyError, _Result

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'faultbench[joulescope]' (or pip install joulescope)"
TAIL_S = 0.01           # samples kept after the body ends (USB latency) [choice]
STREAM_WAIT_S = 2.0     # how long the stream may lag behind the window's end before it counts as stalled
FIELDS = ["current", "voltage"]


class JoulescopeError(SupplyError):
    """No (or no unique) Joulescope, the package missing, or a stalled stream; one line."""


def _package() -> ModuleType:
    try:
        import joulescope  # optional extra
    except ImportError:
        raise JoulescopeError(f"the joulescope package is not installed: {INSTALL_HINT}") from None
    return joulescope


class Joulescope(ConfiguredOnEnter):
    """One Joulescope as an energy meter beside the rail's supply (it sources nothing)."""

    energy_method = "stream"

    def __init__(self, serial: str | None = None, *, sampling_frequency: int | None = None,
                 package: ModuleType | None = None):
        js = package or _package()
        devices = list(js.scan(config="off"))
        listing = ", ".join(str(d) for d in devices) or "none"
        if serial:
            devices = [d for d in devices if serial.lower() in str(d.serial_number).lower()]
        if not devices:
            raise JoulescopeError(f"no Joulescope{' ' + serial if serial else ''} found (attached: {listing}): connect "
                                  "it over USB (on Linux its udev rules give access), then retry")
        if len(devices) > 1:
            raise JoulescopeError(f"{len(devices)} Joulescopes attached ({listing}): choose one with joulescope:SERIAL")
        self.device = devices[0]
        self.name = str(self.device)
        self.rail_volts: float | None = None   # not needed: the Joulescope measures the voltage
        self.last_capture: Capture | None = None
        self.device.open()
        try:
            self.device.parameter_set("i_range", "auto")
            self.device.parameter_set("v_range", "15V")
            if sampling_frequency:
                self.device.parameter_set("sampling_frequency", int(sampling_frequency))
        except BaseException:
            self.close()
            raise

    @property
    def sample_rate_hz(self) -> float:
        return float(self.device.output_sampling_frequency)

    def identify(self) -> str:
        return f"Jetperch,{self.device.model},{self.device.serial_number}"

    def configure(self) -> None:
        """Streaming into the package's buffer (captures read windows out of it)."""
        if not self.device.is_streaming:
            self.device.start()

    def shutdown(self) -> bool:
        """Streaming stopped; never raises. The measured path stays as it is: switching the
        rail off is the supply's job."""
        try:
            self.device.stop()
            return True
        except Exception as exc:
            log.warning("Joulescope %s: stop failed: %s", self.name, exc)
            return False

    def close(self) -> None:
        if self.device is None:
            return
        self.shutdown()
        with contextlib.suppress(Exception):
            self.device.close()
        self.device = None

    def _newest(self) -> int:
        return int(self.device.stream_buffer.sample_id_range[1])

    def _read(self, start: int, stop: int) -> Capture:
        deadline = time.monotonic() + STREAM_WAIT_S
        while self._newest() < stop:
            if time.monotonic() > deadline:
                raise JoulescopeError(f"Joulescope {self.name}: the stream stalled (sample {self._newest()} of "
                                      f"{stop} after {STREAM_WAIT_S:g} s)")
            time.sleep(0.001)
        signals = self.device.stream_buffer.samples_get(start, stop, fields=FIELDS)["signals"]
        current = np.asarray(signals["current"]["value"], dtype=np.float64)
        volts = np.asarray(signals["voltage"]["value"], dtype=np.float64)
        return Capture(current, volts, self.sample_rate_hz)

    def capture(self, seconds: float) -> Capture:
        """Raw samples of the next ``seconds``."""
        self.configure()
        start = self._newest()
        return self._read(start, start + math.ceil(seconds * self.sample_rate_hz))

    @contextlib.contextmanager
    def energy(self, window_s: float | None = None) -> Iterator[_Result]:
        """Energy drawn while the body runs (plus :data:`TAIL_S`); ``window_s`` is not needed."""
        self.configure()
        result = _Result()
        start, t0 = self._newest(), time.monotonic()
        yield result
        stop = start + math.ceil((time.monotonic() - t0 + TAIL_S) * self.sample_rate_hz)
        self.last_capture = self._read(start, stop)
        result.reading = self.last_capture.reading()
