"""Malformed profiles, one defect each: wrong types, NaN and infinities, out-of-range values,
broken structure, bad encodings, oversized files, alias bombs, deep nesting and bad links.

Each :class:`Case` writes its file under a folder and names what the one error line must
contain (a field path or the words of the message). ``tests/models/test_bad_profiles.py``
checks every case through ``bench profile check`` and ``bench run --profile``;
``benchmarks/bad_profiles.py`` times them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: A small valid profile; every case changes one thing in it.
BASE = """\
schema_version: 1
name: corpus
technology: sram
provenance: {source: illustrative, illustrative: everything}
temperature: 25 C
absolute_max_voltage: 1.2 V
operating_points:
  - name: nominal
    voltage: 1.0 V
    ber_0to1: 0.0
    ber_1to0: 0.0
    persistent_fraction: 1.0
    energy_read_per_bit: 20 fJ
  - name: low
    voltage: 0.56 V
    ber_0to1: 1.2e-4
    ber_1to0: 0.8e-4
    persistent_fraction: 0.95
    bit_position_rates: [1.0]
    energy_read_per_bit: 6.272 fJ
energy_model:
  E0: 4.557 fJ
  beta: 0.1818 fJ
  eps_ref: 1.0e-12
experiment:
  dataset: digits
  arch: mlp
  method: lanmax
  lambda: 0.5
  epochs: 4
  width: 0.125
  lr: 0.01
  seed: 0
  chip_seed: 1
  ci_target: 0.01
  tolerance: 0.005
  mc_min: 4
  hardware: {kind: virtual, chip: drivers/virtual_lab/chips/sram_lowvoltage.yaml}
  quick: {epochs: 1, test_subset: 40}
"""


@dataclass(frozen=True)
class Case:
    name: str
    kind: str    # types, nan-inf, bounds, structure, encoding, size, aliases, nesting, links
    make: Callable[[Path], Path]
    expect: str  # what the one error line contains


def replaced(old: str, new: str, base: str = BASE) -> str:
    assert base.count(old) == 1, old
    return base.replace(old, new)


def text_case(name: str, kind: str, text: str | bytes, expect: str) -> Case:
    def make(folder: Path) -> Path:
        path = folder / f"{name}.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path
    return Case(name, kind, make, expect)


def edit(name: str, kind: str, old: str, new: str, expect: str) -> Case:
    return text_case(name, kind, replaced(old, new), expect)


def section(key: str, new: str) -> str:
    """BASE with the top-level section ``key`` (its line and the indented lines under it) replaced."""
    lines = BASE.splitlines(keepends=True)
    start = lines.index(f"{key}:\n")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "".join(lines[:start]) + new + "".join(lines[end:])


def _sparse(size: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "huge.yaml"
        with open(path, "wb") as fh:
            fh.truncate(size)   # sparse: instant, no disk used
        return path
    return make


def link(name: str, target: Callable[[Path], str]) -> Callable[[Path], Path]:
    """A profile whose hardware chip link points at ``target(folder)``."""
    def make(folder: Path) -> Path:
        path = folder / f"{name}.yaml"
        path.write_text(replaced("chip: drivers/virtual_lab/chips/sram_lowvoltage.yaml", f"chip: {target(folder)}"))
        return path
    return make


def _symlink_loop(folder: Path) -> str:
    loop = folder / "loop.yaml"
    if not os.path.lexists(loop):
        os.symlink(loop, loop)
    return str(loop)


def _fifo(folder: Path) -> Path:
    path = folder / "fifo.yaml"
    if not path.exists():
        os.mkfifo(path)
    return path


def not_a_chip(folder: Path) -> str:
    path = folder / "notachip.yaml"
    path.write_text("colour: blue\n")
    return str(path)


def _folder(folder: Path) -> str:
    (folder / "adir").mkdir(exist_ok=True)
    return str(folder / "adir")


def _profile_dir(folder: Path) -> Path:
    path = folder / "dir.yaml"
    path.mkdir(exist_ok=True)
    return path


def _nested_block(depth: int) -> str:
    """``x:`` followed by ``depth`` levels of block mappings."""
    return BASE + "x:\n" + "".join(" " * (2 * k) + f"k{k}:\n" for k in range(1, depth)) + " " * (2 * depth) + "y: 1\n"


def _billion_laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return BASE + "\n".join(lines) + "\n"


CASES: list[Case] = [
    # --- types ---------------------------------------------------------------------------
    edit("ber_string", "types", "ber_0to1: 1.2e-4", "ber_0to1: a lot", "operating_points[1].ber_0to1"),
    edit("fraction_list", "types", "persistent_fraction: 0.95", "persistent_fraction: [0.95]",
         "operating_points[1].persistent_fraction"),
    edit("width_string", "types", "width: 0.125", "width: wide", "experiment.width"),
    edit("epochs_float", "types", "epochs: 4\n", "epochs: 2.5\n", "experiment.epochs"),
    edit("version_string", "types", "schema_version: 1", "schema_version: '1'", "schema_version"),
    edit("name_number", "types", "name: corpus", "name: 42", "name"),
    text_case("points_mapping", "types", section("operating_points", "operating_points: {nominal: 1.0 V}\n"),
              "operating_points: {'nominal': '1.0 V'} is not of type 'array'"),
    edit("energy_model_list", "types", "energy_model:\n  E0: 4.557 fJ\n  beta: 0.1818 fJ\n  eps_ref: 1.0e-12",
         "energy_model: [1, 2]", "energy_model"),
    text_case("experiment_string", "types", section("experiment", "experiment: fast\n"), "experiment: 'fast' is not of type"),
    edit("seed_bool", "types", "seed: 0", "seed: true", "experiment.seed"),
    edit("voltage_bool", "types", "voltage: 0.56 V", "voltage: true", "operating_points[1].voltage"),
    edit("energy_wrong_unit", "types", "energy_read_per_bit: 6.272 fJ", "energy_read_per_bit: 3 V",
         "operating_points[1].energy_read_per_bit"),
    edit("provenance_null", "types", "provenance: {source: illustrative, illustrative: everything}", "provenance: null",
         "provenance"),
    # --- NaN and infinities ----------------------------------------------------------------
    edit("ber_nan", "nan-inf", "ber_0to1: 1.2e-4", "ber_0to1: .nan", "operating_points[1].ber_0to1: '.nan' is not a finite"),
    edit("ber_inf", "nan-inf", "ber_1to0: 0.8e-4", "ber_1to0: .inf", "operating_points[1].ber_1to0"),
    edit("fraction_nan", "nan-inf", "persistent_fraction: 0.95", "persistent_fraction: .NaN",
         "operating_points[1].persistent_fraction"),
    edit("width_nan", "nan-inf", "width: 0.125", "width: .nan", "experiment.width"),
    edit("lambda_nan", "nan-inf", "lambda: 0.5", "lambda: .nan", "experiment.lambda"),
    edit("lambda_inf", "nan-inf", "lambda: 0.5", "lambda: .inf", "experiment.lambda"),
    edit("ci_target_nan", "nan-inf", "ci_target: 0.01", "ci_target: .nan", "experiment.ci_target"),
    edit("tolerance_nan", "nan-inf", "tolerance: 0.005", "tolerance: .nan", "experiment.tolerance"),
    edit("eps_ref_nan", "nan-inf", "eps_ref: 1.0e-12", "eps_ref: .nan", "energy_model.eps_ref"),
    edit("eps_ref_inf", "nan-inf", "eps_ref: 1.0e-12", "eps_ref: .inf", "energy_model.eps_ref"),
    edit("e0_inf", "nan-inf", "E0: 4.557 fJ", "E0: .inf", "energy_model.E0"),
    edit("beta_minus_inf", "nan-inf", "beta: 0.1818 fJ", "beta: -.Inf", "energy_model.beta"),
    edit("voltage_nan", "nan-inf", "voltage: 0.56 V", "voltage: .nan", "operating_points[1].voltage"),
    edit("energy_overflow", "nan-inf", "energy_read_per_bit: 6.272 fJ", "energy_read_per_bit: 1e999",
         "operating_points[1].energy_read_per_bit: '1e999' is not a finite"),
    edit("lr_nan", "nan-inf", "lr: 0.01", "lr: .NAN", "experiment.lr"),
    edit("temperature_inf", "nan-inf", "temperature: 25 C", "temperature: .inf", "temperature"),
    edit("rates_nan", "nan-inf", "bit_position_rates: [1.0]", "bit_position_rates: [1.0, .nan]",
         "operating_points[1].bit_position_rates[1]"),
    edit("vmax_inf", "nan-inf", "hardware: {kind: virtual, chip: drivers/virtual_lab/chips/sram_lowvoltage.yaml}",
         "hardware: {kind: board, board: socket://h:1, supply: 'TCPIP0::h::5025::SOCKET', vmax: .inf}",
         "experiment.hardware.vmax"),
    # --- bounds ------------------------------------------------------------------------------
    edit("ber_above_half", "bounds", "ber_0to1: 1.2e-4", "ber_0to1: 0.7", "operating_points[1].ber_0to1"),
    edit("ber_negative", "bounds", "ber_1to0: 0.8e-4", "ber_1to0: -0.1", "operating_points[1].ber_1to0"),
    edit("fraction_above_one", "bounds", "persistent_fraction: 0.95", "persistent_fraction: 1.5",
         "operating_points[1].persistent_fraction"),
    edit("width_zero", "bounds", "width: 0.125", "width: 0", "experiment.width"),
    edit("epochs_zero", "bounds", "epochs: 4\n", "epochs: 0\n", "experiment.epochs"),
    edit("ci_target_two", "bounds", "ci_target: 0.01", "ci_target: 2", "experiment.ci_target"),
    edit("tolerance_one", "bounds", "tolerance: 0.005", "tolerance: 1", "experiment.tolerance"),
    edit("voltage_implausible", "bounds", "voltage: 0.56 V", "voltage: 560", "operating_points[1].voltage"),
    edit("energy_implausible", "bounds", "energy_read_per_bit: 6.272 fJ", "energy_read_per_bit: 6.3",
         "operating_points[1].energy_read_per_bit"),
    edit("mc_min_one", "bounds", "mc_min: 4", "mc_min: 1", "experiment.mc_min"),
    edit("eps_ref_zero", "bounds", "eps_ref: 1.0e-12", "eps_ref: 0", "energy_model.eps_ref"),
    edit("above_absolute_max", "bounds", "absolute_max_voltage: 1.2 V", "absolute_max_voltage: 0.9 V",
         "operating_points[0].voltage: 1 V is above absolute_max_voltage"),
    edit("beta_negative", "bounds", "beta: 0.1818 fJ", "beta: -0.1818 fJ", "energy_model.beta"),
    # --- structure ---------------------------------------------------------------------------
    text_case("empty", "structure", "", "a profile is a mapping"),
    text_case("top_list", "structure", "- a\n- b\n", "a profile is a mapping"),
    text_case("top_scalar", "structure", "hello\n", "a profile is a mapping"),
    text_case("int_key_top", "structure", BASE + "1: one\n", "key '1' is not a string"),
    edit("int_key_point", "structure", "    persistent_fraction: 1.0\n", "    persistent_fraction: 1.0\n    7: seven\n",
         "key '7' is not a string"),
    text_case("bool_key", "structure", BASE + "yes: 1\n", "key 'yes' is not a string (YAML reads it as bool)"),
    text_case("null_key", "structure", BASE + "~: 1\n", "key '~' is not a string"),
    text_case("unknown_key", "structure", BASE + "colour: blue\n", "unknown key 'colour'"),
    edit("missing_name", "structure", "name: corpus\n", "", "name: required field is missing"),
    text_case("duplicate_key", "structure", BASE + "name: again\n", "duplicate key"),
    text_case("no_points", "structure", section("operating_points", "operating_points: []\n"), "operating_points: [] "),
    text_case("two_documents", "structure", BASE + "---\nname: second\n", "YAML syntax error"),
    text_case("unclosed_bracket", "structure", replaced("bit_position_rates: [1.0]", "bit_position_rates: [1.0"),
              "YAML syntax error"),
    text_case("tab_indent", "structure", replaced("    voltage: 0.56 V", "\tvoltage: 0.56 V"), "YAML syntax error"),
    text_case("complex_key", "structure", BASE + "? [a, b]\n: 1\n", "YAML syntax error"),
    text_case("undefined_tag", "structure", BASE + "x: !!python/object:os.system ls\n", "YAML syntax error"),
    # --- encodings ---------------------------------------------------------------------------
    text_case("latin1", "encoding", replaced("name: corpus", "name: corpus caf\xe9").encode("latin-1"), "not UTF-8"),
    text_case("utf16", "encoding", BASE.encode("utf-16"), "not UTF-8"),
    text_case("binary", "encoding", bytes(range(256)) * 4, "not UTF-8"),
    text_case("truncated_utf8", "encoding", BASE.encode() + "# \u00e9".encode()[:-1], "not UTF-8"),
    text_case("control_char", "encoding", replaced("name: corpus", "name: corp\x07us"), "YAML syntax error"),
    # --- size ----------------------------------------------------------------------------
    text_case("comments_300k", "size", BASE + "# padding padding padding padding padding\n" * 7500, "bytes: above"),
    Case("sparse_34m", "size", _sparse(34 * 2**20), "35651584 bytes: above"),
    text_case("points_300k", "size", BASE.replace("operating_points:\n", "operating_points:\n" + "".join(
        f"  - {{name: p{i}, voltage: 1.0 V, ber_0to1: 0.0, ber_1to0: 0.0, persistent_fraction: 1.0, "
        f"energy_read_per_bit: 20 fJ}}\n" for i in range(3000)), 1), "bytes: above"),
    # --- aliases -------------------------------------------------------------------------
    text_case("billion_laughs_9", "aliases", _billion_laughs(9), "aliases expand"),
    text_case("mapping_bomb", "aliases", BASE + "b0: &b0 {x: 1, y: 2, z: 3, w: 4}\n" + "".join(
        f"b{i}: &b{i} {{x: *b{i - 1}, y: *b{i - 1}, z: *b{i - 1}, w: *b{i - 1}}}\n" for i in range(1, 12)),
        "aliases expand"),
    text_case("undefined_alias", "aliases", BASE + "x: *nope\n", "YAML syntax error"),
    # --- nesting -------------------------------------------------------------------------
    text_case("flow_list_20000", "nesting", BASE + "x: " + "[" * 20000 + "]" * 20000 + "\n", "nested deeper"),
    text_case("flow_map_100", "nesting", BASE + "x: " + "{a: " * 100 + "1" + "}" * 100 + "\n", "nested deeper"),
    text_case("block_40", "nesting", _nested_block(40), "nested deeper"),
    edit("quick_deep", "nesting", "quick: {epochs: 1, test_subset: 40}", "quick: " + "[" * 40 + "]" * 40,
         "nested deeper"),
    # --- links ---------------------------------------------------------------------------
    edit("missing_fault_map", "links", "    energy_read_per_bit: 20 fJ\n",
         "    energy_read_per_bit: 20 fJ\n    fault_maps: [maps/missing.npz]\n", "operating_points[0].fault_maps[0]"),
    Case("chip_missing", "links", link("chip_missing", lambda f: "nowhere/chip.yaml"), "experiment.hardware.chip"),
    Case("chip_device", "links", link("chip_device", lambda f: "/dev/zero"), "not a regular file"),
    Case("chip_folder", "links", link("chip_folder", _folder), "not a regular file"),
    Case("chip_loop", "links", link("chip_loop", _symlink_loop), "experiment.hardware.chip"),
    Case("profile_folder", "links", _profile_dir, "not a regular file"),
    Case("profile_loop", "links", lambda f: Path(_symlink_loop(f)), "cannot read"),
    Case("profile_device", "links", lambda f: Path("/dev/zero"), "not a regular file"),
    Case("profile_fifo", "links", _fifo, "not a regular file"),
    Case("profile_missing", "links", lambda f: f / "absent.yaml", "such file"),
]
