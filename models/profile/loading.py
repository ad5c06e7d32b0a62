"""Reading and writing profile files: YAML with line positions, validation, the loaded :class:`Profile`.

Every problem is reported as ``FILE:LINE: field.path: message`` (YAML syntax errors as
``FILE:LINE:COLUMN: ...``); lines come from the node marks of the YAML composer.

Hostile files fail fast with one line, before anything expensive runs: only a regular file of
at most :data:`MAX_PROFILE_BYTES` is read, and a first pass over the YAML event stream (no
recursion, nothing built) refuses nesting deeper than :data:`MAX_DEPTH` and aliases that would
expand to more than :data:`MAX_NODES` nodes (an alias bomb). Then the document is composed
once, and keys that are not strings and numbers that are not finite (``.nan``, ``.inf``,
``1e999``) are refused before the schema runs.
"""

from __future__ import annotations

import hashlib
import math
import re
import stat
from pathlib import Path

import yaml

from drivers import atomic
from models.profile.checks import Report, normalise_quantities, schema_problems, semantic_problems, without
from models.profile.profile import ROOT, Problem, Profile, ProfileError

PROFILES_DIR = ROOT / "profiles"
#: Largest profile file read [choice: 256 KiB; the shipped ones are 2-10 KB, a calibrated profile
#: of a 100-voltage sweep about 40 KB].
MAX_PROFILE_BYTES = 256 * 1024
#: Deepest nesting of lists and mappings [choice: a profile needs 5].
MAX_DEPTH = 32
#: Most YAML nodes the document may expand to through aliases [choice: 10x what the size cap allows without them].
MAX_NODES = 200_000


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when pyyaml has it: ~15x faster
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


def _read(path: Path) -> bytes | Problem:
    """The file's bytes, or the one problem that stops reading it (not a regular file, too large)."""
    def problem(message: str) -> Problem:
        return Problem(str(path), 1, (), message)

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return problem("not a regular file (a folder, device or pipe): give a profile's .yaml file")
        with open(path, "rb") as fh:
            blob = fh.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        return problem(f"cannot read: {exc.strerror or exc}")
    if len(blob) > MAX_PROFILE_BYTES:
        return problem(f"{max(info.st_size, len(blob))} bytes: above the {MAX_PROFILE_BYTES}-byte limit of a profile "
                       f"(models.profile.loading.MAX_PROFILE_BYTES)")
    return blob


def _shape_problem(path: Path, text: str) -> Problem | None:
    """One pass over the YAML events: nesting depth and alias expansion (both capped), syntax."""
    expanded, sizes, open_ = 0, {}, []   # open_: [anchor, nodes so far] of each open collection
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
                n = sizes.get(event.anchor, 1) if isinstance(event, yaml.AliasEvent) else 1
                expanded += n
                if expanded > MAX_NODES:
                    return Problem(str(path), event.start_mark.line + 1, (),
                                   f"aliases expand the document to more than {MAX_NODES} nodes (an alias bomb?)")
                if isinstance(event, yaml.CollectionStartEvent):
                    if len(open_) >= MAX_DEPTH:
                        return Problem(str(path), event.start_mark.line + 1, (),
                                       f"lists and mappings nested deeper than {MAX_DEPTH} levels")
                    open_.append([event.anchor, 1])
                    continue
                if isinstance(event, yaml.ScalarEvent) and event.anchor:
                    sizes[event.anchor] = 1
                if open_:
                    open_[-1][1] += n
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, n = open_.pop()
                if anchor:
                    sizes[anchor] = n
                if open_:
                    open_[-1][1] += n
    except yaml.YAMLError as exc:
        return yaml_syntax_problem(path, exc)
    return None


def _value_problems(node: yaml.Node, path: tuple, loader, report: "Report") -> None:
    """Keys that are not strings, numbers that are not finite: placed at their own line."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.tag == "tag:yaml.org,2002:merge":  # ``<<: *base`` merges a mapping's keys
                _value_problems(v, path, loader, report)
                continue
            if k.tag != "tag:yaml.org,2002:str":
                report.problems.append(Problem(report.file, k.start_mark.line + 1, path,
                                               f"key {k.value!r} is not a string (YAML reads it as "
                                               f"{k.tag.rsplit(':', 1)[-1]}): quote it or remove it"))
                continue
            _value_problems(v, path + (k.value,), loader, report)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _value_problems(item, path + (i,), loader, report)
    elif node.tag == "tag:yaml.org,2002:float" and not math.isfinite(loader.construct_yaml_float(node)):
        report.problems.append(Problem(report.file, node.start_mark.line + 1, path,
                                       f"{node.value!r} is not a finite number"))


def check_profile(path: str | Path) -> tuple[Profile | None, list[Problem]]:
    """Validate a profile file; returns the profile (None if unusable) and every problem."""
    path = Path(path)
    blob = _read(path)
    if isinstance(blob, Problem):
        return None, [blob]
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = blob[:exc.start].count(b"\n") + 1
        return None, [Problem(str(path), line, (), f"not UTF-8 text (byte {exc.start}: {blob[exc.start]:#04x}); "
                                                   f"save the profile as UTF-8")]
    shape = _shape_problem(path, text)
    if shape is not None:
        return None, [shape]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        raw = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        return None, [yaml_syntax_problem(path, exc)]
    finally:
        loader.dispose()
    pos, dups = {(): 1}, []
    if node is not None:
        _positions(node, (), pos, dups)
    report = Report(str(path), pos)
    if node is not None:
        _value_problems(node, (), loader, report)
        if report.problems:  # the schema and the checks below assume string keys and finite numbers
            return None, sorted(report.problems, key=lambda p: (p.line, p.field))
    for dpath, line in dups:
        report.problems.append(Problem(str(path), line, dpath, "duplicate key (YAML keeps only the last one)"))
    if not isinstance(raw, dict):
        report.add((), "a profile is a mapping of fields (schema_version, name, technology, ...)")
        return None, report.problems
    schema_problems(raw, report)
    data = normalise_quantities(raw, report)
    semantic_problems(without(data, report.invalid), path.parent, report)
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
