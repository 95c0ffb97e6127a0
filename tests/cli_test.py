from __future__ import annotations

import subprocess
import sys

import pytest

from tokennotes import __version__
from tokennotes.cli import COMMANDS, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tokennotes {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("scan", "record", "report"):
        assert name in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: tokennotes" in capsys.readouterr().out


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert main(["scan", "--no-such-option"]) == 2


def test_every_command_module_exists() -> None:
    missing = []
    for name, module in COMMANDS.items():
        try:
            __import__(module)
        except ModuleNotFoundError as exc:
            missing.append(f"{name}: {exc}")
    assert missing == []


def test_python_dash_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tokennotes", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("tokennotes ")
