from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git
from tokennotes.cli import main
from tokennotes.hooks.manual import (
    CHARS_PER_TOKEN,
    PendingEntry,
    consume_pending,
    estimate_tokens,
    ledger_path,
    pending_record,
    read_pending,
)
from tokennotes.record import Tokens


def common(repo: Path) -> Path:
    return repo / ".git"


def test_estimate_rule() -> None:
    assert CHARS_PER_TOKEN == 4
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("é" * 8) == 2  # code points, not bytes


def test_log_manual_entry(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "log",
            "-C",
            str(repo),
            "--model",
            "gpt-5",
            "--agent",
            "chatgpt",
            "--input",
            "1200",
            "--output",
            "300",
            "--json",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    entries, problems = read_pending(common(repo))
    assert problems == []
    assert [e.to_json() for e in entries] == [printed]
    entry = entries[0]
    assert (entry.agent, entry.model, entry.fidelity) == ("chatgpt", "gpt-5", "manual")
    assert entry.tokens == Tokens(input=1200, output=300)
    assert entry.ts.endswith("Z") and len(entry.id) == 32
    assert len(entry.session) == 16
    # the ledger is under the git dir, never in the work tree
    assert ledger_path(common(repo)).is_file()
    assert git(repo, "status", "--porcelain") == ""


def test_log_estimated_entry(repo: Path, tmp_path: Path) -> None:
    chat = tmp_path / "chat.txt"
    chat.write_text("x" * 4001)
    answer = tmp_path / "answer.txt"
    answer.write_text("y" * 400)
    assert (
        main(
            [
                "log",
                "-C",
                str(repo),
                "--model",
                "claude-sonnet-4-5",
                "--agent",
                "cursor",
                "--estimate-text",
                str(chat),
                "--estimate-output-text",
                str(answer),
                "--output",
                "10",
            ]
        )
        == 0
    )
    (entry,), _ = read_pending(common(repo))
    assert entry.fidelity == "estimated"
    assert entry.tokens == Tokens(input=1001, output=110)


def test_log_from_a_linked_worktree_shares_the_ledger(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt))
    assert main(["log", "-C", str(wt), "--model", "m", "--input", "5"]) == 0
    entries, _ = read_pending(common(repo))
    assert len(entries) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "5"], "--model is required"),
        (["--model", "  ", "--input", "5"], "--model is required"),
        (["--model", "m"], "nothing to log"),
        (["--model", "m", "--input", "-3"], "must not be negative"),
        (["--model", "m", "--output", str(10**15)], "--output must be below 10**15"),
        (["--model", "m", "--estimate-text", "/nonexistent/chat.txt"], "cannot read"),
    ],
)
def test_log_user_errors(
    repo: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["log", "-C", str(repo), *argv]) == 1
    assert message in capsys.readouterr().err
    assert not ledger_path(common(repo)).exists()


def test_an_estimate_past_the_count_limit_is_refused_not_lost(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hook would skip such an entry as unreadable and warn about it at every commit."""
    (tmp_path / "chat.txt").write_text("hello world\n")
    argv = [
        "--model",
        "m",
        "--input",
        str(10**15 - 1),
        "--estimate-text",
        str(tmp_path / "chat.txt"),
    ]
    assert main(["log", "-C", str(repo), *argv]) == 1
    assert "cannot log this entry: tokens.input: must be below 10**15" in capsys.readouterr().err
    assert not ledger_path(common(repo)).exists()


def test_list_and_clear(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in (1, 2):
        assert main(["log", "-C", str(repo), "--model", "m", "--input", str(n)]) == 0
    capsys.readouterr()
    assert main(["log", "-C", str(repo), "--list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 entries queued for the next commit")
    assert main(["log", "-C", str(repo), "--clear", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["pending"]) == 2
    assert read_pending(common(repo)) == ([], [])


def test_consume_keeps_other_and_bad_lines(repo: Path) -> None:
    for n in (1, 2, 3):
        assert main(["log", "-C", str(repo), "--model", "m", "--input", str(n)]) == 0
    path = ledger_path(common(repo))
    with open(path, "a") as fh:
        fh.write("not json\n")
        fh.write('{"id": "x"}\n')
    entries, problems = read_pending(common(repo))
    assert [e.tokens.input for e in entries] == [1, 2, 3]
    assert len(problems) == 2
    consume_pending(common(repo), [entries[0].id, entries[2].id])
    left, problems = read_pending(common(repo))
    assert [e.tokens.input for e in left] == [2]
    assert len(problems) == 2  # unreadable lines are kept for a person to look at
    consume_pending(common(repo), [])
    consume_pending(common(repo), [left[0].id])
    assert path.read_text() == 'not json\n{"id": "x"}\n'


def test_pending_record_id_is_fixed_by_the_entry() -> None:
    entry = PendingEntry(
        id="e" * 32,
        ts="2026-11-20T10:00:00.000000Z",
        agent="cursor",
        model="gpt-5",
        tokens=Tokens(input=10),
        fidelity="estimated",
    )
    one = pending_record(entry, commit="a" * 40, cost_usd=None, price_table="", host="h")
    two = pending_record(entry, commit="b" * 40, cost_usd=None, price_table="", host="h")
    assert one.id == two.id
    assert one.fidelity == "estimated" and one.session and one.first == entry.ts
