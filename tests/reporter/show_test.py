from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import git
from tokennotes.cli import main
from tokennotes.notes import write_note
from tokennotes.record import OutputRecord, Tokens, UsageRecord, dump_record
from tokennotes.reporter.show import build_receipt, render_receipt


def usage(**overrides: object) -> UsageRecord:
    fields: dict[str, object] = {
        "id": "u1",
        "ts": "2026-11-20T10:04:05Z",
        "agent": "claude",
        "model": "claude-sonnet-4-5",
        "session": "s" * 16,
        "first": "2026-11-20T10:00:00Z",
        "last": "2026-11-20T10:04:05Z",
        "messages": 3,
        "tokens": Tokens(input=1200, output=5400, cache_read=250000, cache_write=18000),
        "cost_usd": Decimal("0.4123"),
        "price_table": "t1",
        "host": "h" * 8,
    }
    fields.update(overrides)
    return UsageRecord(**fields)  # type: ignore[arg-type]


def output(**overrides: object) -> OutputRecord:
    fields: dict[str, object] = {
        "id": "o1",
        "ts": "2026-11-20T10:05:00Z",
        "commit": "c" * 40,
        "type": "feature",
        "items": 1,
        "points": 5,
        "files": 4,
        "insertions": 120,
        "deletions": 8,
        "rule": "conventional:feat",
        "author": "a@b.c",
        "branch": "topic",
    }
    fields.update(overrides)
    return OutputRecord(**fields)  # type: ignore[arg-type]


def note(*records: UsageRecord | OutputRecord) -> str:
    return "".join(f"{dump_record(r)}\n" for r in records)


def test_receipt_sums_by_agent_model_and_fidelity() -> None:
    text = note(
        usage(),
        usage(
            id="u2",
            session="t" * 16,
            tokens=Tokens(input=10, output=20),
            cost_usd=Decimal("0.0003"),
        ),
        usage(id="u1"),  # a duplicate id counts once
        usage(
            id="m1",
            agent="chatgpt",
            model="gpt-5",
            fidelity="manual",
            tokens=Tokens(input=100),
            cost_usd=Decimal("0.000125"),
        ),
        output(),
        output(id="o2", type="script", items=2, points=10, rule="path:script"),
    )
    receipt = build_receipt(text + "garbage line\n", commit="c" * 40, subject="feat: x")
    assert [(r.agent, r.model, r.fidelity, r.records) for r in receipt.usage] == [
        ("chatgpt", "gpt-5", "manual", 1),
        ("claude", "claude-sonnet-4-5", "exact", 2),
    ]
    claude = receipt.usage[1]
    assert claude.tokens == Tokens(input=1210, output=5420, cache_read=250000, cache_write=18000)
    assert claude.cost_usd == Decimal("0.4126")
    assert receipt.cost_usd == Decimal("0.412725")
    assert (receipt.items, receipt.points) == (3, 15)
    assert receipt.fidelity == {"exact": 2, "manual": 1}
    assert receipt.skipped == 1
    data = receipt.to_json()
    assert data["tokens"]["total"] == 1210 + 5420 + 250000 + 18000 + 100
    assert data["cost_usd"] == "0.412725"
    assert [o["type"] for o in data["output"]] == ["script", "feature"]
    assert data["points_per_usd"] == f"{Decimal(15) / Decimal('0.412725'):.2f}"


def test_unpriced_usage_makes_the_cost_unknown() -> None:
    receipt = build_receipt(
        note(usage(), usage(id="u9", model="mystery-1", cost_usd=None)), commit="c" * 40
    )
    assert receipt.cost_usd is None
    assert receipt.priced_usd == Decimal("0.4123")
    assert receipt.unpriced_models == ["mystery-1"]
    text = render_receipt(receipt)
    assert "unpriced: mystery-1 (priced part $0.4123)" in text
    assert "no output record on this commit" in text


def test_superseded_output_is_dropped() -> None:
    receipt = build_receipt(
        note(output(), output(id="o3", type="fix", points=3, supersedes=("o1",))),
        commit="c" * 40,
    )
    assert [r.type for r in receipt.output] == ["fix"]


def test_show_command_table_and_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sha = git(repo, "rev-parse", "HEAD").strip()
    write_note(repo, sha, [dump_record(usage()), dump_record(output(commit=sha))])
    assert main(["show", "-C", str(repo)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"commit  {sha}  initial\n")
    assert "claude / claude-sonnet-4-5" in text
    assert "274,600" in text and "$0.4123" in text
    assert "feature" in text and "conventional:feat" in text
    assert "points 5, items 1; fidelity: exact 1" in text
    assert main(["show", "-C", str(repo), "--json", sha[:10]]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["commit"] == sha
    assert data["subject"] == "initial"
    assert data["author"] == "author@example.com"
    assert data["usage"][0]["tokens"]["total"] == 274600
    assert data["points"] == 5


def test_show_a_commit_without_a_note(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # no notes ref at all: say so, with how to get the notes
    assert main(["show", "-C", str(repo)]) == 1
    assert "refs/notes/ai-tokens does not exist" in capsys.readouterr().err
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    write_note(repo, tree, [dump_record(usage())])  # the ref exists; HEAD has no note
    assert main(["show", "-C", str(repo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["usage"] == [] and data["output"] == [] and data["cost_usd"] == "0"
    assert main(["show", "-C", str(repo)]) == 0
    assert "no agent usage recorded" in capsys.readouterr().out


def test_show_unknown_revision(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "-C", str(repo), "no-such-rev"]) == 1
    assert "no-such-rev: not a commit here" in capsys.readouterr().err


def test_show_a_note_on_a_tree(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`tokennotes report` lists every annotated object; `show` shows a note on a non-commit
    too (git log prints nothing for one)."""
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    write_note(repo, tree, [dump_record(usage())])
    assert main(["show", "-C", str(repo), "--json", tree[:12]]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["commit"], data["subject"], data["cost_usd"]) == (tree, "(tree)", "0.4123")


@pytest.mark.parametrize(
    "ref", ["refs/heads/main", "refs/notes/", "refs/notes/a..b", "refs/notes/.x"]
)
def test_a_ref_outside_refs_notes_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    for command in ("show", "report", "dashboard"):
        assert main([command, "--ref", ref]) == 2
        assert "is not a notes ref; use refs/notes/NAME" in capsys.readouterr().err


def test_show_other_notes_ref(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_note(repo, "HEAD", [dump_record(output())], "refs/notes/elsewhere")
    assert main(["show", "-C", str(repo), "--json", "--ref", "refs/notes/elsewhere"]) == 0
    assert json.loads(capsys.readouterr().out)["points"] == 5
    assert main(["show", "-C", str(repo), "--json", "--ref", "elsewhere"]) == 0  # as git takes it
    assert json.loads(capsys.readouterr().out)["points"] == 5


def test_show_never_imports_matplotlib(repo: Path) -> None:
    code = (
        "import sys; from tokennotes.cli import main; "
        f"main(['show', '-C', {str(repo)!r}]); "
        "bad = [m for m in ('matplotlib', 'pygit2', 'jinja2', 'requests') if m in sys.modules]; "
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_receipt_is_safe_for_a_terminal() -> None:
    """A note is written by whoever can push the notes ref: escape sequences, line breaks and
    bidirectional controls in its strings (or the commit's subject) must not reach a terminal."""
    text = note(
        usage(model="m\x1b]0;pwned\x07\x1b[2J", agent="claude\u202e"),
        output(rule="x\ny", type="feature\x9b31m"),
    )
    receipt = build_receipt(text, commit="c" * 40, subject="fix\x1b[31m red\r\nforged line")
    shown = render_receipt(receipt)
    assert not {c for c in shown if ord(c) < 32 and c != "\n"}
    assert "\x9b" not in shown and "\u202e" not in shown
    assert "m?]0;pwned??[2J" in shown and "fix?[31m red??forged line" in shown
    assert shown.count("\n") == render_receipt(
        build_receipt(note(usage(), output()), commit="c" * 40)
    ).count("\n")
