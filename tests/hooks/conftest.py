from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small home from ../shared/tools/gen-agent-logs (with its append/ tail), made once."""
    tool = SHARED / "tools" / "gen-agent-logs"
    if not tool.is_file():
        pytest.skip("../shared is absent")
    out = tmp_path_factory.mktemp("gen") / "home"
    args = ["--claude-mb", "3", "--codex-mb", "2", "--append-kb", "50", "--seed", "3"]
    subprocess.run(
        [sys.executable, str(tool), "--out", str(out), *args], check=True, capture_output=True
    )
    return out
