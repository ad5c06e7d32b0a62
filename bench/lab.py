"""The virtual lab from Python and ``bench lab up`` (docs/VIRTUAL_LAB.md)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from bench.errors import user_errors
from drivers.virtual_lab.lab import LabError, VirtualLab
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip

__all__ = ["DEFAULT_CHIP", "chip_technology", "virtual_lab"]


@contextlib.contextmanager
def virtual_lab(chip: str | Path | None = None, qemu: bool = False, supply: str | None = None,
                physics: str = "realistic", ppk2: str | None = None) -> Iterator[VirtualLab]:
    """A running virtual lab (``.board_url``, ``.supply_resource``, ``.chip_id``), stopped on
    exit whatever happens: ``supply`` the supply model it presents (drivers/supplies/models;
    default the N6705C with an N6781A), ``physics`` ``realistic`` (default) or ``ideal``; with
    ``ppk2`` ``"meter"`` or ``"source"`` also its simulated PPK2 (``.ppk2_port``). A bad chip or
    supply file or a lab that cannot start is one CLI line."""
    with contextlib.ExitStack() as stack:
        with user_errors(LabError, ValueError, prefix="virtual lab: "):
            lab = stack.enter_context(VirtualLab(chip, qemu=qemu, supply=supply, physics=physics, ppk2=ppk2))
        yield lab


def chip_technology(chip: str | Path | None) -> str:
    """``sram`` or ``rram``: the technology of a chip file (default: the lab's default chip)."""
    with user_errors(ValueError, prefix="--chip: "):
        return Chip.load(chip or DEFAULT_CHIP).technology
