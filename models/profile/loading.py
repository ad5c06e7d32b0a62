"""Reading and writing profile files: YAML with line positions, validation, the loaded :class:`Profile`.

Every problem is reported as ``FILE:LINE: field.path: message`` (YAML syntax errors as
``FILE:LINE:COLUMN: ...``); lines come from the node marks of the YAML composer.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

from drivers import atomic
from models.profile.checks import Report, normalise_quantities, schema_problems, semantic_problems
from models.profile.profile import ROOT, Problem, Profile, ProfileError

PROFILES_DIR = ROOT / "profiles"


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that keeps dates as strings and reads ``1e-12`` as a float (YAML 1.2)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                              list("-+0123456789."))


def _positions(node: yaml.Node, path: tuple, pos: dict, dups: list) -> None:
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for k, v in node.value:
            key = k.value
            if key in seen:
                dups.append((path + (key,), k.start_mark.line + 1))
            seen.add(key)
            pos[path + (key,)] = k.start_mark.line + 1
            _positions(v, path + (key,), pos, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            pos[path + (i,)] = item.start_mark.line + 1
            _positions(item, path + (i,), pos, dups)


def yaml_syntax_problem(path: Path, exc: yaml.YAMLError) -> Problem:
    """``FILE:LINE:COLUMN: YAML syntax error: <problem>``: pyyaml's own message spans several
    lines and names ``<unicode string>``; keep its problem (and context) and its position."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = "; ".join(x for x in (getattr(exc, "problem", None), getattr(exc, "context", None)) if x) or \
        str(exc).splitlines()[0]
    return Problem(str(path), mark.line + 1 if mark else 1, (), f"YAML syntax error: {what}",
                   column=mark.column + 1 if mark else 1)


def syntax_error(problems: list[Problem]) -> Problem | None:
    """The YAML syntax error among ``problems`` (then the only problem), else None."""
    return problems[0] if len(problems) == 1 and problems[0].column is not None else None


def check_profile(path: str | Path) -> tuple[Profile | None, list[Problem]]:
    """Validate a profile file; returns the profile (None if unusable) and every problem."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        return None, [Problem(str(path), 1, (), f"cannot read: {exc.strerror or exc}")]
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = blob[:exc.start].count(b"\n") + 1
        return None, [Problem(str(path), line, (), f"not UTF-8 text (byte {exc.start}: {blob[exc.start]:#04x}); "
                                                   f"save the profile as UTF-8")]
    try:
        node = yaml.compose(text, Loader=_Loader)
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        return None, [yaml_syntax_problem(path, exc)]
    pos, dups = {(): 1}, []
    if node is not None:
        _positions(node, (), pos, dups)
    report = Report(str(path), pos)
    for dpath, line in dups:
        report.problems.append(Problem(str(path), line, dpath, "duplicate key (YAML keeps only the last one)"))
    if not isinstance(raw, dict):
        report.add((), "a profile is a mapping of fields (schema_version, name, technology, ...)")
        return None, report.problems
    schema_problems(raw, report)
    data = normalise_quantities(raw, report)
    semantic_problems(data, path.parent, report)
    problems = sorted(report.problems, key=lambda p: (p.line, p.field))
    return Profile(path, raw, data, problems, hashlib.sha256(blob).hexdigest()), problems


def load_profile(path: str | Path) -> Profile:
    """Load a valid profile or raise :class:`ProfileError` listing every problem."""
    profile, problems = check_profile(path)
    if problems:
        raise ProfileError(path, problems)
    return profile


def list_profiles(directory: str | Path = PROFILES_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.yaml"))


def dump_profile(data: dict, path: str | Path) -> Profile:
    """Write ``data`` as YAML (atomically) and validate it; returns the loaded profile."""
    atomic.write_text(path, yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True))
    return load_profile(path)
