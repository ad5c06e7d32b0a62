"""Joulescope (JS110, JS220) energy analyser through its Python package ``joulescope``
(optional extra: ``pip install 'faultbench[joulescope]'``) [HARDWARE 7].

    with Joulescope("002345") as meter:      # serial number, or None for the only one attached
        with meter.capture(0.05) as box:     # drivers/energy/meter.py's interface
            board.step()
        box.capture.energy_j                 # joules of the window

It uses the package's documented v1 API: ``joulescope.scan(config=...)``, a device's
``open()``, ``parameter_set(name, value)``, ``start()`` / ``stop()`` streaming into its
``stream_buffer`` (``sample_id_range``, ``samples_get(start, stop, fields=[...])`` with
``{'signals': {'current': {'value': ..., 'units': 'A'}, ...}}``), ``output_sampling_frequency``,
``close()``. The instrument measures current and voltage itself (2 MSa/s on a JS110, ranges
switched automatically), so the energy is ``sum(P_k) / fs`` over the samples of the window;
NaN samples (lost on USB) count at the window's mean power.

Window (an :class:`~drivers.energy.meter.EnergyMeter`, ``drivers/meters/stream.py``): the stream
is started once and runs into the package's ring buffer (30 s). A window starts at the newest
sample id when the body starts and ends :data:`TAIL_S` after the window (at least the body),
in samples: the USB stream reaches the host a few milliseconds late, so without the tail the
end of the body's work could fall outside the window [choice; the tail adds its idle energy,
which the baseline window of the same length removes].

What it resolves (:meth:`Joulescope.window_noise`, :meth:`Joulescope.gain_accuracy`): the
JS110's current ranges from its shunts (1111, 111, 11.11, 1.11 and 0.01 ohm, HARDWARE 7) with
full scales of about 20 mV over each shunt (:data:`RANGES_A`; the 2 A range is the datasheet's),
switched automatically: a window is read on the lowest range holding its current; noise per
sample :data:`NOISE_FRACTION` of the range at 2 MSa/s, averaging down as ``sqrt(fs / 2 MSa/s)``
at a lower output rate; gain accuracy :data:`GAIN_ACCURACY` (the 2 A range's 0.3%, HARDWARE 7,
taken for every range) plus :data:`VOLTAGE_ACCURACY`. The offset (1.5 mA on the 2 A range) is
the same in a work window and its baseline and cancels. The noise and the voltage figure are
estimates (no published table was found). Nothing was run against a real Joulescope here (no
device): the driver is tested against a fake of the package's documented API
(``tests/drivers/fake_joulescope.py``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from types import ModuleType

import numpy as np

from drivers.energy.meter import WindowNoise
from drivers.meters.stream import Samples, StreamMeter
from drivers.supplies.base import SupplyError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'faultbench[joulescope]' (or pip install joulescope)"
TAIL_S = 0.01           # samples kept after the body ends (USB latency) [choice]
STREAM_WAIT_S = 2.0     # how long the stream may lag behind the window's end before it counts as stalled
FIELDS = ["current", "voltage"]
FULL_RATE_HZ = 2_000_000          # the JS110's sample rate [HARDWARE 7]
RANGES_A = (18e-6, 180e-6, 1.8e-3, 18e-3, 2.0)   # full scales: ~20 mV over each shunt [HARDWARE 7; estimate but 2 A]
NOISE_FRACTION = 1e-3             # rms noise of one 2 MSa/s sample, fraction of its range [estimate: not found]
GAIN_ACCURACY = 0.003             # +- of reading, current [HARDWARE 7: the 2 A range; estimate for the others]
VOLTAGE_ACCURACY = 0.001          # +- of reading, voltage [estimate: not found]


class JoulescopeError(SupplyError):
    """No (or no unique) Joulescope, the package missing, or a stalled stream; one line."""


def _package() -> ModuleType:
    try:
        import joulescope  # optional extra
    except ImportError:
        raise JoulescopeError(f"the joulescope package is not installed: {INSTALL_HINT}") from None
    return joulescope


class Joulescope(StreamMeter):
    """One Joulescope as an energy meter beside the rail's supply (it sources nothing)."""

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

    def _read(self, start: int, stop: int) -> Samples:
        deadline = time.monotonic() + STREAM_WAIT_S
        while self._newest() < stop:
            if time.monotonic() > deadline:
                raise JoulescopeError(f"Joulescope {self.name}: the stream stalled (sample {self._newest()} of "
                                      f"{stop} after {STREAM_WAIT_S:g} s)")
            time.sleep(0.001)
        signals = self.device.stream_buffer.samples_get(start, stop, fields=FIELDS)["signals"]
        current = np.asarray(signals["current"]["value"], dtype=np.float64)
        volts = np.asarray(signals["voltage"]["value"], dtype=np.float64)
        return Samples(current, volts, self.sample_rate_hz)

    def window_noise(self, window_s: float, volts: float, amps: float) -> WindowNoise:
        """A window's energy noise: ``n`` samples of the range's noise at the output rate, at
        ``volts`` (module docstring); readings dither, so no resolution step."""
        fs = self.sample_rate_hz
        full = next((r for r in RANGES_A if abs(amps) <= r), RANGES_A[-1])
        sigma_i = NOISE_FRACTION * full * math.sqrt(min(fs, FULL_RATE_HZ) / FULL_RATE_HZ)
        n = max(1, round(window_s * fs))
        return WindowNoise(volts * sigma_i * math.sqrt(n) / fs, 0.0)

    def gain_accuracy(self, volts: float) -> float:
        return GAIN_ACCURACY + VOLTAGE_ACCURACY

    def _begin(self) -> int:
        self.configure()
        return self._newest()

    def _end(self, start: int, elapsed_s: float) -> Samples:
        return self._read(start, start + math.ceil((elapsed_s + TAIL_S) * self.sample_rate_hz))

    def _abort(self, start: int) -> None:
        pass
