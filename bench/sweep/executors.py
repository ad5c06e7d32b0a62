"""Run a sweep's trials: locally (sequential or a process pool) or as Ray tasks.

Every trial calls the Python API of its ``bench`` command in-process (:func:`run_trial`:
``bench.training.train_run`` or ``bench.pipeline.run.run_pipeline``, with the trial's
parameters as their options) and so writes an ordinary run directory. Its outcome goes to
``trial.json`` beside the run: ``status`` ``done`` or ``failed`` (with the error), the
parameters, the equivalent command line, duration. A re-run of the sweep skips ``done``
trials and retries ``failed`` ones.

Ray (optional extra ``faultbench[ray]``): each trial is a Ray task with its resource
request. The task runs in a scratch directory on whichever node Ray picks and returns the
run directory as a tar archive, which the driver unpacks into the sweep directory, so a
multi-node cluster needs no shared file system.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import shutil
import signal
import tarfile
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

import torch

from bench.errors import BenchError
from bench.pipeline.run import run_pipeline
from bench.sweep.spec import Trial
from bench.training import train_run
from drivers import atomic, stop_signals
from drivers.allocator import tune_malloc

TRIAL_FILE = "trial.json"
LOG_FILE = "bench.log"  # the trial command's own console output
EXECUTORS = ("local", "ray")


def trial_dir(sweep_dir: Path, trial: Trial) -> Path:
    return sweep_dir / "trials" / trial.name


def trial_status(sweep_dir: Path, trial: Trial) -> str | None:
    path = trial_dir(sweep_dir, trial) / TRIAL_FILE
    try:
        return json.loads(path.read_text()).get("status")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


#: A trial's command -> the API function that runs it (``out`` and the trial's parameters).
TRIAL_RUNNERS: dict[str, Callable[..., object]] = {"train": train_run, "run": run_pipeline}


def run_trial(trial: Trial, out_dir: str, threads: int = 1) -> dict:
    """Run one trial into ``out_dir``; never raises (errors are recorded)."""
    torch.set_num_threads(max(1, threads))  # the trial's own process: bound its threads to its CPU request
    tune_malloc()  # a spawned or Ray worker starts with glibc's defaults
    started = time.time()
    log = io.StringIO()
    try:
        with contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
            TRIAL_RUNNERS[trial.command](out=Path(out_dir), **trial.params)
        error = None
    except BenchError as exc:
        error = f"bench {trial.command}: error: {exc}"
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP stop the sweep (a re-run retries this trial)
        raise
    except BaseException as exc:  # a trial's crash must not take the sweep down
        error = "".join(traceback.format_exception(exc))[-4000:]
    atomic.write_text(Path(out_dir) / LOG_FILE, log.getvalue())
    return write_record(Path(out_dir), trial, error, round(time.time() - started, 3), os.uname().nodename)


def write_record(out_dir: Path, trial: Trial, error: str | None, seconds: float | None,
                 host: str | None = None) -> dict:
    """The trial's outcome in ``trial.json``: ``done`` when ``error`` is None, else ``failed``;
    ``host``: the node it ran on (``None`` when that is unknown, e.g. a lost Ray worker)."""
    record = {"name": trial.name, "command": trial.command, "params": trial.params,
              "command_line": " ".join(["bench", *trial.argv(out_dir)]),
              "status": "done" if error is None else "failed", "error": error,
              "seconds": seconds, "host": host}
    atomic.write_text(out_dir / TRIAL_FILE, json.dumps(record, indent=2, default=str))
    return record


def _prepare(sweep_dir: Path, trial: Trial) -> str:
    """A retried trial starts from a clean directory (a failed run may be half-written)."""
    path = trial_dir(sweep_dir, trial)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def run_local(trials: list[Trial], sweep_dir: Path, jobs: int, cpus_per_trial: int,
              on_done: Callable[[dict], None]) -> list[dict]:
    """Sequential (``jobs=1``) or a process pool of at most the machine's cores."""
    jobs = max(1, min(jobs, os.cpu_count() or 1, len(trials) or 1))
    if jobs == 1:
        results = []
        for t in trials:
            stop_signals.check()
            results.append(run_trial(t, _prepare(sweep_dir, t), cpus_per_trial))
            on_done(results[-1])
        return results
    results = []
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=stop_signals.install) as pool:
        futures = [pool.submit(run_trial, t, _prepare(sweep_dir, t), cpus_per_trial) for t in trials]
        try:
            for fut in as_completed(futures):
                results.append(fut.result())
                on_done(results[-1])
        except KeyboardInterrupt:  # no new trial starts; the running ones take the Ctrl-C path too
            workers = list((pool._processes or {}).values())  # the executor offers no other way to reach them
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGINT)
            raise
    return results


def _ray_trial(trial: Trial, threads: int) -> tuple[dict, bytes]:
    """Ray task body: run in a scratch dir, return the record and the run dir as tar bytes."""
    with tempfile.TemporaryDirectory(prefix="faultbench-trial-") as tmp:
        out = Path(tmp) / trial.name
        record = run_trial(trial, str(out), threads)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(out, arcname=".")
        return record, buf.getvalue()


def _unpack(archive: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")


def run_ray(trials: list[Trial], sweep_dir: Path, address: str | None, cpus_per_trial: int,
            gpus_per_trial: float, on_done: Callable[[dict], None], num_cpus: int | None = None) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise BenchError("executor 'ray' needs Ray: pip install 'faultbench[ray]' (or use --executor local)") from None
    started_here = not ray.is_initialized()
    if started_here:
        init = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count()}
        try:
            ray.init(**init, include_dashboard=False, log_to_driver=False)
        except ConnectionError as exc:
            raise BenchError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
    remote = ray.remote(_ray_trial).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=0)
    pending = {remote.remote(t, cpus_per_trial): t for t in trials}
    results = []
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(ready[0])
            dest = Path(_prepare(sweep_dir, trial))
            try:
                record, archive = ray.get(ready[0])
                _unpack(archive, dest)
            except Exception as exc:  # the task itself died (worker lost, OOM): record it
                record = write_record(dest, trial, f"Ray task failed: {exc}", None)
            results.append(record)
            on_done(record)
    finally:
        if started_here:
            ray.shutdown()
    return results


def pending_trials(trials: Iterable[Trial], sweep_dir: Path) -> list[Trial]:
    return [t for t in trials if trial_status(sweep_dir, t) != "done"]


def write_manifest(sweep_dir: Path, trials: list[Trial], settings: dict) -> None:
    manifest = {"settings": settings, "trials": [asdict(t) for t in trials]}
    atomic.write_text(sweep_dir / "sweep.json", json.dumps(manifest, indent=2, default=str))
