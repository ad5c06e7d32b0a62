"""A small resumable stage runner.

A pipeline is an ordered list of :class:`Stage`. Each stage reads the config sections it
names and the output directories of the stages it depends on, and writes its own outputs
into ``RUN/NAME.partial/``; when it returns, the directory is swapped in as ``RUN/NAME/``
(:func:`drivers.atomic.commit_dir`) and a done-marker ``RUN/stages/NAME.json`` is
written with

* ``input_hash``: hash of the stage name, its config slice and the ``output_hash`` of each
  dependency, and
* ``output_hash``: hash of the committed directory.

A later run skips a stage whose marker's ``input_hash`` equals the one computed now, so
changing an option redoes exactly the stages that read it and those downstream of a stage
whose outputs changed. ``force`` redoes the named stages and everything that depends on
them. An exception or Ctrl-C inside a stage leaves its ``.partial`` directory behind (it
is discarded next time, unless the stage sets ``resume_partial`` and its inputs are
unchanged: then the stage continues from it, e.g. training from its last checkpoint) and
every finished stage intact. ``Resources`` (board, supply, virtual lab) are closed as soon as
no later stage ``uses`` them (the supply is off while software stages run), and in
``finally`` whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from bench.errors import BenchError
from drivers import atomic, stop_signals
from bench.pipeline.hashing import hash_dir, hash_json

MARKER_DIR = "stages"


@dataclass(frozen=True)
class Stage:
    """One step: ``run(ctx)`` writes into ``ctx.out`` and returns a small JSON summary."""

    name: str
    title: str
    run: Callable[["StageContext"], Mapping[str, Any] | None]
    depends: tuple[str, ...] = ()
    config_keys: tuple[str, ...] = ()
    resume_partial: bool = False  # keep an interrupted attempt's outputs for the next one
    uses: tuple[str, ...] = ()    # resources it opens (``Resources`` names); closed after their last user


class Resources:
    """Long-lived things stages share (a board session, a supply): opened on first use,
    closed by :meth:`release` or, in reverse order, when the run ends, however it ends."""

    def __init__(self):
        self._stack = contextlib.ExitStack()
        self._items: dict[str, tuple[Any, contextlib.ExitStack]] = {}

    def get(self, name: str, opener: Callable[[contextlib.ExitStack], Any]) -> Any:
        """The resource ``name``; ``opener(stack)`` creates it and registers its cleanup."""
        if name not in self._items:
            stack = contextlib.ExitStack()
            self._stack.callback(stack.close)
            try:
                self._items[name] = opener(stack), stack
            except BaseException:
                stack.close()
                raise
        return self._items[name][0]

    def release(self, name: str) -> None:
        """Close ``name`` now (if open)."""
        item = self._items.pop(name, None)
        if item is not None:
            item[1].close()

    @property
    def names(self) -> list[str]:
        return list(self._items)

    def close(self) -> None:
        self._items.clear()
        self._stack.close()


@dataclass
class StageContext:
    stage: Stage
    run_dir: Path
    config: Mapping[str, Any]
    out: Path
    resources: Resources
    progress: Any = None  # a rich Progress (or None): stages add their own tasks
    profile: Any = None   # the run's loaded profile (models.profile.Profile), read once per command

    def input(self, dep: str) -> Path:
        """Committed output directory of dependency ``dep``."""
        if dep not in self.stage.depends:
            raise KeyError(f"stage {self.stage.name!r} does not declare a dependency on {dep!r}")
        return self.run_dir / dep


@dataclass
class StageRecord:
    name: str
    status: str  # "skipped" (reused), "done" (ran now), "failed", "pending"
    seconds: float = 0.0
    summary: Mapping[str, Any] = field(default_factory=dict)


Hook = Callable[[str], None]


class Pipeline:
    def __init__(self, stages: Sequence[Stage]):
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stage names in {names}")
        for i, s in enumerate(stages):
            unknown = [d for d in s.depends if d not in names[:i]]
            if unknown:
                raise ValueError(f"stage {s.name!r} depends on {unknown}, which do not come before it")
        self.stages = list(stages)
        self.by_name = {s.name: s for s in stages}

    # --- planning -------------------------------------------------------------------

    def dependents(self, names: Iterable[str]) -> set[str]:
        """``names`` plus every stage that depends on them, transitively."""
        out = set(names)
        for s in self.stages:
            if any(d in out for d in s.depends):
                out.add(s.name)
        return out

    def check_force(self, force: Iterable[str]) -> set[str]:
        force = set(force)
        unknown = sorted(force - set(self.by_name))
        if unknown:
            raise BenchError(f"--force {', '.join(unknown)}: unknown stage; stages are {', '.join(self.by_name)}")
        return self.dependents(force)

    @staticmethod
    def marker_path(run_dir: Path, name: str) -> Path:
        return Path(run_dir) / MARKER_DIR / f"{name}.json"

    def read_marker(self, run_dir: Path, name: str) -> dict | None:
        path = self.marker_path(run_dir, name)
        if not path.is_file() or not (Path(run_dir) / name).is_dir():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # a damaged marker only means the stage runs again

    def input_hash(self, stage: Stage, run_dir: Path, config: Mapping[str, Any]) -> str | None:
        """Hash of what the stage reads; ``None`` while a dependency is unfinished."""
        dep_hashes = {}
        for d in stage.depends:
            m = self.read_marker(run_dir, d)
            if m is None:
                return None
            dep_hashes[d] = m["output_hash"]
        cfg = {k: config.get(k) for k in stage.config_keys}
        return hash_json({"stage": stage.name, "config": cfg, "deps": dep_hashes})

    def is_fresh(self, stage: Stage, run_dir: Path, config: Mapping[str, Any]) -> bool:
        m = self.read_marker(run_dir, stage.name)
        h = self.input_hash(stage, run_dir, config)
        return m is not None and h is not None and m.get("input_hash") == h

    def plan(self, run_dir: Path, config: Mapping[str, Any], force: Iterable[str] = ()) -> dict[str, str]:
        """Stage name -> "reuse" or "run", as far as can be told before running anything."""
        forced = self.check_force(force)
        plan: dict[str, str] = {}
        for s in self.stages:
            stale_dep = any(plan[d] == "run" for d in s.depends)
            fresh = s.name not in forced and not stale_dep and self.is_fresh(s, run_dir, config)
            plan[s.name] = "reuse" if fresh else "run"
        return plan

    # --- running --------------------------------------------------------------------

    def run(self, run_dir: Path, config: Mapping[str, Any], *, force: Iterable[str] = (),
            resources: Resources | None = None, progress: Any = None, profile: Any = None,
            on_start: Hook | None = None, on_done: Hook | None = None) -> list[StageRecord]:
        """Run (or reuse) every stage in order; ``on_done(name)`` fires after each commit
        (or reuse), ``on_start(name)`` before a stage runs; ``profile`` reaches every stage."""
        run_dir = Path(run_dir)
        (run_dir / MARKER_DIR).mkdir(parents=True, exist_ok=True)
        atomic.remove_strays(run_dir)  # half-written files of a killed attempt are no output
        forced = self.check_force(force)
        records: list[StageRecord] = []
        own_resources = resources is None
        resources = resources or Resources()
        try:
            for i, s in enumerate(self.stages):
                stop_signals.check()
                if s.name not in forced and self.is_fresh(s, run_dir, config):
                    m = self.read_marker(run_dir, s.name)
                    records.append(StageRecord(s.name, "skipped", m.get("seconds", 0.0), m.get("summary", {})))
                else:
                    if on_start:
                        on_start(s.name)
                    records.append(self._run_stage(s, run_dir, config, resources, progress, profile))
                for name in resources.names:
                    if not any(name in later.uses for later in self.stages[i + 1:]):
                        resources.release(name)
                if on_done:
                    on_done(s.name)
        finally:
            if own_resources:
                resources.close()
        return records

    def _run_stage(self, s: Stage, run_dir: Path, config, resources, progress, profile) -> StageRecord:
        input_hash = self.input_hash(s, run_dir, config)
        if input_hash is None:
            raise RuntimeError(f"stage {s.name!r} started before its dependencies finished")
        partial = run_dir / f"{s.name}.partial"
        attempt = self.marker_path(run_dir, s.name).with_suffix(".partial.json")
        same_inputs = attempt.is_file() and json.loads(attempt.read_text()).get("input_hash") == input_hash
        if partial.exists() and not (s.resume_partial and same_inputs):
            shutil.rmtree(partial)  # left over from an interrupted attempt
        partial.mkdir(parents=True, exist_ok=True)
        atomic.write_json(attempt, {"stage": s.name, "input_hash": input_hash})
        t0 = time.perf_counter()
        ctx = StageContext(s, run_dir, config, partial, resources, progress, profile)
        summary = dict(s.run(ctx) or {})
        seconds = time.perf_counter() - t0
        output_hash = hash_dir(partial)
        self.marker_path(run_dir, s.name).unlink(missing_ok=True)
        atomic.commit_dir(partial, run_dir / s.name)
        attempt.unlink(missing_ok=True)
        atomic.write_json(self.marker_path(run_dir, s.name), {
            "stage": s.name, "input_hash": input_hash, "output_hash": output_hash,
            "seconds": round(seconds, 3), "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "summary": summary,
        })
        return StageRecord(s.name, "done", seconds, summary)
