"""Run directories of both kinds, from Python and from ``bench runs``.

A *training run* is what ``bench train`` writes (docs/RUN_DIRECTORY.md): one network. A *bench
run folder* is what ``bench run`` writes: its ``config.yaml`` holds the resolved pipeline
configuration (a ``profile_path`` and a ``train`` section), and it holds several trained
networks, each a training run: ``train/main`` (the profile's method) and the comparison's
networks under ``baselines/`` (``reliable/seed-0``, ``uniform/POINT/seed-0``, ...).

* :func:`training_run` resolves either kind to the training run a command works on: a bench
  run folder gives its ``main`` network unless ``network`` names another, and the result says
  which (``Network.describe``).
* :func:`list_runs` / :func:`compare_runs` gather the key results of many run directories into
  one table (:data:`COLUMNS`), exported as CSV and, when pandas is installed, Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from bench.errors import BenchError
from drivers.atomic import write_bytes, write_text
from models.run_dir import CONFIG, RunDir

#: folders of a bench run that hold its trained networks, one training run per subfolder
NETWORK_STAGES = ("train", "baselines")
#: the network a command uses in a bench run folder unless told otherwise
MAIN = "main"


def _config(path: Path) -> dict | None:
    try:
        data = yaml.safe_load((path / CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def is_bench_run(path: str | Path) -> bool:
    """True for a ``bench run`` folder (its config.yaml is a pipeline configuration)."""
    cfg = _config(Path(path))
    return cfg is not None and "profile_path" in cfg and isinstance(cfg.get("train"), dict)


def networks(bench_run: str | Path) -> dict[str, Path]:
    """``{name: training run}`` of the networks trained so far in a bench run folder; a name is
    the run's path under its stage folder (``main``, ``reliable/seed-0``, ``uniform/low/seed-0``)."""
    found = {}
    for stage in NETWORK_STAGES:
        folder = Path(bench_run) / stage
        if folder.is_dir():
            found.update({c.parent.relative_to(folder).as_posix(): c.parent for c in sorted(folder.rglob(CONFIG))})
    return found


@dataclass(frozen=True)
class Network:
    """The training run a command uses, and where it came from."""

    path: Path                     # the training run directory
    name: str | None = None        # its name inside a bench run folder (None: given directly)
    bench_run: Path | None = None  # the bench run folder it belongs to
    others: tuple[str, ...] = ()   # the folder's other networks

    def short(self) -> str:
        """``runs/x (network main)`` for titles; a training run's path alone."""
        return str(self.path) if self.bench_run is None else f"{self.bench_run} (network {self.name})"

    def describe(self) -> str:
        if self.bench_run is None:
            return f"training run {self.path}"
        rest = f"; others: {', '.join(self.others)} (--network NAME)" if self.others else ""
        return f"network {self.name} of bench run {self.bench_run} ({self.path}){rest}"


def training_run(run: str | Path, network: str | None = None) -> Network:
    """The training run to use for ``run``: itself, or a network of a bench run folder
    (``network``, default ``main``). Anything else is passed on unchanged, for the caller's
    own "no run here" error."""
    path = Path(run)
    if not is_bench_run(path):
        if network is not None:
            raise BenchError(f"--network {network}: {path} is not a bench run folder (a training run holds one "
                             f"network; drop --network)")
        return Network(path)
    nets = networks(path)
    name = network or MAIN
    if name not in nets:
        have = f"has: {', '.join(nets)}" if nets else "no network trained yet; finish the run first"
        raise BenchError(f"{path}: bench run folder without a network {name!r} ({have})")
    return Network(nets[name], name, path, tuple(n for n in nets if n != name))


#: the columns of the runs table, in order (CSV header; Parquet columns). Accuracies are
#: fractions on the test set: ``accuracy_under_faults`` is a training run's last-epoch accuracy
#: at its eps (``test_acc_faulty``) or a bench run's Monte-Carlo mean under the profile's faults,
#: ``accuracy_ci95`` its 95% half-width; ``energy_vs_reliable`` is the training run's
#: ``energy.json`` ratio (bench train's default energy model) or the bench run's prediction at
#: its operating points (the profile's model); a bench run's ``uniform_accuracy`` and
#: ``reliable_accuracy`` are those of its best iso-accurate uniform point and its reliable
#: reference (``bench.front``, means over the training seeds).
COLUMNS = ("run", "kind", "profile", "method", "dataset", "arch", "width", "epochs", "seed", "quick", "status",
           "accuracy_fault_free", "accuracy_under_faults", "accuracy_ci95", "uniform_accuracy", "reliable_accuracy",
           "energy_vs_reliable", "board_accuracy", "energy_r2", "points_hold", "replay_exact", "finished")


@dataclass
class RunsTable:
    rows: list[dict]
    files: list[Path] = field(default_factory=list)   # exports written
    skipped: list[str] = field(default_factory=list)  # "path: why" of directories that could not be read

    def column(self, name: str) -> list:
        return [r.get(name) for r in self.rows]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _mtime(path: Path) -> str | None:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds") \
        if path.exists() else None


def training_summary(path: Path) -> dict:
    """One row of :data:`COLUMNS` for a training run."""
    run = RunDir(path)
    cfg = run.read_config()
    status = run.status()
    last = (run.read_metrics() or [{}])[-1]
    energy = _read_json(path / "energy.json") or {}
    profile = (cfg.get("faults") or {}).get("profile") or {}
    return {"run": str(path), "kind": "training", "profile": profile.get("name"), "method": cfg.get("method"),
            "dataset": cfg.get("dataset"), "arch": cfg.get("arch"), "width": cfg.get("width"),
            "epochs": cfg.get("epochs"), "seed": cfg.get("seed"), "quick": None,
            "status": "complete" if status["complete"] else f"{status['epochs_done']} of {cfg.get('epochs')} epochs",
            "accuracy_fault_free": last.get("test_acc"), "accuracy_under_faults": last.get("test_acc_faulty"),
            "accuracy_ci95": last.get("test_acc_faulty_ci"), "energy_vs_reliable": energy.get("ratio_to_reliable"),
            "finished": _mtime(path / "final_eps.json") if status["complete"] else None}


def bench_run_summary(path: Path) -> dict:
    """One row of :data:`COLUMNS` for a bench run folder (what its stages have written so far)."""
    cfg = _config(path) or {}
    train = cfg.get("train", {})
    main = _read_json(path / "train" / "summary.json") or {}
    sw = _read_json(path / "software_eval" / "software_eval.json") or {}
    ops = _read_json(path / "operating_points" / "operating_points.json") or {}
    cmp_ = _read_json(path / "compare" / "compare.json") or {}
    done = sorted(p.stem for p in (path / "stages").glob("*.json")) if (path / "stages").is_dir() else []
    report = path / "report" / "results.json"
    acc, energy, replay = cmp_.get("accuracy", {}), cmp_.get("energy", {}), cmp_.get("replay")
    flagged = cmp_.get("ber_flagged")
    return {"run": str(path), "kind": "bench run", "profile": (ops.get("profile") or {}).get("name")
            or Path(cfg.get("profile_path", "")).stem or None,
            "method": train.get("method"), "dataset": train.get("dataset"), "arch": train.get("arch"),
            "width": train.get("width"), "epochs": train.get("epochs"), "seed": (cfg.get("seeds") or {}).get("train"),
            "quick": cfg.get("quick"),
            "status": "complete" if report.is_file() else f"{len(done)} stage(s) done" if done else "not started",
            "accuracy_fault_free": (main.get("final_epoch") or {}).get("test_acc"),
            "accuracy_under_faults": (sw.get("main") or {}).get("mean"),
            "accuracy_ci95": (sw.get("main") or {}).get("half_width"),
            "uniform_accuracy": ((sw.get("verdict") or {}).get("baseline_point") or {}).get("accuracy"),
            "reliable_accuracy": ((sw.get("verdict") or {}).get("reference") or {}).get("accuracy"),
            "energy_vs_reliable": ops.get("ratio_to_reliable"),
            "board_accuracy": (acc.get("board") or {}).get("accuracy"), "energy_r2": energy.get("r2"),
            "points_hold": None if flagged is None else "yes" if not flagged else "no: " + ", ".join(flagged),
            "replay_exact": None if replay is None else f"{replay['same_scores']}/{replay['n_inputs']}",
            "finished": _mtime(report)}


def run_summary(path: str | Path) -> dict:
    """The key results of one run directory of either kind (every key of :data:`COLUMNS`)."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise BenchError(f"{path}: not a run directory (no {CONFIG}; bench train and bench run write one)")
    row = bench_run_summary(path) if is_bench_run(path) else training_summary(path)
    return {c: row.get(c) for c in COLUMNS}


def find_runs(folder: str | Path) -> list[Path]:
    """Run directories under ``folder`` (itself included), sorted; the networks inside a bench
    run folder count as part of it, not as runs of their own."""
    found = []
    for here, dirs, files in os.walk(folder):
        if CONFIG in files:
            found.append(Path(here))
            dirs.clear()   # checkpoints, a bench run's own networks
        else:
            dirs.sort()
    return sorted(found)


def _table(paths: list[Path], csv_path, parquet_path, strict: bool) -> RunsTable:
    """Rows of ``paths``; a directory that cannot be read stops a comparison (``strict``) or
    is listed in ``skipped``."""
    table = RunsTable([])
    for p in paths:
        try:
            table.rows.append(run_summary(p))
        except (OSError, ValueError, KeyError, BenchError) as exc:
            if strict:
                raise BenchError(f"{p}: {exc}") if not isinstance(exc, BenchError) else exc from None
            table.skipped.append(f"{p}: {exc}")
    if csv_path is not None:
        table.files.append(write_csv(table.rows, Path(csv_path)))
    if parquet_path is not None:
        table.files.append(write_parquet(table.rows, Path(parquet_path)))
    return table


def list_runs(folder: str | Path = "runs", csv: str | Path | None = None,
              parquet: str | Path | None = None) -> RunsTable:
    """Every run directory under ``folder`` (``bench runs list``), one row each; ``csv`` /
    ``parquet``: also write the table there."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"{folder}: no such folder (bench train --out and bench run write runs under runs/ by "
                         f"default; give the folder that holds yours)")
    return _table(find_runs(folder), csv, parquet, strict=False)


def compare_runs(runs: list[str | Path], csv: str | Path | None = None,
                 parquet: str | Path | None = None) -> RunsTable:
    """The given run directories side by side (``bench runs compare``); one that cannot be
    read is one :class:`BenchError` line naming it."""
    if not runs:
        raise BenchError("give one or more run directories")
    return _table([Path(r) for r in runs], csv, parquet, strict=True)


def write_csv(rows: list[dict], path: Path) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS)
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return write_text(path, buf.getvalue())


def write_parquet(rows: list[dict], path: Path) -> Path:
    """The table as Parquet through pandas (``pip install 'faultbench[parquet]'``)."""
    try:
        import pandas as pd   # optional: only this export needs it
    except ImportError:
        raise BenchError(f"--parquet {path}: needs pandas and pyarrow (pip install 'faultbench[parquet]'); "
                         f"--csv works without them") from None
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, index=False)
    except ImportError as exc:
        raise BenchError(f"--parquet {path}: {exc} (pip install 'faultbench[parquet]')") from None
    return write_bytes(path, buf.getvalue())
