from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git
from tokennotes.cli import main
from tokennotes.hooks.attribute import iso_from_ns, ts_key
from tokennotes.hooks.manual import read_pending
from tokennotes.notes import read_note
from tokennotes.record import OutputRecord, Tokens, UsageRecord, dedupe, parse_note, short_hash

REF = "refs/notes/ai-tokens"
SONNET = "claude-sonnet-4-5-20250929"
# USD per million tokens of SONNET: input, output, cache read, cache write (5m)
SONNET_PRICES = (Decimal(3), Decimal(15), Decimal("0.3"), Decimal("3.75"))


def iso(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class ClaudeLog:
    """A Claude Code transcript in the real JSONL shape, written line by line like the agent."""

    projects: Path
    cwd: Path
    session: str = "6f1c9a52-2b1e-4d7a-9c3e-0a1b2c3d4e01"
    spent: Tokens = field(default_factory=Tokens)
    count: int = 0

    @property
    def path(self) -> Path:
        encoded = re.sub(r"[^A-Za-z0-9]", "-", str(self.cwd))
        return self.projects / encoded / f"{self.session}.jsonl"

    def write(self, obj: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def respond(
        self,
        *,
        input: int = 10,
        output: int = 200,
        cache_read: int = 5000,
        cache_write: int = 800,
        model: str = SONNET,
        ts: str | None = None,
        cwd: Path | None = None,
        streamed: bool = True,
    ) -> str:
        """One API response: a user prompt, then (streamed) assistant lines sharing an id."""
        self.count += 1
        # message ids are unique across all sessions and files, as Anthropic's are
        msg_id = f"msg_{short_hash(f'{self.session}{self.cwd}', 12)}_{self.count:04d}"
        ts = ts or iso()
        where = str(cwd or self.cwd)
        base = {
            "isSidechain": False,
            "userType": "external",
            "cwd": where,
            "sessionId": self.session,
            "version": "2.0.55",
            "gitBranch": "main",
        }
        self.write(
            {
                **base,
                "type": "user",
                "uuid": f"u{self.count}",
                "timestamp": ts,
                "message": {"role": "user", "content": "please fix the parser"},
            }
        )
        outputs = [min(1, output), output] if streamed else [output]
        for n, out in enumerate(outputs):
            self.write(
                {
                    **base,
                    "parentUuid": f"u{self.count}",
                    "type": "assistant",
                    "uuid": f"a{self.count}-{n}",
                    "timestamp": ts,
                    "requestId": f"req_{self.count:04d}",
                    "message": {
                        "model": model,
                        "id": msg_id,
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "text", "text": "Applying edits."}],
                        "stop_reason": "end_turn" if n == len(outputs) - 1 else None,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": input,
                            "cache_creation_input_tokens": cache_write,
                            "cache_read_input_tokens": cache_read,
                            "cache_creation": {
                                "ephemeral_5m_input_tokens": cache_write,
                                "ephemeral_1h_input_tokens": 0,
                            },
                            "output_tokens": out,
                            "service_tier": "standard",
                        },
                    },
                }
            )
        if cwd is None:
            self.spent = self.spent + Tokens(
                input=input, output=output, cache_read=cache_read, cache_write=cache_write
            )
        return msg_id


def sonnet_cost(tokens: Tokens) -> Decimal:
    rates = SONNET_PRICES
    amounts = (tokens.input, tokens.output, tokens.cache_read, tokens.cache_write)
    return sum((Decimal(n) * r for n, r in zip(amounts, rates, strict=True)), Decimal(0)) / (
        Decimal(10) ** 6
    )


def records_on(repo: Path, rev: str = "HEAD") -> list[UsageRecord | OutputRecord]:
    return parse_note(read_note(repo, rev, REF)).records


def usage_on(repo: Path, rev: str = "HEAD") -> list[UsageRecord]:
    return [r for r in records_on(repo, rev) if isinstance(r, UsageRecord)]


def output_on(repo: Path, rev: str = "HEAD") -> list[OutputRecord]:
    live, _ = dedupe(records_on(repo, rev))
    return [r for r in live if isinstance(r, OutputRecord)]


def total(records: list[UsageRecord]) -> Tokens:
    out = Tokens()
    for r in records:
        out = out + r.tokens
    return out


def commit(repo: Path, message: str, path: str = "src/app.py", text: str | None = None) -> str:
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "a") as fh:
        fh.write(text if text is not None else f"# {message}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def record(repo: Path, *args: str) -> int:
    return main(["record", "-C", str(repo), *args])


def install_hook(repo: Path) -> None:
    """A plain git post-commit hook running this checkout's `tokennotes record --hook`."""
    hooks = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    if not hooks.is_absolute():
        hooks = repo / hooks
    hook = hooks / "hooks" / "post-commit"
    hook.parent.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    hook.write_text(
        f"#!/bin/sh\nPYTHONPATH={root} exec {sys.executable} -m tokennotes record --hook\n"
    )
    hook.chmod(0o755)


@pytest.fixture
def home(isolated_env: Path) -> Path:
    return isolated_env


@pytest.fixture
def log(home: Path, repo: Path) -> ClaudeLog:
    return ClaudeLog(home / ".claude" / "projects", repo)


@pytest.fixture
def configured(repo: Path) -> Path:
    """The repository with a (default) `.tokennotes.yml` committed."""
    (repo / ".tokennotes.yml").write_text("# tokennotes: defaults\n")
    git(repo, "add", ".tokennotes.yml")
    git(repo, "commit", "-q", "-m", "chore: tokennotes config")
    return repo


def state_watermark(repo: Path) -> str | None:
    db = sqlite3.connect(repo / ".git" / "tokennotes" / "state.sqlite")
    try:
        row = db.execute("SELECT v FROM meta WHERE k = 'watermark'").fetchone()
    finally:
        db.close()
    return None if row is None else str(row[0])


# -- attribution ------------------------------------------------------------------------------


def test_commit_gets_the_spend_in_its_repository(
    configured: Path, log: ClaudeLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = configured
    log.respond(input=12, output=340, cache_read=9000, cache_write=1200)
    log.respond(input=3, output=50, cache_read=11000, cache_write=0, cwd=repo / "src")
    log.spent = log.spent + Tokens(input=3, output=50, cache_read=11000)  # below the root
    other = ClaudeLog(log.projects, tmp_path / "elsewhere", session="other-session")
    other.respond(input=999, output=999)
    sibling = ClaudeLog(log.projects, Path(f"{repo}-old"), session="sibling")
    sibling.respond(input=777)  # a sibling directory sharing the name's prefix
    sha = commit(repo, "feat(parser): streaming input")
    assert record(repo) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert f"{sha[:12]}: 1 usage record(s)" in out.out
    usage = usage_on(repo)
    assert len(usage) == 1
    (rec,) = usage
    assert rec.tokens == log.spent
    assert rec.messages == 2
    assert rec.agent == "claude" and rec.model == SONNET and rec.fidelity == "exact"
    assert rec.session == short_hash(log.session, 16)
    assert len(rec.host) == 8 and rec.commit == sha
    assert rec.cost_usd == sonnet_cost(log.spent)
    assert rec.price_table
    (shipped,) = output_on(repo)
    assert (shipped.type, shipped.items, shipped.points, shipped.rule) == (
        "feature",
        1,
        5,
        "conventional:feat",
    )
    assert (shipped.commit, shipped.author, shipped.branch) == (sha, "author@example.com", "main")
    assert (shipped.files, shipped.insertions, shipped.deletions) == (1, 1, 0)
    # the note is canonical: sorted unique lines, each the record's canonical JSON
    text = read_note(repo, "HEAD", REF)
    lines = text.splitlines()
    assert lines == sorted(set(lines)) and text.endswith("\n")
    for line in lines:
        assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"))
    assert "elsewhere" not in text and str(repo) not in text  # no raw paths
    # the watermark moved to the commit's time
    mark = state_watermark(repo)
    committed = int(git(repo, "log", "-1", "--format=%ct").strip())
    assert mark is not None and ts_key(mark) == ts_key(iso_from_ns(committed * 1_000_000_000))


def test_next_commit_carries_only_new_spend(configured: Path, log: ClaudeLog) -> None:
    repo = configured
    log.respond(output=100)
    first = commit(repo, "fix: one")
    assert record(repo) == 0
    spent_first = log.spent
    log.respond(output=7, input=1, cache_read=2, cache_write=3)
    second = commit(repo, "fix: two")
    assert record(repo) == 0
    assert total(usage_on(repo, first)) == spent_first
    assert total(usage_on(repo, second)) == Tokens(input=1, output=7, cache_read=2, cache_write=3)
    # no new spend: a usage-free commit still ships output
    third = commit(repo, "docs: readme", path="README.md")
    assert record(repo) == 0
    assert usage_on(repo, third) == []
    assert [r.type for r in output_on(repo, third)] == ["docs"]


def test_a_response_flushed_after_the_previous_run_goes_to_the_next_commit(
    configured: Path, log: ClaudeLog
) -> None:
    """A response stamped before a commit but on disk only after its hook ran is counted once,
    on the next commit; history older than the grace, in a log first met later, stays out."""
    repo = configured
    log.respond(output=100)
    first = commit(repo, "fix: one")
    assert record(repo) == 0
    committed = int(git(repo, "log", "-1", "--format=%ct").strip())
    before = datetime.fromtimestamp(committed - 30, timezone.utc)
    late = Tokens(input=4, output=44, cache_read=400, cache_write=40)
    log.respond(input=4, output=44, cache_read=400, cache_write=40, ts=iso(before), streamed=False)
    resumed = ClaudeLog(log.projects, repo, session="resumed-session")
    long_ago = datetime.fromtimestamp(committed - 3600, timezone.utc)
    resumed.respond(input=900, output=900, ts=iso(long_ago), streamed=False)
    second = commit(repo, "fix: two")
    assert record(repo) == 0
    assert total(usage_on(repo, first)) == Tokens(input=10, output=100, cache_read=5000,
                                                  cache_write=800)  # fmt: skip
    assert total(usage_on(repo, second)) == late
    third = commit(repo, "fix: three")  # read once, counted once
    assert record(repo) == 0
    assert usage_on(repo, third) == []


def completed_across_a_commit(repo: Path, complete: Callable[[], object]) -> UsageRecord:
    """Commit and record while a response is incomplete on disk (no usage yet), ``complete``
    it, commit and record again: the second commit's one usage record."""
    first = commit(repo, "fix: one")
    assert record(repo) == 0
    assert usage_on(repo, first) == []  # not a response yet
    complete()
    second = commit(repo, "fix: two")
    assert record(repo) == 0
    (rec,) = usage_on(repo, second)
    return rec


def test_gemini_tokens_filled_in_after_the_hook_ran_are_not_lost(
    configured: Path, home: Path
) -> None:
    """Gemini CLI appends a response with ``tokens: null`` when it starts and again with its
    tokens when it ends; a commit in between must leave them to the next commit."""
    from tests.hooks.logwriters_go import (
        gemini_meta,
        gemini_reply,
        gemini_tokens,
        gemini_user,
        make_gemini_home,
        make_project,
        project_hash,
        write_jsonl,
    )

    repo = configured
    sid = "0b7e4c1a-9d2f-4e3a-8b5c-6d7e8f901234"
    chats = make_project(make_gemini_home(home), "repo", str(repo)) / "chats"
    path = chats / f"session-2026-11-20T10-00-{sid[:8]}.jsonl"
    started = iso(datetime.now(timezone.utc) - timedelta(seconds=20))
    meta = gemini_meta(sid, project_hash(str(repo)), started, kind="main")
    write_jsonl(path, [meta, gemini_user("u1", started), gemini_reply("r1", started)])
    tokens = gemini_tokens(7000, 300, cached=5000)
    rec = completed_across_a_commit(
        repo, lambda: write_jsonl(path, [gemini_reply("r1", started, tokens)], mode="a")
    )
    assert rec.agent == "gemini"
    assert (rec.tokens.input, rec.tokens.cache_read, rec.tokens.output) == (2000, 5000, 300)


def test_an_opencode_row_completed_after_the_hook_ran_is_not_lost(
    configured: Path, home: Path
) -> None:
    """OpenCode stores a response's row when it starts, with zero counters, and fills them in
    when it ends; a commit in between must leave the response to the next commit."""
    from tests.hooks.logwriters_go import (
        add_message,
        add_session,
        make_opencode_v1,
        opencode_assistant,
        update_message,
    )

    repo = configured
    db = make_opencode_v1(home / ".local" / "share" / "opencode" / "opencode.db")
    add_session(db, "ses_app", str(repo))
    created = int(time.time() * 1000) - 20_000
    add_message(db, "msg_1", "ses_app", opencode_assistant(created, cwd=str(repo)))
    done = opencode_assistant(
        created, completed=created + 15_000, tokens=(40, 380, 0, 5000, 200), cwd=str(repo)
    )
    rec = completed_across_a_commit(
        repo, lambda: update_message(db, "msg_1", done, updated=int(time.time() * 1000))
    )
    db.close()
    assert rec.agent == "opencode"
    assert (rec.tokens.input, rec.tokens.output, rec.tokens.cache_read) == (40, 380, 5000)


def test_a_response_streamed_across_a_commit_is_split_not_lost(
    configured: Path, log: ClaudeLog
) -> None:
    repo = configured
    log.respond(output=40)
    lines = log.path.read_text().splitlines(keepends=True)
    final = lines.pop()  # the response's last line (final output count) is not written yet
    log.path.write_text("".join(lines))
    first = commit(repo, "one")
    assert record(repo) == 0
    assert total(usage_on(repo, first)).output == 1  # the placeholder count seen so far
    with open(log.path, "a") as fh:
        fh.write(final)
    second = commit(repo, "two")
    assert record(repo) == 0
    grown = usage_on(repo, second)
    assert total(grown) == Tokens(output=39)  # only the growth, dated by the response
    assert grown[0].messages == 0  # no new response, the same one grew
    assert total(usage_on(repo, first) + grown) == log.spent


def test_first_commit_looks_back_to_the_parent_within_the_bound(repo: Path, log: ClaudeLog) -> None:
    now = datetime.now(timezone.utc)
    log.respond(output=1, ts=iso(now - timedelta(hours=30)))  # before the 24 h bound
    log.respond(output=2, ts=iso(now - timedelta(hours=2)))  # before the parent commit
    parent_time = now - timedelta(hours=1)
    env = {"GIT_COMMITTER_DATE": parent_time.strftime("%Y-%m-%dT%H:%M:%S+0000")}
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "parent", env=env)
    log.respond(output=4, ts=iso(now - timedelta(minutes=30)))
    commit(repo, "child")
    assert record(repo) == 0
    assert total(usage_on(repo)).output == 4


def test_root_commit_looks_back_the_whole_bound(tmp_path: Path, home: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    log = ClaudeLog(home / ".claude" / "projects", repo)
    now = datetime.now(timezone.utc)
    log.respond(output=1, ts=iso(now - timedelta(hours=25)))
    log.respond(output=2, ts=iso(now - timedelta(hours=23)))
    (repo / ".tokennotes.yml").write_text("attribution:\n  max_lookback: 24h\n")
    commit(repo, "first")
    assert record(repo) == 0
    assert total(usage_on(repo)).output == 2


def test_records_per_session_and_model_with_stable_ids(configured: Path, log: ClaudeLog) -> None:
    repo = configured
    log.respond(output=10)
    log.respond(output=20, model="claude-haiku-4-5-20251001")
    second = ClaudeLog(log.projects, repo, session="a second session")
    second.respond(output=40)
    unknown = ClaudeLog(log.projects, repo, session="third")
    unknown.respond(output=80, model="mystery-model-9")
    commit(repo, "x")
    assert record(repo, "--dry-run", "--json") == 0
    assert record(repo, "--dry-run", "--json") == 0
    assert record(repo) == 0
    usage = usage_on(repo)
    assert sorted((r.model, r.tokens.output) for r in usage) == [
        ("claude-haiku-4-5-20251001", 20),
        (SONNET, 10),
        (SONNET, 40),
        ("mystery-model-9", 80),
    ]
    assert len({r.id for r in usage}) == 4
    assert [r.cost_usd for r in usage if r.model == "mystery-model-9"] == [None]
    haiku = next(r for r in usage if r.model.startswith("claude-haiku"))
    assert haiku.cost_usd is not None and haiku.cost_usd > 0


def test_dry_run_and_json_show_what_would_be_written(
    configured: Path, log: ClaudeLog, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = configured
    log.respond(output=100)
    commit(repo, "feat: thing")
    capsys.readouterr()
    assert record(repo, "--dry-run") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines == sorted(lines)
    assert record(repo, "--dry-run", "--json") == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["action"] == "dry-run" and dry["lines"] == lines
    assert {r["kind"] for r in dry["records"]} == {"usage", "output"}
    assert dry["window"]["start"] < dry["window"]["end"]
    # nothing was written, the watermark did not move
    assert read_note(repo, "HEAD", REF) == ""
    assert not (repo / ".git" / "tokennotes" / "state.sqlite").exists() or (
        state_watermark(repo) is None
    )
    # the real run writes the same lines (same ids: deterministic) and says so with --json
    assert record(repo, "--json") == 0
    real = json.loads(capsys.readouterr().out)
    assert real["action"] == "recorded" and real["lines"] == lines
    assert read_note(repo, "HEAD", REF).splitlines() == lines


def test_pending_manual_entries_go_on_the_next_commit(
    configured: Path, log: ClaudeLog, tmp_path: Path
) -> None:
    repo = configured
    chat = tmp_path / "chat.txt"
    chat.write_text("w" * 400)
    assert (
        main(
            [
                "log",
                "-C",
                str(repo),
                "--model",
                "gpt-5",
                "--agent",
                "chatgpt",
                "--input",
                "1000",
                "--output",
                "500",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "log",
                "-C",
                str(repo),
                "--model",
                "gpt-5",
                "--agent",
                "cursor",
                "--estimate-text",
                str(chat),
            ]
        )
        == 0
    )
    log.respond(output=9)
    sha = commit(repo, "feat: pasted")
    assert record(repo, "--dry-run") == 0
    assert len(read_pending(repo / ".git")[0]) == 2  # a dry run consumes nothing
    assert record(repo) == 0
    by_agent = {r.agent: r for r in usage_on(repo, sha)}
    assert set(by_agent) == {"claude", "chatgpt", "cursor"}
    assert by_agent["chatgpt"].fidelity == "manual"
    assert by_agent["chatgpt"].tokens == Tokens(input=1000, output=500)
    assert by_agent["cursor"].fidelity == "estimated"
    assert by_agent["cursor"].tokens == Tokens(input=100)
    assert by_agent["chatgpt"].cost_usd is not None
    assert read_pending(repo / ".git") == ([], [])
    commit(repo, "next")
    assert record(repo) == 0
    assert usage_on(repo) == []


def test_prose_words_and_path_types(configured: Path) -> None:
    repo = configured
    (repo / "posts").mkdir()
    (repo / "posts" / "hello.md").write_text("# Hello\n\nFive words in this line.\n")
    (repo / "drafts").mkdir()
    (repo / "drafts" / "a.md").write_text("one two\n")
    (repo / "drafts" / "b.md").write_text("three\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "publish")
    assert record(repo) == 0
    shipped = {r.type: r for r in output_on(repo)}
    assert {t: (r.items, r.points, r.words) for t, r in shipped.items()} == {
        "post": (1, 10, 7),
        "draft": (2, 4, 3),
    }


def test_merge_commit_ships_nothing_itself(configured: Path) -> None:
    repo = configured
    git(repo, "checkout", "-q", "-b", "topic")
    commit(repo, "feat: on topic", path="topic.py")
    git(repo, "checkout", "-q", "main")
    commit(repo, "fix: on main", path="main.py")
    git(repo, "merge", "-q", "--no-edit", "topic")
    assert record(repo) == 0
    assert output_on(repo) == []


# -- rewrites, through a real post-commit hook ------------------------------------------------


@pytest.fixture
def hooked(configured: Path) -> Path:
    install_hook(configured)
    # the first run writes the per-clone notes config (notes.rewriteRef, ...)
    commit(configured, "chore: start")
    assert git(configured, "config", "--get", "notes.rewriteRef").strip() == REF
    return configured


def all_usage_ids(repo: Path, revs: str = "HEAD") -> list[str]:
    shas = git(repo, "rev-list", revs).split()
    return [r.id for sha in shas for r in usage_on(repo, sha)]


def test_amend_keeps_records_and_supersedes_output(hooked: Path, log: ClaudeLog) -> None:
    repo = hooked
    log.respond(output=100)
    old = commit(repo, "fix: first try")
    old_output = output_on(repo, old)
    log.respond(output=30)
    (repo / "src" / "more.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--amend", "-m", "feat: proper")
    new = git(repo, "rev-parse", "HEAD").strip()
    assert new != old
    usage = usage_on(repo, new)
    assert sum(r.tokens.output for r in usage) == 130  # both runs' spend, once each
    assert len({r.id for r in usage}) == len(usage) == 2
    live = output_on(repo, new)
    assert [(r.type, r.commit) for r in live] == [("feature", new)]
    assert live[0].supersedes == tuple(r.id for r in old_output)


def test_rebase_squash_and_cherry_pick_keep_records_once(
    hooked: Path, log: ClaudeLog, tmp_path: Path
) -> None:
    repo = hooked
    base = git(repo, "rev-parse", "HEAD").strip()
    spent = []
    for n in (1, 2, 3):
        log.respond(output=n * 100)
        commit(repo, f"feat: step {n}", path=f"step{n}.py")
        spent.append(n * 100)
    before = sorted(all_usage_ids(repo, f"{base}..HEAD"))
    assert len(before) == 3
    # squash the last two into the first, non-interactively
    script = tmp_path / "squash.sed"
    script.write_text("2,$ s/^pick/squash/\n")
    env = {"GIT_SEQUENCE_EDITOR": f"sed -i -f {script}", "GIT_EDITOR": "true"}
    git(repo, "rebase", "-q", "-i", base, env=env)
    assert git(repo, "rev-list", "--count", f"{base}..HEAD").strip() == "1"
    after = sorted(all_usage_ids(repo, f"{base}..HEAD"))
    assert after == before
    assert sum(r.tokens.output for r in usage_on(repo)) == sum(spent)
    note = read_note(repo, "HEAD", REF)
    assert "\n\n" not in note and note.splitlines() == sorted(set(note.splitlines()))
    # no new spend was attributed during the rebase: the watermark-based window is untouched
    log.respond(output=5)
    squashed = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "release", base)
    git(repo, "cherry-pick", squashed)
    picked = git(repo, "rev-parse", "HEAD").strip()
    assert sorted(r.id for r in usage_on(repo, picked)) == before
    assert read_note(repo, picked, REF) == note  # copied line for line, nothing added
    # the spend made before the cherry-pick goes to the next ordinary commit
    commit(repo, "fix: after pick", path="after.py")
    assert total(usage_on(repo)).output == 5


def pick_with_conflict(repo: Path, source: str, resolved: str, finish: str = "commit") -> str:
    """Cherry-pick ``source`` onto a branch whose shared.py conflicts with it, write
    ``resolved`` there and finish the pick (``git commit`` or ``cherry-pick --continue``)."""
    result = subprocess.run(
        ["git", "cherry-pick", source], cwd=repo, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "conflict" in result.stdout.lower()
    (repo / "shared.py").write_text(resolved)
    git(repo, "add", "shared.py")
    if finish == "commit":
        git(repo, "commit", "-q", "--no-edit")
    else:
        git(repo, "cherry-pick", "--continue", env={"GIT_EDITOR": "true"})
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize("finish", ["commit", "continue"])
def test_a_cherry_pick_finished_after_a_conflict_copies_its_source(
    hooked: Path, log: ClaudeLog, finish: str
) -> None:
    """Git removes CHERRY_PICK_HEAD before post-commit when a conflicted pick is finished; the
    reflog still says it was a pick, and the source is found by its author line and subject."""
    repo = hooked
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "topic")
    log.respond(output=100)
    source = commit(repo, "feat: shared change", path="shared.py", text="topic\n")
    source_note = read_note(repo, source, REF)
    assert total(usage_on(repo, source)).output == 100
    git(repo, "checkout", "-q", "-b", "release", base)
    log.respond(output=7)  # spent meanwhile: belongs to the next ordinary commit
    commit(repo, "fix: release tweak", path="shared.py", text="release\n")
    log.respond(output=3)
    picked = pick_with_conflict(repo, source, "release\ntopic\n", finish)
    assert picked != source
    assert read_note(repo, picked, REF) == source_note  # copied line for line, nothing added
    after = commit(repo, "fix: after the pick", path="after.py")
    assert total(usage_on(repo, after)).output == 3


def test_a_conflicted_pick_of_an_amended_commit_copies_the_amended_note(
    hooked: Path, log: ClaudeLog
) -> None:
    """The commit an amend replaced keeps its author line, subject and note, so two commits fit
    the pick; the amended one's note holds the other's lines, and it is the one copied."""
    repo = hooked
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "topic")
    log.respond(output=100)
    commit(repo, "feat: shared change", path="shared.py", text="topic\n")
    log.respond(output=20)
    (repo / "shared.py").write_text("topic v2\n")
    git(repo, "add", "shared.py")
    git(repo, "commit", "-q", "--amend", "--no-edit")
    source = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "release", base)
    commit(repo, "fix: release tweak", path="shared.py", text="release\n")
    log.respond(output=3)
    picked = pick_with_conflict(repo, source, "release\ntopic v2\n")
    assert read_note(repo, picked, REF) == read_note(repo, source, REF)
    after = commit(repo, "fix: after the pick", path="after.py")
    assert total(usage_on(repo, after)).output == 3


def test_a_pick_line_carried_over_by_an_amend_does_not_beat_the_amended_commit(
    hooked: Path, log: ClaudeLog
) -> None:
    """`cherry-pick -x A` gives S a `(cherry picked from commit A)` line, which an amend of S
    keeps; a conflicted pick of the amended S2 must copy S2's note, not A's."""
    repo = hooked
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "topic")
    log.respond(output=100)
    first = commit(repo, "feat: shared change", path="shared.py", text="topic\n")
    git(repo, "checkout", "-q", "-b", "stable", base)
    git(repo, "cherry-pick", "-x", first)  # clean: its note is copied
    log.respond(output=20)
    (repo / "more.py").write_text("more\n")
    git(repo, "add", "more.py")
    git(repo, "commit", "-q", "--amend", "--no-edit")
    amended = git(repo, "rev-parse", "HEAD").strip()
    assert total(usage_on(repo, amended)).output == 120
    git(repo, "checkout", "-q", "-b", "release", base)
    commit(repo, "fix: release tweak", path="shared.py", text="release\n")
    picked = pick_with_conflict(repo, amended, "release\ntopic\n")
    assert read_note(repo, picked, REF) == read_note(repo, amended, REF)


def test_pick_sources_match_the_author_line_and_the_subject(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tokennotes.hooks.record import pick_sources

    repo = configured
    when = {"GIT_AUTHOR_DATE": "@1795435684 +0000"}  # scripted commits share an author date
    shas = {}
    for subject in ("feat: a", "feat: b", "feat: a"):
        (repo / "f.txt").write_text(subject + str(len(shas)))
        git(repo, "add", "f.txt")
        git(repo, "commit", "-q", "-m", subject, env=when)
        shas[len(shas)] = git(repo, "rev-parse", "HEAD").strip()
        git(repo, "notes", f"--ref={REF}", "add", "-m", f"line {len(shas)}", "HEAD")
    assert pick_sources(repo, shas[2], REF) == [shas[0]]  # same author line and subject
    assert pick_sources(repo, shas[1], REF) == []  # same author line, another subject
    other = commit(repo, "feat: a")  # another author date
    assert pick_sources(repo, other, REF) == []
    # `cherry-pick -x` names its source: that wins over author and subject
    named = commit(repo, f"feat: renamed\n\n(cherry picked from commit {shas[1]})")
    assert pick_sources(repo, named, REF) == [shas[1]]
    # a pick of "feat: a" finished after a conflict: two sources fit and their notes differ
    (repo / "f.txt").write_text("picked")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "feat: a", env={**when, "GIT_COMMITTER_DATE": "@1795435699"})
    picked = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    git(repo, "update-ref", "-m", "commit (cherry-pick): feat: a", "HEAD", picked)
    assert record(repo, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["action"] == "recorded"  # not copied from either
    assert "ambiguous" in (repo / ".git" / "tokennotes" / "hook.log").read_text()


def test_a_state_that_cannot_be_saved_leaves_the_spend_to_the_next_commit(
    configured: Path, log: ClaudeLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state is staged before the note is written: when it cannot be saved, no note is
    written either, so the spend is counted once, by the next commit that can save it."""
    repo = configured
    commit(repo, "chore: first")
    assert record(repo) == 0
    capsys.readouterr()
    db_path = repo / ".git" / "tokennotes" / "state.sqlite"
    db = sqlite3.connect(db_path)
    db.execute(  # a real SQLite failure on write, as a full disk or a read-only file gives
        "CREATE TRIGGER refuse BEFORE INSERT ON meta BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    db.commit()
    log.respond(output=77)
    failed = commit(repo, "fix: one")
    assert record(repo, "--hook") == 0
    err = capsys.readouterr().err
    assert "nothing recorded" in err and "disk full" in err
    assert read_note(repo, failed, REF) == ""  # no note without its state
    db.execute("DROP TRIGGER refuse")
    db.commit()
    db.close()
    second = commit(repo, "fix: two")
    assert record(repo) == 0
    assert total(usage_on(repo, second)).output == 77  # once, here


def test_malformed_log_lines_are_skipped_counted_and_named(
    configured: Path, log: ClaudeLog, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = configured
    log.respond(output=12)
    with open(log.path, "a") as fh:  # a response line cut and garbled, then a good one
        fh.write('{"type":"assistant","message":{"usage":{"output_tokens":9\n')
    log.respond(output=30)
    sha = commit(repo, "fix: parser")
    assert record(repo, "--hook") == 0
    # not printed: the hook reads every project's logs, and this one may be another's
    assert capsys.readouterr().err == ""
    details = (repo / ".git" / "tokennotes" / "hook.log").read_text()
    assert "record (skipped lines): malformed lines" in details and "claude: 1 line(s)" in details
    assert f"{log.path}: 1" in details
    assert total(usage_on(repo, sha)).output == 42  # the good lines around it count


def test_a_state_that_cannot_grow_takes_the_note_back(
    configured: Path, log: ClaudeLog, tmp_path: Path
) -> None:
    """A disk that fills up shows only when the staged state is committed, after the note is
    written: the note is taken back, so the next commit carries the spend once. The hook runs
    with RLIMIT_FSIZE at the state file's size (its journal and git's objects stay small)."""
    repo = configured
    for _ in range(400):  # a state file big enough that its rollback journal fits under it
        log.respond(output=1, input=0, cache_read=0, cache_write=0, streamed=False)
    commit(repo, "chore: first")
    assert record(repo) == 0
    size = (repo / ".git" / "tokennotes" / "state.sqlite").stat().st_size
    for _ in range(200):  # new de-dup index rows: the file must grow to hold them
        log.respond(output=1, input=0, cache_read=0, cache_write=0, streamed=False)
    failed = commit(repo, "fix: one")
    root = Path(__file__).resolve().parents[2]
    script = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size}, {size}))\n"
        "from tokennotes.cli import main\n"
        "sys.exit(main(['record', '--hook']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert result.returncode == 0
    assert "nothing recorded" in result.stderr and "note taken back" in result.stderr
    assert read_note(repo, failed, REF) == ""
    second = commit(repo, "fix: two")
    assert record(repo) == 0
    assert total(usage_on(repo, second)).output == 200  # once, here


def test_rebase_in_progress_does_nothing(configured: Path, log: ClaudeLog) -> None:
    repo = configured
    log.respond(output=10)
    commit(repo, "x")
    (repo / ".git" / "rebase-merge").mkdir()
    assert record(repo, "--json") == 0
    assert read_note(repo, "HEAD", REF) == ""
    (repo / ".git" / "rebase-merge").rmdir()
    assert record(repo) == 0
    assert total(usage_on(repo)).output == 10


# -- worktrees and the lock -------------------------------------------------------------------


def test_worktrees_share_state_and_never_double_count(
    configured: Path, log: ClaudeLog, tmp_path: Path
) -> None:
    repo = configured
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(wt))
    log.respond(output=10)
    in_wt = ClaudeLog(log.projects, wt, session="in-worktree")
    in_wt.respond(output=20)
    commit(repo, "a", path="a.py")
    commit(wt, "b", path="b.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tokennotes", "record", "--hook"], cwd=where, env=env
        )
        for where in (repo, wt)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    main_usage = usage_on(repo, "main")
    side_usage = usage_on(repo, "side")
    assert total(main_usage + side_usage).output == 30  # each message once, in one of them
    assert {r.id for r in main_usage}.isdisjoint({r.id for r in side_usage})


# -- faults: the commit is made, the hook exits 0, one line, details in the log ---------------


def hook_log(repo: Path) -> str:
    path = repo / ".git" / "tokennotes" / "hook.log"
    return path.read_text() if path.exists() else ""


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tokennotes record: ")
    return lines[0]


def test_missing_config_uses_defaults_and_says_so(
    repo: Path, log: ClaudeLog, capsys: pytest.CaptureFixture[str]
) -> None:
    log.respond(output=10)
    commit(repo, "feat: no config yet")
    assert record(repo, "--hook") == 0
    line = one_line(capsys)
    assert "no .tokennotes.yml" in line and "hook.log" in line
    assert "missing" in hook_log(repo)
    assert total(usage_on(repo)).output == 10
    # working without the file is allowed: the next commits say nothing about it
    log.respond(output=5)
    commit(repo, "fix: still no config")
    assert record(repo, "--hook") == 0
    assert capsys.readouterr().err == ""
    assert total(usage_on(repo)).output == 5


@pytest.mark.parametrize(
    "text",
    ["scoring: [unclosed\n", "a: " + "[" * 3000 + "]" * 3000 + "\n"],  # the parser recurses
    ids=["syntax", "nested"],
)
def test_broken_config_uses_defaults(
    repo: Path, log: ClaudeLog, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    (repo / ".tokennotes.yml").write_text(text)
    log.respond(output=10)
    commit(repo, "feat: broken config")
    assert record(repo, "--hook") == 0
    assert "invalid" in one_line(capsys)
    assert ".tokennotes.yml" in hook_log(repo)
    assert [r.type for r in output_on(repo)] == ["feature"]


def test_corrupt_state_is_moved_aside(
    configured: Path, log: ClaudeLog, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = configured
    log.respond(output=10)
    commit(repo, "one")
    assert record(repo) == 0
    state = repo / ".git" / "tokennotes" / "state.sqlite"
    state.write_bytes(b"this is not a database" * 100)
    log.respond(output=20)
    commit(repo, "two")
    capsys.readouterr()
    assert record(repo, "--hook") == 0
    line = one_line(capsys)
    assert "scan state was unreadable" in line
    assert list(state.parent.glob("state.sqlite.corrupt-*"))
    assert "unreadable scan state" in hook_log(repo)
    # without offsets it re-reads from the parent commit's time: the new spend is there
    assert total(usage_on(repo)).output >= 20


def test_unreadable_log_home(
    configured: Path, log: ClaudeLog, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = configured
    log.respond(output=10)
    broken = log.projects / "-loop" / "loop.jsonl"
    broken.parent.mkdir(parents=True)
    broken.symlink_to(broken)  # a file nobody can open (works even as root)
    locked = log.projects / "-locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        commit(repo, "x")
        assert record(repo, "--hook") == 0
    finally:
        locked.chmod(0o755)
    line = one_line(capsys)
    assert "claude:" in line and "reading its logs" in line
    assert "loop.jsonl" in hook_log(repo)
    assert total(usage_on(repo)).output == 10  # the readable logs still count


def test_locked_notes_ref_keeps_the_spend_for_later(
    configured: Path, log: ClaudeLog, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = configured
    log.respond(output=10)
    commit(repo, "one")
    assert record(repo) == 0  # the notes ref exists now
    log.respond(output=20)
    sha = commit(repo, "two")
    mark = state_watermark(repo)
    lock = repo / ".git" / "refs" / "notes" / "ai-tokens.lock"
    lock.write_text("")
    capsys.readouterr()
    started = time.monotonic()
    assert record(repo, "--hook") == 0
    assert time.monotonic() - started < 10
    line = one_line(capsys)
    assert "nothing recorded" in line and "next commit" in line
    assert "ai-tokens.lock" in hook_log(repo)
    assert read_note(repo, sha, REF) == ""
    assert state_watermark(repo) == mark  # nothing moved
    lock.unlink()
    third = commit(repo, "three")
    assert record(repo) == 0
    assert total(usage_on(repo, third)).output == 20


def test_outside_a_repository_as_a_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRE_COMMIT", "1")
    assert record(tmp_path) == 0
    assert "nothing recorded" in one_line(capsys)
    monkeypatch.delenv("PRE_COMMIT")
    assert record(tmp_path) == 1  # run by hand, it is a user error


def test_hook_log_is_bounded(repo: Path) -> None:
    from tokennotes.hooks import hooklog

    for _ in range(4):
        hooklog.append_log(repo / ".git", "x" * (hooklog.MAX_BYTES // 3))
    main_log = repo / ".git" / "tokennotes" / "hook.log"
    assert main_log.stat().st_size <= hooklog.MAX_BYTES
    assert main_log.with_name("hook.log.1").stat().st_size <= hooklog.MAX_BYTES


def test_record_path_imports_stay_lean(configured: Path, log: ClaudeLog) -> None:
    log.respond(output=1)
    commit(configured, "x")
    code = (
        "import sys; from tokennotes.cli import main; "
        f"main(['record', '-C', {str(configured)!r}]); "
        "bad = [m for m in ('matplotlib', 'pygit2', 'jinja2', 'requests') if m in sys.modules]; "
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


# -- the window, as pure functions ------------------------------------------------------------


def test_timestamps_compare_across_precisions() -> None:
    assert ts_key("2026-11-20T10:00:05Z") < ts_key("2026-11-20T10:00:05.001Z")
    assert ts_key("2026-11-20T10:00:05.100Z") == ts_key("2026-11-20T10:00:05.100000Z")
    assert ts_key("2026-11-20T10:00:04.999Z") < ts_key("2026-11-20T10:00:05Z")


def test_open_window_rules() -> None:
    from tokennotes.hooks.attribute import iso_from_ns, ns_from_iso, open_window

    now = ns_from_iso("2026-11-20T12:00:00Z")
    hour = 3600
    marked = open_window(
        "2026-11-20T11:00:00.000000Z", now_ns=now, parent_time=0, max_lookback_seconds=hour
    )
    assert (marked.start, marked.watermarked) == ("2026-11-20T11:00:00.000000Z", True)
    assert marked.end == iso_from_ns(now)
    parent = (now // 10**9) - 600
    recent = open_window(None, now_ns=now, parent_time=parent, max_lookback_seconds=hour)
    assert recent.start == "2026-11-20T11:50:00.000000Z" and not recent.watermarked
    old = open_window(None, now_ns=now, parent_time=parent - 86400, max_lookback_seconds=hour)
    assert old.start == "2026-11-20T11:00:00.000000Z"
    root = open_window(None, now_ns=now, parent_time=None, max_lookback_seconds=hour)
    assert root.start == "2026-11-20T11:00:00.000000Z"
    future = open_window(None, now_ns=now, parent_time=parent + 7200, max_lookback_seconds=hour)
    assert future.start == future.end  # a parent stamped in the future opens no window


def test_select_messages_and_next_watermark() -> None:
    from tokennotes.hooks.attribute import Window, next_watermark, ns_from_iso, select_messages
    from tokennotes.hooks.logs import Message

    def msg(ts: str, cwd: str = "/r", new: int = 1) -> Message:
        return Message("claude", ts, "s", cwd, "m", 1, 1, 0, 0, 0, 0, new, ts)

    window = Window(
        start="2026-11-20T10:00:00.000000Z", end="2026-11-20T11:00:00.000000Z", watermarked=True
    )
    messages = [
        msg("2026-11-20T09:59:59.999Z"),  # before the window
        msg("2026-11-20T10:00:00.000Z"),  # at its start: counted by the previous commit
        msg("2026-11-20T10:30:00.000Z"),
        msg("2026-11-20T10:30:00.000Z", cwd="/elsewhere"),
        msg("2026-11-20T10:30:00.000Z", cwd=""),
        msg("2026-11-20T09:00:00.000Z", new=0),  # growth of a response counted before
        msg("2026-11-20T11:30:00.000Z"),  # stamped after the run began: counted too
    ]
    kept = list(select_messages(messages, window, lambda cwd: cwd == "/r"))
    assert [m.ts for m in kept] == [
        "2026-11-20T09:59:59.999Z",  # first read now: flushed after the previous run (grace)
        "2026-11-20T10:00:00.000Z",
        "2026-11-20T10:30:00.000Z",
        "2026-11-20T09:00:00.000Z",
        "2026-11-20T11:30:00.000Z",
    ]
    # the grace is ten minutes: older history first met now stays out
    old = [msg("2026-11-20T09:50:00.001Z"), msg("2026-11-20T09:50:00.000Z")]
    assert [m.ts for m in select_messages(old, window, lambda cwd: True)] == [old[0].ts]
    strict = list(select_messages(messages, window, lambda cwd: cwd == "/r", grace_seconds=0))
    assert strict[0].ts == "2026-11-20T10:30:00.000Z"
    committed = ns_from_iso("2026-11-20T10:45:00.000Z") // 1_000_000_000
    assert next_watermark(window, committed) == "2026-11-20T10:45:00.000000Z"
    future = ns_from_iso("2026-11-20T12:00:00.000Z") // 1_000_000_000
    assert next_watermark(window, future) == window.end  # never later than the run
    first = window._replace(watermarked=False)  # no watermark: no grace, the window is the bound
    assert len(list(select_messages(messages, first, lambda cwd: cwd == "/r"))) == 2


def test_a_log_line_stamped_with_no_real_date_keeps_its_group_readable() -> None:
    """One message stamped 31 November must not give its record a time that every report
    skips (with the whole group's tokens): the record takes its times from the real stamps."""
    from tokennotes.config import default_config
    from tokennotes.hooks.attribute import Window, group_usage, load_pricer
    from tokennotes.hooks.logs import Message
    from tokennotes.record import dump_record
    from tokennotes.reporter.facts import parse_fact

    def msg(ts: str, key: str) -> Message:
        return Message("claude", ts, "s", "/r", "acme-model", 10, 1, 0, 0, 0, 0, 1, key)

    window = Window(
        start="2026-11-20T10:00:00.000000Z", end="2026-11-30T11:00:00.000000Z", watermarked=True
    )
    pricer, _ = load_pricer(default_config().pricing, ".")
    for stamps, first, last in (
        (["2026-11-20T10:30:00.000Z", "2026-11-31T10:00:00.000Z"], "2026-11-20T10:30:00.000Z",
         "2026-11-20T10:30:00.000Z"),
        (["2026-11-31T10:00:00.000Z"], window.end, window.end),
    ):  # fmt: skip
        messages = [msg(ts, f"k{n}") for n, ts in enumerate(stamps)]
        (record,) = group_usage(messages, window=window, pricer=pricer, host="h", commit="c")
        assert (record.first, record.last, record.ts) == (first, last, last)
        assert record.tokens.input == 10 * len(stamps)  # every message still counted
        assert parse_fact(dump_record(record)).ts == last  # and the report reads it
