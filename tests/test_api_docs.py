"""docs/API.md's examples run, in order, as a user would run them."""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_api_examples_run(tmp_path, monkeypatch):
    text = (REPO / "docs" / "API.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 10
    (tmp_path / "tests").mkdir()
    os.symlink(REPO / "profiles", tmp_path / "profiles")
    os.symlink(REPO / "tests" / "data", tmp_path / "tests" / "data")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/API.md example {i + 1}", "exec"), namespace)
    assert (tmp_path / "runs" / "pipeline" / "report" / "report.html").is_file()
    assert (tmp_path / "runs" / "mychip.yaml").is_file() and (tmp_path / "runs" / "sweep-demo" / "report.md").is_file()
