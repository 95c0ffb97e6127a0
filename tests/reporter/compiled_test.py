"""The opt-in compiled build: the wheel ``pyproject.toml`` builds with mypyc passes the reporter
tests.

mypyc compiles ``facts.py`` and ``aggregate.py`` to C with their annotations as runtime checks,
so a type that is wrong only at runtime, or a Python feature mypyc does not support, shows up
here and not in the pure-Python run of the same tests. The build needs a C compiler, hatchling
and hatch-mypyc (the ``test`` extra); without them the test is skipped. It builds offline
(``--no-build-isolation --no-index``) from a copy of the sources, since the build leaves the
compiled modules beside them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ("tokennotes/reporter/facts", "tokennotes/reporter/aggregate")


def _missing() -> str:
    """Why the compiled build cannot be made here ("" when it can)."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(os.environ.get("CC", compiler)) is None:
        return f"no C compiler ({compiler})"
    for module in ("hatchling", "hatch_mypyc", "mypyc"):
        if find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[test]')"
    return ""


def build_compiled(dest: Path, work: Path) -> Path:
    """Build the compiled wheel from a copy of the sources under ``work`` and unpack it into
    ``dest``; returns ``dest``."""
    src = work / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.so", "*.pyd")
    shutil.copytree(ROOT / "tokennotes", src / "tokennotes", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation",
            "--no-index", "--no-deps", "--wheel-dir", str(work / "dist"), str(src),
        ],
        env={**os.environ, "HATCH_BUILD_HOOK_ENABLE_MYPYC": "1"},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = (work / "dist").glob("tokennotes-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(dest)
    return dest


@pytest.mark.skipif(bool(_missing()), reason=_missing() or "can build")
def test_the_compiled_reporter_passes_the_reporter_tests(tmp_path: Path) -> None:
    site = build_compiled(tmp_path / "site", tmp_path)
    for module in COMPILED:
        assert list(site.glob(f"{module}.*.so")) or list(site.glob(f"{module}.*.pyd")), module
    # the reporter tests, run where the compiled package comes first on sys.path
    shutil.copytree(ROOT / "tests", site / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", site / "pyproject.toml")
    version = subprocess.run(
        [sys.executable, "-m", "tokennotes", "--version"],
        cwd=site, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "compiled with mypyc" in version
    tests = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reporter",
            "--deselect", "tests/reporter/compiled_test.py",
        ],
        cwd=site, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-4000:]
    assert " passed" in tests.stdout.splitlines()[-1]
