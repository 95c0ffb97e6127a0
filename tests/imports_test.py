"""The direction of imports: hooks -> core, reporter -> core, action -> reporter + core.

Core (the top-level modules) never imports a subpackage; nothing but the CLI imports `action`;
the commit-hook path never imports the heavy libraries.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tokennotes"
ENTRY_POINTS = {"cli", "__main__"}
ALLOWED = {
    "core": set(),
    "hooks": {"hooks"},
    "reporter": {"reporter"},
    "action": {"action", "reporter"},
    "demo": {"demo", "hooks", "reporter"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] == "tokennotes"}


def _layer(module: Path) -> str:
    rel = module.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else ("demo" if rel.stem == "demo" else "core")


def _subpackages() -> set[str]:
    return {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}


def test_imports_point_one_way() -> None:
    subpackages = _subpackages()
    problems = []
    for module in sorted(PACKAGE.rglob("*.py")):
        if module.parent == PACKAGE and module.stem in ENTRY_POINTS:
            continue
        layer = _layer(module)
        allowed = ALLOWED.get(layer, {layer})
        for name in _imports(module):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in subpackages and parts[1] not in allowed:
                problems.append(f"{module.relative_to(PACKAGE)} ({layer}) imports {name}")
    assert problems == []


@pytest.mark.parametrize(
    "module",
    [
        "tokennotes.hooks.record",
        "tokennotes.hooks.sync",
        "tokennotes.hooks.scan",
        "tokennotes.hooks.manual",
        "tokennotes.hooks.doctor",
    ],
)
def test_hook_path_stays_lean(module: str) -> None:
    code = (
        "import importlib, sys\n"
        "try:\n"
        f"    importlib.import_module({module!r})\n"
        "except ModuleNotFoundError as exc:\n"
        f"    if exc.name != {module!r}: raise\n"
        "    print('absent'); raise SystemExit\n"
        "heavy = sorted(m for m in ('matplotlib', 'pygit2', 'requests', 'jinja2')"
        " if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    if out.stdout.strip() == "absent":
        pytest.skip(f"{module} not built")
    assert out.stdout.strip() == ""
