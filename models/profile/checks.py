"""Validation of a profile: the published JSON Schema, then the checks a schema cannot express.

The schema (``profiles/schema/profile.schema.json``, draft 2020-12) is what we validate with
(``jsonschema``): editors and the bench can never disagree, and ``iter_errors`` yields every
violation at once with its JSON path. Afterwards: units and their plausibility, monotone
curves, unique names, referenced files, the experiment's operating point. Every problem is
placed at the YAML line of its field (:class:`Report`).
"""

from __future__ import annotations

import copy
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import jsonschema

from models.profile.points import mean_ber
from models.profile.profile import ROOT, Problem, resolve
from models.profile.units import HINT_UNIT, PLAUSIBLE, SI_UNIT, UNITS, parse_quantity

SCHEMA_PATH = ROOT / "profiles" / "schema" / "profile.schema.json"
SCHEMA_VERSION = 1
#: Experiment fields whose allowed values are the registries' names (the schema lists them as
#: enums, and a test holds the enums against ``models.data``, ``models.architectures`` and
#: ``models.method_registry``).
NAMED_FIELDS = ("dataset", "arch", "method")


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


class Report:
    """Collects problems for one file, placing each at the line of its field (or a parent)."""

    def __init__(self, file: str, positions: dict):
        self.file, self.positions, self.problems = file, positions, []
        self.invalid: set[tuple] = set()  # values already reported as wrong: the later checks skip them

    def line(self, path: tuple) -> int:
        for n in range(len(path), -1, -1):
            if path[:n] in self.positions:
                return self.positions[path[:n]]
        return 1

    def add(self, path: Iterable, message: str) -> None:
        path = tuple(path)
        self.problems.append(Problem(self.file, self.line(path), path, message))


# --- schema errors -> problems -------------------------------------------------------------

#: Schema checks about an object's keys, not about the value at the error's path.
KEY_VALIDATORS = ("required", "additionalProperties", "anyOf")


def schema_problems(data: Any, report: Report) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    for err in sorted(validator.iter_errors(data), key=lambda e: (report.line(tuple(e.absolute_path)), str(e.message))):
        path = tuple(err.absolute_path)
        if path and err.validator not in KEY_VALIDATORS:
            report.invalid.add(path)
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - set(allowed)):
                report.add(path + (key,), f"unknown key {key!r} (allowed here: {', '.join(allowed)})")
        elif "x-quantity" in err.schema:
            kind = err.schema["x-quantity"]
            report.add(path, f"{err.instance!r} is not a valid {kind}: give a number in {SI_UNIT[kind]} or a string "
                             f"'<number> <unit>' with unit in {', '.join(UNITS[kind])}")
        elif err.validator == "enum" and path and path[-1] in NAMED_FIELDS and "experiment" in path:
            report.add(path, f"unknown {path[-1]} {err.instance!r} (available: {', '.join(err.validator_value)})")
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

def _quantity_fields(data: dict) -> Iterable[tuple[tuple, str]]:
    """(path, kind) of every quantity present in a profile."""
    if "temperature" in data:
        yield ("temperature",), "temperature"
    for key in ("nominal_voltage", "absolute_max_voltage"):
        if key in data:
            yield (key,), "voltage"
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


def normalise_quantities(data: dict, report: Report) -> dict:
    """A copy of ``data`` with every quantity in SI floats; implausible magnitudes reported."""
    out = copy.deepcopy(data)
    for path, kind in _quantity_fields(data):
        try:
            v = parse_quantity(_get(data, path), kind)
        except ValueError:
            continue  # already reported by the schema
        lo, hi = PLAUSIBLE[kind]
        magnitude = abs(v) if kind == "energy" else v
        if not (lo <= magnitude <= hi):
            report.invalid.add(path)
            written = _get(data, path)
            report.add(path, f"{written!r} is an implausible {kind} ({v:g} {SI_UNIT[kind]}; expected "
                             f"{lo:g}..{hi:g} {SI_UNIT[kind]}): wrong unit? write e.g. '{written} {HINT_UNIT[kind]}'")
        _set(out, path, v)
    return out


def without(data: dict, paths: Iterable[tuple]) -> dict:
    """A copy of ``data`` without the values at ``paths`` (those already reported as wrong), so
    that the checks beyond the schema never stack a second problem on the same wrong value."""
    out = copy.deepcopy(data)
    for path in sorted(paths, key=len, reverse=True):
        try:
            parent = _get(out, path[:-1])
            if isinstance(parent, list):
                parent[path[-1]] = None  # keeps the other items' indices
            else:
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
    return out


# --- checks beyond the schema -----------------------------------------------------------

def _op_ber(op: dict) -> float:
    return mean_ber(op["ber_0to1"], op["ber_1to0"])


def semantic_problems(data: dict, base: Path, report: Report) -> None:
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
    _rail_problems(data, ops, report)


def _rail_problems(data: dict, ops: list[dict], report: Report) -> None:
    """The absolute maximum voltage bounds the nominal voltage, every point's voltage and the
    experiment's ``hardware.vmax``."""
    abs_max = data.get("absolute_max_voltage")
    if not isinstance(abs_max, float):
        return
    checked = [(("nominal_voltage",), data.get("nominal_voltage"), "the nominal voltage")]
    checked += [(("operating_points", i, "voltage"), op.get("voltage"), f"point {op.get('name')!r}")
                for i, op in enumerate(ops)]
    exp = data.get("experiment")
    hw = exp.get("hardware") if isinstance(exp, dict) else None
    if isinstance(hw, dict):
        checked.append((("experiment", "hardware", "vmax"), hw.get("vmax"), "the experiment's vmax"))
    for path, volts, what in checked:
        if isinstance(volts, float) and volts > abs_max:
            report.add(path, f"{volts:g} V is above absolute_max_voltage {abs_max:g} V ({what})")


def _energy_range_problem(em: dict, ops: list[dict], report: Report) -> None:
    """``E(eps) = E0 + beta ln(1/eps)`` falls with eps, so it is positive over the operating
    range iff it is positive at the least reliable point's eps; a negative energy there is a
    fit that cannot price the points (and LaNMax would trade towards it)."""
    bers = [_op_ber(op) for op in ops if all(isinstance(op.get(k), (int, float)) for k in ("ber_0to1", "ber_1to0"))]
    eps = max(bers, default=0.0)
    if eps > 0 and em["E0"] + em["beta"] * math.log(1 / eps) <= 0:
        report.add(("energy_model", "E0"), f"E(eps) = E0 + beta ln(1/eps) = {em['E0'] + em['beta'] * math.log(1 / eps):g} J "
                                           f"at the least reliable point's eps {eps:g}: the energy must be positive over the "
                                           f"operating points (refit E0 and beta)")


def _monotone_problems(ops: list[dict], report: Report) -> None:
    """Most reliable first: BER (and its persistent part) must not fall, energy must not rise."""
    def series(key):
        return [(i, op[key]) for i, op in enumerate(ops) if isinstance(op.get(key), (int, float))]

    ber = [(i, _op_ber(op), _op_ber(op) * op["persistent_fraction"]) for i, op in enumerate(ops)
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


def _file_problems(data: dict, base: Path, report: Report) -> None:
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
        elif path[-1] == "chip" and not resolve(base, ref).is_file():  # never read a device or a pipe
            report.add(path, f"linked chip file {ref!r} is not a regular file (a folder, device or pipe)")


def _experiment_problems(data: dict, report: Report) -> None:
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
