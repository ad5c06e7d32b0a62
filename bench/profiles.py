"""Checking and listing profile files (``bench profile``); the profile itself is ``models.profile``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from models.profile import PROFILES_DIR, Problem, Profile, check_profile, list_profiles, syntax_error
from models.profile.checks import SCHEMA_PATH

__all__ = ["PROFILES_DIR", "SCHEMA_PATH", "ProfileCheck", "check_files", "failures", "list_folder"]


@dataclass
class ProfileCheck:
    path: Path
    profile: Profile | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: the profile's summary, or its first problem."""
        if self.ok:
            return self.profile.summary()
        return f"invalid: {len(self.problems)} problem(s), first: {self.problems[0]}"


def check_files(paths: list[str | Path]) -> list[ProfileCheck]:
    """Validate every file (:func:`failures` says what is wrong with the invalid ones)."""
    return [ProfileCheck(Path(p), *check_profile(p)) for p in paths]


def failures(checks: list[ProfileCheck]) -> BenchError | None:
    """One :class:`BenchError` listing every problem of every invalid file (a file with a
    single problem as its own ``FILE:LINE[:COLUMN]: ...`` line), or None when all are valid."""
    failed = []
    for c in checks:
        if syntax_error(c.problems) or len(c.problems) == 1:
            failed.append(str(c.problems[0]))
        elif c.problems:
            failed.append(f"{c.path}: {len(c.problems)} problem(s)\n  " + "\n  ".join(str(p) for p in c.problems))
    if len(failed) == 1 and "\n" not in failed[0]:
        return BenchError(failed[0])
    return BenchError("invalid profile(s):\n" + "\n".join(failed)) if failed else None


def list_folder(directory: str | Path = PROFILES_DIR) -> list[ProfileCheck]:
    """Every ``*.yaml`` of ``directory`` with its check (invalid ones included)."""
    paths = list_profiles(directory)
    if not paths:
        raise BenchError(f"no profiles (*.yaml) in {directory}")
    return [ProfileCheck(p, *check_profile(p)) for p in paths]
