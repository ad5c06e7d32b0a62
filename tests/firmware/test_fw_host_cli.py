"""fw-host's command line: --help lists the options firmware/README.md documents, and a bad
option is one line on stderr naming it, exit code 2, before anything listens."""

import re
import subprocess

import pytest

from drivers.firmware_process import FIRMWARE_DIR, build

OPTION = r"--[a-z][a-z0-9-]*"


@pytest.fixture(scope="module")
def fw_host():
    return str(build("host"))


def run(fw_host, *args):
    return subprocess.run([fw_host, *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def documented_options() -> set[str]:
    readme = (FIRMWARE_DIR / "README.md").read_text()
    table = readme.split("`fw-host` options", 1)[1].split("\n\n", 2)[1]  # the table after the intro
    return {m for line in table.splitlines() if line.startswith("| `") for m in re.findall(OPTION, line.split("|")[1])}


def test_help_lists_the_documented_options(fw_host):
    r = run(fw_host, "--help")
    assert r.returncode == 0 and r.stderr == ""  # printed and left, nothing listened
    documented = documented_options()
    assert {"--port", "--bind", "--help", "--mem-words", "--lab-state", "--chip-seed"} <= documented
    assert set(re.findall(OPTION, r.stdout)) == documented


@pytest.mark.parametrize("args, named, why", [
    (["--bogus"], "--bogus", "unknown option"),
    (["--port", "0", "stray"], "stray", "unknown option"),
    (["--port"], "--port", "needs a value"),
    (["--port", "http"], "--port", "port number"),
    (["--port", "70000"], "--port", "port number"),
    (["--bind"], "--bind", "needs a value"),
    (["--mem-words"], "--mem-words", "needs a value"),
    (["--mem-words", "64", "--chip-e0"], "--chip-e0", "needs a value"),
])
def test_bad_options_are_one_clear_line(fw_host, args, named, why):
    r = run(fw_host, *args)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and named in lines[0] and why in lines[0] and "--help" in lines[0], r.stderr
