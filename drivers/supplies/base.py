"""VISA SCPI supply base: controls declared once with their ranges, safety limits, shutdown.

PyMeasure-style [pymeasure.instruments.Instrument.control]: each SCPI control of a dialect is a
:class:`Control` (set and get commands with ``{ch}``/``{value}`` fields and a valid range),
declared once on the concrete class. The base adds what a bench needs around them [HARDWARE 5]:

* terminations ``\\n`` for SOCKET and ASRL resources (otherwise every query hangs);
* ``vmax`` and ``imax`` checked **before** anything is sent; OVP programmed at or below vmax;
* ``SYST:ERR?`` drained after every setpoint, raising :class:`SupplyError` with code and text;
* an over-voltage trip detected after setpoints (:class:`SupplyTripped`);
* :meth:`ScpiSupply.shutdown`: output off, setpoint to ``safe_volts``; idempotent, reopens a
  dropped connection once to do it, and runs on every exit of the context manager (normal,
  exception, Ctrl-C) and at interpreter exit;
* :meth:`ScpiSupply.energy`: a context manager measuring the energy drawn while its body runs,
  with the method the instrument supports (``array``, ``meter`` or ``polling``), returning the
  raw readings too; ``spec`` is the model's measurement figures (``drivers/supplies/models/``),
  which ``drivers/energy`` uses to size captures and to state what they resolve.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pyvisa

from drivers.supplies.spec import SupplySpec, load_spec

log = logging.getLogger(__name__)


class SupplyError(Exception):
    """The instrument refused something (SCPI error code and text), or cannot be reached."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class SafetyLimitError(SupplyError):
    """A request outside the configured vmax/imax: refused before anything was sent."""


class EnergyWindowError(SupplyError):
    """The work outlasted a fixed-length energy capture; measure again with a longer window."""


class SupplyTripped(SupplyError):
    """The output's over-voltage protection tripped; the output is off."""


@dataclass(frozen=True)
class Control:
    """One SCPI control: ``set`` and ``get`` commands (``{ch}``, ``{value}``) and its valid range."""

    name: str
    set: str | None
    get: str | None
    lo: float = float("-inf")
    hi: float = float("inf")
    map_values: tuple[tuple[Any, str], ...] = ()  # e.g. ((True, "ON"), (False, "OFF"))

    def set_command(self, value: Any, ch: int) -> str:
        if self.set is None:
            raise AttributeError(f"{self.name} cannot be set")
        if self.map_values:
            text = dict(self.map_values)[value]
        else:
            if not self.lo <= float(value) <= self.hi:
                raise SupplyError(f"{self.name} {value} outside the instrument range [{self.lo}, {self.hi}]")
            text = f"{float(value):.6g}"
        return self.set.format(ch=ch, value=text)

    def parse(self, reply: str) -> Any:
        reply = reply.strip()
        if self.map_values:
            for value, text in self.map_values:
                if reply.upper() == text.upper() or (isinstance(value, bool) and reply == str(int(value))):
                    return value
            raise SupplyError(f"{self.name}: unexpected reply {reply!r}")
        return float(reply)


ON_OFF = ((True, "ON"), (False, "OFF"))


@dataclass(frozen=True)
class EnergyReading:
    """Energy drawn from the output during a window: joules, how, the bound where known, and
    the raw readings it came from."""

    joules: float = float("nan")
    method: str = ""          # "array" (digitiser integration), "meter" (energy meter), "polling"
    duration_s: float = 0.0   # the window the energy covers: a fixed record's length, else start to stop
    error_bound_j: float | None = None  # polling: bound from the current's change between samples
    samples: int = 0
    fixed_length: bool = False          # a digitiser record of fixed length (not a start/stop window)
    volts: float = float("nan")         # mean output voltage read during the window
    currents: tuple = ()                # raw current readings (A): digitiser samples or polled readings
    voltages: tuple = ()                # raw voltage readings (V), same length
    interval_s: float | None = None     # digitiser sample interval
    times: tuple = ()                   # polling: reading times, s from the window's start


class _Result:
    """Filled in when the ``energy()`` block ends."""

    reading: EnergyReading | None = None

    def __getattr__(self, name):
        if self.reading is None:
            raise AttributeError(f"{name}: the energy() block has not ended yet")
        return getattr(self.reading, name)


def open_kwargs(resource_name: str, timeout_ms: int) -> dict:
    """``open_resource`` options: ``\n`` terminations for SOCKET and ASRL resources [HARDWARE 5]."""
    kwargs: dict = {"timeout": timeout_ms}
    name = resource_name.upper()
    if name.endswith("::SOCKET") or name.startswith("ASRL"):
        kwargs.update(read_termination="\n", write_termination="\n")
    return kwargs


_open_supplies: "weakref.WeakSet[ScpiSupply]" = weakref.WeakSet()


def _shutdown_all() -> None:
    """Last resort at interpreter exit for supplies still open. Registered again with every
    supply opened, so that it runs before pyvisa's own handlers close the sessions (LIFO)."""
    for supply in list(_open_supplies):
        supply.shutdown()


class ScpiSupply:
    """Base of the concrete drivers. Subclasses declare controls and dialect details."""

    MODELS: tuple[str, ...] = ()     # IDN model names this driver serves (regex, matched by open_supply)
    CHANNELS: tuple[int, ...] = (1,)
    voltage: Control
    current: Control                 # current limit
    ovp: Control
    output: Control
    measure_voltage_cmd: str
    measure_current_cmd: str
    error_query = "SYST:ERR?"
    tripped_query: str | None = None
    tripped_values: tuple[str, ...] = ("1",)
    clear_trip_cmd: str | None = None
    select_channel: str | None = None  # sent before channel commands in dialects that select (R&S)
    output_master_on: str | None = None  # dialects with a master output switch (R&S OUTP:GEN)
    energy_method = "polling"
    poll_interval_s = 0.02
    SPEC: str = ""                   # the model's measurement figures: drivers/supplies/models/SPEC.yaml

    def __init__(self, resource_name: str, *, channel: int = 1, vmax: float, imax: float,
                 ovp: float | None = None, safe_volts: float = 0.0, backend: str = "@py",
                 timeout_ms: int = 3000, resource_manager: Any = None):
        if channel not in self.CHANNELS:
            raise SupplyError(f"{type(self).__name__}: channel {channel} not in {self.CHANNELS}")
        ovp = vmax if ovp is None else ovp
        for what, value, control in (("vmax", vmax, self.voltage), ("imax", imax, self.current),
                                     ("ovp", ovp, self.ovp), ("safe_volts", safe_volts, self.voltage)):
            if not control.lo <= value <= control.hi:
                raise SafetyLimitError(f"{what}={value} outside {type(self).__name__}'s range [{control.lo}, {control.hi}]")
        if ovp > vmax:
            raise SafetyLimitError(f"ovp={ovp} V above vmax={vmax} V: OVP must be at or below vmax")
        if safe_volts > vmax:
            raise SafetyLimitError(f"safe_volts={safe_volts} V above vmax={vmax} V")
        self.resource_name, self.channel = resource_name, channel
        self.vmax, self.imax, self.ovp_volts, self.safe_volts = vmax, imax, ovp, safe_volts
        self.timeout_ms = timeout_ms
        self.spec: SupplySpec = load_spec(self.SPEC)
        if resource_manager is None:
            resource_manager = pyvisa.ResourceManager(backend)
        self._rm = resource_manager
        self._lock = threading.RLock()
        self._res = None
        self._open()
        _open_supplies.add(self)
        atexit.unregister(_shutdown_all)
        atexit.register(_shutdown_all)

    # --- transport ----------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._res = self._rm.open_resource(self.resource_name, **open_kwargs(self.resource_name, self.timeout_ms))
        except Exception as exc:
            raise SupplyError(f"cannot open supply {self.resource_name}: {exc}") from exc

    def _select(self) -> None:
        if self.select_channel:
            self.write(self.select_channel.format(ch=self.channel))

    def write_channel(self, cmd: str) -> None:
        """``cmd`` for this driver's channel (after ``INST:NSEL n`` in dialects that select)."""
        with self._lock:
            self._select()
            self.write(cmd)

    def query_channel(self, cmd: str) -> str:
        with self._lock:
            self._select()
            return self.query(cmd)

    def write(self, cmd: str) -> None:
        with self._lock:
            log.debug("%s <- %s", self.resource_name, cmd)
            self._io(lambda: self._res.write(cmd))

    def query(self, cmd: str) -> str:
        with self._lock:
            reply = self._io(lambda: self._res.query(cmd)).strip()
            log.debug("%s <- %s -> %s", self.resource_name, cmd, reply)
            return reply

    def _io(self, fn: Callable[[], Any]) -> Any:
        if self._res is None:
            raise SupplyError(f"supply {self.resource_name} is closed")
        try:
            return fn()
        except Exception as exc:  # pyvisa's VisaIOError, socket errors: one clear error
            raise SupplyError(f"supply {self.resource_name}: no answer or connection lost ({exc})") from exc

    def identify(self) -> str:
        return self.query("*IDN?")

    # --- controls -------------------------------------------------------------------------

    def _set(self, control: Control, value: Any) -> None:
        self.write_channel(control.set_command(value, self.channel))
        self.check_errors(f"{control.name} {value}")
        self._check_trip()

    def _get(self, control: Control) -> Any:
        return control.parse(self.query_channel(control.get.format(ch=self.channel)))

    def check_errors(self, context: str = "") -> None:
        """Drain the error queue; raise the first error with its SCPI code and text."""
        first = None
        for _ in range(32):
            reply = self.query(self.error_query)
            code_text, _, text = reply.partition(",")
            try:
                code = int(code_text)
            except ValueError:
                raise SupplyError(f"supply {self.resource_name}: bad SYST:ERR? reply {reply!r}") from None
            if code == 0:
                break
            first = first or (code, text.strip().strip('"'))
        if first:
            raise SupplyError(f"supply {self.resource_name} refused {context or 'a command'}: SCPI error {first[0]} {first[1]!r}", code=first[0])

    def _check_trip(self) -> None:
        if self.tripped_query and self.tripped():
            raise SupplyTripped(f"supply {self.resource_name} channel {self.channel}: over-voltage protection "
                                f"tripped (OVP {self.ovp_volts} V); output is off. Find the cause, then clear_trip()")

    def tripped(self) -> bool:
        if not self.tripped_query:
            return False
        return self.query_channel(self.tripped_query.format(ch=self.channel)).strip().upper() in self.tripped_values

    def clear_trip(self) -> None:
        if self.clear_trip_cmd:
            self.write_channel(self.clear_trip_cmd.format(ch=self.channel))
            self.check_errors("clear protection")

    def configure(self) -> None:
        """Safe start: output off, setpoint safe, current limit imax, OVP at or below vmax."""
        self.output_enabled = False
        self._set(self.voltage, self.safe_volts)
        self._set(self.current, self.imax)
        self._set(self.ovp, self.ovp_volts)

    @property
    def volts(self) -> float:
        return self._get(self.voltage)

    @volts.setter
    def volts(self, value: float) -> None:
        if not 0 <= value <= self.vmax:  # checked before anything is sent
            raise SafetyLimitError(f"{value} V refused: outside [0, vmax={self.vmax}] V (nothing was sent)")
        self._set(self.voltage, value)

    @property
    def current_limit(self) -> float:
        return self._get(self.current)

    @current_limit.setter
    def current_limit(self, value: float) -> None:
        if not 0 <= value <= self.imax:
            raise SafetyLimitError(f"{value} A refused: outside [0, imax={self.imax}] A (nothing was sent)")
        self._set(self.current, value)

    @property
    def output_enabled(self) -> bool:
        return self._get(self.output)

    @output_enabled.setter
    def output_enabled(self, on: bool) -> None:
        self._set(self.output, bool(on))
        if on and self.output_master_on:
            self.write(self.output_master_on)
            self.check_errors(self.output_master_on)
            self._check_trip()

    def measure_voltage(self) -> float:
        return float(self.query_channel(self.measure_voltage_cmd.format(ch=self.channel)))

    def measure_current(self) -> float:
        return float(self.query_channel(self.measure_current_cmd.format(ch=self.channel)))

    # --- shutdown -------------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Output off and setpoint to ``safe_volts``. Returns True when the output reads OFF.

        Never raises: it is called on exit paths. A dropped connection is reopened once.
        """
        for attempt in range(2):
            try:
                if attempt:
                    self._reopen()
                self.write_channel(self.output.set_command(False, self.channel))
                self.write_channel(self.voltage.set_command(self.safe_volts, self.channel))
                off = self.output_enabled is False
                log.info("supply %s channel %d shut down (output %s)", self.resource_name, self.channel, "off" if off else "ON?")
                return off
            except Exception as exc:
                log.warning("supply %s shutdown attempt %d failed: %s", self.resource_name, attempt + 1, exc)
        return False

    def _reopen(self) -> None:
        with contextlib.suppress(Exception):
            self._res.close()
        self._open()

    def close(self) -> None:
        """Shut down, then release the VISA resource."""
        if self._res is None:
            return
        self.shutdown()
        _open_supplies.discard(self)
        with contextlib.suppress(Exception):
            self._res.close()
        self._res = None

    def __enter__(self) -> "ScpiSupply":
        try:
            self.configure()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- energy ---------------------------------------------------------------------------

    def write_checked(self, commands: list[str], context: str) -> None:
        """``commands`` and the error query in one message, then the queue drained on an error.
        One message: a write followed by a query stalls ~40 ms on TCP (the host's Nagle
        algorithm waits for the instrument's delayed ACK), which a capture cannot afford."""
        with self._lock:
            reply = self.query(";".join([*commands, self.error_query]))
            if int(reply.partition(",")[0]) != 0:
                self.check_errors(context)
                raise SupplyError(f"supply {self.resource_name} refused {context}: {reply}",
                                  code=int(reply.partition(",")[0]))

    @contextlib.contextmanager
    def energy(self, window_s: float) -> Iterator[_Result]:
        """Measure the energy drawn while the body runs (``window_s``: its expected length).

        ``array`` captures exactly ``window_s`` from its trigger and raises
        :class:`EnergyWindowError` if the body ended later.
        """
        result = _Result()
        start = getattr(self, f"_start_{self.energy_method}")
        stop = getattr(self, f"_stop_{self.energy_method}")
        token = start(window_s)
        t0 = time.monotonic()
        try:
            yield result
        finally:
            result.reading = stop(token, time.monotonic() - t0)

    def _start_polling(self, window_s: float):
        stop = threading.Event()
        samples: list[tuple[float, float, float]] = []

        def poll() -> None:
            while not stop.is_set():
                try:
                    i, v = self.measure_current(), self.measure_voltage()
                except SupplyError as exc:
                    log.warning("energy polling stopped: %s", exc)
                    return
                samples.append((time.monotonic(), v, i))
                stop.wait(self.poll_interval_s)

        thread = threading.Thread(target=poll, name="supply-energy-poll", daemon=True)
        t0 = time.monotonic()
        thread.start()
        return stop, thread, samples, t0

    def _stop_polling(self, token, elapsed: float) -> EnergyReading:
        """Trapezoid integral of ``V*I`` over the samples, extended flat to the window's ends.

        Error bound: between samples the power can move anywhere between its neighbours,
        ``sum |P_k+1 - P_k| dt_k / 2`` plus the unsampled ends at the peak power.
        """
        stop, thread, samples, t0 = token
        stop.set()
        thread.join()
        t1 = t0 + elapsed
        samples = [s for s in samples if s[0] <= t1]  # the poller may sample once more before it sees stop
        if not samples:
            return EnergyReading(float("nan"), "polling", elapsed, None, 0)
        raw = {"volts": sum(s[1] for s in samples) / len(samples), "currents": tuple(s[2] for s in samples),
               "voltages": tuple(s[1] for s in samples), "times": tuple(s[0] - t0 for s in samples)}
        times = [t0] + [s[0] for s in samples] + [t1]
        power = [samples[0][1] * samples[0][2]] + [v * i for _, v, i in samples] + [samples[-1][1] * samples[-1][2]]
        joules = bound = 0.0
        for k in range(len(times) - 1):
            dt = max(times[k + 1] - times[k], 0.0)
            joules += 0.5 * (power[k] + power[k + 1]) * dt
            bound += 0.5 * abs(power[k + 1] - power[k]) * dt
        peak = max(abs(p) for p in power)
        bound += peak * (max(samples[0][0] - t0, 0.0) + max(t1 - samples[-1][0], 0.0))
        return EnergyReading(joules, "polling", elapsed, bound, len(samples), **raw)
