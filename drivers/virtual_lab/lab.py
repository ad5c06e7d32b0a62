"""The virtual lab: the simulated supply plus a board, started and stopped together [HARDWARE 2].

``VirtualLab(chip_file=None, qemu=False, supply=None, physics="realistic", ppk2=None)`` is a
context manager. ``supply`` names the supply model the simulator presents (a file of
``drivers/supplies/models/``; default the N6705C with an N6781A); ``physics="ideal"`` makes the
supply measure exactly (the simulated PPK2: no gain error; its noise stays, it dithers the
codes), drops the chip's static current and the link latency (tests that need exact numbers).
On entry it creates a private directory with the lab state file, starts the SCPI supply
simulator (which creates that file) and then the board: the host firmware with the virtual
chip of ``chip_file`` (options derived by :meth:`Chip.host_options`), or with ``qemu=True`` the
Cortex-M4 firmware under QEMU (nominal memory, no coupling to the supply). With ``power_on``
(default) the supply starts with the rail on at the chip's ``nominal_v``, so the memory works
before any driver touches the supply (a driver's ``configure()`` switches it off again until
the bench sets a voltage). All listen on ephemeral ports of 127.0.0.1 (the PPK2 on a pty). On
exit (any exit) every process is terminated, killed if it lingers, and reaped; the directory
goes. All run in their own session (process group), so a Ctrl-C at the terminal reaches only
the bench: its ``finally`` path switches the supply off through SCPI, then closes the lab.

The bench reaches the lab only through :attr:`board_url` (a pyserial URL) and
:attr:`supply_resource` (a VISA resource string), and with ``ppk2`` through
:attr:`ppk2_port` (the pty of the simulated PPK2, ``drivers/virtual_lab/ppk2_sim.py``):
``ppk2="meter"`` puts it in series with the supply's rail (an ampere meter beside the supply),
``ppk2="source"`` makes it the rail's source instead of the supply (no supply simulator then:
``supply_resource`` is None).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from drivers.firmware_process import (READY_TIMEOUT_S, FirmwareProcess, FirmwareProcessError, spawn, start_host,
                                      start_qemu, stop_process, wait_for_line)
from drivers.closing import ConfiguredOnEnter
from drivers.supplies.spec import load_spec
from drivers.virtual_lab.lab_state import LabState
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip
from drivers.virtual_lab.scpi_server import DEFAULT_SUPPLY

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = READY_TIMEOUT_S
PHYSICS = ("realistic", "ideal")


class LabError(RuntimeError):
    """The virtual lab could not start; the message says which part and why."""


class VirtualLab(ConfiguredOnEnter):
    """Supply simulator + board on ephemeral loopback ports; see the module docstring."""

    def __init__(self, chip_file: str | os.PathLike | None = None, qemu: bool = False, power_on: bool = True,
                 supply: str | os.PathLike | None = None, physics: str = "realistic", ppk2: str | None = None):
        if ppk2 not in (None, "meter", "source"):
            raise LabError(f"ppk2={ppk2!r}: choose 'meter' (beside the supply) or 'source' (powers the rail)")
        if physics not in PHYSICS:
            raise ValueError(f"physics {physics!r}: expected one of {PHYSICS}")
        self.chip_file = Path(chip_file) if chip_file else DEFAULT_CHIP
        self.chip = Chip.load(self.chip_file)  # fails early with the file named
        self.supply_spec = load_spec(supply or DEFAULT_SUPPLY)  # likewise
        self.qemu, self.power_on, self.physics, self.ppk2 = qemu, power_on, physics, ppk2
        self.board_url: str | None = None
        self.supply_resource: str | None = None
        self.ppk2_port: str | None = None
        self._dir: Path | None = None
        self._supply: subprocess.Popen | None = None
        self._ppk2: subprocess.Popen | None = None
        self._board: FirmwareProcess | None = None

    @property
    def chip_id(self) -> str:
        return self.chip.chip_id

    def _simulator(self, name: str, module: str, args: list[str], pattern: str) -> tuple[subprocess.Popen, str]:
        """Start ``python -m module args`` and wait for its ready line; (process, first group)."""
        stderr_path = self._dir / f"{name}.stderr"
        with open(stderr_path, "wb") as stderr:  # a file, not a pipe: it can never fill up and block
            # its own session: a terminal's Ctrl-C must not kill it before the bench's shutdown()
            proc = spawn([sys.executable, "-m", module, *args, "--chip", str(self.chip_file),
                          *(["--power-on"] if self.power_on else [])],
                         stdout=subprocess.PIPE, stderr=stderr, cwd=REPO)
        m, out = wait_for_line(proc, pattern, START_TIMEOUT_S)
        if m is None:
            err = stderr_path.read_text(errors="replace")[-1500:] if stderr_path.exists() else ""
            code = proc.poll()
            stop_process(proc)
            raise LabError(f"the {name} simulator did not start (no line matching {pattern!r} within "
                           f"{START_TIMEOUT_S:.0f} s; exit code {code}): {out[-500:]}{err}")
        return proc, m.group(1)

    def configure(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="faultbench-lab-"))
        state = self._dir / "lab_state.bin"
        ideal = ["--ideal"] if self.physics == "ideal" else []
        if self.ppk2 != "source":
            self._supply, port = self._simulator(
                "supply", "drivers.virtual_lab.scpi_server",
                ["--lab-state", str(state), "--supply", str(self.supply_spec.path), *ideal], r"LISTENING (\d+)")
            self.supply_resource = f"TCPIP0::127.0.0.1::{port}::SOCKET"
        if self.ppk2:
            self._ppk2, self.ppk2_port = self._simulator(
                "PPK2", "drivers.virtual_lab.ppk2_sim", ["--lab-state", str(state), "--role", self.ppk2,
                                                         "--seed", str(self.chip.seed), *ideal], r"PTY (\S+)\n")
        try:
            if self.qemu:
                self._board = start_qemu()
            else:
                chip = self.chip.ideal() if self.physics == "ideal" else self.chip
                self._board = start_host(["--lab-state", str(state), *chip.host_options()])
        except FirmwareProcessError as exc:
            raise LabError(f"board: {exc}") from None
        self.board_url = self._board.url

    def rail(self) -> tuple[float, bool]:
        """The rail as the simulated supply delivers it now: ``(volts, on)`` from the lab state
        file, not over SCPI (a query would feed the supply's output watchdog)."""
        if self._dir is None:
            raise LabError("the lab is not running")
        state = LabState(self._dir / "lab_state.bin")
        try:
            return state.rail()
        finally:
            state.close()

    # --- fault injection for tests (the board process as a whole) ------------------------

    def pause_board(self) -> None:
        """The board stops answering (SIGSTOP) until :meth:`resume_board`."""
        self._require_host_board().send_signal(signal.SIGSTOP)

    def resume_board(self) -> None:
        self._require_host_board().send_signal(signal.SIGCONT)

    def _require_host_board(self) -> subprocess.Popen:
        if self._board is None or self._board.kind != "host":
            raise LabError("this lab has no host-firmware board (qemu=True or not started)")
        return self._board.proc

    def close(self) -> None:
        """Stop everything this lab started (idempotent)."""
        if self._board is not None:
            self._board.proc.send_signal(signal.SIGCONT)  # a paused board cannot act on SIGTERM
            self._board.stop()
        for proc in (self._supply, self._ppk2):
            if proc is not None:
                stop_process(proc)
        self._board = self._supply = self._ppk2 = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
