from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tokennotes.cli import main
from tokennotes.config import load_config


def test_set_keeps_comments_and_shows(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".tokennotes.yml").write_text("# team settings\ntimezone: UTC  # keep\n")
    assert main(["budget", "-C", str(repo), "set", "5"]) == 0
    assert (
        main(
            [
                "budget",
                "-C",
                str(repo),
                "set",
                "2.50",
                "--period",
                "pr",
                "--tokens",
                "1_000_000",
                "--mode",
                "warn",
            ]
        )
        == 0
    )
    text = (repo / ".tokennotes.yml").read_text()
    assert text.startswith("# team settings\ntimezone: UTC  # keep\n")
    budget = load_config(repo).budget
    assert budget.weekly.usd == Decimal(5)
    assert (budget.pr.usd, budget.pr.tokens, budget.mode) == (Decimal("2.50"), 1_000_000, "warn")
    capsys.readouterr()
    assert main(["budget", "-C", str(repo), "show"]) == 0
    out = capsys.readouterr().out
    assert "pr      $2.50 and 1,000,000 tokens" in out
    assert "weekly  $5.00" in out and "daily   none" in out


def test_set_none_removes_the_limit(repo: Path) -> None:
    assert main(["budget", "-C", str(repo), "set", "7", "--period", "daily"]) == 0
    assert main(["budget", "-C", str(repo), "set", "none", "--period", "daily"]) == 0
    assert not load_config(repo).budget.daily.enabled


@pytest.mark.parametrize("amount", ["-3", "abc", "0", "NaN", "1e999999", "1000000000000"])
def test_bad_amounts_are_refused(
    repo: Path, amount: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["budget", "-C", str(repo), "set", amount]) == 1
    assert "tokennotes:" in capsys.readouterr().err
    assert not (repo / ".tokennotes.yml").exists()


@pytest.mark.parametrize("tokens", ["abc", "1e6", "1000000000000000"])
def test_a_bad_token_limit_writes_nothing(
    repo: Path, tokens: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """All or nothing: the dollar limit given with a bad token limit is not written either."""
    assert main(["budget", "-C", str(repo), "set", "5"]) == 0
    before = (repo / ".tokennotes.yml").read_text()
    assert main(["budget", "-C", str(repo), "set", "7", "--tokens", tokens]) == 1
    assert "tokennotes:" in capsys.readouterr().err
    assert (repo / ".tokennotes.yml").read_text() == before


def test_outside_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budget", "-C", str(tmp_path), "show"]) == 1
    assert "not inside a git repository" in capsys.readouterr().err
