"""VISA SCPI supply base: controls declared once with their ranges, safety limits, shutdown.

PyMeasure-style [pymeasure.instruments.Instrument.control]: each SCPI control of a dialect is a
:class:`Control` (set and get commands with ``{ch}``/``{value}`` fields and a valid range),
declared once on the concrete class. The base adds what a bench needs around them [HARDWARE 5]:

* terminations ``\\n`` for SOCKET and ASRL resources (otherwise every query hangs);
* ``vmax`` and ``imax`` checked **before** anything is sent, on the number as sent: values are
  written with :data:`SIGNIFICANT` digits rounded towards zero, never up past a limit; OVP
  programmed at or below vmax and read back (an instrument that rounds it up is refused);
* :meth:`ScpiSupply.configure` starts from a clean error queue (``*CLS``): an error another
  client left is never blamed on our first command;
* ``SYST:ERR?`` drained after every setpoint, raising :class:`SupplyError` with code and text;
* a protection trip detected after setpoints (:class:`SupplyTripped`);
* the output watchdog of models that have one (N6700 family, HARDWARE 7): armed by
  :meth:`~ScpiSupply.configure` with ``watchdog_s``, fed by a keep-alive thread while the driver
  is open, so the instrument switches the output off by itself when this process dies
  (SIGKILL, a crash, a pulled cable) and stays silent for the delay;
* :meth:`ScpiSupply.shutdown`: replies still owed to an interrupted query are drained, then
  output off, setpoint to ``safe_volts``, output read back; stop signals are held back while it
  runs; idempotent, reopens a dropped connection once to do it, and runs on every exit of the
  context manager (normal, exception, Ctrl-C) and at interpreter exit. :meth:`ScpiSupply.close`
  ends with one line on the ``drivers.supplies.closing`` logger: the output read back OFF, or,
  at ERROR level, that it could not be verified;
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
from decimal import ROUND_DOWN, Decimal
from typing import Any, Callable, Iterator

import pyvisa

from drivers import stop_signals
from drivers.closing import ConfiguredOnEnter
from drivers.supplies.spec import SupplySpec, load_spec

log = logging.getLogger(__name__)
#: One line per closed supply: the output read back OFF, or loudly that it could not be verified.
closing_log = logging.getLogger("drivers.supplies.closing")
#: Significant digits of the numbers sent [choice: 6, finer than any supported model's resolution].
SIGNIFICANT = 6
#: Output watchdog delay armed by default where the model has one [choice: 10 s; the
#: instruments allow 1-3600 s and ship with 60 s]; the keep-alive talks every quarter of it.
WATCHDOG_S = 10.0
#: Longest reply text quoted in an error message (a digitiser array is kilobytes).
QUOTE_CHARS = 60


def quote(reply: str) -> str:
    """``reply`` for an error message: its start, and how long it was when it is longer."""
    return repr(reply) if len(reply) <= QUOTE_CHARS else f"{reply[:QUOTE_CHARS]!r}... ({len(reply)} characters)"


def format_number(value: float, digits: int = SIGNIFICANT) -> str:
    """``value`` with ``digits`` significant digits rounded towards zero: the number an
    instrument receives is never larger in magnitude than the one asked for (``.6g`` would send
    ``1.23457`` for a vmax of ``1.2345651``). The decimal form of ``repr`` is rounded, so a
    value such as 0.7 (stored as 0.6999...) is sent as ``0.7``."""
    exact = Decimal(repr(float(value)))
    if not exact.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if exact == 0:
        return "0"
    step = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    return f"{float(exact.quantize(step, rounding=ROUND_DOWN)):.{digits}g}"


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

    def value_text(self, value: Any) -> str:
        """The value as it goes on the wire (numbers: :func:`format_number`)."""
        if self.map_values:
            return dict(self.map_values)[value]
        if not self.lo <= float(value) <= self.hi:
            raise SupplyError(f"{self.name} {value} outside the instrument range [{self.lo}, {self.hi}]")
        return format_number(value)

    def set_command(self, value: Any, ch: int) -> str:
        if self.set is None:
            raise AttributeError(f"{self.name} cannot be set")
        return self.set.format(ch=ch, value=self.value_text(value))

    def parse(self, reply: str) -> Any:
        reply = reply.strip()
        if self.map_values:
            for value, text in self.map_values:
                if reply.upper() == text.upper() or (isinstance(value, bool) and reply == str(int(value))):
                    return value
            raise SupplyError(f"{self.name}: unexpected reply {quote(reply)}")
        try:
            return float(reply)
        except ValueError:
            raise SupplyError(f"{self.name}: unexpected reply {quote(reply)}") from None


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
        supply.close()


class ScpiSupply(ConfiguredOnEnter):
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
    #: Output watchdog (``{value}``: ON/OFF, seconds); None where the model has none.
    watchdog_state_cmd: str | None = None
    watchdog_delay_cmd: str | None = None
    watchdog_range_s: tuple[int, int] = (1, 3600)
    #: What protects the memory on this model when the host dies (README, "Real hardware").
    host_loss_protection = "OVP at vmax only: the output stays on at its last setpoint"
    keep_alive_query = "*OPC?"
    energy_method = "polling"
    poll_interval_s = 0.02
    SPEC: str = ""                   # the model's measurement figures: drivers/supplies/models/SPEC.yaml

    def __init__(self, resource_name: str, *, channel: int = 1, vmax: float, imax: float,
                 ovp: float | None = None, safe_volts: float = 0.0, backend: str = "@py",
                 timeout_ms: int = 3000, resource_manager: Any = None, watchdog_s: float | None = WATCHDOG_S):
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
        lo, hi = self.watchdog_range_s
        if watchdog_s is not None and not lo <= watchdog_s <= hi:
            raise SafetyLimitError(f"watchdog_s={watchdog_s} outside the watchdog's range [{lo}, {hi}] s")
        self.resource_name, self.channel = resource_name, channel
        self.vmax, self.imax, self.ovp_volts, self.safe_volts = vmax, imax, ovp, safe_volts
        self.timeout_ms = timeout_ms
        self.spec: SupplySpec = load_spec(self.SPEC)
        self.watchdog_s = None if watchdog_s is None or not self.watchdog_state_cmd else int(round(watchdog_s))
        if resource_manager is None:
            resource_manager = pyvisa.ResourceManager(backend)
        self._rm = resource_manager
        self._lock = threading.RLock()
        self._res = None
        self._owed: str | None = None   # a query whose reply was not read (interrupted, timed out)
        self._last_io = time.monotonic()
        self._keep_alive: threading.Event | None = None
        self.shutdown_problem: str | None = None
        self._armed = False
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
            self._drain()     # a late reply to an earlier query must not answer this one
            self._owed = cmd  # until its reply is read: an interrupt or a timeout leaves it owed
            reply = self._io(lambda: self._res.query(cmd)).strip()
            self._owed = None
            log.debug("%s <- %s -> %s", self.resource_name, cmd, reply)
            return reply

    def _io(self, fn: Callable[[], Any]) -> Any:
        if self._res is None:
            raise SupplyError(f"supply {self.resource_name} is closed")
        try:
            return fn()
        except Exception as exc:  # pyvisa's VisaIOError, socket errors: one clear error
            raise SupplyError(f"supply {self.resource_name}: no answer or connection lost ({exc})") from exc
        finally:
            self._last_io = time.monotonic()

    def _drain(self) -> None:
        """Read and drop the reply still owed to a query that an interrupt or a timeout cut
        short, so that the next query reads its own reply (not, say, a digitiser array); a
        connection that does not deliver it within the timeout is opened afresh."""
        if self._owed is None:
            return
        owed, self._owed = self._owed, None
        try:
            self._io(self._res.read)
            log.debug("%s: dropped the late reply to %s", self.resource_name, owed)
        except SupplyError:
            self._reopen()

    def identify(self) -> str:
        return self.query("*IDN?")

    # --- controls -------------------------------------------------------------------------

    def _set(self, control: Control, value: Any, check_trip: bool = True) -> None:
        command = control.set_command(value, self.channel)
        if control in (self.voltage, self.ovp) and float(control.value_text(value)) > self.vmax:
            raise SafetyLimitError(f"{command!r} refused: above vmax={self.vmax} V as sent (nothing was sent)")
        self.write_channel(command)
        self.check_errors(f"{control.name} {value}")
        if check_trip:
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
                raise SupplyError(f"supply {self.resource_name}: bad SYST:ERR? reply {quote(reply)}") from None
            if code == 0:
                break
            first = first or (code, text.strip().strip('"'))
        if first:
            raise SupplyError(f"supply {self.resource_name} refused {context or 'a command'}: SCPI error {first[0]} {first[1]!r}", code=first[0])

    def _check_trip(self) -> None:
        why = self.protection()
        if why == "ovp":
            raise SupplyTripped(f"supply {self.resource_name} channel {self.channel}: over-voltage protection "
                                f"tripped (OVP {self.ovp_volts} V); output is off. Find the cause, then clear_trip()")
        if why == "watchdog":
            raise SupplyTripped(f"supply {self.resource_name} channel {self.channel}: the output watchdog switched "
                                f"the output off (no SCPI I/O for its delay: was this process stopped?)")

    def protection(self) -> str | None:
        """What holds the output off: ``"ovp"`` (an over-voltage trip), ``"watchdog"`` (the
        output watchdog's latch, models with one), or None."""
        return "ovp" if self.tripped() else None

    def tripped(self) -> bool:
        if not self.tripped_query:
            return False
        return self.query_channel(self.tripped_query.format(ch=self.channel)).strip().upper() in self.tripped_values

    def clear_trip(self) -> None:
        if self.clear_trip_cmd:
            self.write_channel(self.clear_trip_cmd.format(ch=self.channel))
            self.check_errors("clear protection")

    def clear_errors(self) -> list[str]:
        """``*CLS`` and an empty error queue; returns what was queued (another client's errors)."""
        self.write("*CLS")
        stale = []
        for _ in range(32):
            reply = self.query(self.error_query)
            if reply.partition(",")[0].strip().lstrip("+") in ("0", "-0"):
                break
            stale.append(reply)
        if stale:
            log.info("supply %s: cleared %d stale error(s) left by another client: %s", self.resource_name,
                     len(stale), "; ".join(stale))
        return stale

    def configure(self) -> None:
        """Safe start: a clean error queue, output off, a watchdog latch of an earlier session
        cleared (the output stays off), setpoint safe, current limit imax, OVP at or below vmax
        (read back), the output watchdog armed where the model has one."""
        self.clear_errors()
        self._set(self.output, False, check_trip=False)
        if self.protection() == "watchdog":
            self.write_channel(self.clear_trip_cmd.format(ch=self.channel))
            self.check_errors("clear the watchdog latch")
            log.warning("supply %s channel %d: the output watchdog had switched the output off (an earlier session "
                        "stopped talking to it); cleared, output stays off", self.resource_name, self.channel)
        self._set(self.voltage, self.safe_volts)
        self._set(self.current, self.imax)
        self._set(self.ovp, self.ovp_volts)
        ovp = self._get(self.ovp)
        if ovp > self.vmax:
            raise SafetyLimitError(f"supply {self.resource_name}: OVP reads back {ovp} V, above vmax={self.vmax} V "
                                   f"(the instrument rounded {format_number(self.ovp_volts)} up); choose a vmax "
                                   f"or ovp on its OVP resolution")
        self._arm_watchdog()

    # --- output watchdog ------------------------------------------------------------------

    def _arm_watchdog(self) -> None:
        if self.watchdog_s is None:
            return
        self.write(self.watchdog_delay_cmd.format(value=self.watchdog_s))
        self.write(self.watchdog_state_cmd.format(value="ON"))
        self.check_errors("arm the output watchdog")
        self._armed = True
        if self._keep_alive is None:
            self._keep_alive = threading.Event()
            threading.Thread(target=self._feed_watchdog, args=(self._keep_alive,), name="supply-watchdog-keep-alive",
                             daemon=True).start()

    def _feed_watchdog(self, stop: threading.Event) -> None:
        """Some SCPI I/O at least every quarter of the delay while the driver is open."""
        period = self.watchdog_s / 4
        while not stop.wait(period / 2):
            if time.monotonic() - self._last_io >= period:
                try:
                    self.query(self.keep_alive_query)
                except SupplyError as exc:
                    log.debug("watchdog keep-alive: %s", exc)

    def _stop_feeding(self) -> None:
        if self._keep_alive is not None:
            self._keep_alive.set()
            self._keep_alive = None

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
        """Drain owed replies, output off, setpoint to ``safe_volts``, output read back.
        Returns True when the output reads OFF (:attr:`shutdown_problem` says why not).

        Never raises: it is called on exit paths; stop signals wait until it is done. A
        dropped connection is reopened once.
        """
        self.shutdown_problem = None
        with stop_signals.deferred(), self._lock:
            for attempt in range(2):
                try:
                    if attempt:
                        self._reopen()
                    else:
                        self._drain()
                    self.write_channel(self.output.set_command(False, self.channel))
                    self.write_channel(self.voltage.set_command(self.safe_volts, self.channel))
                    if self.output_enabled is False:
                        return True
                    self.shutdown_problem = "the output still reads ON"
                except Exception as exc:
                    self.shutdown_problem = str(exc)
                    log.debug("supply %s shutdown attempt %d failed: %s", self.resource_name, attempt + 1, exc)
        return False

    def _reopen(self) -> None:
        with contextlib.suppress(Exception):
            self._res.close()
        self._owed = None
        self._open()

    def close(self) -> None:
        """Stop feeding the watchdog, shut down, disarm the watchdog once the output reads OFF,
        release the VISA resource, and say in one line whether the output was read back OFF.
        Stop signals wait until it is done."""
        if self._res is None:
            return
        with stop_signals.deferred():
            self._stop_feeding()  # should the shutdown fail, the armed watchdog switches the output off
            off = self.shutdown()
            where = f"supply {self.resource_name} channel {self.channel}"
            if off:
                if self._armed:
                    with contextlib.suppress(SupplyError):
                        self.write(self.watchdog_state_cmd.format(value="OFF"))
                closing_log.info("%s: output OFF (read back)", where)
            else:
                backstop = (f"; its output watchdog switches it off {self.watchdog_s} s after the last I/O if the "
                            f"instrument is powered" if self._armed else "")
                closing_log.error("WARNING: %s: could NOT verify that the output is off (%s)%s; check it and "
                                  "switch it off by hand", where, self.shutdown_problem, backstop)
            _open_supplies.discard(self)
            with contextlib.suppress(Exception):
                self._res.close()
            self._res = None

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
        except BaseException:  # the body's error (a lost board, Ctrl-C) is what the caller must see
            with contextlib.suppress(SupplyError):
                stop(token, time.monotonic() - t0)
            raise
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
