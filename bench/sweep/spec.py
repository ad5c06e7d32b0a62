"""Sweep files: which trials a sweep runs.

A sweep file (YAML)::

    command: train            # each trial runs `bench train` (or `run` for `bench run`)
    base:                     # options shared by every trial (bench train option names)
      arch: mlp
      dataset: digits
      epochs: 5
    groups:                   # each group is a grid: list values are crossed
      - {method: reliable, width: [0.5, 1, 2]}
      - {method: uniform, eps: [0.001, 0.01]}
      - {method: lanmax, lambda: [0.1, 0.5]}
    seeds: [0]                # crossed with every group (default [0])

The same grid can come from the command line (``--set KEY=VALUE``, ``--grid KEY=V1,V2``).
Each trial is named from its parameters that differ from ``base`` (``method-lanmax_lambda-0.5_seed-0``),
so names are stable across re-runs and a re-run finds its finished trials.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.errors import BenchError
from models.profile.loading import yaml_syntax_problem

COMMANDS = ("train", "run")
_TOP_KEYS = {"command", "base", "groups", "seeds"}


@dataclass(frozen=True)
class Trial:
    name: str
    command: str
    params: dict = field(hash=False)

    def argv(self, out_dir: Path) -> list[str]:
        """The ``bench`` command line of this trial, writing its run directory to ``out_dir``."""
        args = [self.command]
        for key, value in self.params.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value is False or value is None:
                continue
            else:
                args += [flag, str(value)]
        return args + ["--out", str(out_dir)]


@dataclass(frozen=True)
class SweepSpec:
    command: str
    base: dict
    groups: list
    seeds: list

    def trials(self) -> list[Trial]:
        out, seen = [], set()
        for group in self.groups:
            keys = list(group)
            values = [v if isinstance(v, list) else [v] for v in group.values()]
            for combo in itertools.product(*values):
                for seed in self.seeds:
                    varied = dict(zip(keys, combo)) | {"seed": seed}
                    name = trial_name(varied)
                    if name in seen:
                        raise BenchError(f"sweep: two trials share the parameters {varied}")
                    seen.add(name)
                    out.append(Trial(name, self.command, self.base | varied))
        return out


def _fmt(value) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "", f"{value:g}" if isinstance(value, float) else str(value))


def trial_name(varied: dict) -> str:
    return "_".join(f"{k.replace('_', '-')}-{_fmt(v)}" for k, v in varied.items())


def _check(spec: dict, where: str) -> SweepSpec:
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise BenchError(f"{where}: unknown key(s) {sorted(unknown)}; expected {sorted(_TOP_KEYS)}")
    command = spec.get("command", "train")
    if command not in COMMANDS:
        raise BenchError(f"{where}: field 'command' is {command!r}; expected one of {COMMANDS}")
    base = spec.get("base") or {}
    groups = spec.get("groups") or [{}]
    seeds = spec.get("seeds", [0])
    if not isinstance(base, dict):
        raise BenchError(f"{where}: field 'base' must be a mapping of option: value")
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise BenchError(f"{where}: field 'groups' must be a list of mappings (one grid each)")
    if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds):
        raise BenchError(f"{where}: field 'seeds' must be a list of integers")
    for key in ("out", "resume"):
        if key in base or any(key in g for g in groups):
            raise BenchError(f"{where}: option '{key}' is set by the sweep itself; remove it")
    return SweepSpec(command, base, groups, seeds)


def load_sweep_file(path: Path) -> SweepSpec:
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BenchError(f"sweep file {path} does not exist") from None
    except yaml.YAMLError as exc:
        where = yaml_syntax_problem(path, exc)
        raise BenchError(f"sweep file {where.file}:{where.line}:{where.column} is not valid YAML: "
                         f"{where.message.removeprefix('YAML syntax error: ')}") from None
    if not isinstance(spec, dict):
        raise BenchError(f"sweep file {path}: expected a mapping with 'base' and 'groups'")
    return _check(spec, f"sweep file {path}")


def _parse_value(text: str):
    value = yaml.safe_load(text)
    return value if isinstance(value, (int, float, bool)) or value is None else text


def from_cli(sets: list[str], grids: list[str], seeds: list[int], command: str) -> SweepSpec:
    """``--set k=v`` (base) and ``--grid k=v1,v2`` (one crossed group)."""
    def split(item: str, flag: str) -> tuple[str, str]:
        if "=" not in item:
            raise BenchError(f"sweep: {flag} {item!r} must look like KEY=VALUE")
        key, value = item.split("=", 1)
        return key.strip().replace("-", "_"), value

    base = {k: _parse_value(v) for k, v in (split(s, "--set") for s in sets)}
    group = {k: [_parse_value(x) for x in v.split(",")] for k, v in (split(g, "--grid") for g in grids)}
    return _check({"command": command, "base": base, "groups": [group], "seeds": seeds or [0]}, "sweep command line")
