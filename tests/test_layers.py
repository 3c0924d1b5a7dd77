"""The package's imports form layers: the pure core and the domain logic import no Airflow, nothing imports
a layer above its own, and no module-level import cycle exists. Read from the source (every import, those
inside functions included), so a lazy import cannot hide a wrong direction."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_dtcal"

#: Lowest first. A module may import its own layer and the layers below, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("planning",),
    ("export",),
    ("compat", "exceptions", "payloads", "get_provider_info", "state"),
    ("hooks",),
    ("operators", "sensors", "triggers", "transfers"),
    ("cli",),
]
#: The emulator must be able to catch the client's mistakes: it imports none of the client's code.
EMULATOR = "testing"
#: What must import no Airflow at all (the pure core, the domain logic, the export's tables and files).
PURE = ("core", "planning", "export")


@functools.cache
def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The package's modules ``path`` imports: ``from a.b import c`` names ``a.b.c`` when that is a module,
    else ``a.b`` (a package's ``__init__`` that only hands out a submodule is not counted)."""
    modules = _modules()
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))  # top level: `if TYPE_CHECKING` skipped
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "airflow_dtcal" or name.startswith("airflow_dtcal.")}


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(module: str) -> int | None:
    area = _area(module)
    return next((i for i, names in enumerate(LAYERS) if area in names), None)


def test_no_module_imports_a_layer_above_its_own():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        own = _layer(name)
        for target in _imports(path):
            if target not in modules:  # `from package import name` where name is not a module
                continue
            if _area(name) == EMULATOR:
                if _area(target) != EMULATOR:
                    wrong.append(f"{name} -> {target} (the emulator imports none of the client's code)")
                continue
            layer = _layer(target)
            if own is not None and layer is not None and layer > own:
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports going up a layer:\n" + "\n".join(sorted(wrong))


def test_no_module_level_import_cycle():
    modules = _modules()
    graph = {
        name: {t for t in _imports(path, top_level_only=True) if t in modules and t != name}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]) if nxt in trail else nxt)
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "module-level import cycles:\n" + "\n".join(cycles)


def test_every_module_has_a_layer():
    unplaced = [n for n in _modules() if _layer(n) is None and _area(n) not in ("", EMULATOR)]
    assert not unplaced, f"modules outside every layer (add their folder to LAYERS): {unplaced}"


@pytest.mark.parametrize("area", PURE)
def test_the_pure_layers_import_no_airflow(area):
    names = sorted(n for n in _modules() if _area(n) == area)
    # One fresh interpreter imports them one by one and names the first that pulls in Airflow.
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "    if any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules):\n"
        "        sys.exit(f'{name} imports Airflow')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:] or result.stdout
