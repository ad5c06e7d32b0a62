"""Run `bench` in a child process and interrupt it mid-way, as a user's Ctrl-C or a kill would.

Children start through ``drivers.firmware_process.spawn`` (their own session; they die with the
test process) and are stopped and reaped on every path, a failing assertion included."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from drivers.firmware_process import spawn, stop_process

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def interrupt_bench(args: list[str], ready: Callable[[], bool], sig: int = signal.SIGINT,
                    group: bool = False, timeout: float = 300) -> tuple[int, str, str]:
    """Start ``python -m bench.cli ARGS``, wait until ``ready()`` (or the child exits, or
    ``timeout``), send ``sig`` (to the child's whole process group when ``group``, like a
    terminal's Ctrl-C to its foreground job) and return ``(returncode, stdout, stderr)``.
    The child never outlives the call."""
    proc = spawn([sys.executable, "-m", "bench.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True, cwd=REPO, env=ENV)
    try:
        deadline = time.monotonic() + timeout
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if group:
            os.killpg(proc.pid, sig)   # spawn made it the leader of its own process group
        else:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop_process(proc)
    return proc.returncode, out, err


@contextlib.contextmanager
def bench_process(args: list[str], folder: Path) -> Iterator[subprocess.Popen]:
    """``python -m bench.cli ARGS`` running while the block runs, its output in
    ``folder/stdout.txt`` and ``folder/stderr.txt`` (files: a pipe nobody reads could fill and
    block it); stopped (SIGTERM, then SIGKILL) and reaped when the block ends, however."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "stdout.txt", "wb") as out, open(folder / "stderr.txt", "wb") as err:
        proc = spawn([sys.executable, "-m", "bench.cli", *args], stdout=out, stderr=err, cwd=REPO, env=ENV)
    try:
        yield proc
    finally:
        stop_process(proc)
