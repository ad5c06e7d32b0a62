"""Accuracy of a trained run under recorded fault maps, bit-exactly in pure software (``bench replay``).

Recorded fault maps (``drivers/faultmap.py``) are applied to the run's weights through the
shared memory layout, deterministically: each map alone (its reads), then per operating
point all maps merged by repeat (e.g. zeros + ones patterns), cycling through the recorded
reads. Accuracy is the mean over reads with its 95 percent confidence interval. A folder is
searched recursively for files that claim to be fault maps; other ``.npz`` files are skipped
and counted. A folder holding several sweeps (each ``bench characterize`` output folder, or
each folder of maps, is one) replays the one sweep whose maps cover the model's weight words,
and says so; when none or several do, the error lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from bench.errors import BenchError, user_errors
from bench.runs import training_run
from drivers import atomic
from drivers.faultmap import FaultMapError, read_faultmap, scan_faultmaps
from models.evaluation import accuracy, ci_half_width
from models.profile import ProfileError, load_profile
from models.replay import (ReplayFaults, operating_point_name, record_hint, recorded_reads, replay_accuracies,
                           weight_words)
from models.run_dir import RunDirError
from models.training import load_run

MODES = ("stuck", "xor")


@dataclass
class ReplayResult:
    run: Path
    mode: str
    n_test: int
    fault_free: float
    files: list[Path]
    skipped: list[Path] = field(default_factory=list)      # .npz files that are not fault maps
    results: list[dict] = field(default_factory=list)      # one per map (and per point, all maps merged)
    network: str = ""                                      # which network was replayed, in words
    notes: list[str] = field(default_factory=list)         # e.g. which of several sweeps was used

    def to_dict(self) -> dict:
        return {"run": str(self.run), "network": self.network, "mode": self.mode, "fault_free": self.fault_free, "results": self.results}


def summary(op: str, label: str, files: list[Path], accs: list[float]) -> dict:
    """One row: operating point, maps, reads, mean accuracy, its 95% CI half-width (None for one read)."""
    hw = ci_half_width(torch.tensor(accs, dtype=torch.float64)) if len(accs) > 1 else None
    return {"operating_point": op, "maps": label, "files": [str(f) for f in files], "reads": len(accs),
            "accuracy": sum(accs) / len(accs), "ci95": None if hw is None or math.isinf(hw) else hw, "per_read": accs}


def sweep_of(path: Path) -> Path:
    """The sweep a fault-map file belongs to: the folder holding its ``faultmaps/`` folder
    (``bench characterize``'s layout), else its own folder."""
    return path.parent.parent if path.parent.name == "faultmaps" else path.parent


def _covers(maps: list, first: int, end: int) -> tuple[bool, str]:
    """Whether every operating point's maps of one sweep cover words ``[first, end)``; the
    words they cover, in words."""
    spans = {}
    for m in maps:
        lo, hi = spans.get(operating_point_name(m), (m.base_word, m.base_word + m.n_words))
        spans[operating_point_name(m)] = (min(lo, m.base_word), max(hi, m.base_word + m.n_words))
    ok = all(lo <= first and hi >= end for lo, hi in spans.values())
    lo, hi = min(s[0] for s in spans.values()), min(s[1] for s in spans.values())
    return ok, f"words {lo}..{hi - 1}"


def choose_sweep(maps: dict, first: int, end: int, where: str) -> tuple[dict, str | None]:
    """The maps of the one sweep that covers the model's words ``[first, end)`` and a note
    saying so; all of ``maps`` when they form one sweep. None or several covering: one
    :class:`BenchError` line listing the sweeps."""
    sweeps: dict[Path, dict] = {}
    for f, m in maps.items():
        sweeps.setdefault(sweep_of(f), {})[f] = m
    if len(sweeps) == 1:
        return maps, None
    cover = {s: _covers(list(ms.values()), first, end) for s, ms in sweeps.items()}
    good = [s for s, (ok, _) in cover.items() if ok]
    need = f"the model's weights occupy words {first}..{end - 1} ({end - first} words)"
    listing = "; ".join(f"{s} ({len(sweeps[s])} maps, {cover[s][1]})" for s in sweeps)
    if not good:
        raise BenchError(f"{where}: none of its {len(sweeps)} sweeps covers the model: {need}; sweeps: {listing}; "
                         + record_hint(first, end))
    if len(good) > 1:
        raise BenchError(f"{where}: {len(good)} sweeps cover the model ({need}): "
                         f"{', '.join(str(s) for s in good)}; give one of them as --faultmaps")
    (chosen,) = good
    others = ", ".join(f"{s} ({cover[s][1]})" for s in sweeps if s != chosen)
    return sweeps[chosen], (f"{where} holds {len(sweeps)} sweeps; replaying {chosen} ({cover[chosen][1]}), the one "
                            f"that covers the model's words {first}..{end - 1}; not {others}")


def replay_run(run: str | Path, *, network: str | None = None, faultmaps: str | Path | None = None, profile: str | Path | None = None,
               operating_point: str | None = None, mode: str = "stuck", epoch: int | None = None,
               json_out: str | Path | None = None,
               on_job: Callable[[int, int, str], None] | None = None) -> ReplayResult:
    """Replay ``faultmaps`` (a file or a folder) or the maps a ``profile`` links (all, or
    ``operating_point``'s) on ``run``; ``on_job(done, total, description)`` before each replay."""
    if (faultmaps is None) == (profile is None):
        raise BenchError("give --faultmaps DIR or --profile FILE")
    if mode not in MODES:
        raise BenchError(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
    # the run first: a wrong run directory is named before any folder is scanned
    used = training_run(run, network)
    run = used.path
    with user_errors(RunDirError, FileNotFoundError, ValueError, KeyError):
        net, config, extra = load_run(run, epoch=epoch)
    if profile is not None:
        with user_errors(ProfileError):
            loaded = load_profile(profile)
            if operating_point is not None:
                loaded.operating_point(operating_point)  # names the profile's points if unknown
        sources, where = loaded.fault_map_paths(operating_point), f"--profile {profile}"
        operating_point = None  # the profile point's links are its maps, whatever their own names
    else:
        sources, where = [Path(faultmaps)], f"--faultmaps {faultmaps}"
    files, skipped = [], []
    for src in sources:
        found, other = scan_faultmaps(src) if src.is_dir() else ([src], [])
        files += found
        skipped += other
    if not files or not all(f.exists() for f in files):
        raise BenchError(f"{where}: no fault maps (*.npz) there" +
                         (f" ({len(skipped)} other .npz file(s) skipped: not faultbench fault maps)" if skipped else ""))
    with user_errors(FaultMapError):
        maps = {f: read_faultmap(f) for f in files}
    maps, note = choose_sweep(maps, *weight_words(net), where)
    files = list(maps)
    groups: dict[str, list[Path]] = {}
    for f, m in maps.items():
        groups.setdefault(operating_point_name(m), []).append(f)
    if operating_point is not None:
        if operating_point not in groups:
            raise BenchError(f"--operating-point {operating_point!r}: no map there (have: {', '.join(groups)})")
        groups = {operating_point: groups[operating_point]}
    data = extra["data"]
    result = ReplayResult(Path(run), mode, len(data.test_y), accuracy(net, data.test_x, data.test_y), files, skipped,
                          network=used.describe(), notes=[note] if note else [])
    jobs = [job for op, fs in groups.items()
            for job in ([(op, [f], f.name) for f in fs] + [(op, fs, "all maps")] if len(fs) > 1 else [(op, fs, fs[0].name)])]
    for i, (op, fs, label) in enumerate(jobs):
        if on_job:
            on_job(i, len(jobs), f"{op}: {label}")
        model = ReplayFaults(recorded_reads([maps[f] for f in fs]), mode, [str(f) for f in fs])
        with user_errors(ValueError, prefix=f"{where}: "):
            accs = replay_accuracies(net, data.test_x, data.test_y, model)
        result.results.append(summary(op, label, fs, accs))
    if json_out is not None:
        atomic.write_json(json_out, result.to_dict())
    return result
