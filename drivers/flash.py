"""Flash a firmware target onto a real board through pyOCD (optional extra:
``pip install 'faultbench[flash]'``).

    result = flash("nucleo-f411", probe="066DFF", frequency="4M", progress=bar.update)

Picks the debug probe (the only one attached, or the one whose unique ID contains ``probe``,
pyOCD's rule), checks pyOCD knows the chip, builds the ELF (``make``, incremental), programs
its loadable sections and resets the core, so the firmware boots and sends its BOOT banner
on the board's serial port. Every failure is a :class:`FlashError` with one line saying what
to do (install pyOCD, connect or choose a probe, install the chip's pack).

pyOCD supports the STM32F411RE through ST's CMSIS-Pack (part ``stm32f411retx``, the target the
Nucleo-F411RE's ST-LINK reports), installed once per machine with
``pyocd pack install stm32f411retx``; it has no built-in target for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from drivers.firmware_process import build

#: firmware target -> pyOCD target type (the CMSIS-Pack part number, lower case)
FLASH_TARGETS = {"nucleo-f411": "stm32f411retx"}
INSTALL_HINT = "pip install 'faultbench[flash]' (or pip install pyocd)"
_FREQUENCY = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([kKmM]?)(?:[hH][zZ])?\s*")
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000}


class FlashError(RuntimeError):
    """Flashing cannot proceed; the message is one line naming the fix."""


@dataclass(frozen=True)
class Probe:
    """An attached debug probe: its unique ID (what ``--probe`` matches) and description."""

    unique_id: str
    description: str
    handle: object = field(default=None, repr=False, compare=False)  # pyOCD's DebugProbe

    def __str__(self) -> str:
        return f"{self.unique_id} ({self.description})"


@dataclass(frozen=True)
class FlashResult:
    target: str
    chip: str
    probe: Probe
    elf: Path
    frequency_hz: int | None


def parse_frequency(text: str) -> int:
    """SWD clock in Hz from ``4000000``, ``4M``, ``1.8M``, ``400k`` or ``400kHz`` (pyOCD's syntax)."""
    m = _FREQUENCY.fullmatch(text)
    hz = int(float(m.group(1)) * _SCALE[m.group(2).lower()]) if m else 0
    if hz <= 0:
        raise FlashError(f"--frequency {text!r}: expected a positive clock such as 4M, 400k or 1000000 (Hz)")
    return hz


def choose_probe(probes: list[Probe], wanted: str | None) -> Probe:
    """The probe to use: the one whose unique ID contains ``wanted`` (case-insensitive), or
    the only one attached when ``wanted`` is None."""
    listing = ", ".join(map(str, probes))
    if wanted is None:
        if not probes:
            raise FlashError("no debug probe attached: connect the board's ST-LINK USB port (on Linux pyOCD "
                             "also needs read-write access to it, e.g. its udev rules), then retry")
        if len(probes) > 1:
            raise FlashError(f"{len(probes)} debug probes attached: {listing}; choose one with --probe ID")
        return probes[0]
    matches = [p for p in probes if wanted.lower() in p.unique_id.lower()]
    if not matches:
        raise FlashError(f"no attached debug probe matches --probe {wanted}; attached: {listing or 'none'}")
    if len(matches) > 1:
        raise FlashError(f"--probe {wanted} matches {len(matches)} probes: {', '.join(map(str, matches))}; "
                         "give more of the unique ID")
    return matches[0]


def _pyocd() -> SimpleNamespace:
    """The parts of pyOCD used here (imported on use: it is an optional extra), or a
    FlashError saying how to install it."""
    try:
        from pyocd.core.exceptions import Error
        from pyocd.core.helpers import ConnectHelper
        from pyocd.core.session import Session
        from pyocd.flash.file_programmer import FileProgrammer
        from pyocd.target import TARGET
        from pyocd.target.pack.pack_target import ManagedPacks
    except ImportError:
        raise FlashError(f"flashing needs pyOCD, which is not installed: {INSTALL_HINT}") from None
    return SimpleNamespace(Error=Error, ConnectHelper=ConnectHelper, Session=Session, FileProgrammer=FileProgrammer,
                           builtin_targets=TARGET, packs=ManagedPacks)


def attached_probes() -> list[Probe]:
    """Debug probes pyOCD sees now (CMSIS-DAP, ST-LINK, J-Link, ...), sorted like pyOCD lists them."""
    probes = _pyocd().ConnectHelper.get_all_connected_probes(blocking=False)
    return [Probe(p.unique_id, p.description, p) for p in probes]


def flash(target: str, probe: str | None = None, frequency: str | None = None, elf: Path | None = None,
          progress: Callable[[float], None] | None = None) -> FlashResult:
    """Build (if needed) and flash ``target``'s firmware; ``progress`` gets the fraction done."""
    if target not in FLASH_TARGETS:
        raise FlashError(f"no flash support for firmware target {target!r}; flashable: {', '.join(FLASH_TARGETS)}")
    hz = parse_frequency(frequency) if frequency is not None else None
    pyocd = _pyocd()
    chosen = choose_probe(attached_probes(), probe)
    chip = FLASH_TARGETS[target]
    if chip not in pyocd.builtin_targets and not any(d.part_number.lower() == chip
                                                     for d in pyocd.packs.get_installed_targets()):
        raise FlashError(f"pyOCD has no support for {chip} installed: run `pyocd pack install {chip}` once "
                         "(downloads ST's CMSIS-Pack), then retry")
    elf = Path(elf) if elf else build(target)
    options = {"target_override": chip} | ({"frequency": hz} if hz else {})
    try:
        with pyocd.Session(chosen.handle, options=options) as session:
            pyocd.FileProgrammer(session, progress=progress or (lambda fraction: None)).program(str(elf), file_format="elf")
            session.target.reset()
    except pyocd.Error as exc:
        raise FlashError(f"pyOCD could not flash {elf.name} through probe {chosen}: {exc}") from None
    return FlashResult(target, chip, chosen, elf, hz)
