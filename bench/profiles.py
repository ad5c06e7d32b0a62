"""Memory error profiles (``profiles/*.yaml``): loading and validation against schema version 1.

The schema is published as JSON Schema (``profiles/schema/profile.schema.json``) and that
same file is what we validate with (``jsonschema``, draft 2020-12): editors and the bench
can never disagree, and ``iter_errors`` yields every violation at once with its JSON path.
(pydantic would make the Python classes the source of truth and the JSON Schema a generated
export, with its own error wording and no YAML positions; we need neither the coercion nor
the classes.) Checks a schema cannot express run afterwards and add to the same list:
units and their plausibility, monotone curves, unique names, referenced files.

Every problem is reported as ``FILE:LINE: field.path: message``; YAML lines come from the
node marks of the YAML composer.

Quantities are numbers in SI units (V, J, degC) or strings ``'<number> <unit>'``
(``'1.2 pJ'``, ``'650 mV'``); :attr:`Profile.data` holds them converted to floats in SI.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from bench.errors import BenchError

ROOT = Path(__file__).resolve().parents[1]
PROFILES_DIR = ROOT / "profiles"
SCHEMA_PATH = PROFILES_DIR / "schema" / "profile.schema.json"
SCHEMA_VERSION = 1

#: unit -> factor to SI, per quantity kind (the schema's ``x-quantity`` annotation).
UNITS = {
    "energy": {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6, "µJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12, "fJ": 1e-15, "aJ": 1e-18},
    "voltage": {"V": 1.0, "mV": 1e-3},
    "temperature": {"C": 1.0, "degC": 1.0, "K": 1.0},  # K handled as an offset below
}
SI_UNIT = {"energy": "J", "voltage": "V", "temperature": "degC"}
#: Plausible magnitudes [choice]: a value outside is almost surely written in the wrong unit
#: (e.g. ``energy_read_per_bit: 1.2`` meaning pJ, ``voltage: 650`` meaning mV).
PLAUSIBLE = {"energy": (0.0, 1e-6), "voltage": (0.0, 50.0), "temperature": (-273.15, 500.0)}
HINT_UNIT = {"energy": "pJ", "voltage": "mV", "temperature": "C"}  # suggested when a unit is missing
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zµ]+)\s*$")


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that keeps dates as strings and reads ``1e-12`` as a float (YAML 1.2)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                              list("-+0123456789."))


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (file, YAML line, field path) and what."""

    file: str
    line: int
    path: tuple
    message: str
    column: int | None = None  # YAML syntax errors: where the parser stopped

    @property
    def field(self) -> str:
        return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in self.path).replace(".[", "[") or "(top level)"

    def __str__(self) -> str:
        if self.column is not None:
            return f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


def syntax_error(problems: list[Problem]) -> Problem | None:
    """The YAML syntax error among ``problems`` (then the only problem), else None."""
    return problems[0] if len(problems) == 1 and problems[0].column is not None else None


class ProfileError(BenchError):
    """An invalid profile; carries every problem found."""

    def __init__(self, path: Path | str, problems: list[Problem]):
        self.problems = problems
        if len(problems) == 1:  # one line: FILE:LINE[:COLUMN]: ...
            super().__init__(str(problems[0]))
            return
        lines = "\n  ".join(str(p) for p in problems)
        super().__init__(f"profile {path}: {len(problems)} problem(s):\n  {lines}")


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


# --- YAML positions ----------------------------------------------------------------------

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


class _Report:
    """Collects problems for one file, placing each at the line of its field (or a parent)."""

    def __init__(self, file: str, positions: dict):
        self.file, self.positions, self.problems = file, positions, []

    def line(self, path: tuple) -> int:
        for n in range(len(path), -1, -1):
            if path[:n] in self.positions:
                return self.positions[path[:n]]
        return 1

    def add(self, path: Iterable, message: str) -> None:
        path = tuple(path)
        self.problems.append(Problem(self.file, self.line(path), path, message))


# --- schema errors -> problems -------------------------------------------------------------

def _schema_problems(data: Any, report: _Report) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    for err in sorted(validator.iter_errors(data), key=lambda e: (report.line(tuple(e.absolute_path)), str(e.message))):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - set(allowed)):
                report.add(path + (key,), f"unknown key {key!r} (allowed here: {', '.join(allowed)})")
        elif "x-quantity" in err.schema:
            kind = err.schema["x-quantity"]
            report.add(path, f"{err.instance!r} is not a valid {kind}: give a number in {SI_UNIT[kind]} or a string "
                             f"'<number> <unit>' with unit in {', '.join(UNITS[kind])}")
        elif err.validator == "anyOf" and all(set(s) == {"required"} for s in err.validator_value):
            names = " or ".join(repr(s["required"][0]) for s in err.validator_value)
            report.add(path, f"needs {names}")
        elif err.validator == "oneOf" and err.context:
            # report the branch of the right type and kind, which failed on content (a missing or unknown key)
            branches: dict = {}
            for e in err.context:
                branches.setdefault(e.relative_schema_path[0], []).append(e)
            fitting = [e for errs in branches.values() if not any(x.validator in ("const", "type", "enum") for x in errs)
                       for e in errs]
            best = jsonschema.exceptions.best_match(fitting or err.context)
            report.add(path, f"{err.instance!r} matches none of the allowed forms (closest: {best.message})")
        elif err.validator == "required":
            m = re.match(r"^'(.+)' is a required property$", err.message)  # one error per missing key
            report.add(path + (m.group(1),) if m else path, "required field is missing" if m else err.message)
        else:
            report.add(path, err.message)


# --- quantities ------------------------------------------------------------------------

def parse_quantity(value: Any, kind: str) -> float:
    """``1.2e-12`` or ``'1.2 pJ'`` -> SI float; raises ValueError naming the accepted units."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a {kind}")
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY.match(str(value))
    units = UNITS[kind]
    if not m or m.group(2) not in units:
        raise ValueError(f"{value!r} is not a {kind} (units: {', '.join(units)})")
    number, unit = float(m.group(1)), m.group(2)
    if kind == "temperature" and unit == "K":
        return number - 273.15
    return number * units[unit]


def _quantity_fields(data: dict) -> Iterable[tuple[tuple, str]]:
    """(path, kind) of every quantity present in a profile."""
    if "temperature" in data:
        yield ("temperature",), "temperature"
    for i, op in enumerate(_list(data.get("operating_points"))):
        if isinstance(op, dict):
            for key, kind in (("voltage", "voltage"), ("energy_read_per_bit", "energy"),
                              ("energy_write_per_bit", "energy"), ("temperature", "temperature")):
                if key in op:
                    yield ("operating_points", i, key), kind
    em = data.get("energy_model")
    if isinstance(em, dict):
        for key in ("E0", "beta"):
            if key in em:
                yield ("energy_model", key), "energy"
        fit = em.get("fit") if isinstance(em.get("fit"), dict) else {}
        for key in ("E0_ci", "beta_ci"):
            for j in range(len(_list(fit.get(key)))):
                yield ("energy_model", "fit", key, j), "energy"
    exp = data.get("experiment")
    hw = exp.get("hardware") if isinstance(exp, dict) else None
    if isinstance(hw, dict) and "vmax" in hw:
        yield ("experiment", "hardware", "vmax"), "voltage"


def _list(x) -> list:
    return x if isinstance(x, list) else []


def _get(data, path):
    for p in path:
        data = data[p]
    return data


def _set(data, path, value):
    _get(data, path[:-1])[path[-1]] = value


def _normalise_quantities(data: dict, report: _Report) -> dict:
    out = copy.deepcopy(data)
    for path, kind in _quantity_fields(data):
        try:
            v = parse_quantity(_get(data, path), kind)
        except ValueError:
            continue  # already reported by the schema
        lo, hi = PLAUSIBLE[kind]
        magnitude = abs(v) if kind == "energy" else v
        if not (lo <= magnitude <= hi):
            written = _get(data, path)
            report.add(path, f"{written!r} is an implausible {kind} ({v:g} {SI_UNIT[kind]}; expected "
                             f"{lo:g}..{hi:g} {SI_UNIT[kind]}): wrong unit? write e.g. '{written} {HINT_UNIT[kind]}'")
        _set(out, path, v)
    return out


# --- checks beyond the schema -----------------------------------------------------------

def mean_ber(op: dict) -> float:
    """BER of a balanced pattern: ``(ber_0to1 + ber_1to0) / 2`` (the profile's eps)."""
    return (op["ber_0to1"] + op["ber_1to0"]) / 2


def _semantic_problems(data: dict, base: Path, report: _Report) -> None:
    ops = [op for op in _list(data.get("operating_points")) if isinstance(op, dict)]
    names = [op.get("name") for op in ops]
    for i, n in enumerate(names):
        if n in names[:i]:
            report.add(("operating_points", i, "name"), f"duplicate operating point name {n!r}")
    _monotone_problems(ops, report)
    for i, op in enumerate(ops):
        rates = op.get("bit_position_rates")
        if isinstance(rates, list) and rates and all(isinstance(r, (int, float)) for r in rates):
            for key in ("ber_0to1", "ber_1to0"):
                if isinstance(op.get(key), (int, float)) and op[key] * max(rates) > 0.5:
                    report.add(("operating_points", i, "bit_position_rates"),
                               f"{key} x max(bit_position_rates) = {op[key] * max(rates):g} exceeds 0.5")
        if data.get("technology") == "rram" and "energy_write_per_bit" not in op:
            report.add(("operating_points", i), "an RRAM operating point needs energy_write_per_bit (programming energy)")
    prov = data.get("provenance") if isinstance(data.get("provenance"), dict) else {}
    if prov.get("source") == "literature" and not prov.get("citation"):
        report.add(("provenance",), "source 'literature' needs a citation")
    if prov.get("source") in ("measured", "calibrated") and not prov.get("chip_id"):
        report.add(("provenance",), f"source {prov.get('source')!r} needs the chip_id")
    em = data.get("energy_model")
    if isinstance(em, dict) and isinstance(em.get("beta"), (int, float)) and em["beta"] <= 0:
        report.add(("energy_model", "beta"), f"beta = {em['beta']:g} J: the slope must be > 0")
    elif isinstance(em, dict) and all(isinstance(em.get(k), (int, float)) for k in ("E0", "beta")):
        _energy_range_problem(em, ops, report)
    _file_problems(data, base, report)
    _experiment_problems(data, report)


def _energy_range_problem(em: dict, ops: list[dict], report: _Report) -> None:
    """``E(eps) = E0 + beta ln(1/eps)`` falls with eps, so it is positive over the operating
    range iff it is positive at the least reliable point's eps; a negative energy there is a
    fit that cannot price the points (and LaNMax would trade towards it)."""
    bers = [mean_ber(op) for op in ops if all(isinstance(op.get(k), (int, float)) for k in ("ber_0to1", "ber_1to0"))]
    eps = max(bers, default=0.0)
    if eps > 0 and em["E0"] + em["beta"] * math.log(1 / eps) <= 0:
        report.add(("energy_model", "E0"), f"E(eps) = E0 + beta ln(1/eps) = {em['E0'] + em['beta'] * math.log(1 / eps):g} J "
                                           f"at the least reliable point's eps {eps:g}: the energy must be positive over the "
                                           f"operating points (refit E0 and beta)")


def _monotone_problems(ops: list[dict], report: _Report) -> None:
    """Most reliable first: BER (and its persistent part) must not fall, energy must not rise."""
    def series(key):
        return [(i, op[key]) for i, op in enumerate(ops) if isinstance(op.get(key), (int, float))]

    ber = [(i, mean_ber(op), mean_ber(op) * op["persistent_fraction"]) for i, op in enumerate(ops)
           if all(isinstance(op.get(k), (int, float)) for k in ("ber_0to1", "ber_1to0", "persistent_fraction"))]
    for (i, b0, p0), (j, b1, p1) in zip(ber, ber[1:]):
        if b1 < b0:
            report.add(("operating_points", j), f"BER {b1:g} is lower than the previous point's {b0:g}: list operating "
                                                f"points from the most reliable to the least (BER must not fall)")
        elif p1 < p0:
            report.add(("operating_points", j, "persistent_fraction"),
                       f"persistent BER {p1:g} is lower than the previous point's {p0:g}: persistent fault sets must nest")
    for key, word in (("energy_read_per_bit", "read energy"), ("energy_write_per_bit", "write energy")):
        s = series(key)
        for (i, e0), (j, e1) in zip(s, s[1:]):
            if e1 > e0:
                report.add(("operating_points", j, key), f"{word} {e1:g} J rises above the previous point's {e0:g} J "
                                                         f"while reliability falls (curve must be monotone)")
    volts = series("voltage")
    if len(volts) == len(ops):
        for (i, v0), (j, v1) in zip(volts, volts[1:]):
            if v1 >= v0:
                report.add(("operating_points", j, "voltage"), f"voltage {v1:g} V does not fall below the previous "
                                                               f"point's {v0:g} V (most reliable first)")


def _file_problems(data: dict, base: Path, report: _Report) -> None:
    refs = [(("fault_maps", i), p) for i, p in enumerate(_list(data.get("fault_maps")))]
    for i, op in enumerate(_list(data.get("operating_points"))):
        if isinstance(op, dict):
            refs += [(("operating_points", i, "fault_maps", j), p) for j, p in enumerate(_list(op.get("fault_maps")))]
    em = data.get("energy_model")
    if isinstance(em, dict) and isinstance(em.get("fit"), dict) and isinstance(em["fit"].get("plot"), str):
        refs.append((("energy_model", "fit", "plot"), em["fit"]["plot"]))
    exp = data.get("experiment")
    hw = exp.get("hardware") if isinstance(exp, dict) else None
    if isinstance(hw, dict) and isinstance(hw.get("chip"), str):
        refs.append((("experiment", "hardware", "chip"), hw["chip"]))
    for path, ref in refs:
        if isinstance(ref, str) and not resolve(base, ref).exists():
            report.add(path, f"referenced file {ref!r} does not exist (looked for {resolve(base, ref)})")


def resolve(base: Path, ref: str) -> Path:
    """A path written in a profile: relative to the profile's folder, or to the repository root."""
    p = Path(ref)
    if p.is_absolute():
        return p
    local = base / p
    return local if local.exists() or not (ROOT / p).exists() else ROOT / p


def _experiment_problems(data: dict, report: _Report) -> None:
    exp = data.get("experiment")
    if not isinstance(exp, dict):
        return
    names = [op.get("name") for op in _list(data.get("operating_points")) if isinstance(op, dict)]
    if "operating_point" in exp and exp["operating_point"] not in names:
        report.add(("experiment", "operating_point"), f"no operating point named {exp['operating_point']!r} "
                                                      f"(have: {', '.join(map(str, names))})")
    quick = exp.get("quick") if isinstance(exp.get("quick"), dict) else {}
    if isinstance(quick.get("mc_min"), int) and isinstance(quick.get("mc_max"), int) and quick["mc_min"] > quick["mc_max"]:
        report.add(("experiment", "quick", "mc_min"), f"mc_min {quick['mc_min']} > mc_max {quick['mc_max']}")
    for key, known in (("dataset", _known_datasets), ("arch", _known_archs), ("method", _known_methods)):
        value = exp.get(key)
        options = known()
        if isinstance(value, str) and options is not None and value not in options:
            report.add(("experiment", key), f"unknown {key} {value!r} (available: {', '.join(options)})")


def _registry(module: str, attr: str):
    """Names from a registry of ``models`` (None while that module does not exist yet)."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    obj = getattr(mod, attr, None)
    if obj is None:
        return None
    return sorted(obj() if callable(obj) else obj)


def _known_datasets():
    return _registry("models.data", "DATASETS")


def _known_archs():
    return _registry("models.architectures", "ARCHITECTURES")


def _known_methods():
    return _registry("models.methods", "method_names")


# --- the profile object ------------------------------------------------------------------

@dataclass
class Profile:
    """A validated profile: ``raw`` as written, ``data`` with quantities in SI floats."""

    path: Path
    raw: dict
    data: dict
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def operating_points(self) -> list[dict]:
        return self.data["operating_points"]

    def operating_point(self, name: str) -> dict:
        for op in self.operating_points:
            if op["name"] == name:
                return op
        raise BenchError(f"profile {self.path}: no operating point {name!r} "
                         f"(have: {', '.join(op['name'] for op in self.operating_points)})")

    @property
    def experiment(self) -> dict:
        exp = copy.deepcopy(self.data.get("experiment", {}))
        if exp.get("hardware") == "virtual":
            exp["hardware"] = {"kind": "virtual"}
        hw = exp.get("hardware")
        if isinstance(hw, dict) and isinstance(hw.get("chip"), str):
            hw["chip"] = str(resolve(self.path.parent, hw["chip"]))
        return exp

    def fault_map_paths(self, operating_point: str | None = None) -> list[Path]:
        """Linked fault-map files/folders (all, or those of one operating point)."""
        refs = [] if operating_point else list(self.data.get("fault_maps", []))
        for op in self.operating_points:
            if operating_point in (None, op["name"]):
                refs += op.get("fault_maps", [])
        return [resolve(self.path.parent, r) for r in refs]

    def summary(self) -> str:
        """One line: technology, points, BER and energy ranges, energy model, source."""
        from models.energy import format_energy
        from models.profile_faults import profile_energy_kind

        kind = profile_energy_kind(self.data)
        ops = self.operating_points
        bers = [mean_ber(op) for op in ops]
        energies = [op.get(f"energy_{kind}_per_bit", op["energy_read_per_bit"]) for op in ops]
        em = self.data.get("energy_model")
        model = (f"E0 {format_energy(em['E0'])}, beta {format_energy(em['beta'])}" if em else "no energy model")
        return (f"{self.data['technology']}, {len(ops)} operating points, BER {min(bers):.3g}..{max(bers):.3g}, "
                f"{kind} {format_energy(min(energies))}..{format_energy(max(energies))}/bit, {model}, "
                f"{self.data['provenance']['source']}")


def check_profile(path: str | Path) -> tuple[Profile | None, list[Problem]]:
    """Validate a profile file; returns the profile (None if unusable) and every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        return None, [Problem(str(path), 1, (), f"cannot read: {exc.strerror or exc}")]
    try:
        node = yaml.compose(text, Loader=_Loader)
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        return None, [yaml_syntax_problem(path, exc)]
    pos, dups = {(): 1}, []
    if node is not None:
        _positions(node, (), pos, dups)
    report = _Report(str(path), pos)
    for dpath, line in dups:
        report.problems.append(Problem(str(path), line, dpath, "duplicate key (YAML keeps only the last one)"))
    if not isinstance(raw, dict):
        report.add((), "a profile is a mapping of fields (schema_version, name, technology, ...)")
        return None, report.problems
    _schema_problems(raw, report)
    data = _normalise_quantities(raw, report)
    _semantic_problems(data, path.parent, report)
    problems = sorted(report.problems, key=lambda p: (p.line, p.field))
    return Profile(path, raw, data, problems), problems


def yaml_syntax_problem(path: Path, exc: yaml.YAMLError) -> Problem:
    """``FILE:LINE:COLUMN: YAML syntax error: <problem>``: pyyaml's own message spans several
    lines and names ``<unicode string>``; keep its problem (and context) and its position."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = "; ".join(x for x in (getattr(exc, "problem", None), getattr(exc, "context", None)) if x) or \
        str(exc).splitlines()[0]
    return Problem(str(path), mark.line + 1 if mark else 1, (), f"YAML syntax error: {what}",
                   column=mark.column + 1 if mark else 1)


def load_profile(path: str | Path) -> Profile:
    """Load a valid profile or raise :class:`ProfileError` listing every problem."""
    profile, problems = check_profile(path)
    if problems:
        raise ProfileError(path, problems)
    return profile


def list_profiles(directory: str | Path = PROFILES_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.yaml"))


def dump_profile(data: dict, path: str | Path) -> Profile:
    """Write ``data`` as YAML (atomically, bench.pipeline.atomic) and validate it (calibration
    output); returns the loaded profile."""
    from bench.pipeline import atomic

    path = Path(path)
    atomic.write_text(path, yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True))
    return load_profile(path)


# --- hooks for bench train / bench evaluate --------------------------------------------

def _loaded(profile: Profile | str | Path) -> Profile:
    """``profile`` itself if already loaded, else :func:`load_profile` of that path (so a
    command that holds the profile does not parse and validate the file again)."""
    return profile if isinstance(profile, Profile) else load_profile(profile)


def profile_record(profile: Profile | str | Path) -> dict:
    """What a run's ``config.yaml`` keeps of the profile it was trained under: ``path``,
    ``sha256`` of the file's bytes and ``name`` (the fault model's points are stored beside it,
    so ``load_run`` rebuilds it without the file; the hash tells whether the file changed)."""
    import hashlib

    profile = _loaded(profile)
    return {"path": str(profile.path), "sha256": hashlib.sha256(profile.path.read_bytes()).hexdigest(),
            "name": profile.name}


def _point(profile: Profile, path, name: str):
    """The profile's operating point ``name`` or one line naming the file, the point and the valid ones."""
    from models.profile_faults import profile_operating_points

    point = next((p for p in profile_operating_points(profile) if p.name == name), None)
    if point is None:
        raise BenchError(f"--operating-point {name!r}: not in {path} "
                         f"(have: {', '.join(op['name'] for op in profile.operating_points)})")
    return point


def training_faults(path: Profile | str | Path, chip_seed: int | None = None, operating_point: str | None = None) -> dict:
    """``TrainConfig.faults`` for ``bench train --profile FILE [--operating-point NAME]``: the
    profile's fault model (asymmetric; persistent cells of ``chip_seed``, default the profile's
    ``experiment.chip_seed``; transient part re-drawn per read) with ``rate_mapping='scale'``
    (the method's eps sets the rate, the profile its asymmetry, persistence and bit-position
    shape: a continuous function of eps, as LaNMax needs), or fixed at ``operating_point``.
    Carries :func:`profile_record` under ``profile``. ``path``: the file or its loaded profile."""
    from models.profile_faults import profile_fault_description

    profile = _loaded(path)
    if operating_point is not None:
        _point(profile, profile.path, operating_point)
    desc = profile_fault_description(profile, operating_point, chip_seed=chip_seed, rate_mapping="scale")
    return {**desc, "profile": profile_record(profile)}


def evaluation_faults(path: Profile | str | Path, layer_names: list[str], rates: dict | None,
                      operating_point: str | None = None, chip_seed: int | None = None):
    """``(fault_model, rates, label)`` for ``bench evaluate --profile FILE [--operating-point NAME]``.

    With a point: every layer reads at it (rates = its BER, for the record). Without: each
    layer's eps (``rates``, e.g. the run's LaNMax eps) picks the cheapest point at least as
    reliable (``quantize``). Raises :class:`BenchError` naming the option. ``path``: the file
    or its loaded profile.
    """
    from models.profile_faults import fault_model_from_profile

    profile = _loaded(path)
    path = profile.path
    if operating_point is not None:
        point = _point(profile, path, operating_point)
        model = fault_model_from_profile(profile, operating_point, chip_seed)
        return model, {n: point.ber for n in layer_names}, f"{profile.name} at {point.label()}"
    if not rates:
        raise BenchError(f"--profile {path}: the run has no per-layer eps to choose operating points; "
                         f"give --operating-point NAME (have: {', '.join(op['name'] for op in profile.operating_points)})")
    model = fault_model_from_profile(profile, None, chip_seed, rate_mapping="quantize")
    points = {n: model.point_for(r).name for n, r in rates.items()}
    return model, rates, f"{profile.name}, per-layer points " + ", ".join(f"{n}: {p}" for n, p in points.items())


def fault_model_label(faults: dict) -> str:
    """What a fault-model description (``TrainConfig.faults``) does with a layer's eps, in words."""
    if faults.get("kind") != "profile":
        return {"bsc": "binary symmetric channel (eps = flip probability of every bit)"}.get(
            faults.get("kind"), f"fault model {faults.get('kind')}")
    name = (faults.get("profile") or {}).get("name") or Path(str(faults.get("source", "profile"))).stem
    chip = f"chip seed {faults.get('chip_seed')}: persistent cells fixed, transient part re-drawn per read"
    if faults.get("operating_point"):
        return f"profile {name} at operating point {faults['operating_point']} on every layer ({chip}; eps not used)"
    if faults.get("rate_mapping") == "scale":
        return (f"profile {name} ({chip}; eps = mean BER (p01 + p10) / 2, with the asymmetry and persistent "
                f"fraction of the nearest operating point)")
    return f"profile {name} ({chip}; eps -> the cheapest operating point at least as reliable)"
