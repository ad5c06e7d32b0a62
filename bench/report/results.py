"""``results.json``: the numbers of every stage in one dict, each section naming its source file.

The comparison with uniform noise is ``software_eval``: ``networks`` (every trained network of
the comparison, one seed each), ``front`` (``bench.front.Point`` dicts, one per method and
setting over the seeds) and ``verdict`` (``bench.front.verdict``: ``kind``, ``text``,
``supported``, ``meets_target``, ``why``, the saving and its interval)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bench.provenance import provenance

SOURCES = {"config": "config.yaml", "seeds": "seeds.json", "train": "train/summary.json",
           "baselines": "baselines/summary.json", "operating_points": "operating_points/operating_points.json",
           "software_eval": "software_eval/software_eval.json", "deploy": "deploy/deploy.json",
           "board": "board/board.json", "compare": "compare/compare.json"}


def _load(run_dir: Path, rel: str):
    return json.loads((run_dir / rel).read_text())


def build_results(run_dir: Path) -> dict:
    """Collect the numbers of every stage into one dict (``sources`` names each file)."""
    run_dir = Path(run_dir)
    src = SOURCES
    sw = _load(run_dir, src["software_eval"])
    for entry in sw.values():
        if isinstance(entry, dict):
            entry.pop("accuracies", None)  # the per-repetition list stays in its own file
    return {
        "sources": dict(src),
        "provenance": provenance(),
        "config": yaml.safe_load((run_dir / src["config"]).read_text()),
        "seeds": _load(run_dir, src["seeds"]),
        "train": {k: v for k, v in _load(run_dir, src["train"]).items() if k != "final_epoch"},
        "baselines": {k: v for k, v in _load(run_dir, src["baselines"]).items() if k != "networks"},
        "operating_points": _load(run_dir, src["operating_points"]),
        "software_eval": sw,
        "deploy": _load(run_dir, src["deploy"]),
        "board": _load(run_dir, src["board"]),
        "compare": _load(run_dir, src["compare"]),
    }
