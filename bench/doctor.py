"""Checks of each piece of the bench, each with how to fix what fails (``bench doctor``)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pyvisa

from bench.errors import BenchError, user_errors
from bench.rail_limits import RailLimits, check_vmax
from drivers.board import Board, BoardError
from drivers.supplies import SupplyError, driver_for, identify, open_supply
from models.profile import ProfileError, load_profile


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    fix: str = ""


def _tools() -> list[Check]:
    checks = []
    for tool, fix, needed in (("make", "apt-get install make", True), ("cc", "apt-get install gcc", True),
                              ("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi (MCU/QEMU builds)", False),
                              ("qemu-system-arm", "apt-get install qemu-system-arm (bench lab up --qemu)", False)):
        path = shutil.which(tool)
        ok = True if path else (False if needed else None)  # optional tools: skip, not fail
        checks.append(Check(f"tool {tool}", ok, path or "not on PATH", "" if path else fix))
    try:
        backends = pyvisa.highlevel.list_backends()
        checks.append(Check("pyvisa backends", "py" in backends, ", ".join(backends),
                            "" if "py" in backends else "pip install pyvisa-py"))
    except Exception as exc:  # a broken install must not stop the other checks
        checks.append(Check("pyvisa", False, str(exc), "pip install pyvisa pyvisa-py"))
    return checks


def _board_checks(url: str, checks: list[Check]):
    try:
        board = Board(url)
    except BoardError as exc:
        checks.append(Check("board connect", False, str(exc),
                            "is the board plugged in and running faultbench firmware? (virtual: bench lab up; "
                            "serial: check the port name and that no other program holds it)"))
        return None
    i = board.info
    checks.append(Check("board identify", True, f"{i.target} fw {i.fw_version}, protocol v{i.protocol_version}, "
                                                f"{i.mem_words} words, caps {','.join(sorted(i.capabilities))}"))
    return board


def _supply_checks(resource: str, backend: str, channel: int, nominal: float | None, imax: float,
                   checks: list[Check]):
    if nominal is None:  # identify only: with no voltage to check at, nothing is set
        try:
            identity = identify(resource, backend=backend)
            checks.append(Check("supply identify", True, f"{identity} -> {driver_for(identity).__name__}"))
        except SupplyError as exc:
            checks.append(Check("supply connect", False, str(exc), "check the VISA resource string and the cable"))
        checks.append(Check("supply nominal voltage", None, "no nominal voltage known: nothing was set",
                            "give --nominal V, or --profile FILE / --chip FILE that state it"))
        return None
    try:
        supply = open_supply(resource, backend=backend, channel=channel, vmax=nominal, imax=imax)
    except SupplyError as exc:
        checks.append(Check("supply connect", False, str(exc),
                            "check the VISA resource string (SOCKET needs host::port::SOCKET), the network/USB "
                            "cable, --visa-backend, and --channel against the model"))
        return None
    checks.append(Check("supply identify", True, f"{supply.identify()} -> {type(supply).__name__}, "
                                                 f"energy by {supply.energy_method}; if the host dies: "
                                                 f"{supply.host_loss_protection}"))
    try:
        supply.configure()
        supply.volts = nominal
        supply.output_enabled = True
        measured = supply.measure_voltage()
        ok = abs(measured - nominal) <= 0.02 * nominal + 0.005
        checks.append(Check("supply nominal voltage", ok, f"set {nominal} V, measured {measured:.4f} V",
                            "" if ok else "check the load/wiring and the current limit (--imax)"))
    except SupplyError as exc:
        checks.append(Check("supply nominal voltage", False, str(exc),
                            "read the SCPI error above; --nominal within the model's range?"))
    return supply


def rail_limits(nominal: float | None, profile: str | None, chip: str | None) -> RailLimits:
    """The nominal voltage to check at: ``nominal``, else the profile's, else the chip file's;
    with the absolute maximum they state (``nominal`` above it is refused)."""
    limits = RailLimits()
    if chip:
        limits = RailLimits.of_chip(chip)
    if profile:
        with user_errors(ProfileError):
            limits = RailLimits.of_profile(load_profile(profile)).tightest(limits)
    if nominal is not None:
        limits = RailLimits(nominal, limits.abs_max, limits.source)
    if limits.nominal is not None:
        check_vmax(limits.nominal, limits, "--nominal")
    return limits


def run_checks(board: str | None = None, supply: str | None = None, visa_backend: str = "@py", channel: int = 1,
               nominal: float | None = None, imax: float = 0.1, words: int = 256, profile: str | None = None,
               chip: str | None = None) -> list[Check]:
    """Tools, then the board (identify) and the supply (identify, set the nominal voltage,
    read it back), then a pattern read back at nominal; the supply is left off. The nominal
    voltage is ``nominal``, else the ``profile``'s, else the ``chip`` file's; with none of
    them the supply is identified but never switched on."""
    if words < 1:
        raise BenchError("--words must be >= 1")
    nominal = rail_limits(nominal, profile, chip).nominal
    checks = _tools()
    b = s = None
    try:
        if board:
            b = _board_checks(board, checks)
        else:
            checks.append(Check("board", None, "no --board given", "bench lab up prints a board URL to try"))
        if supply:
            s = _supply_checks(supply, visa_backend, channel, nominal, imax, checks)
        else:
            checks.append(Check("supply", None, "no --supply given", "bench lab up prints a VISA resource to try"))
        if b is not None:
            _readback(b, s, nominal, words, checks)
    finally:
        if s is not None:
            off = s.shutdown()
            checks.append(Check("supply shutdown", off, "output reads OFF" if off else "output did not read OFF",
                                "" if off else "switch the output off by hand and check the connection"))
            s.close()
        if b is not None:
            b.close()
    return checks


def _readback(board, supply, nominal: float | None, words: int, checks: list[Check]) -> None:
    n = min(words, board.info.mem_words)
    where = f"at {nominal} V" if supply is not None and nominal is not None else "(supply not checked)"
    try:
        if supply is not None and nominal is not None and "pattern" in board.info.capabilities:
            with supply.energy(0.25) as e:
                result = board.pattern("checkerboard", 0, n)
            detail = f"{n} words {where}: {result.flips} flipped bits; {e.joules:.3g} J by {e.method}"
        else:
            result = board.pattern("checkerboard", 0, n)
            detail = f"{n} words {where}: {result.flips} flipped bits"
        ok = result.flips == 0
        checks.append(Check("pattern read-back", ok, detail,
                            "" if ok else "bit errors at nominal voltage: check --nominal, the supply channel "
                                          "wiring and the memory"))
    except (BoardError, SupplyError) as exc:
        checks.append(Check("pattern read-back", False, str(exc), "see the board/supply checks above"))
