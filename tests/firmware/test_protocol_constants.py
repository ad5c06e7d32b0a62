"""The protocol's constants have one source each: the C headers (fb_protocol.h, fb_port.h,
model.h) for the firmware and drivers/board.py for the host must agree. The C compiler
evaluates every enumerator and #define the headers declare, so expressions and implicit enum
values count as the firmware sees them; a constant added on one side only fails here."""

import re
import shutil
import subprocess

import pytest

from drivers import board
from drivers.firmware_process import FIRMWARE_DIR
from drivers.framing import HEADER

INCLUDE = FIRMWARE_DIR / "include"
HEADERS = ("fb_protocol.h", "fb_port.h", "model.h")

# enum prefix -> (Python table as {value: name}, C suffix -> Python name)
TABLES = {
    "FB_E_": (board.ERRORS, lambda s: s),
    "FB_MODEL_E_": (board.MODEL_ERRORS, lambda s: s.lower().replace("_", " ")),
    "FB_PAT_": ({v: k for k, v in board.PATTERNS.items()}, str.lower),
    "FB_TARGET_": (board.TARGETS, lambda s: s.lower().replace("_", "-")),
    "FB_CAP_": ({v: k for k, v in board.CAPABILITIES.items()}, str.lower),
    "FB_COUNT_": (board.COUNT_UNITS, str.lower),
}
# fb_protocol.h #defines: the Python constant that mirrors each, or why it has none
DEFINES = {
    "FB_PROTOCOL_VERSION": board.PROTOCOL_VERSION,
    "FB_HEADER": HEADER.size,
    "FB_MAX_MODEL_CHUNK": board.MAX_MODEL_CHUNK,
    "FB_PATTERN_MAX_REPORT": board.PATTERN_MAX_REPORT,
    "FB_MAX_REPEAT": board.MAX_REPEAT,
    "FB_MAX_IDLE_COUNT": board.MAX_IDLE_COUNT,
    "FB_MAX_CHIP_ID": board.MAX_CHIP_ID,
}
REPORTED_BY_HELLO = {"FB_FW_VERSION", "FB_MAX_PAYLOAD", "FB_MAX_IO_WORDS"}


def _declared(text: str) -> tuple[list[str], list[str]]:
    """(enumerator names, object-like #define names) of a header."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    enums = [name for body in re.findall(r"\benum\s+\w+\s*\{(.*?)\}", text, flags=re.S)
             for name in re.findall(r"^\s*(FB_\w+)", body, flags=re.M) + re.findall(r",\s*(FB_\w+)", body)]
    defines = re.findall(r"^\s*#\s*define\s+(FB_\w+)[ \t]+\S", text, flags=re.M)
    return sorted(set(enums)), sorted(set(defines))


@pytest.fixture(scope="module")
def c_values(tmp_path_factory) -> dict[str, dict[str, int]]:
    """{header: {name: value}} as the C compiler evaluates them."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    names = {h: _declared((INCLUDE / h).read_text()) for h in HEADERS}
    lines = [f'#include "{h}"' for h in HEADERS] + ["#include <stdio.h>", "int main(void) {"]
    for h, (enums, defines) in names.items():
        for n in enums + [d for d in defines if not d.endswith("_H")]:
            lines.append(f'    printf("{h} {n} %llu\\n", (unsigned long long)({n}));')
    lines += ["    return 0;", "}"]
    tmp = tmp_path_factory.mktemp("constants")
    (tmp / "dump.c").write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-std=c99", f"-I{INCLUDE}", "-o", str(tmp / "dump"), str(tmp / "dump.c")],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(tmp / "dump")], check=True, capture_output=True, text=True).stdout
    values: dict[str, dict[str, int]] = {h: {} for h in HEADERS}
    for line in out.splitlines():
        h, n, v = line.split()
        values[h][n] = int(v)
    return values


def test_the_header_parser_sees_every_kind_of_constant(c_values):
    p = c_values["fb_protocol.h"]
    assert p["FB_MSG_HELLO"] == 0x01 and p["FB_CAP_LAB"] == 16 and p["FB_PATTERN_MAX_REPORT"] == 255
    assert c_values["model.h"]["FB_MODEL_E_TOO_BIG"] == 9  # an implicit enum value
    assert c_values["fb_port.h"]["FB_COUNT_CYCLES"] == 2


def test_message_ids_agree(c_values):
    c = {n.removeprefix("FB_MSG_"): v for n, v in c_values["fb_protocol.h"].items() if n.startswith("FB_MSG_")}
    special = {"BOOT": board.MSG_BOOT, "ERROR": board.MSG_ERROR, "REPLY": board.REPLY}
    assert {k: v for k, v in c.items() if k not in special} == board.MSG
    assert {k: c[k] for k in special} == special


@pytest.mark.parametrize("prefix", sorted(TABLES, key=len, reverse=True))
def test_enum_tables_agree(c_values, prefix):
    python, to_python = TABLES[prefix]
    longer = [p for p in TABLES if p != prefix and p.startswith(prefix)]  # FB_E_ vs FB_MODEL_E_: distinct
    c = {v: to_python(n.removeprefix(prefix)) for vals in c_values.values() for n, v in vals.items()
         if n.startswith(prefix) and not any(n.startswith(p) for p in longer)}
    assert c, f"no {prefix}* constants found"
    assert c == python


def test_defines_agree(c_values):
    defines = {n: v for n, v in c_values["fb_protocol.h"].items()
               if n in _declared((INCLUDE / "fb_protocol.h").read_text())[1]}
    unmapped = set(defines) - set(DEFINES) - REPORTED_BY_HELLO
    assert not unmapped, f"fb_protocol.h defines {sorted(unmapped)}: add the Python twin to drivers/board.py"
    assert {n: defines[n] for n in DEFINES} == DEFINES
