"""Start and stop the firmware as a local process: the host build (loopback TCP) or a
Cortex-M4 build under QEMU with its UART on loopback TCP: ``mps2-an386`` (HARDWARE 3) or
``netduinoplus2``, the STM32F4 (Nucleo-F411) code on QEMU's STM32F405 machine (HARDWARE 9).

    with start_host() as fw:             # or start_qemu(), start_qemu("netduinoplus2")
        with Board(fw.url) as board: ...

Ports are ephemeral. A started process is stopped by ``stop()``/the context manager, at
interpreter exit (atexit), and by the kernel if this process dies (Linux PR_SET_PDEATHSIG),
so no firmware or QEMU is ever left behind.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from drivers import stop_signals
from drivers.stop_signals import STOP_SIGNALS

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"
TARGET_OUTPUTS = {"host": "build/host/fw-host", "mps2-an386": "build/mps2-an386/fw.elf",
                  "nucleo-f411": "build/nucleo-f411/fw.elf", "netduinoplus2": "build/netduinoplus2/fw.elf"}
QEMU = "qemu-system-arm"
#: emulated targets: QEMU machine, and how many ``-serial null`` come before the socket, since
#: QEMU wires ``-serial`` options to the machine's UARTs in order and the firmware talks on
#: one of them (mps2-an386: UART0; netduinoplus2: USART2, the Nucleo's ST-LINK port, after USART1)
QEMU_MACHINES = {"mps2-an386": ("mps2-an386", 0), "netduinoplus2": ("netduinoplus2", 1)}
APT_HINT = "sudo apt-get install -y --no-install-recommends gcc-arm-none-eabi qemu-system-arm"
#: How long a helper process may take to say it is ready [choice: generous, for a machine whose
#: cores other jobs keep busy; a working process says so in well under a second, so the bound
#: only limits how long a broken one is waited for].
READY_TIMEOUT_S = 120.0

_live: set["FirmwareProcess"] = set()


class FirmwareProcessError(RuntimeError):
    """The firmware could not be built or started; the message says what is missing."""


def build(target: str = "host", quiet: bool = True) -> Path:
    """``make -C firmware <target>`` (incremental); returns the built binary."""
    if target not in TARGET_OUTPUTS:
        raise FirmwareProcessError(f"unknown firmware target {target!r}; expected one of {sorted(TARGET_OUTPUTS)}")
    if shutil.which("make") is None:
        raise FirmwareProcessError("make not found: sudo apt-get install -y make")
    r = subprocess.run(["make", "-C", str(FIRMWARE_DIR), target], capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stdout + r.stderr).strip().splitlines()[-15:]
        hint = f"\n{APT_HINT}" if r.returncode == 127 or "arm-none-eabi" in "".join(tail) and "missing" in "".join(tail) else ""
        raise FirmwareProcessError(f"make -C firmware {target} failed:\n" + "\n".join(tail) + hint)
    if not quiet:
        print(r.stdout, end="")
    return FIRMWARE_DIR / TARGET_OUTPUTS[target]


def die_with_parent() -> None:  # runs in the child before exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(argv: list[str], **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` of a helper process in its own session that dies with us.

    A stop signal arriving while the child is forked is held back until the fork is done:
    Python would otherwise run its handler inside an at-fork callback, where the
    ``KeyboardInterrupt`` is printed and dropped, and the run would go on as if never stopped.
    Then it is raised here, after the child is stopped again. (The mask is this thread's: the
    kernel may hand the signal to another thread meanwhile, and Python may then still run the
    handler in an at-fork callback; the latch of :mod:`drivers.stop_signals` raises it here
    too.) A terminal's Ctrl-C reaches the
    child too while it is still in our process group (before its ``setsid``); the child drops
    it, since it runs in a session of its own precisely so that such signals miss it.
    """
    keep = {sig: signal.SIG_IGN if signal.getsignal(sig) is signal.SIG_IGN else signal.SIG_DFL
            for sig in STOP_SIGNALS}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

    def in_child() -> None:  # before exec: the child must not inherit the blocked signals
        die_with_parent()
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # discards one that is pending (POSIX)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        for sig, disposition in keep.items():
            signal.signal(sig, disposition)

    try:
        proc = subprocess.Popen(argv, preexec_fn=in_child, start_new_session=True, **kwargs)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a stop signal held back is raised here
        stop_signals.check()  # ... or, if another thread took it and its exception was dropped, here
    except BaseException:
        stop_process(proc)
        raise
    return proc


def wait_for_line(proc: subprocess.Popen, pattern: str, timeout: float) -> tuple[re.Match | None, str]:
    """Read ``proc``'s stdout until ``pattern`` matches; None if it closes stdout, exits or
    ``timeout`` s pass first. Also returns the text read (for the caller's error message)."""
    deadline, buf, fd = time.monotonic() + timeout, b"", proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            m = re.search(pattern, buf.decode(errors="replace"))
            if m:
                return m, buf.decode(errors="replace")
        elif proc.poll() is not None:
            break
    return None, buf.decode(errors="replace")


def stop_process(proc: subprocess.Popen, timeout: float = 3.0) -> None:
    """SIGTERM, SIGKILL after ``timeout`` s, reap, close its stdout pipe (idempotent)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()
    if proc.stdout:
        proc.stdout.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FirmwareProcess:
    """A running firmware process with the serial URL to reach it."""

    def __init__(self, argv: list[str], url: str | None = None, kind: str = "host",
                 banner_timeout: float = READY_TIMEOUT_S):
        self.argv, self.kind = argv, kind
        self._stderr = tempfile.TemporaryFile()
        self.proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr)
        _live.add(self)  # own session: a terminal's Ctrl-C reaches only the caller, who stops us in order
        try:
            self.url = url or self._read_listen_url(banner_timeout)
        except BaseException:
            self.stop()
            raise

    def _read_listen_url(self, timeout: float) -> str:
        m, _ = wait_for_line(self.proc, r"listening on (\S+)\n", timeout)  # "faultbench-fw listening on 127.0.0.1:PORT"
        if m is None:
            raise FirmwareProcessError(f"{self.argv[0]} did not start listening: {self.stderr_text() or 'no output'}")
        return f"socket://{m.group(1)}"

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 3.0) -> None:
        stop_process(self.proc, timeout)
        self._stderr.close()
        _live.discard(self)

    def __enter__(self) -> "FirmwareProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_host(args: list[str] | tuple = (), binary: Path | None = None) -> FirmwareProcess:
    """The host firmware on 127.0.0.1 with an ephemeral port; ``args`` go to its memory HAL
    (e.g. ``["--mem-words", "65536"]`` or the virtual-lab chip options)."""
    binary = Path(binary) if binary else build("host")
    return FirmwareProcess([str(binary), "--port", "0", *map(str, args)], kind="host")


def qemu_argv(elf: Path, port: int, icount: bool = True, target: str = "mps2-an386") -> list[str]:
    """HARDWARE 3: nodelay=on (else ~44 ms per reply), wait=on (keeps the banner), semihosting
    for exit; ``-icount shift=0`` makes SysTick count instructions deterministically."""
    machine, skipped_uarts = QEMU_MACHINES[target]
    serial = ["-serial", "null"] * skipped_uarts + ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
    argv = [QEMU, "-M", machine, "-display", "none", "-monitor", "none", "-nodefaults",
            "-semihosting-config", "enable=on,target=native", *serial, "-kernel", str(elf)]
    return argv + (["-icount", "shift=0"] if icount else [])


def start_qemu(target: str = "mps2-an386", elf: Path | None = None, icount: bool = True,
               attempts: int = 3) -> FirmwareProcess:
    """``target``'s firmware (a key of :data:`QEMU_MACHINES`) under QEMU; the guest starts when
    the first client connects (so open a Board with ``wait_boot`` to catch the banner)."""
    if target not in QEMU_MACHINES:
        raise FirmwareProcessError(f"no QEMU machine for firmware target {target!r}; expected one of {sorted(QEMU_MACHINES)}")
    if shutil.which(QEMU) is None:
        raise FirmwareProcessError(f"{QEMU} not found: {APT_HINT}")
    elf = Path(elf) if elf else build(target)
    for attempt in range(attempts):
        port = _free_port()
        fp = FirmwareProcess(qemu_argv(elf, port, icount, target), url=f"socket://127.0.0.1:{port}", kind="qemu")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and fp.running:
            with socket.socket() as s:  # probe only once QEMU listens: no connect (it would start the guest)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    return fp
            time.sleep(0.01)
        err = fp.stderr_text()
        fp.stop()
        if "Address already in use" not in err:
            raise FirmwareProcessError(f"QEMU did not start: {err or 'no output'}")
    raise FirmwareProcessError(f"QEMU could not bind a free port in {attempts} attempts")


@atexit.register
def _stop_all() -> None:
    for fp in list(_live):
        fp.stop()
