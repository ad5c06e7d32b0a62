"""Nordic Power Profiler Kit II (PPK2) over its USB CDC serial port [HARDWARE 7, 8].

    with PPK2("/dev/ttyACM1", mode="ampere") as meter:      # in series with a bench supply's rail
        meter.rail_volts = 0.6                                # the rail voltage (it measures current only)
        with meter.capture(0.05) as box:                      # drivers/energy/meter.py's interface
            board.step()
        box.capture.energy_j                                  # joules of the window

    with PPK2("/dev/ttyACM1", mode="source", vmax=1.2) as rail:   # the PPK2 powers the rail itself
        rail.volts = 1.0; rail.output_enabled = True

The protocol (from the public ppk2-api package and Nordic's pc-nrfconnect-ppk, HARDWARE 8):
single command bytes, some with arguments; the device answers only ``GET_META_DATA`` (ASCII
``KEY: VALUE`` lines, then ``END``) and, after ``AVERAGE_START``, streams 4-byte samples at
100 kSa/s until ``AVERAGE_STOP``. A sample (u32, little-endian) holds a 14-bit ADC code, the
range (0-4, auto-ranging shunts), a 6-bit counter and the 8 logic inputs; the current is the
calibration formula of :meth:`Calibration.current` with the device's own calibration read from
its metadata.

Energy: a :class:`~drivers.energy.meter.EnergyMeter` (``drivers/meters/stream.py``), so the
repeated, baseline-corrected method of ``drivers/energy`` measures through it: a capture is the
samples streamed from ``AVERAGE_START`` (its body starts once the first samples have arrived:
the start latency waited out) until the window has passed, ``E = V * sum(I_k) * 10 us``
with ``V`` the source voltage (source meter) or :attr:`PPK2.rail_volts` (ampere meter: the PPK2
does not measure voltage, so the rail's is the supply's setpoint). Samples lost on the way (the
counter jumps) are counted and filled with the window's mean current.

What it resolves (:meth:`PPK2.window_noise`, :meth:`PPK2.gain_accuracy`), with the figures the
virtual lab's simulator also measures by: 100 kSa/s [HARDWARE 7]; the auto-ranging range of a
current is the most sensitive one whose full scale times :data:`RANGE_HEADROOM` holds it; one
ADC code (1 LSB) of that range from the unit's own calibration (~42.6 nA on the lowest range,
HARDWARE 7); noise of :data:`NOISE_COUNTS` codes rms per sample plus the code's rounding
(``1/12`` code^2); gain accuracy :data:`GAIN_ACCURACY`. No published noise or accuracy figure was
found: both are estimates, stated here so that a measured unit can replace them.

Safety (source meter): setpoints outside 0.8-5.0 V (the regulator's range) or above ``vmax``
are refused before anything is sent, checked on the millivolts as sent; :meth:`shutdown`
(DUT power off, streaming stopped) runs on every exit of the context manager and at
interpreter exit. The PPK2 has no programmable current limit (:attr:`current_limit` is kept
for the record only). Nothing can be read back from a PPK2: the output state is the last
command sent.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import struct
import threading
import time
import weakref
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import serial

from drivers.energy.meter import WindowNoise
from drivers.meters.stream import Samples, StreamMeter
from drivers.supplies.base import SafetyLimitError, SupplyError

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 100_000
SAMPLE_PERIOD_S = 1.0 / SAMPLE_RATE_HZ
RANGES = 5
ADC_BITS = 14
ADC_MAX = (1 << ADC_BITS) - 1
ADC_VOLTS = 1.8 / 163840      # volts per unit of ``a = 4 * adc`` [HARDWARE 8]
VDD_MIN_MV, VDD_MAX_MV = 800, 5000
METADATA_TIMEOUT_S = 2.0
STREAM_START_S = 2.0          # the first samples of a stream arrive within this long, or the PPK2 is silent
DRAIN_QUIET_S = 0.05          # after AVERAGE_STOP: the stream is over once the port is quiet this long [choice]
MEASURE_CURRENT_S = 0.02      # measure_current(): mean over this long a capture (one power-line cycle)
NOISE_COUNTS = 1.5            # ADC noise, rms codes per sample [estimate: no published figure]
RANGE_HEADROOM = 0.9          # auto-ranging: a range is used up to this fraction of its full scale [estimate]
GAIN_ACCURACY = 0.01          # +- relative error of a current after the unit's calibration [estimate: not found]


class Cmd(IntEnum):
    """Command bytes [HARDWARE 8]; ``ARGS`` gives the argument bytes each takes."""

    TRIGGER_SET = 0x01
    AVG_NUM_SET = 0x02
    TRIGGER_WINDOW_SET = 0x03
    TRIGGER_INTERVAL_SET = 0x04
    TRIGGER_SINGLE_SET = 0x05
    AVERAGE_START = 0x06
    AVERAGE_STOP = 0x07
    RANGE_SET = 0x08
    DEVICE_RUNNING_SET = 0x0C
    REGULATOR_SET = 0x0D
    SWITCH_POINT_DOWN = 0x0E
    SWITCH_POINT_UP = 0x0F
    SET_POWER_MODE = 0x11
    SPIKE_FILTERING_ON = 0x15
    SPIKE_FILTERING_OFF = 0x16
    GET_META_DATA = 0x19
    RESET = 0x20
    SET_USER_GAINS = 0x25


#: argument bytes after each command byte (the trigger and switch-point commands: one byte)
ARGS = {Cmd.DEVICE_RUNNING_SET: 1, Cmd.REGULATOR_SET: 2, Cmd.SET_POWER_MODE: 1, Cmd.SET_USER_GAINS: 5,
        Cmd.RANGE_SET: 1, Cmd.SWITCH_POINT_DOWN: 1, Cmd.SWITCH_POINT_UP: 1, Cmd.TRIGGER_SET: 1,
        Cmd.AVG_NUM_SET: 1, Cmd.TRIGGER_WINDOW_SET: 1, Cmd.TRIGGER_INTERVAL_SET: 1, Cmd.TRIGGER_SINGLE_SET: 1}
AMPERE_MODE, SOURCE_MODE = 1, 2
MODES = {"ampere": AMPERE_MODE, "source": SOURCE_MODE}


class PPK2Error(SupplyError):
    """The PPK2 is missing, silent, or refused a setting; the message is one line."""


def regulator_command(millivolts: int) -> bytes:
    """``REGULATOR_SET`` with the millivolts as two bytes, big-endian [HARDWARE 8]."""
    return bytes([Cmd.REGULATOR_SET]) + struct.pack(">H", millivolts)


def encode_samples(adc: np.ndarray, rng: np.ndarray, counter: np.ndarray, logic: np.ndarray | int = 0) -> bytes:
    """Samples as streamed: u32 LE ``adc | range << 14 | counter << 18 | logic << 24``."""
    words = (np.asarray(adc, np.uint32) & ADC_MAX) | (np.asarray(rng, np.uint32) << 14) \
        | ((np.asarray(counter, np.uint32) & 0x3F) << 18) | (np.asarray(logic, np.uint32) << 24)
    return words.astype("<u4").tobytes()


def decode_samples(raw: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(adc, range, counter, logic)`` of whole samples in ``raw`` (a trailing part is ignored)."""
    words = np.frombuffer(raw, dtype="<u4", count=len(raw) // 4)
    return (words & ADC_MAX, np.minimum((words >> 14) & 0x7, RANGES - 1), (words >> 18) & 0x3F, words >> 24)


def missing_samples(counter: np.ndarray) -> int:
    """Samples lost in a stream, from the jumps of its 6-bit counter (lost runs of 64 or more
    cannot be seen)."""
    if len(counter) < 2:
        return 0
    return int(((np.diff(counter.astype(np.int64)) - 1) % 64).sum())


_KEYS = ("R", "GS", "GI", "O", "S", "I", "UG")


@dataclass(frozen=True)
class Calibration:
    """A PPK2's per-range calibration (its metadata); the defaults are ppk2-api's [HARDWARE 8]."""

    r: tuple[float, ...] = (1031.64, 101.65, 10.15, 0.94, 0.043)
    gs: tuple[float, ...] = (1.0,) * RANGES
    gi: tuple[float, ...] = (1.0,) * RANGES
    o: tuple[float, ...] = (0.0,) * RANGES
    s: tuple[float, ...] = (0.0,) * RANGES
    i: tuple[float, ...] = (0.0,) * RANGES
    ug: tuple[float, ...] = (1.0,) * RANGES
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # Calibrated, HW, IA, ...

    @classmethod
    def from_metadata(cls, text: str) -> "Calibration":
        """Parse ``KEY: VALUE`` lines (up to ``END``). A zero shunt (``R``) or a ``nan`` keeps
        the default, as Nordic's software does for devices with broken calibration."""
        values = {k.lower(): list(getattr(cls(), k.lower())) for k in _KEYS}
        extra = []
        for line in text.replace("\r", "").split("\n"):
            key, sep, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                continue
            base, index = key[:-1], key[-1:]
            if base in _KEYS and index.isdigit() and int(index) < RANGES:
                try:
                    number = float(value)
                except ValueError:
                    raise PPK2Error(f"PPK2 metadata: {key}: {value!r} is not a number") from None
                if np.isfinite(number) and not (base == "R" and number == 0):
                    values[base.lower()][int(index)] = number
            else:
                extra.append((key, value))
        return cls(**{k: tuple(v) for k, v in values.items()}, extra=tuple(extra))

    def to_metadata(self) -> str:
        """The metadata text a PPK2 sends: ``KEY: VALUE`` lines, then ``END``."""
        lines = [f"{k}: {v}" for k, v in self.extra]
        lines += [f"{k}{r}: {getattr(self, k.lower())[r]!r}" for k in _KEYS for r in range(RANGES)]
        return "\n".join(lines) + "\nEND\n"

    def _per_range(self, name: str, rng: np.ndarray) -> np.ndarray:
        return np.asarray(getattr(self, name), dtype=np.float64)[rng]

    def current(self, adc: np.ndarray, rng: np.ndarray, vdd: float) -> np.ndarray:
        """Amperes of ADC codes: ``i0 = (4 adc - O) 1.8/163840 / R``, ``I = UG (i0 (GS i0 + GI)
        + S vdd + I)`` per sample's range ``rng`` [HARDWARE 8; pc-nrfconnect-ppk]."""
        rng = np.asarray(rng, dtype=np.int64)
        i0 = (4.0 * np.asarray(adc, np.float64) - self._per_range("o", rng)) * ADC_VOLTS / self._per_range("r", rng)
        return self._per_range("ug", rng) * (i0 * (self._per_range("gs", rng) * i0 + self._per_range("gi", rng))
                                             + self._per_range("s", rng) * vdd + self._per_range("i", rng))

    def adc_value(self, amps: np.ndarray, rng: np.ndarray, vdd: float) -> np.ndarray:
        """The (unrounded) ADC code that :meth:`current` maps to ``amps``: the inverse, solving
        ``GS i0^2 + GI i0 + (S vdd + I - amps / UG) = 0`` for the root nearest ``amps / GI``."""
        rng = np.asarray(rng, dtype=np.int64)
        gs, gi = self._per_range("gs", rng), self._per_range("gi", rng)
        c = self._per_range("s", rng) * vdd + self._per_range("i", rng) - np.asarray(amps, np.float64) / self._per_range("ug", rng)
        disc = np.sqrt(np.maximum(gi * gi - 4.0 * gs * c, 0.0))
        # the stable form of the quadratic's small root (gs -> 0 gives -c / gi)
        i0 = np.where(gi + disc != 0, -2.0 * c / (gi + disc), 0.0)
        return (i0 * self._per_range("r", rng) / ADC_VOLTS + self._per_range("o", rng)) / 4.0

    def full_scale(self, vdd: float = 0.0) -> np.ndarray:
        """Amperes at the top ADC code of each range."""
        return self.current(np.full(RANGES, ADC_MAX), np.arange(RANGES), vdd)

    def resolution(self, vdd: float = 0.0) -> np.ndarray:
        """Amperes per ADC code (1 LSB) of each range, near zero current."""
        r = np.arange(RANGES)
        zero = np.round(self.adc_value(np.zeros(RANGES), r, vdd))
        return self.current(zero + 1, r, vdd) - self.current(zero, r, vdd)


class _Stream:
    """Reads the port in a thread from ``AVERAGE_START`` until the device is quiet after ``AVERAGE_STOP``."""

    def __init__(self, port: serial.Serial):
        self.port, self.buf = port, bytearray()
        self.stopping = threading.Event()
        self.flowing = threading.Event()   # the first samples arrived: the device is streaming
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, name="ppk2-stream", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        quiet_since = None
        try:
            while True:
                chunk = self.port.read(max(1, self.port.in_waiting))
                if chunk:
                    self.buf += chunk
                    self.flowing.set()
                    quiet_since = None
                elif self.stopping.is_set():
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= DRAIN_QUIET_S:
                        return
        except (serial.SerialException, OSError) as exc:
            self.error = exc

    def finish(self) -> bytes:
        self.stopping.set()
        self.thread.join()
        return bytes(self.buf)


_open_ppk2s: "weakref.WeakSet[PPK2]" = weakref.WeakSet()


def _shutdown_all() -> None:
    for ppk in list(_open_ppk2s):
        ppk.shutdown()


class PPK2(StreamMeter):
    """One PPK2 as an ampere meter (``mode="ampere"``) or as the rail's source meter
    (``mode="source"``, with ``vmax``); see the module docstring."""

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, port: str, *, mode: str = "ampere", vmax: float | None = None, timeout_s: float = 0.05):
        if mode not in MODES:
            raise PPK2Error(f"PPK2 mode {mode!r}: choose ampere (meter in series) or source (it powers the rail)")
        if mode == "source":
            if vmax is None:
                raise SafetyLimitError("PPK2 source meter: give vmax (the rail's safety limit)")
            if vmax * 1000 < VDD_MIN_MV:
                raise SafetyLimitError(f"PPK2 source meter: vmax={vmax} V is below its lowest output "
                                       f"{VDD_MIN_MV / 1000} V; use a bench supply with the PPK2 as ampere meter")
        self.port_name, self.mode, self.vmax = port, mode, vmax
        self.channel = 1
        self.rail_volts: float | None = None   # ampere meter: the rail's voltage (the energy is V * charge)
        self._millivolts: int | None = None
        self._output = False
        self._current_limit: float | None = None
        self.name = f"Nordic PPK2 ({port}, {mode} meter)"
        self._lock = threading.RLock()
        try:
            self._port = serial.serial_for_url(port, baudrate=115200, timeout=timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PPK2Error(f"cannot open PPK2 at {port}: {exc}") from None
        _open_ppk2s.add(self)
        atexit.unregister(_shutdown_all)
        atexit.register(_shutdown_all)
        try:
            self.calibration = self._read_calibration()
        except BaseException:
            self.close()
            raise

    # --- transport ---------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self._port is None:
            raise PPK2Error(f"PPK2 {self.port_name} is closed")
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise PPK2Error(f"PPK2 {self.port_name}: connection lost ({exc})") from None
        log.debug("%s <- %s", self.port_name, data.hex())

    def _drain(self) -> None:
        """Discard whatever the device is still sending (a stream left running)."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if not self._port.read(max(1, self._port.in_waiting)):
                return

    def _read_calibration(self) -> Calibration:
        with self._lock:
            self._send(bytes([Cmd.AVERAGE_STOP]))
            self._drain()
            self._port.reset_input_buffer()
            self._send(bytes([Cmd.GET_META_DATA]))
            text, deadline = b"", time.monotonic() + METADATA_TIMEOUT_S
            while b"END" not in text and time.monotonic() < deadline:
                text += self._port.read(max(1, self._port.in_waiting))
        if b"END" not in text:
            raise PPK2Error(f"no PPK2 answers at {self.port_name} (no metadata within {METADATA_TIMEOUT_S:g} s): "
                            f"check the port, or power-cycle the PPK2")
        return Calibration.from_metadata(text.split(b"END")[0].decode("ascii", "replace"))

    def identify(self) -> str:
        extra = dict(self.calibration.extra)
        return f"Nordic Semiconductor,PPK2,HW {extra.get('HW', '?')},IA {extra.get('IA', '?')}"

    # --- set-up and safety ----------------------------------------------------------------

    def configure(self) -> None:
        """Safe start: streaming stopped, the mode set, DUT power off (source meter) or on
        (ampere meter: its switch closes the measured path)."""
        with self._lock:
            self._send(bytes([Cmd.AVERAGE_STOP, Cmd.SET_POWER_MODE, MODES[self.mode]]))
            self.output_enabled = self.mode == "ampere"

    @property
    def volts(self) -> float:
        """The source voltage as last sent (source meter), or :attr:`rail_volts` (ampere meter)."""
        if self.mode == "ampere":
            return self.rail_volts if self.rail_volts is not None else float("nan")
        return self._millivolts / 1000 if self._millivolts is not None else 0.0

    @volts.setter
    def volts(self, value: float) -> None:
        if self.mode == "ampere":
            raise PPK2Error("the PPK2 is an ampere meter here: it cannot set the rail voltage (mode='source' does)")
        millivolts = int(round(value * 1000))
        if not VDD_MIN_MV <= millivolts <= VDD_MAX_MV:
            raise SafetyLimitError(f"{value} V refused: the PPK2 source meter outputs {VDD_MIN_MV / 1000}-"
                                   f"{VDD_MAX_MV / 1000} V (nothing was sent); below that use a bench supply "
                                   "with the PPK2 as ampere meter")
        if millivolts > round(self.vmax * 1000):  # the value as sent, in the device's units
            raise SafetyLimitError(f"{value} V refused: above vmax={self.vmax} V (nothing was sent)")
        self._send(regulator_command(millivolts))
        self._millivolts = millivolts

    @property
    def output_enabled(self) -> bool:
        return self._output

    @output_enabled.setter
    def output_enabled(self, on: bool) -> None:
        if on and self.mode == "source" and self._millivolts is None:
            raise SafetyLimitError("PPK2 source meter: set volts before switching the output on")
        self._send(bytes([Cmd.DEVICE_RUNNING_SET, int(bool(on))]))
        self._output = bool(on)

    @property
    def current_limit(self) -> float | None:
        return self._current_limit

    @current_limit.setter
    def current_limit(self, amps: float) -> None:
        """Kept for the record: the PPK2 has no programmable current limit."""
        self._current_limit = amps

    def measure_voltage(self) -> float:
        """The source voltage as set while the output is on (the PPK2 does not measure it)."""
        return self.volts if self._output or self.mode == "ampere" else 0.0

    def measure_current(self) -> float:
        """Mean current over :data:`MEASURE_CURRENT_S` of samples."""
        c = self.record(MEASURE_CURRENT_S)
        return c.charge_c() / c.duration_s if c.duration_s else float("nan")

    def shutdown(self) -> bool:
        """Streaming stopped and DUT power off; never raises (exit paths). True when sent."""
        try:
            with self._lock:
                self._send(bytes([Cmd.AVERAGE_STOP, Cmd.DEVICE_RUNNING_SET, 0]))
            self._output = False
            log.info("PPK2 %s shut down (DUT power off)", self.port_name)
            return True
        except Exception as exc:
            log.warning("PPK2 %s shutdown failed: %s", self.port_name, exc)
            return False

    def close(self) -> None:
        if self._port is None:
            return
        self.shutdown()
        _open_ppk2s.discard(self)
        with contextlib.suppress(Exception):
            self._port.close()
        self._port = None

    # --- measurement ----------------------------------------------------------------------

    @property
    def vdd(self) -> float:
        """The voltage the calibration's ``S`` term and the energy use."""
        return self.volts if self.mode == "source" else (self.rail_volts or 0.0)

    def resolution_a(self) -> np.ndarray:
        """Amperes per ADC code of each range (1 LSB; the device's own calibration)."""
        return self.calibration.resolution(self.vdd)

    def _range(self, amps: float) -> int:
        """The range the device's auto-ranging measures ``amps`` on (module docstring)."""
        full = self.calibration.full_scale(self.vdd) * RANGE_HEADROOM
        return int(min(np.searchsorted(full, abs(amps)), RANGES - 1))

    def window_noise(self, window_s: float, volts: float, amps: float) -> WindowNoise:
        """A window's energy noise: ``sqrt(n)`` samples of ``sigma_I`` (:data:`NOISE_COUNTS` codes
        and the rounding) over 10 us at ``volts``; readings dither (noise above one code), so no
        resolution step."""
        lsb = float(self.resolution_a()[self._range(amps)])
        n = max(1, round(window_s * SAMPLE_RATE_HZ))
        sigma_i = lsb * np.sqrt(NOISE_COUNTS ** 2 + 1 / 12)
        resolution = 0.0 if NOISE_COUNTS >= 1 else volts * lsb * window_s
        return WindowNoise(float(volts * sigma_i * np.sqrt(n) * SAMPLE_PERIOD_S), resolution)

    def gain_accuracy(self, volts: float) -> float:
        """:data:`GAIN_ACCURACY` (the current's; the voltage is the setpoint, not measured)."""
        return GAIN_ACCURACY

    def capture(self, window_s: float):
        """The energy-capture interface (``drivers/meters/stream.py``); the ampere meter needs
        :attr:`rail_volts` first."""
        if self.mode == "ampere" and self.rail_volts is None:
            raise PPK2Error("PPK2 ampere meter: set rail_volts (the rail's voltage) before measuring energy")
        return super().capture(window_s)

    def _begin(self) -> _Stream:
        """Streaming started, its start latency waited out: the first samples have arrived, so
        the work that follows falls inside the stream."""
        with self._lock:
            self._port.reset_input_buffer()
            self._send(bytes([Cmd.AVERAGE_START]))
            stream = _Stream(self._port)
        if not stream.flowing.wait(STREAM_START_S):
            self._end(stream, 0.0)
            raise PPK2Error(f"PPK2 {self.port_name}: no samples within {STREAM_START_S:g} s of AVERAGE_START")
        return stream

    def _end(self, stream: _Stream, elapsed_s: float) -> Samples:
        with self._lock:
            self._send(bytes([Cmd.AVERAGE_STOP]))
            raw = stream.finish()
        if stream.error is not None:
            raise PPK2Error(f"PPK2 {self.port_name}: stream lost ({stream.error})")
        adc, rng, counter, logic = decode_samples(raw)
        volts = self.vdd if self.mode == "source" else self.rail_volts
        return Samples(self.calibration.current(adc, rng, self.vdd), volts, SAMPLE_RATE_HZ, missing_samples(counter),
                       rng, logic)

    def _abort(self, stream: _Stream) -> None:
        self._end(stream, 0.0)
