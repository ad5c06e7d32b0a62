"""The virtual lab: the simulated supply plus a board, started and stopped together [HARDWARE 2].

``VirtualLab(chip_file=None, qemu=False)`` is a context manager. On entry it creates a private
directory with the lab state file, starts the SCPI supply simulator (which creates that file)
and then the board: the host firmware with the virtual chip of ``chip_file`` (options derived
by :meth:`Chip.host_options`), or with ``qemu=True`` the Cortex-M4 firmware under QEMU (nominal
memory, no coupling to the supply). With ``power_on`` (default) the supply starts with the rail
on at the chip's ``nominal_v``, so the memory works before any driver touches the supply (a
driver's ``configure()`` switches it off again until the bench sets a voltage). Both listen on ephemeral ports of 127.0.0.1. On exit (any
exit) both processes are terminated, killed if they linger, and reaped; the directory goes.

The bench reaches the lab only through :attr:`board_url` (a pyserial URL) and
:attr:`supply_resource` (a VISA resource string).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip

REPO = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO / "firmware"
HOST_FIRMWARE = FIRMWARE_DIR / "build" / "host" / "fw-host"
START_TIMEOUT_S = 20.0


class LabError(RuntimeError):
    """The virtual lab could not start; the message says which part and why."""


def build_host_firmware() -> Path:
    """``make -C firmware host`` (incremental); returns the binary."""
    proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR), "host"], capture_output=True, text=True)
    if proc.returncode != 0 or not HOST_FIRMWARE.exists():
        raise LabError(f"building the host firmware failed (make -C firmware host):\n{proc.stderr[-2000:]}")
    return HOST_FIRMWARE


def _wait_for_line(proc: subprocess.Popen, pattern: str, what: str, timeout: float = START_TIMEOUT_S) -> re.Match:
    """Read ``proc``'s stdout until a line matches ``pattern`` (or fail clearly)."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                m = re.search(pattern, line)
                if m:
                    return m
        elif proc.poll() is not None:
            break
    err = proc.stderr.read().decode(errors="replace")[-1500:] if proc.poll() is not None and proc.stderr else ""
    raise LabError(f"{what} did not start (no line matching {pattern!r} within {timeout:.0f} s; "
                   f"exit code {proc.poll()}): {buf.decode(errors='replace')[-500:]}{err}")


def _stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM (after SIGCONT: a paused process cannot act on it), SIGKILL after 3 s, reap."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


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
        self._board: subprocess.Popen | None = None
        self._qemu_board = None

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
        self._supply = subprocess.Popen(
            [sys.executable, "-m", "drivers.virtual_lab.scpi_server", "--lab-state", str(state), "--chip", str(self.chip_file),
             *(["--power-on"] if self.power_on else [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, start_new_session=True)
        port = int(_wait_for_line(self._supply, r"LISTENING (\d+)", "the supply simulator").group(1))
        self.supply_resource = f"TCPIP0::127.0.0.1::{port}::SOCKET"
        if self.qemu:
            self._start_qemu_board()
        else:
            binary = build_host_firmware()
            self._board = subprocess.Popen(
                [str(binary), "--port", "0", "--lab-state", str(state), *self.chip.host_options()],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            m = _wait_for_line(self._board, r"listening on ([\d.]+):(\d+)", "the host firmware")
            self.board_url = f"socket://{m.group(1)}:{m.group(2)}"

    def _start_qemu_board(self) -> None:
        from drivers.launch import QemuBoard  # the firmware helper's launcher (drivers/launch.py)
        self._qemu_board = QemuBoard()
        self._qemu_board.__enter__()
        self.board_url = self._qemu_board.url

    # --- fault injection for tests (the board process as a whole) ------------------------

    def pause_board(self) -> None:
        """The board stops answering (SIGSTOP) until :meth:`resume_board`."""
        self._require_host_board().send_signal(signal.SIGSTOP)

    def resume_board(self) -> None:
        self._require_host_board().send_signal(signal.SIGCONT)

    def _require_host_board(self) -> subprocess.Popen:
        if self._board is None:
            raise LabError("this lab has no host-firmware board (qemu=True or not started)")
        return self._board

    def close(self) -> None:
        """Stop everything this lab started (idempotent)."""
        if self._qemu_board is not None:
            self._qemu_board.__exit__(None, None, None)
            self._qemu_board = None
        _stop(self._board)
        _stop(self._supply)
        for proc in (self._board, self._supply):
            if proc is not None:
                for stream in (proc.stdout, proc.stderr):
                    if stream:
                        stream.close()
        self._board = self._supply = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
