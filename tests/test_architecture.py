"""The house plan, checked on the source with ``ast``: layers only look down, and each third-party
framework (Mininet, os-ken, Dask) is imported behind one door."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "throttlebed"

# subpackage -> subpackages it must never import (DESIGN.md: directive < topology, sim,
# controller < emulation < experiments)
FORBIDDEN = {
    "directive": {"topology", "sim", "controller", "emulation", "experiments"},
    "topology": {"controller", "sim", "emulation", "experiments"},
    "sim": {"topology", "controller", "emulation", "experiments"},
    "controller": {"topology", "sim", "emulation", "experiments"},
    "emulation": {"experiments"},
}
# third-party top-level module -> the only files (relative to the package) that may import it
DOORS = {
    "mininet": {"emulation/mininet_net.py"},
    "os_ken": {"controller/osken_app.py", "controller/launcher.py"},
    "dask": {"experiments/dask_cluster.py"},
    "distributed": {"experiments/dask_cluster.py"},
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_of(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else None


def test_the_checker_sees_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from throttlebed.sim import load\n    import mininet.net\n")
    assert {"throttlebed.sim", "throttlebed.sim.load", "mininet.net"} <= imported_modules(f)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_only_look_down(layer):
    bad = []
    for path in source_files():
        if layer_of(path) != layer:
            continue
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] == "throttlebed" and len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not bad, "\n".join(sorted(set(bad)))


@pytest.mark.parametrize("framework", sorted(DOORS))
def test_frameworks_behind_one_door(framework):
    bad = []
    for path in source_files():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in DOORS[framework]:
            continue
        if any(n == framework or n.startswith(framework + ".") for n in imported_modules(path)):
            bad.append(rel)
    assert not bad, f"{framework} imported outside {sorted(DOORS[framework])}: {bad}"


def test_runner_and_report_do_not_import_each_other():
    runner = imported_modules(PACKAGE / "experiments" / "runner.py")
    report = imported_modules(PACKAGE / "experiments" / "report.py")
    assert "throttlebed.experiments.runner" not in report
    assert "throttlebed.experiments.report" in runner
