"""A training run on disk (layout in docs/RUN_DIRECTORY.md); ``models.training.load_run`` restores one.

Every file is written atomically (``drivers.atomic``), so an interrupted run never leaves a
half-written checkpoint, config or metrics file.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import yaml

from drivers.atomic import write_bytes, write_text
from models.energy import EnergyModel, LayerMemory, deployed_eps, energy_report
from models.plots import plot_run

CONFIG = "config.yaml"
SEEDS = "seeds.yaml"
LAYERS = "layers.json"
METRICS = "metrics.jsonl"
EPS_TRAJECTORY = "eps_trajectory.csv"
FINAL_EPS = "final_eps.json"
ENERGY_MD, ENERGY_JSON = "energy.md", "energy.json"
STATUS = "status.json"
CHECKPOINTS = "checkpoints"
PLOTS = "plots"


#: What older checkpoints keep (evaluate/replay at an epoch); the newest keeps everything.
SLIM_KEYS = ("epoch", "model", "method")


def _serialise(state: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(dict(state), buf)
    return buf.getvalue()


class RunDirError(ValueError):
    """A run directory is missing, incomplete or already in use (message names the path)."""


class RunDir:
    """Paths and atomic reads/writes of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # --- creation and config ------------------------------------------------------------
    def create(self, config: Mapping[str, Any], seeds: Mapping[str, int], layers: Sequence[LayerMemory],
               labels: Mapping[str, str] | None = None) -> None:
        """A new run: seeds, layers, empty metrics and status, and ``config.yaml`` last, so
        that a run directory with a config holds every other file too (a process killed
        while creating it leaves no config: the next attempt starts afresh)."""
        if (self.path / CONFIG).exists():
            raise RunDirError(f"{self.path} already holds a run ({CONFIG}); resume it or choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.path / SEEDS, yaml.safe_dump(
            {"seed": config.get("seed"), "streams": dict(seeds)}, sort_keys=False))
        self.write_layers(layers, labels)
        write_text(self.path / METRICS, "")
        self.write_status(0, complete=False)
        write_text(self.path / CONFIG, yaml.safe_dump(dict(config), sort_keys=False))

    def complete_files(self, seeds: Mapping[str, int], layers: Sequence[LayerMemory],
                       labels: Mapping[str, str] | None = None) -> None:
        """Write whichever of the files :meth:`create` writes are missing (a run created by a
        writer that was killed before its layers were written), from the run's config."""
        config = self.read_config()
        if not (self.path / SEEDS).is_file():
            write_text(self.path / SEEDS, yaml.safe_dump({"seed": config.get("seed"), "streams": dict(seeds)},
                                                         sort_keys=False))
        if not (self.path / LAYERS).is_file():
            self.write_layers(layers, labels)
        if not (self.path / METRICS).is_file():
            write_text(self.path / METRICS, "")

    def read_config(self) -> dict:
        path = self.path / CONFIG
        if not path.is_file():
            raise RunDirError(f"{path}: no run here (expected {CONFIG} written by bench train)")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise RunDirError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{path}: expected a mapping of config fields")
        return data

    def write_layers(self, layers: Sequence[LayerMemory], labels: Mapping[str, str] | None = None) -> None:
        """``layers.json``: name (the key), N_l, b_l and a human ``label`` per stored layer."""
        rows = [{"name": l.name, "n_params": l.n_params, "bits": l.bits, "label": (labels or {}).get(l.name, l.name)}
                for l in layers]
        write_text(self.path / LAYERS, json.dumps(rows, indent=1))

    def read_layers(self) -> list[dict]:
        return json.loads((self.path / LAYERS).read_text())

    def layer_memory(self) -> list[LayerMemory]:
        """The stored layers of ``layers.json`` as :class:`LayerMemory` (energy tables)."""
        return [LayerMemory(r["name"], int(r["n_params"]), int(r["bits"])) for r in self.read_layers()]

    def layer_labels(self) -> dict[str, str]:
        """``{name: label}`` from ``layers.json`` (runs written before labels: the name)."""
        path = self.path / LAYERS
        return {r["name"]: r.get("label", r["name"]) for r in self.read_layers()} if path.is_file() else {}

    def write_status(self, epochs_done: int, complete: bool) -> None:
        write_text(self.path / STATUS, json.dumps({"epochs_done": epochs_done, "complete": complete}))

    def status(self) -> dict:
        """``epochs_done`` and ``complete``; a checkpoint newer than ``status.json`` (an
        interruption between the two writes) counts."""
        path = self.path / STATUS
        status = json.loads(path.read_text()) if path.is_file() else {"epochs_done": 0, "complete": False}
        newest = self.checkpoints()[-1:]
        if newest:
            status["epochs_done"] = max(status["epochs_done"], int(newest[0].stem.split("_")[1]))
        return status

    # --- checkpoints ----------------------------------------------------------------------
    def checkpoint_path(self, epoch: int) -> Path:
        return self.path / CHECKPOINTS / f"epoch_{epoch:04d}.pt"

    def checkpoints(self) -> list[Path]:
        return sorted((self.path / CHECKPOINTS).glob("epoch_*.pt"))

    def save_checkpoint(self, epoch: int, state: Mapping[str, Any], keep: int | None = None) -> None:
        """Write epoch ``epoch``'s full state; the previous checkpoint is slimmed to
        :data:`SLIM_KEYS` (only the newest one is needed to resume), and with ``keep`` only
        the newest ``keep`` checkpoints stay (default: one per epoch)."""
        write_bytes(self.checkpoint_path(epoch), _serialise(state))
        previous = self.checkpoint_path(epoch - 1)
        if previous.is_file():
            old = self.load_checkpoint(epoch - 1)
            if set(old) != set(SLIM_KEYS):
                write_bytes(previous, _serialise({k: old[k] for k in SLIM_KEYS}))
        if keep is not None:
            for path in self.checkpoints()[:-keep]:
                path.unlink()
        self.write_status(epoch, complete=False)

    def load_checkpoint(self, epoch: int | None = None, map_location: str = "cpu") -> dict | None:
        """The checkpoint of ``epoch`` (default: the last one), or ``None`` if there is none."""
        paths = [self.checkpoint_path(epoch)] if epoch is not None else self.checkpoints()[-1:]
        if not paths:
            return None
        if not paths[0].is_file():
            raise RunDirError(f"{paths[0]}: no checkpoint for epoch {epoch}")
        try:
            return torch.load(paths[0], map_location=map_location, weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged file
            raise RunDirError(f"{paths[0]}: unreadable checkpoint ({exc})") from None

    # --- metrics --------------------------------------------------------------------------
    def append_metrics(self, record: Mapping[str, Any]) -> None:
        with open(self.path / METRICS, "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read_metrics(self) -> list[dict]:
        """The records of completed epochs; a last line without its newline is one that a
        killed process was still appending, and is dropped."""
        path = self.path / METRICS
        if not path.is_file():
            return []
        complete = path.read_text().split("\n")[:-1]
        return [json.loads(line) for line in complete if line.strip()]

    def truncate_metrics(self, epochs_done: int) -> None:
        """Keep the records of completed epochs only (before resuming)."""
        kept = [r for r in self.read_metrics() if r["epoch"] <= epochs_done]
        write_text(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in kept))

    # --- results --------------------------------------------------------------------------
    def final_eps(self) -> dict[str, float] | None:
        path = self.path / FINAL_EPS
        return json.loads(path.read_text())["eps"] if path.is_file() else None

    def finish(self, eps: Mapping[str, float] | None) -> None:
        """Final per-layer eps, eps trajectory, energy table; mark the run complete (the plots
        are drawn by ``bench train`` afterwards, outside the training loop: :meth:`plot`)."""
        metrics = self.read_metrics()
        write_text(self.path / FINAL_EPS, json.dumps({"eps": None if eps is None else dict(eps)}, indent=1))
        trajectory = [(r["epoch"], r["eps"]) for r in metrics if r.get("eps")]
        if trajectory:
            names = list(trajectory[0][1])
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["epoch"] + names)
            for epoch, e in trajectory:
                writer.writerow([epoch] + [e[n] for n in names])
            write_text(self.path / EPS_TRAJECTORY, out.getvalue())
        self.write_energy(eps)
        self.write_status(metrics[-1]["epoch"] if metrics else 0, complete=True)

    def plot(self) -> list[Path]:
        """``plots/``: training curves and, for methods with eps, eps per layer over epochs."""
        return plot_run(self.read_metrics(), self.path / PLOTS, self.layer_labels())

    def write_energy(self, eps: Mapping[str, float] | None) -> None:
        """Per-layer energy table with the default :class:`EnergyModel` (``bench energy`` can
        recompute with other parameters). Reliable runs and eps below ``eps_ref`` use ``eps_ref``."""
        model = EnergyModel()
        layers = self.layer_memory()
        report = energy_report(layers, deployed_eps(layers, eps, model), model)
        write_text(self.path / ENERGY_MD, report.to_markdown(self.layer_labels()))
        write_text(self.path / ENERGY_JSON, json.dumps(report.to_dict(), indent=1))
