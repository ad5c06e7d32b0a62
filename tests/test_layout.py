"""The package layout holds: imports point one way (CLI -> API -> models / drivers), no import
circle (module-level or inside functions), commands reach models and drivers only through the
Python API, and the light commands start without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "models", "drivers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """First-party modules ``path`` imports anywhere in its body (functions included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(p, known) - {m} for m, p in mods.items()}


def _third_party(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def _package_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every (module, imported first-party module) pair."""
    return {(m, d) for m, deps in graph.items() for d in deps}


def test_no_import_circle():
    # a package's __init__ importing its own submodules is no circle unless a submodule imports it back
    assert _cycles(_graph()) == []


def test_models_and_drivers_never_import_bench():
    offenders = [(m, d) for m, d in _package_edges(_graph()) if m.split(".")[0] in ("models", "drivers")
                 and d.split(".")[0] == "bench"]
    assert offenders == []


def test_drivers_never_import_torch_and_models_never_import_the_simulator():
    mods = _modules()
    assert [m for m, p in mods.items() if m.startswith("drivers") and "torch" in _third_party(p)] == []
    assert [(m, d) for m, d in _package_edges(_graph())
            if m.startswith("models") and d.startswith("drivers.virtual_lab")] == []


def test_commands_reach_models_and_drivers_only_through_the_api():
    offenders = [(m, d) for m, d in _package_edges(_graph()) if m.startswith("bench.commands")
                 and d.split(".")[0] in ("models", "drivers")]
    assert offenders == []
    commands = defaultdict(set)
    for m, d in _package_edges(_graph()):
        if m.startswith("bench.commands.") and d.startswith("bench.commands.") and d != "bench.commands.common":
            commands[m].add(d)
    assert dict(commands) == {}  # commands never import each other


@pytest.mark.parametrize("argv", [["--help"], ["profile", "check", "profiles/rram_lowpower.yaml"],
                                  ["profile", "list"]])
def test_light_commands_leave_torch_unimported(argv):
    code = ("import sys\nfrom bench.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "NO-TORCH", r.stdout + r.stderr
