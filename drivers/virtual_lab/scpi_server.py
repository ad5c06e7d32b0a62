"""Simulated SCPI supply of the virtual lab: an asyncio server on 127.0.0.1 [HARDWARE 2, 5].

It speaks Keysight N6705C-style SCPI (with an N6781A source/measure unit in channel 1) over a
raw socket, so the bench reaches it exactly like a LAN instrument, through pyvisa as
``TCPIP0::127.0.0.1::PORT::SOCKET``. Channel ``--rail-channel`` (1) powers the memory under
test: the server creates the lab state file (docs/VIRTUAL_LAB.md), writes the rail voltage and
output state into it, and turns the firmware's access counters into energy with the chip
file's energy per bit access at the present voltage [physics.py]. Current is power over
voltage, so a digitised current array integrates back to that energy.

Commands (long or short forms, case-insensitive, ``;`` separates commands, a channel list
``(@n)`` is optional and defaults to the ``INST:NSEL`` channel):
``*IDN? *RST *CLS *OPC? *TRG``; ``[SOUR:]VOLT[:LEV] v`` / ``?``; ``[SOUR:]CURR[:LEV] i`` / ``?``;
``[SOUR:]VOLT:PROT[:LEV] v`` / ``?``, ``VOLT:PROT:TRIP?``, ``STAT:QUES:COND?`` (bit 0: OV, bit 11:
PROT), ``OUTP:PROT:CLE`` (OVP trips when the set voltage exceeds the level while the output is
on: the output goes off and stays off until cleared); ``OUTP[:STAT] ON|OFF`` / ``?``; the
output watchdog of the N6700 family [HARDWARE 7] ``OUTP:PROT:WDOG[:STAT] ON|OFF`` / ``?`` and
``OUTP:PROT:WDOG:DEL s`` / ``?`` (1-3600 s, reset: OFF, 60 s): while it is on and no command
arrives on any connection for the delay, every output is disabled (the programmed state that
``OUTP?`` reports is kept), the PROT bit is set, and ``OUTP:PROT:CLE`` restores the output
to its programmed state; ``MEAS[:SCAL]:VOLT[:DC]?``, ``MEAS[:SCAL]:CURR[:DC]?``;
digitiser ``SENS:SWE:POIN n``, ``SENS:SWE:TINT t``, ``TRIG:ACQ:SOUR BUS|IMM``, ``INIT:ACQ``,
``FETC:ARR:CURR?``, ``FETC:ARR:VOLT?`` (ASCII); energy meter (R&S style) ``MEAS:ENER:STAT ON|OFF``,
``MEAS:ENER:RES``, ``MEAS:ENER?`` (joules); ``INST:NSEL n``; ``SYST:ERR?`` (queue of real SCPI
errors: -100 command error, -102 syntax error, -109 missing parameter, -113 undefined header,
-221 settings conflict, -222 data out of range, -224 illegal parameter value, -230 data stale,
-350 queue overflow). Simulator only (never used by drivers), for the fault-path tests:
``SIM:DROP`` closes the connection, ``SIM:DROP ALL`` every connection (another client's
dropped link); ``SIM:REFUSE [n]`` refuses the next ``n`` (1) voltage setpoints of any client
with -221 (settings conflict), as an instrument in a state that forbids them would.

Run: ``python -m drivers.virtual_lab.scpi_server --lab-state PATH [--chip FILE] [--power-on]``
(``--power-on``: start with the rail output on at the chip's ``nominal_v``, as a supply whose
power-on state was saved that way; otherwise output off, 0 V); it prints
``LISTENING <port>`` once ready and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from drivers.virtual_lab.lab_state import LabState
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip

IDENTITY = "Keysight Technologies,N6705C,MY-FBSIM-0001,D.04.01-fbsim"
MODULE = "N6781A"
CHANNELS = 4
RANGES = {"volts": (0.0, 20.0), "amps": (0.0, 3.0), "ovp": (0.0, 22.0), "points": (1, 524288), "tint": (5.12e-6, 40.0)}
SAMPLE_PERIOD_S = 0.001   # how often the access counters are turned into energy while capturing
IDLE_SAMPLE_PERIOD_S = 0.01  # ... and otherwise (keeps an idle simulator near 0 % CPU)
MEAS_WINDOW_S = 0.02      # MEAS:CURR? averages over the last 20 ms (one power-line cycle)
HISTORY_S = 120.0
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
    meter_start: float = 0.0
    meter_stop: float | None = None


@dataclass
class Accumulator:
    """Cumulative energy and charge of the rail as step functions of time (arrays and meters).

    Each step is dated by the firmware's latest access, not by when the simulator noticed it,
    so a busy simulator never moves energy out of the capture window it belongs to.
    """

    times: list = field(default_factory=list)
    energy: list = field(default_factory=list)
    charge: list = field(default_factory=list)

    def add(self, t: float, d_energy: float, d_charge: float) -> None:
        t = max(t, self.times[-1]) if self.times else t
        self.times.append(t)
        self.energy.append((self.energy[-1] if self.energy else 0.0) + d_energy)
        self.charge.append((self.charge[-1] if self.charge else 0.0) + d_charge)
        cut = bisect.bisect_left(self.times, t - HISTORY_S)
        if cut > 1000:
            del self.times[:cut], self.energy[:cut], self.charge[:cut]

    def at(self, series: list, t: float) -> float:
        """The cumulative value at time ``t`` (all steps dated at or before ``t``)."""
        i = bisect.bisect_right(self.times, t)
        return series[i - 1] if i else 0.0


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
_TABLE = [(re.compile(_mnemonic_regex(spec) + r"\Z", re.IGNORECASE), name) for spec, name in COMMANDS]
_CHANLIST = re.compile(r"\(@\s*(\d+)(?:\s*[,:]\s*\d+)*\s*\)")


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

    def __init__(self, chip: Chip, state: LabState, rail_channel: int = 1, power_on: bool = False):
        self.chip, self.state, self.rail_channel = chip, state, rail_channel
        self.channels = {n: Channel() for n in range(1, CHANNELS + 1)}
        if power_on:  # a recalled power-on state: the rail at the chip's nominal voltage, output on
            rail = self.channels[rail_channel]
            rail.volts, rail.output = chip.nominal_v, True
        self.selected = 1
        self.errors: list[ScpiError] = []
        self.watchdog_on, self.watchdog_delay = False, float(WATCHDOG_RESET_S)
        self.last_io = time.monotonic()   # any command on any connection feeds the watchdog
        self.refusals = 0                 # SIM:REFUSE: voltage setpoints still to refuse
        self.acc = Accumulator()
        self._last_counters = state.activity()[:2]
        self.acc.add(time.monotonic(), 0.0, 0.0)
        self._publish()

    # --- physics coupling ---------------------------------------------------------------

    @staticmethod
    def enabled(ch: Channel) -> bool:
        """Whether the output actually delivers: programmed on and no protection latched."""
        return ch.output and not ch.protected

    def rail_volts(self) -> float:
        ch = self.channels[self.rail_channel]
        return ch.volts if self.enabled(ch) else 0.0

    def account(self) -> None:
        """Turn the accesses since the last call into energy at the present voltage, dated by
        the latest access (the lab state file's timestamp)."""
        reads, writes, t_access = self.state.activity()
        d_r, d_w = reads - self._last_counters[0], writes - self._last_counters[1]
        self._last_counters = (reads, writes)
        v = self.rail_volts()
        if (d_r or d_w) and v > 0:
            d_e = 32 * (d_r * self.chip.read_energy(v) + d_w * self.chip.write_energy(v))
            self.acc.add(min(t_access, time.monotonic()), d_e, d_e / v)

    def _publish(self) -> None:
        ch = self.channels[self.rail_channel]
        self.state.set_rail(ch.volts, self.enabled(ch))

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
        header, _, rest = command.partition(" ")
        header = header.lstrip(":")
        for rx, name in _TABLE:
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
        return await getattr(self, "_" + name)(self.channels[chan], args)

    @staticmethod
    def _need(args: list, n: int = 1) -> list:
        if len(args) < n:
            raise ScpiError(-109, "Missing parameter")
        return args

    async def _idn(self, ch, args): return IDENTITY
    async def _module(self, ch, args): return MODULE
    async def _opc(self, ch, args): return "1"
    async def _cls(self, ch, args): self.errors.clear()

    async def _rst(self, ch, args):
        self.channels = {n: Channel() for n in range(1, CHANNELS + 1)}
        self.selected = 1
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

    async def _meas_volt(self, ch, args):
        await asyncio.sleep(MEAS_WINDOW_S)
        return _fmt(ch.volts if self.enabled(ch) else 0.0)

    async def _meas_curr(self, ch, args):
        await asyncio.sleep(MEAS_WINDOW_S)
        self.account()
        if ch is not self.channels[self.rail_channel] or not self.enabled(ch):
            return _fmt(0.0)
        t = time.monotonic()
        q = self.acc.at(self.acc.charge, t) - self.acc.at(self.acc.charge, t - MEAS_WINDOW_S)
        return _fmt(q / MEAS_WINDOW_S)

    # energy meter: joules since MEAS:ENER:STAT ON (or the last reset) on the rail channel
    async def _ener_state(self, ch, args):
        on = _boolean(self._need(args)[0])
        now = self.acc.at(self.acc.energy, time.monotonic())
        if on and not ch.meter_on:
            ch.meter_start, ch.meter_stop = now, None
        elif not on and ch.meter_on:
            ch.meter_stop = now
        ch.meter_on = on

    async def _ener_reset(self, ch, args):
        ch.meter_start, ch.meter_stop = self.acc.at(self.acc.energy, time.monotonic()), None

    async def _ener_q(self, ch, args):
        if ch is not self.channels[self.rail_channel]:
            return _fmt(0.0)
        end = ch.meter_stop if ch.meter_stop is not None else self.acc.at(self.acc.energy, time.monotonic())
        return _fmt(end - ch.meter_start if (ch.meter_on or ch.meter_stop is not None) else 0.0)

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
        ch.armed, ch.t_trigger = True, (time.monotonic() if ch.trig_source == "IMM" else None)

    async def _trg(self, ch, args):
        now = time.monotonic()
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
        def currents(c):
            if c is not self.channels[self.rail_channel]:
                return [0.0] * c.points
            q = [self.acc.at(self.acc.charge, c.t_trigger + k * c.tint) for k in range(c.points + 1)]
            return [(q[k + 1] - q[k]) / c.tint for k in range(c.points)]
        return await self._fetch(ch, currents)

    async def _fetch_volt(self, ch, args):
        return await self._fetch(ch, lambda c: [c.volts if self.enabled(c) else 0.0] * c.points)

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
    ap.add_argument("--chip", default=str(DEFAULT_CHIP), help="chip file (energy per access)")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: ephemeral)")
    ap.add_argument("--rail-channel", type=int, default=1, choices=range(1, CHANNELS + 1))
    ap.add_argument("--power-on", action="store_true", help="start with the rail on at the chip's nominal_v")
    args = ap.parse_args(argv)
    try:
        chip = Chip.load(args.chip)
    except ValueError as exc:
        print(f"scpi_server: {exc}", file=sys.stderr)
        return 2
    state = LabState(Path(args.lab_state), create=True)
    sim = SupplySimulator(chip, state, args.rail_channel, args.power_on)

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
