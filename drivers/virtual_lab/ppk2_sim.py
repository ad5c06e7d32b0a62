"""Simulated Nordic PPK2 of the virtual lab, speaking the PPK2's serial protocol over a pty
[HARDWARE 7, 8; protocol constants and formats: ``drivers/meters/ppk2.py``].

Wired into the lab in one of two roles (``--role``):

* ``meter``: an ampere meter in series with the supply simulator's rail. The rail voltage is
  the supply's (read from the lab state file); the simulated DUT switch does not cut the
  lab's rail, but with DUT power off nothing flows through the meter (it reads 0 A).
* ``source``: the PPK2 powers the rail (source meter): it creates the lab state file and
  writes its regulator voltage there while DUT power is on and the mode is source (0 V
  otherwise), so the virtual chip's faults follow it.

Physics, the same as the supply simulator's (``drivers/virtual_lab/rail.py``): the memory's
activity (the firmware's access counters in the lab state file) is turned into energy at the
present rail voltage with the chip file's energy per access (:meth:`Chip.access_energy`), and
into charge (energy over voltage), each step spread evenly from the previous poll of the
counters (every 1 ms while streaming) to the firmware's latest-access timestamp, so a busy
simulator never moves charge out of the time it was drawn in; besides the accesses the rail
draws the chip's static current (:meth:`Chip.static_current`: leakage, and the core when it
shares the rail) at the present voltage while current flows through the meter. The current of
sample ``k`` is the charge in ``[t0 + k 10 us, t0 + (k+1) 10 us)`` over 10 us, at 100 kSa/s in
real time from ``AVERAGE_START``. Each sample is measured as the driver's figures say
(``drivers/meters/ppk2.py``): the most sensitive range whose full scale times
``RANGE_HEADROOM`` holds the current (auto-ranging over the five shunts), the current times
``1 + g`` of that range (this unit's gain error, drawn once uniform in +-``GAIN_ACCURACY``: what
its calibration leaves), the ADC code of the device's own calibration plus Gaussian noise of
``NOISE_COUNTS`` rms, rounded and clipped to 14 bits. The calibration (shunts within 0.5 % of
nominal, ADC offsets of 10-30 codes, gains within 1 %, quadratic terms up to 0.1 / A) is drawn
from ``--seed`` and reported in the metadata, as a real unit reports its factory calibration;
the gain errors and the noise generator are seeded too. ``--ideal`` drops the static current
and the gain errors; the noise stays (it dithers the 14-bit codes the protocol carries, without
which a reading would be biased by up to half a code).

The device buffers at most :data:`BACKLOG_S` of samples the host has not read; once that is
full, new samples are dropped (the 6-bit counter jumps), as a real PPK2 loses data. A tick the
simulator itself makes late (a busy machine) queues all the samples it owes: the device made
them in real time, while the host could read them.

Commands handled: AVERAGE_START/STOP, DEVICE_RUNNING_SET, REGULATOR_SET (millivolts clamped to
800-5000), SET_POWER_MODE, GET_META_DATA, RESET; the others (triggers, ranges, switch points,
spike filter, user gains) are accepted with their argument bytes and change nothing.

Run: ``python -m drivers.virtual_lab.ppk2_sim --lab-state PATH --chip FILE --role meter|source
[--seed N] [--power-on] [--ideal]``; prints ``PTY /dev/pts/N`` once ready, stops on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import time
import tty
from pathlib import Path

import numpy as np

from drivers.meters.ppk2 import (ADC_MAX, ARGS, GAIN_ACCURACY, NOISE_COUNTS, RANGE_HEADROOM, RANGES, SAMPLE_PERIOD_S,
                                 SAMPLE_RATE_HZ, SOURCE_MODE, VDD_MAX_MV, VDD_MIN_MV, Calibration, Cmd, encode_samples)
from drivers.virtual_lab.lab_state import LabState
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip
from drivers.virtual_lab.rail import Rail

TICK_S = 0.001            # counters polled and samples sent this often while streaming
IDLE_TICK_S = 0.01        # ... and otherwise
BACKLOG_S = 0.1           # samples the device holds for a host that does not read [estimate]
DEFAULT_MV = 3300         # regulator setting after power-up and RESET


def device_calibration(seed: int) -> Calibration:
    """A unit's factory calibration, drawn from ``seed`` around the nominal one."""
    rng = np.random.default_rng(seed)
    nominal = Calibration()
    return Calibration(r=tuple(float(r) for r in np.asarray(nominal.r) * (1 + rng.normal(0, 0.005, RANGES))),
                       gs=tuple(float(g) for g in rng.uniform(0.0, 0.1, RANGES)),
                       gi=tuple(float(g) for g in 1 + rng.normal(0, 0.01, RANGES)),
                       o=tuple(float(o) for o in rng.uniform(40, 120, RANGES)),
                       extra=(("Calibrated", "1"), ("HW", str(int(rng.integers(10000, 99999)))),
                              ("IA", str(int(rng.integers(1, 200))))))


class PPK2Simulator:
    """The device's state machine: ``feed`` takes host bytes, ``tick`` returns bytes to send."""

    def __init__(self, chip: Chip, state: LabState, role: str, seed: int = 0, power_on: bool = False,
                 ideal: bool = False):
        self.chip, self.state, self.role = (chip.ideal() if ideal else chip), state, role
        self.calibration = device_calibration(seed)
        self.noise = np.random.default_rng(seed + 1)
        self.gain_error = np.zeros(RANGES) if ideal else np.random.default_rng(seed + 2).uniform(
            -GAIN_ACCURACY, GAIN_ACCURACY, RANGES)
        self.full_scale = self.calibration.full_scale() * RANGE_HEADROOM
        self._pending = b""
        self.out = bytearray()
        self.dropped = 0
        self._reset()
        if power_on and role == "source":
            self.millivolts = min(max(int(round(chip.nominal_v * 1000)), VDD_MIN_MV), VDD_MAX_MV)
            self.mode, self.dut_on = SOURCE_MODE, True
        now = time.monotonic()
        self._last_counters = state.activity()[:2]
        self._last_poll = now
        self.rail = Rail(now)
        self._static = (0.0, 0.0)   # (volts, amps) of the static current from the last change on
        self._publish()
        self._static_from(now)

    def _reset(self) -> None:
        self.mode, self.dut_on, self.millivolts = 1, False, DEFAULT_MV
        self.streaming, self.t_start, self.emitted, self.counter = False, 0.0, 0, 0

    # --- physics ------------------------------------------------------------------------

    def rail_volts(self) -> float:
        if self.role == "source":
            return self.millivolts / 1000 if self.dut_on and self.mode == SOURCE_MODE else 0.0
        return self.state.rail()[0]

    def _flowing(self) -> bool:
        """Current flows through the meter: always as the source, as an ampere meter with DUT power on."""
        return self.dut_on or self.role == "source"

    def _publish(self) -> None:
        if self.role == "source":
            v = self.rail_volts()
            self.state.set_rail(v, v > 0)

    def _static_from(self, t: float) -> None:
        """The chip's static current at the present rail voltage from ``t`` on, when it changed."""
        v = self.rail_volts()
        amps = self.chip.static_current(v) if self._flowing() else 0.0
        if (v, amps) != self._static:
            self.rail.set_static(t, amps, v)
            self._static = (v, amps)

    def account(self, now: float) -> None:
        """Charge of the accesses since the last poll, spread up to the latest access; the
        static current follows the rail voltage (the supply's, as an ampere meter)."""
        reads, writes, t_access = self.state.activity()
        d_r, d_w = reads - self._last_counters[0], writes - self._last_counters[1]
        self._last_counters = (reads, writes)
        v = self.rail_volts()
        if (d_r or d_w) and v > 0 and self._flowing():
            energy = self.chip.access_energy(d_r, d_w, v)
            self.rail.add_access(self._last_poll, min(t_access, now), energy, energy / v)
        self._last_poll = now
        self._static_from(now)

    def _samples(self, now: float) -> bytes:
        """The samples due by ``now`` (their whole 10 us has passed) as streamed bytes."""
        # a sample is due once its time has come; the 1e-6 sample absorbs float rounding of the clock
        due = int((now - self.t_start) * SAMPLE_RATE_HZ + 1e-6)
        n = due - self.emitted
        if n <= 0:
            return b""
        edges = self.t_start + SAMPLE_PERIOD_S * np.arange(self.emitted, due + 1)
        amps = np.diff(self.rail.charge_at(edges)) / SAMPLE_PERIOD_S
        rng = np.minimum(np.searchsorted(self.full_scale, amps), RANGES - 1)
        vdd = self.millivolts / 1000
        code = self.calibration.adc_value(amps * (1 + self.gain_error[rng]), rng, vdd) \
            + self.noise.normal(0.0, NOISE_COUNTS, n)
        adc = np.clip(np.rint(code), 0, ADC_MAX).astype(np.uint32)
        counter = (self.counter + np.arange(n)) & 0x3F
        self.emitted, self.counter = due, (self.counter + n) & 0x3F
        return encode_samples(adc, rng, counter)

    # --- protocol -------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        """Host bytes: commands with their argument bytes (a command may span reads)."""
        buf = self._pending + data
        i = 0
        while i < len(buf):
            cmd = buf[i]
            need = ARGS.get(cmd, 0)
            if i + 1 + need > len(buf):
                break
            self._command(cmd, buf[i + 1:i + 1 + need], now)
            i += 1 + need
        self._pending = buf[i:]

    def _command(self, cmd: int, args: bytes, now: float) -> None:
        if cmd == Cmd.AVERAGE_START:
            self.account(now)
            self.streaming, self.t_start, self.emitted = True, now, 0
        elif cmd == Cmd.AVERAGE_STOP:
            if self.streaming:
                self.account(now)
                self._send(self._samples(now))
            self.streaming = False
        elif cmd == Cmd.DEVICE_RUNNING_SET:
            self.account(now)
            self.dut_on = bool(args[0])
        elif cmd == Cmd.REGULATOR_SET:
            self.account(now)
            self.millivolts = min(max((args[0] << 8) | args[1], VDD_MIN_MV), VDD_MAX_MV)
        elif cmd == Cmd.SET_POWER_MODE:
            self.account(now)
            self.mode = args[0]
        elif cmd == Cmd.GET_META_DATA:
            self.out += self.calibration.to_metadata().encode("ascii")
        elif cmd == Cmd.RESET:
            self.account(now)
            self._reset()
        self._publish()
        self._static_from(now)

    def _send(self, data: bytes) -> None:
        """Queue samples unless the device's buffer of unread samples is full (then they are lost)."""
        if len(self.out) >= BACKLOG_S * SAMPLE_RATE_HZ * 4:
            self.dropped += len(data) // 4
            return
        self.out += data

    def tick(self, now: float) -> None:
        self.account(now)
        if self.streaming:
            self._send(self._samples(now))


def serve(sim: PPK2Simulator, master: int, stop) -> None:
    """The device loop on the pty's master side until ``stop()``."""
    os.set_blocking(master, False)
    while not stop():
        wait = TICK_S if sim.streaming or sim.out else IDLE_TICK_S
        readable, _, _ = select.select([master], [master] if sim.out else [], [], wait)
        now = time.monotonic()
        if readable:
            try:
                sim.feed(os.read(master, 4096), now)
            except (BlockingIOError, InterruptedError):
                pass
        sim.tick(time.monotonic())
        if sim.out:
            try:
                written = os.write(master, sim.out)
                del sim.out[:written]
            except (BlockingIOError, InterruptedError):
                pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="simulated Nordic PPK2 of the faultbench virtual lab")
    ap.add_argument("--lab-state", required=True, help="lab state file (docs/VIRTUAL_LAB.md)")
    ap.add_argument("--chip", default=str(DEFAULT_CHIP), help="chip file (energy per access)")
    ap.add_argument("--role", choices=("meter", "source"), default="meter",
                    help="meter: in series with the supply's rail; source: the PPK2 powers the rail")
    ap.add_argument("--seed", type=int, default=0, help="seed of the unit's calibration and its noise")
    ap.add_argument("--power-on", action="store_true", help="source role: start with the rail on at the chip's nominal_v")
    ap.add_argument("--ideal", action="store_true",
                    help="no static current, no gain error (the noise stays: it dithers the codes)")
    args = ap.parse_args(argv)
    try:
        chip = Chip.load(args.chip)
        state = LabState(Path(args.lab_state), create=args.role == "source")
    except (ValueError, OSError) as exc:
        print(f"ppk2_sim: {exc}", file=sys.stderr)
        return 2
    sim = PPK2Simulator(chip, state, args.role, args.seed, args.power_on, args.ideal)
    master, slave = os.openpty()
    tty.setraw(slave)   # raw bytes both ways; the slave stays open so the port survives a client's close
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    print(f"PTY {os.ttyname(slave)}", flush=True)
    try:
        serve(sim, master, lambda: bool(stopping))
    finally:
        if args.role == "source":
            state.set_rail(0.0, False)
        state.close()
        os.close(master)
        os.close(slave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
