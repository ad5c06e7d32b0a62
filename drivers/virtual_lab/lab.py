"""The virtual lab: the simulated supply plus a board, started and stopped together [HARDWARE 2].

``VirtualLab(chip_file=None, qemu=False)`` is a context manager. On entry it creates a private
directory with the lab state file, starts the SCPI supply simulator (which creates that file)
and then the board: the host firmware with the virtual chip of ``chip_file`` (options derived
by :meth:`Chip.host_options`), or with ``qemu=True`` the Cortex-M4 firmware under QEMU (nominal
memory, no coupling to the supply). With ``power_on`` (default) the supply starts with the rail
on at the chip's ``nominal_v``, so the memory works before any driver touches the supply (a
driver's ``configure()`` switches it off again until the bench sets a voltage). Both listen on ephemeral ports of 127.0.0.1. On exit (any
exit) both processes are terminated, killed if they linger, and reaped; the directory goes.
Both run in their own session (process group), so a Ctrl-C at the terminal reaches only the
bench: its ``finally`` path switches the supply off through SCPI, then closes the lab.

The bench reaches the lab only through :attr:`board_url` (a pyserial URL) and
:attr:`supply_resource` (a VISA resource string).
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
from drivers.virtual_lab.lab_state import LabState
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = READY_TIMEOUT_S


class LabError(RuntimeError):
    """The virtual lab could not start; the message says which part and why."""


class VirtualLab:
    """Supply simulator + board on ephemeral loopback ports; see the module docstring."""

    def __init__(self, chip_file: str | os.PathLike | None = None, qemu: bool = False, power_on: bool = True):
        self.chip_file = Path(chip_file) if chip_file else DEFAULT_CHIP
        self.chip = Chip.load(self.chip_file)  # fails early with the file named
        self.qemu, self.power_on = qemu, power_on
        self.board_url: str | None = None
        self.supply_resource: str | None = None
        self._dir: Path | None = None
        self._supply: subprocess.Popen | None = None
        self._board: FirmwareProcess | None = None

    @property
    def chip_id(self) -> str:
        return self.chip.chip_id

    def __enter__(self) -> "VirtualLab":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="faultbench-lab-"))
        state = self._dir / "lab_state.bin"
        stderr_path = self._dir / "supply.stderr"
        with open(stderr_path, "wb") as stderr:  # a file, not a pipe: it can never fill up and block
            # its own session: a terminal's Ctrl-C must not kill it before the bench's shutdown()
            self._supply = spawn(
                [sys.executable, "-m", "drivers.virtual_lab.scpi_server", "--lab-state", str(state),
                 "--chip", str(self.chip_file), *(["--power-on"] if self.power_on else [])],
                stdout=subprocess.PIPE, stderr=stderr, cwd=REPO)
        pattern = r"LISTENING (\d+)"
        m, out = wait_for_line(self._supply, pattern, START_TIMEOUT_S)
        if m is None:
            err = stderr_path.read_text(errors="replace")[-1500:] if stderr_path.exists() else ""
            raise LabError(f"the supply simulator did not start (no line matching {pattern!r} within "
                           f"{START_TIMEOUT_S:.0f} s; exit code {self._supply.poll()}): {out[-500:]}{err}")
        port = int(m.group(1))
        self.supply_resource = f"TCPIP0::127.0.0.1::{port}::SOCKET"
        try:
            if self.qemu:
                self._board = start_qemu()
            else:
                self._board = start_host(["--lab-state", str(state), *self.chip.host_options()])
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
        if self._supply is not None:
            stop_process(self._supply)
        self._board = self._supply = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
