"""``bench run`` from Python: resolve the settings, then run (or resume) every stage.

:func:`run_pipeline` loads the profile once, resolves the run configuration
(``bench.pipeline.config``), checks it against the hardware before any training, saves the
configuration and seeds, and runs the stages of ``bench.pipeline.stages``. A hardware error
(lost board, refused setpoint, dropped supply connection, a protection trip) becomes one
:class:`BenchError` line; on the way out the supply was switched off (the driver's closing line
says whether its output read back OFF) and the finished stages are kept. SIGTERM and SIGHUP
take the Ctrl-C path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from bench.datasets import download as download_data
from bench.errors import BenchError, user_errors
from bench.pipeline.config import resolve
from bench.pipeline.framework import StageRecord
from bench.pipeline.hardware import check_memory, hardware_spec, rail_vmax
from bench.pipeline.stages import PIPELINE, headline
from bench.training import load_data, weight_words
from drivers import atomic, stop_signals
from drivers.board import BoardError
from drivers.supplies import SupplyError
from drivers.virtual_lab.lab import LabError
from models.profile import Profile, ProfileError, load_profile
from models.training import TrainConfig

#: What a run on real or virtual hardware may lose mid-way (then: supply off, resumable).
HARDWARE_ERRORS = (BoardError, SupplyError, LabError, ConnectionError)


@dataclass
class PipelineResult:
    run_dir: Path
    config: dict
    records: list[StageRecord] = field(default_factory=list)
    headline: dict[str, str] = field(default_factory=dict)  # key results (report path, R^2, accuracies)


def default_run_dir(profile: Path, quick: bool) -> Path:
    return Path("runs") / (Path(profile).stem + ("-quick" if quick else ""))


def prepare(profile: str | Path | Profile, out: str | Path | None = None, *, quick: bool = False,
            data_dir: str | Path | None = None, download: bool = False, mirror: str | None = None,
            checksums: Any = None, on_download: Callable[[str, int, int | None], None] | None = None,
            **overrides: Any) -> tuple[Profile, Path, dict]:
    """``(profile, run_dir, config)`` of a run, checked before anything runs: the profile
    (validated once), the resolved settings, a network that fits the board's memory.
    ``overrides``: ``bench run``'s options by name (``dataset``, ``arch``, ``width``,
    ``method``, ``lambda``, ``lambdas``, ``epochs``, ``seed``, ``hardware``, ``train_seeds``,
    ``front_points``, ``tolerance``, ``test_subset``, ``energy_target``); ``None`` keeps the
    profile's value. ``download``: fetch the data set into ``data_dir`` first (``mirror``,
    ``checksums``, ``on_download``: :func:`bench.datasets.download`)."""
    if not isinstance(profile, Profile):
        if not os.path.lexists(profile):  # anything else there is the profile check's to judge
            raise BenchError(f"--profile {profile}: no such file")
        with user_errors(ProfileError):
            profile = load_profile(profile)
    config = resolve(profile, overrides, quick)
    config["data_dir"] = None if data_dir is None else str(data_dir)
    t = config["train"]
    if download:
        download_data(t["dataset"], data_dir, mirror=mirror, checksums=checksums, progress=on_download)
    train_config = TrainConfig(arch=t["arch"], dataset=t["dataset"], data_dir=config["data_dir"],
                               width=float(t["width"]), method=t["method"], limit_train=1)
    check_memory(weight_words(train_config, load_data(train_config)), config)
    rail_vmax(hardware_spec(config["hardware"]), profile)
    return profile, Path(out) if out is not None else default_run_dir(profile.path, quick), config


def run_pipeline(profile: str | Path | Profile, out: str | Path | None = None, *, quick: bool = False,
                 force: Iterable[str] = (), data_dir: str | Path | None = None, download: bool = False,
                 mirror: str | None = None, checksums: Any = None, progress: Any = None,
                 on_plan: Callable[[dict[str, str], Path], None] | None = None,
                 on_start: Callable[[str], None] | None = None, on_done: Callable[[str], None] | None = None,
                 **overrides: Any) -> PipelineResult:
    """Train, choose operating points, evaluate, deploy, measure on the board, compare and
    report into ``out`` (default ``runs/<profile stem>[-quick]``); re-running skips finished
    stages, ``force`` redoes the named stages and what depends on them. ``progress``: a
    ``rich`` Progress the stages add their tasks to; ``on_plan(plan, run_dir)`` sees which
    stages will run before any does. See :func:`prepare` for ``overrides``."""
    profile, run_dir, config = prepare(profile, out, quick=quick, data_dir=data_dir, download=download, mirror=mirror,
                                       checksums=checksums, **overrides)
    return execute(profile, run_dir, config, force=force, progress=progress, on_plan=on_plan,
                   on_start=on_start, on_done=on_done)


def execute(profile: Profile, run_dir: Path, config: dict, *, force: Iterable[str] = (), progress: Any = None,
            on_plan=None, on_start=None, on_done=None) -> PipelineResult:
    """Save the resolved config and seeds, then run every stage of a prepared run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_yaml(run_dir / "config.yaml", config)
    atomic.write_json(run_dir / "seeds.json", config["seeds"])
    if on_plan:
        on_plan(PIPELINE.plan(run_dir, config, force), run_dir)
    try:
        with stop_signals.interrupting():  # SIGTERM, SIGHUP: the Ctrl-C path (supply off, run resumable)
            records = PIPELINE.run(run_dir, config, force=force, progress=progress, profile=profile,
                                   on_start=on_start, on_done=on_done)
    except HARDWARE_ERRORS as exc:
        raise BenchError(f"{exc}; the finished stages are kept: run the same command again to resume") from exc
    return PipelineResult(run_dir, config, records, headline(run_dir))
