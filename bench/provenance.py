"""Which faultbench produced a result: its version, the git commit of its source tree, and when."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

SOURCE_TREE = Path(__file__).resolve().parents[1]


def version() -> str:
    """The installed distribution's version ("unknown" when faultbench is not installed)."""
    try:
        return metadata.version("faultbench")
    except metadata.PackageNotFoundError:
        return "unknown"


def git_commit(tree: Path = SOURCE_TREE) -> str | None:
    """The commit of the source tree this code runs from, with ``-dirty`` when files differ
    from it; None outside a git checkout (an installed wheel) or without git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=True,
                              timeout=20).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict:
    """``{"created": UTC ISO time, "faultbench_version", "git_commit"}``."""
    return {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "faultbench_version": version(), "git_commit": git_commit()}
