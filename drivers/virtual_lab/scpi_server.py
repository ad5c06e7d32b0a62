"""Simulated SCPI supply of the virtual lab: an asyncio server on 127.0.0.1 [HARDWARE 2, 5].

It presents the supply model of ``--supply`` (a file of ``drivers/supplies/models/``: identity,
SCPI dialect, and how it measures) over a raw socket, so the bench reaches it exactly like a
LAN instrument, through pyvisa as ``TCPIP0::127.0.0.1::PORT::SOCKET``. Channel
``--rail-channel`` (1) powers the memory under test: the server creates the lab state file
(docs/VIRTUAL_LAB.md), writes the rail voltage and output state into it, and integrates the
rail's true energy (drivers/virtual_lab/rail.py): the firmware's access counters at the chip
file's energy per bit access at the present voltage [physics.py], plus the chip's static
current. Every measurement goes through the model's readings (drivers/virtual_lab/instrument.py:
range, gain and offset errors, noise, resolution, capture latency); ``--ideal`` measures
exactly and drops the chip's static current (and the lab starts the board without link latency).

Commands (long or short forms, case-insensitive, ``;`` separates commands, a channel list
``(@n)`` is optional and defaults to the ``INST:NSEL`` channel), Keysight N6705C style:
``*IDN? *RST *CLS *OPC? *TRG``; ``[SOUR:]VOLT[:LEV] v`` / ``?``; ``[SOUR:]CURR[:LEV] i`` / ``?``;
``[SOUR:]VOLT:PROT[:LEV] v`` / ``?``, ``VOLT:PROT:TRIP?``, ``STAT:QUES:COND?`` (bit 0: OV, bit 11:
PROT), ``OUTP:PROT:CLE`` (OVP trips when the set voltage exceeds the level while the output is
on: the output goes off and stays off until cleared); ``OUTP[:STAT] ON|OFF`` / ``?``; the
output watchdog of the N6700 family [HARDWARE 7] ``OUTP:PROT:WDOG[:STAT] ON|OFF`` / ``?`` and
``OUTP:PROT:WDOG:DEL s`` / ``?`` (1-3600 s, reset: OFF, 60 s): while it is on and no command
arrives on any connection for the delay, every output is disabled (the programmed state that
``OUTP?`` reports is kept), the PROT bit is set, and ``OUTP:PROT:CLE`` restores the output
to its programmed state; ``MEAS[:SCAL]:VOLT[:DC]?``, ``MEAS[:SCAL]:CURR[:DC]?``
(readings averaged over the model's ``readback_s``);
digitiser ``SENS:SWE:POIN n``, ``SENS:SWE:TINT t``, ``TRIG:ACQ:SOUR BUS|IMM``, ``INIT:ACQ``,
``FETC:ARR:CURR?``, ``FETC:ARR:VOLT?`` (ASCII); energy meter (R&S style) ``MEAS:ENER:STAT ON|OFF``,
``MEAS:ENER:RES``, ``MEAS:ENER?`` (joules: the sum of ``V I dt`` readings every ``meter.update_s``);
``INST:NSEL n``; ``SYST:ERR?`` (queue of real SCPI
errors: -100 command error, -102 syntax error, -109 missing parameter, -113 undefined header,
-221 settings conflict, -222 data out of range, -224 illegal parameter value, -230 data stale,
-350 queue overflow). Dialect ``rohde`` adds ``OUTP:SEL ON|OFF`` / ``?`` (the channel's output),
``OUTP:GEN ON|OFF`` (the master switch: an output delivers only with both) and ``VOLT:PROT:CLE``;
dialect ``rigol`` is DP800 SCPI (``:SOURn:VOLT``, ``:OUTP CHn,ON``, ``:OUTP? CHn`` -> ``ON|OFF``,
``:MEAS:CURR? CHn``, ``:OUTP:OVP:VAL CHn,v``, ``:OUTP:OVP CHn,ON``, ``:OUTP:OVP:QUES? CHn`` ->
``YES|NO``, ``:OUTP:OVP:CLEAR CHn``), translated to the commands above.
Simulator only (never used by drivers), for the fault-path tests:
``SIM:DROP`` closes the connection, ``SIM:DROP ALL`` every connection (another client's
dropped link); ``SIM:REFUSE [n]`` refuses the next ``n`` (1) voltage setpoints of any client
with -221 (settings conflict), as an instrument in a state that forbids them would.

Run: ``python -m drivers.virtual_lab.scpi_server --lab-state PATH [--chip FILE] [--supply MODEL]
[--ideal] [--power-on]`` (``--power-on``: start with the rail output on at the chip's
``nominal_v``, as a supply whose power-on state was saved that way; otherwise output off, 0 V);
it prints ``LISTENING <port>`` once ready and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drivers.supplies.spec import SpecError, SupplySpec, load_spec
from drivers.virtual_lab.instrument import Instrument
from drivers.virtual_lab.lab_state import LabState
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip
from drivers.virtual_lab.rail import Rail

DEFAULT_SUPPLY = "n6705c_n6781a"
MODULE = "N6781A"
CHANNELS = 4
RANGES = {"volts": (0.0, 20.0), "amps": (0.0, 3.0), "ovp": (0.0, 22.0), "points": (1, 524288), "tint": (5.12e-6, 40.0)}
SAMPLE_PERIOD_S = 0.001   # how often the access counters are turned into energy while capturing
IDLE_SAMPLE_PERIOD_S = 0.01  # ... and otherwise (keeps an idle simulator near 0 % CPU)
ERROR_QUEUE = 30
OV_BIT, PROT_BIT = 1 << 0, 1 << 11  # questionable condition register
WATCHDOG_DELAY_S = (1, 3600)
WATCHDOG_RESET_S = 60


class ScpiError(Exception):
    def __init__(self, code: int, text: str):
        super().__init__(f'{code},"{text}"')
        self.code, self.text = code, text


class DropConnection(Exception):
    """SIM:DROP: close this client's connection (``everyone``: every client's)."""

    def __init__(self, everyone: bool = False):
        super().__init__()
        self.everyone = everyone


@dataclass
class Channel:
    volts: float = 0.0
    amps: float = 0.1
    ovp: float = 22.0
    output: bool = False       # the programmed state (OUTP?)
    tripped: bool = False      # over-voltage protection latched
    protected: bool = False    # the watchdog's protection latched (output disabled, OUTP? unchanged)
    points: int = 1024
    tint: float = 1.024e-3
    trig_source: str = "BUS"
    armed: bool = False
    t_trigger: float | None = None
    meter_on: bool = False
    meter_start: float = 0.0          # time metering began
    meter_stop: float | None = None   # time it stopped (None: still running)


def _mnemonic_regex(spec: str) -> str:
    """``[SOURce:]VOLTage[:LEVel]`` -> regex accepting short and long forms."""
    out = []
    for optional, body in re.findall(r"\[([^\]]+)\]|([^\[\]]+)", spec):
        part = optional or body
        rx = ""
        for token in re.split(r"(:)", part):
            if token in ("", ":"):
                rx += token
                continue
            star = token.startswith("*")
            word = token.lstrip("*")
            short = "".join(ch for ch in word if ch.isupper() or ch.isdigit() or ch == "?")
            rest = word[len(short.rstrip("?")):].rstrip("?").upper()
            q = "\\?" if word.endswith("?") else ""
            rx += ("\\*" if star else "") + re.escape(short.rstrip("?")) + (f"(?:{rest})?" if rest else "") + q
        out.append(f"(?:{rx})?" if optional else rx)
    return "".join(out)


COMMANDS: list[tuple[str, str]] = [
    ("*IDN?", "idn"), ("*RST", "rst"), ("*CLS", "cls"), ("*OPC?", "opc"), ("*TRG", "trg"),
    ("SYSTem:ERRor[:NEXT]?", "syst_err"), ("SYSTem:CHANnel:MODel?", "module"),
    ("INSTrument:NSELect", "nsel"), ("INSTrument:NSELect?", "nsel_q"),
    ("[SOURce:]VOLTage:PROTection:TRIPped?", "ovp_trip_q"),
    ("[SOURce:]VOLTage:PROTection[:LEVel]", "ovp"), ("[SOURce:]VOLTage:PROTection[:LEVel]?", "ovp_q"),
    ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", "volt"),
    ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", "volt_q"),
    ("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", "curr"),
    ("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]?", "curr_q"),
    ("STATus:QUEStionable:CONDition?", "ques_cond"),
    ("OUTPut:PROTection:CLEar", "prot_clear"), ("OUTPut[:STATe]", "outp"), ("OUTPut[:STATe]?", "outp_q"),
    ("OUTPut:PROTection:WDOG[:STATe]", "wdog"), ("OUTPut:PROTection:WDOG[:STATe]?", "wdog_q"),
    ("OUTPut:PROTection:WDOG:DELay", "wdog_delay"), ("OUTPut:PROTection:WDOG:DELay?", "wdog_delay_q"),
    ("MEASure[:SCALar]:VOLTage[:DC]?", "meas_volt"), ("MEASure[:SCALar]:CURRent[:DC]?", "meas_curr"),
    ("MEASure:ENERgy:STATe", "ener_state"), ("MEASure:ENERgy:RESet", "ener_reset"), ("MEASure:ENERgy?", "ener_q"),
    ("SENSe:SWEep:POINts", "points"), ("SENSe:SWEep:POINts?", "points_q"),
    ("SENSe:SWEep:TINTerval", "tint"), ("SENSe:SWEep:TINTerval?", "tint_q"),
    ("TRIGger:ACQuire:SOURce", "trig_source"), ("INITiate[:IMMediate]:ACQuire", "init_acq"),
    ("FETCh:ARRay:CURRent[:DC]?", "fetch_curr"), ("FETCh:ARRay:VOLTage[:DC]?", "fetch_volt"),
    ("SIMulation:DROP", "sim_drop"), ("SIMulation:REFuse", "sim_refuse"),
]
#: commands only a dialect has (the supply model file's ``lab.dialect``)
DIALECT_COMMANDS: dict[str, list[tuple[str, str]]] = {
    "keysight": [], "rigol": [],
    "rohde": [("OUTPut:SELect[:STATe]", "outp"), ("OUTPut:SELect[:STATe]?", "outp_q"),
              ("OUTPut:GENeral[:STATe]", "outp_gen"), ("[SOURce:]VOLTage:PROTection:CLEar", "prot_clear")],
}
_TABLE = [(re.compile(_mnemonic_regex(spec) + r"\Z", re.IGNORECASE), name) for spec, name in COMMANDS]
_DIALECT_TABLES = {d: [(re.compile(_mnemonic_regex(spec) + r"\Z", re.IGNORECASE), name) for spec, name in extra]
                   for d, extra in DIALECT_COMMANDS.items()}
_CHANLIST = re.compile(r"\(@\s*(\d+)(?:\s*[,:]\s*\d+)*\s*\)")
#: DP800 commands -> the commands above, and how a reply reads in DP800 SCPI (dialect rigol)
_ON_OFF = {"1": "ON", "0": "OFF"}
_YES_NO = {"1": "YES", "0": "NO"}
_RIGOL = [
    (re.compile(r":?SOUR(?:CE)?(\d):(VOLT(?:AGE)?|CURR(?:ENT)?)(\?)?(?:\s+(.*))?\Z", re.I),
     lambda m: f"{m[2]}{m[3] or ''} {(m[4] + ',') if m[4] else ''}(@{m[1]})", None),
    (re.compile(r":?OUTP(?:UT)?:OVP:VAL(?:UE)?\s+CH(\d),(.*)\Z", re.I), lambda m: f"VOLT:PROT {m[2]},(@{m[1]})", None),
    (re.compile(r":?OUTP(?:UT)?:OVP:VAL(?:UE)?\?\s+CH(\d)\Z", re.I), lambda m: f"VOLT:PROT? (@{m[1]})", None),
    (re.compile(r":?OUTP(?:UT)?:OVP:QUES(?:TION)?\?\s+CH(\d)\Z", re.I), lambda m: f"VOLT:PROT:TRIP? (@{m[1]})", _YES_NO),
    (re.compile(r":?OUTP(?:UT)?:OVP:CLE(?:AR)?\s+CH(\d)\Z", re.I), lambda m: f"OUTP:PROT:CLE (@{m[1]})", None),
    (re.compile(r":?OUTP(?:UT)?:OVP(?::STAT(?:E)?)?\s+CH(\d),(ON|OFF|1|0)\Z", re.I), lambda m: "", None),
    (re.compile(r":?OUTP(?:UT)?(?::STAT(?:E)?)?\s+CH(\d),(.*)\Z", re.I), lambda m: f"OUTP {m[2]},(@{m[1]})", None),
    (re.compile(r":?OUTP(?:UT)?(?::STAT(?:E)?)?\?\s+CH(\d)\Z", re.I), lambda m: f"OUTP? (@{m[1]})", _ON_OFF),
    (re.compile(r":?MEAS(?:URE)?:(VOLT|CURR)(?:AGE|ENT)?(?::DC)?\?\s+CH(\d)\Z", re.I),
     lambda m: f"MEAS:{m[1]}? (@{m[2]})", None),
]


def rigol_command(command: str) -> tuple[str, dict | None]:
    """A DP800 command in the simulator's own SCPI, and the reply map (``""``: nothing to do)."""
    for rx, to, replies in _RIGOL:
        m = rx.match(command.strip())
        if m:
            return to(m), replies
    return command, None


def _number(text: str, lo: float, hi: float) -> float:
    t = text.strip().upper()
    if t in ("MIN", "MINIMUM"):
        return lo
    if t in ("MAX", "MAXIMUM"):
        return hi
    try:
        value = float(t)
    except ValueError:
        raise ScpiError(-104, "Data type error") from None
    if not lo <= value <= hi:
        raise ScpiError(-222, "Data out of range")
    return value


def _boolean(text: str) -> bool:
    t = text.strip().upper()
    if t in ("ON", "1"):
        return True
    if t in ("OFF", "0"):
        return False
    raise ScpiError(-224, "Illegal parameter value")


def _fmt(x: float) -> str:
    return f"{x:+.9E}"


class SupplySimulator:
    """State machine of the simulated supply (one per server, shared by all connections)."""

    def __init__(self, chip: Chip, state: LabState, rail_channel: int = 1, power_on: bool = False,
                 spec: SupplySpec | None = None, ideal: bool = False):
        self.spec = spec or load_spec(DEFAULT_SUPPLY)
        self.dialect = self.spec.lab.get("dialect", "keysight")
        self.chip = chip.ideal() if ideal else chip
        self.state, self.rail_channel = state, rail_channel
        self.instrument = Instrument(self.spec, ideal)
        self.channels = {n: Channel() for n in range(1, CHANNELS + 1)}
        self.master_on = self.dialect != "rohde"  # OUTP:GEN: only R&S has a master switch
        if power_on:  # a recalled power-on state: the rail at the chip's nominal voltage, output on
            rail = self.channels[rail_channel]
            rail.volts, rail.output = chip.nominal_v, True
            self.master_on = True
        self.selected = 1
        self.errors: list[ScpiError] = []
        self.rail = Rail(time.monotonic())
        self.watchdog_on, self.watchdog_delay = False, float(WATCHDOG_RESET_S)
        self.last_io = time.monotonic()   # any command on any connection feeds the watchdog
        self.refusals = 0                 # SIM:REFUSE: voltage setpoints still to refuse
        self._last_counters = state.activity()[:2]
        self._last_look = time.monotonic()
        self._publish()

    # --- physics coupling ---------------------------------------------------------------

    def enabled(self, ch: Channel) -> bool:
        """Whether the output actually delivers: programmed on, no protection latched, and
        (dialect rohde) the master switch on."""
        return ch.output and not ch.protected and self.master_on

    def rail_volts(self) -> float:
        ch = self.channels[self.rail_channel]
        return ch.volts if self.enabled(ch) else 0.0

    def account(self) -> None:
        """Turn the accesses since the last call into energy at the present voltage, spread
        from the last call (or a later capture start: the accesses before it were accounted
        when its command came) to the latest access (the lab state file's timestamp)."""
        reads, writes, t_access = self.state.activity()
        now = time.monotonic()
        d_r, d_w = reads - self._last_counters[0], writes - self._last_counters[1]
        self._last_counters = (reads, writes)
        v = self.rail_volts()
        if (d_r or d_w) and v > 0:
            d_e = self.chip.access_energy(d_r, d_w, v)
            self.rail.add_access(self._last_look, min(t_access, now), d_e, d_e / v)
        self._last_look = max(self._last_look, now)

    def _publish(self) -> None:
        """The rail's state to the lab state file, and its static current from now on."""
        ch = self.channels[self.rail_channel]
        self.state.set_rail(ch.volts, self.enabled(ch))
        v = self.rail_volts()
        self.rail.set_static(time.monotonic(), self.chip.static_current(v), v)

    def watchdog(self, now: float) -> None:
        """The output watchdog: no command for the delay disables every output."""
        if self.watchdog_on and now - self.last_io > self.watchdog_delay:
            if not all(c.protected for c in self.channels.values()):
                self.account()
                for c in self.channels.values():
                    c.protected = True
                self._publish()

    def _changed(self, ch: Channel) -> None:
        if ch.output and ch.volts > ch.ovp:
            ch.output, ch.tripped = False, True
        self._publish()

    # --- command execution --------------------------------------------------------------

    def push_error(self, err: ScpiError) -> None:
        if len(self.errors) >= ERROR_QUEUE:
            self.errors[-1] = ScpiError(-350, "Queue overflow")
        else:
            self.errors.append(err)

    async def execute(self, message: str) -> str | None:
        """Run one line (``;``-separated commands); returns the reply line or None."""
        self.watchdog(time.monotonic())  # a command after the delay comes too late
        self.last_io = time.monotonic()
        replies = []
        for command in (c.strip() for c in message.split(";")):
            if not command:
                continue
            try:
                reply = await self._one(command)
            except ScpiError as err:
                self.push_error(err)
                continue
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    async def _one(self, command: str) -> str | None:
        replies = None
        if self.dialect == "rigol":
            command, replies = rigol_command(command)
            if not command:
                return None
        header, _, rest = command.partition(" ")
        header = header.lstrip(":")
        for rx, name in _TABLE + _DIALECT_TABLES[self.dialect]:
            if rx.match(header):
                break
        else:
            raise ScpiError(-113, "Undefined header")
        chan = self.selected
        m = _CHANLIST.search(rest)
        if m:
            chan = int(m.group(1))
            rest = rest[: m.start()] + rest[m.end():]
        if chan not in self.channels:
            raise ScpiError(-222, "Data out of range")
        args = [a.strip() for a in rest.split(",") if a.strip()]
        self.account()
        reply = await getattr(self, "_" + name)(self.channels[chan], args)
        return replies.get(reply, reply) if replies and reply is not None else reply

    @staticmethod
    def _need(args: list, n: int = 1) -> list:
        if len(args) < n:
            raise ScpiError(-109, "Missing parameter")
        return args

    async def _idn(self, ch, args): return self.spec.lab.get("identity", self.spec.model)
    async def _module(self, ch, args): return MODULE
    async def _opc(self, ch, args): return "1"
    async def _cls(self, ch, args): self.errors.clear()

    async def _rst(self, ch, args):
        self.channels = {n: Channel() for n in range(1, CHANNELS + 1)}
        self.selected = 1
        self.master_on = self.dialect != "rohde"
        self.watchdog_on, self.watchdog_delay = False, float(WATCHDOG_RESET_S)
        self._publish()

    async def _syst_err(self, ch, args):
        if not self.errors:
            return '+0,"No error"'
        e = self.errors.pop(0)
        return f'{e.code:+d},"{e.text}"'

    async def _nsel(self, ch, args):
        n = int(_number(self._need(args)[0], 1, CHANNELS))
        self.selected = n

    async def _nsel_q(self, ch, args): return str(self.selected)

    async def _volt(self, ch, args):
        volts = _number(self._need(args)[0], *RANGES["volts"])
        if self.refusals:
            self.refusals -= 1
            raise ScpiError(-221, "Settings conflict;setpoint refused (SIM:REFUSE)")
        ch.volts = volts
        self._changed(ch)

    async def _volt_q(self, ch, args): return _fmt(ch.volts)

    async def _curr(self, ch, args):
        ch.amps = _number(self._need(args)[0], *RANGES["amps"])

    async def _curr_q(self, ch, args): return _fmt(ch.amps)

    async def _ovp(self, ch, args):
        ch.ovp = _number(self._need(args)[0], *RANGES["ovp"])
        self._changed(ch)

    async def _ovp_q(self, ch, args): return _fmt(ch.ovp)
    async def _ovp_trip_q(self, ch, args): return "1" if ch.tripped else "0"

    async def _ques_cond(self, ch, args): return f"+{OV_BIT * ch.tripped + PROT_BIT * ch.protected}"

    async def _prot_clear(self, ch, args):
        ch.tripped = ch.protected = False
        self._publish()

    async def _wdog(self, ch, args):
        self.watchdog_on = _boolean(self._need(args)[0])

    async def _wdog_q(self, ch, args): return "1" if self.watchdog_on else "0"

    async def _wdog_delay(self, ch, args):
        self.watchdog_delay = float(round(_number(self._need(args)[0], *WATCHDOG_DELAY_S)))  # 1 s steps

    async def _wdog_delay_q(self, ch, args): return f"{self.watchdog_delay:+.0f}"

    async def _outp(self, ch, args):
        on = _boolean(self._need(args)[0])
        if on and ch.tripped:
            raise ScpiError(-221, "Settings conflict;protection tripped, clear it first")
        ch.output = on
        self._changed(ch)

    async def _outp_q(self, ch, args): return "1" if ch.output else "0"

    async def _outp_gen(self, ch, args):
        self.master_on = _boolean(self._need(args)[0])
        self._publish()

    async def _meas_volt(self, ch, args):
        await asyncio.sleep(self.spec.readback_s)
        v = self.rail_volts() if ch is self.channels[self.rail_channel] else (ch.volts if self.enabled(ch) else 0.0)
        return _fmt(float(self.instrument.voltages([v], self.spec.readback_s)[0]))

    async def _meas_curr(self, ch, args):
        """The mean current over the last ``readback_s``, as the model reads it."""
        await asyncio.sleep(self.spec.readback_s)
        self.account()
        amps = 0.0
        if ch is self.channels[self.rail_channel] and self.rail_volts() > 0:
            t = time.monotonic()
            q = self.rail.charge_at([t - self.spec.readback_s, t])
            amps = float(q[1] - q[0]) / self.spec.readback_s
        return _fmt(float(self.instrument.currents([amps], self.spec.readback_s)[0]))

    # energy meter: sum of V I dt readings every meter.update_s since MEAS:ENER:STAT ON (or the
    # last reset), each reading the mean over its update interval
    def _meter_joules(self, start: float, end: float) -> float:
        self.account()
        if self.instrument.ideal:  # exact: the rail's energy between start and end
            e = self.rail.energy_at([start, end])
            return float(e[1] - e[0])
        update = self.spec.meter_update_s or self.spec.readback_s
        n = int(max(0.0, end - start) // update)
        if n == 0:
            return 0.0
        edges = start + update * np.arange(n + 1)
        amps = np.diff(self.rail.charge_at(edges)) / update
        volts = self.instrument.voltages(np.full(n, self.rail_volts()), update)
        return float(np.sum(volts * self.instrument.currents(amps, update)) * update)

    def _capture_starts(self, t: float) -> float:
        """A capture starts at ``t``: no later access is spread back before it (account())."""
        self._last_look = max(self._last_look, t)
        return t

    async def _ener_state(self, ch, args):
        on = _boolean(self._need(args)[0])
        if on and not ch.meter_on:
            ch.meter_start = self._capture_starts(time.monotonic() + self.instrument.start_delay())
            ch.meter_stop = None
        elif not on and ch.meter_on:
            ch.meter_stop = time.monotonic() + self.instrument.stop_delay()
        ch.meter_on = on

    async def _ener_reset(self, ch, args):
        ch.meter_start = self._capture_starts(time.monotonic() + self.instrument.start_delay())
        ch.meter_stop = None

    async def _ener_q(self, ch, args):
        if ch is not self.channels[self.rail_channel] or not (ch.meter_on or ch.meter_stop is not None):
            return _fmt(0.0)
        end = ch.meter_stop if ch.meter_stop is not None else time.monotonic() + self.instrument.stop_delay()
        await asyncio.sleep(max(0.0, end - time.monotonic()) + 2 * SAMPLE_PERIOD_S)
        return _fmt(self.instrument.energy_reading(self._meter_joules(ch.meter_start, end)))

    # digitiser (N6781A): POIN samples every TINT seconds from the trigger
    async def _points(self, ch, args):
        ch.points = int(_number(self._need(args)[0], *RANGES["points"]))

    async def _points_q(self, ch, args): return str(ch.points)

    async def _tint(self, ch, args):
        ch.tint = _number(self._need(args)[0], *RANGES["tint"])

    async def _tint_q(self, ch, args): return _fmt(ch.tint)

    async def _trig_source(self, ch, args):
        src = self._need(args)[0].upper()
        if src not in ("BUS", "IMM", "IMMEDIATE"):
            raise ScpiError(-224, "Illegal parameter value")
        ch.trig_source = "BUS" if src == "BUS" else "IMM"

    async def _init_acq(self, ch, args):
        ch.armed, ch.t_trigger = True, (self._capture_starts(time.monotonic()) if ch.trig_source == "IMM" else None)

    async def _trg(self, ch, args):
        now = self._capture_starts(time.monotonic() + self.instrument.start_delay())
        for c in self.channels.values():
            if c.armed and c.t_trigger is None and c.trig_source == "BUS":
                c.t_trigger = now

    async def _fetch(self, ch, series_of):
        if ch.t_trigger is None:
            raise ScpiError(-230, "Data corrupt or stale;acquisition not triggered")
        t_end = ch.t_trigger + ch.points * ch.tint
        while time.monotonic() < t_end + 2 * SAMPLE_PERIOD_S:
            await asyncio.sleep(min(0.01, max(t_end + 2 * SAMPLE_PERIOD_S - time.monotonic(), 0.0)))
            self.account()
        ch.armed = False  # the capture is complete (its arrays stay readable)
        return ",".join(_fmt(x) for x in series_of(ch))

    async def _fetch_curr(self, ch, args):
        """Each sample: the mean current over its interval, read on the model's ranges."""
        def currents(c):
            amps = np.zeros(c.points)
            if c is self.channels[self.rail_channel]:
                amps = np.diff(self.rail.charge_at(c.t_trigger + c.tint * np.arange(c.points + 1))) / c.tint
            return self.instrument.currents(amps, c.tint)
        return await self._fetch(ch, currents)

    async def _fetch_volt(self, ch, args):
        def volts(c):
            v = self.rail_volts() if c is self.channels[self.rail_channel] else (c.volts if self.enabled(c) else 0.0)
            return self.instrument.voltages(np.full(c.points, v), c.tint)
        return await self._fetch(ch, volts)

    async def _sim_drop(self, ch, args):
        raise DropConnection(everyone=bool(args) and args[0].upper() == "ALL")

    async def _sim_refuse(self, ch, args):
        self.refusals = int(_number(args[0], 1, 1000)) if args else 1


async def _sampler(sim: SupplySimulator) -> None:
    while True:
        sim.watchdog(time.monotonic())
        sim.account()
        capturing = any(c.armed or c.meter_on for c in sim.channels.values())
        await asyncio.sleep(SAMPLE_PERIOD_S if capturing else IDLE_SAMPLE_PERIOD_S)


async def serve(sim: SupplySimulator, port: int = 0, ready=None) -> None:
    """Serve until cancelled; calls ``ready(port)`` once listening on 127.0.0.1."""

    writers: set[asyncio.StreamWriter] = set()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while line := await reader.readline():
                try:
                    reply = await sim.execute(line.decode("ascii", "replace").strip())
                except DropConnection as drop:
                    for other in list(writers) if drop.everyone else ():
                        other.close()
                    break
                if reply is not None:
                    writer.write(reply.encode() + b"\n")
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", port)
    sampler = asyncio.create_task(_sampler(sim))
    if ready:
        ready(server.sockets[0].getsockname()[1])
    try:
        async with server:
            await server.serve_forever()
    finally:
        sampler.cancel()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="simulated SCPI supply of the faultbench virtual lab")
    ap.add_argument("--lab-state", required=True, help="lab state file to create (docs/VIRTUAL_LAB.md)")
    ap.add_argument("--chip", default=str(DEFAULT_CHIP), help="chip file (energy per access, static current)")
    ap.add_argument("--supply", default=DEFAULT_SUPPLY, help="supply model: a name or file of drivers/supplies/models/")
    ap.add_argument("--ideal", action="store_true", help="measure exactly; no static current on the rail")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: ephemeral)")
    ap.add_argument("--rail-channel", type=int, default=1, choices=range(1, CHANNELS + 1))
    ap.add_argument("--power-on", action="store_true", help="start with the rail on at the chip's nominal_v")
    args = ap.parse_args(argv)
    try:
        chip = Chip.load(args.chip)
        spec = load_spec(args.supply)
    except (ValueError, SpecError) as exc:
        print(f"scpi_server: {exc}", file=sys.stderr)
        return 2
    state = LabState(Path(args.lab_state), create=True)
    sim = SupplySimulator(chip, state, args.rail_channel, args.power_on, spec, args.ideal)

    async def run() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        await serve(sim, args.port, lambda p: print(f"LISTENING {p}", flush=True))

    try:
        asyncio.run(run())
    except asyncio.CancelledError:
        pass
    finally:
        state.set_rail(0.0, False)
        state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
