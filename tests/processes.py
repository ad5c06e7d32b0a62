"""Run `bench` in a child process and interrupt it mid-way, as a user's Ctrl-C or a kill would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]


def interrupt_bench(args: list[str], ready: Callable[[], bool], sig: int = signal.SIGINT,
                    group: bool = False, timeout: float = 60) -> tuple[int, str, str]:
    """Start ``python -m bench.cli ARGS``, wait until ``ready()`` (or the child exits, or
    ``timeout``), send ``sig`` (to the child's whole process group when ``group``, like a
    terminal's Ctrl-C to its foreground job) and return ``(returncode, stdout, stderr)``.
    The child never outlives the call."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, start_new_session=group,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + timeout
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err
