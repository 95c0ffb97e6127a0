"""A small recorded history with hand-computed numbers, checked through `tokennotes report`.

Prices (USD per million tokens, from a price table of the test's own named in `.tokennotes.yml`):
acme-large 2 / 10 / 0.5 / 4 (input / output / cache read / cache write), acme-small 1 / 5 / 0.1 / 1;
`mystery-model` has no price.

    main:  C0 ── C1 ── C2 ── C3 ── C4 ── C5          (C4 is C4a amended; C5 cherry-picks T1)
                                     └── T1 ── T2    (topic, never merged)

| commit | when (UTC)       | records                                                        |
|--------|------------------|----------------------------------------------------------------|
| C1     | 11-16 10:00      | U1 acme-large 1000/2000/10000/4000 = $0.043; O1 feature 1 item 5 pt |
| C2     | 11-16 15:00      | O2 docs 1 item 2 pt, 120 words (no usage: human work)          |
| C3     | 11-17 11:00      | U3 acme-small 5000/1000/20000/0 = $0.012; U4 mystery-model     |
|        |                  | 300/700 manual (unpriced); O3 fix 1 item 3 pt; one bad line    |
| C4a    | 11-18 09:00      | U5 acme-large 500/500 estimated = $0.006; O5a feature 1/5      |
| C4     | 11-18 09:30      | amend of C4a: git copies U5, O5a; hook adds U6 acme-large      |
|        |                  | 100/100 = $0.0012 and O5b feature 1/5 superseding O5a          |
| T1     | 11-19 10:00      | U7 acme-small 2000/400 = $0.004; O7 feature 1/5                |
| C5     | 11-19 12:00      | cherry-pick of T1: U7 and O7 copied                            |
| T2     | 11-20 14:00      | U8 acme-large 10000/3000 = $0.05; O8 other 1/1 (never landed)  |
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git
from tokennotes import cli
from tokennotes.record import OutputRecord, Tokens, UsageRecord, dump_record, make_id

REF = "refs/notes/ai-tokens"
NOW = "2026-11-23T08:00:00Z"
CONFIG = """\
pricing:
  table: prices.json
"""
PRICES = {
    "version": "test-prices-1",
    "updated": "2026-11-01",
    "models": {
        "acme-large": {"provider": "acme", "input": "2", "output": "10", "cache_read": "0.5",
                       "cache_write": "4"},
        "acme-small": {"provider": "acme", "input": "1", "output": "5", "cache_read": "0.1",
                       "cache_write": "1"},
    },
}  # fmt: skip


def usage(name: str, ts: str, model: str, tokens: Tokens, **fields: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "id": make_id("usage", name),
        "ts": ts,
        "agent": "claude",
        "model": model,
        "session": make_id("session", name)[:16],
        "first": ts,
        "last": ts,
        "messages": 3,
        "tokens": tokens,
        "fidelity": "exact",
        "cost_usd": None,
        "price_table": "test",
        "host": "0a1b2c3d",
    }
    values.update(fields)
    return UsageRecord(**values)


def output(name: str, ts: str, type_: str, items: int, points: int, **fields: Any) -> OutputRecord:
    values: dict[str, Any] = {
        "id": make_id("output", name),
        "ts": ts,
        "commit": "",
        "type": type_,
        "items": items,
        "points": points,
        "files": items,
        "author": "dev@example.com",
        "branch": "main",
    }
    values.update(fields)
    return OutputRecord(**values)


U1 = usage(
    "u1",
    "2026-11-16T10:00:00Z",
    "acme-large",
    Tokens(input=1000, output=2000, cache_read=10000, cache_write=4000),
    first="2026-11-16T09:30:00Z",
    cost_usd=Decimal("0.043"),
)
O1 = output("o1", "2026-11-16T10:00:00Z", "feature", 1, 5)
O2 = output("o2", "2026-11-16T15:00:00Z", "docs", 1, 2, words=120, author="writer@example.com")
U3 = usage(
    "u3",
    "2026-11-17T11:00:00Z",
    "acme-small",
    Tokens(input=5000, output=1000, cache_read=20000),
    agent="codex",
    host="9f8e7d6c",
    cost_usd=Decimal("0.02"),  # priced with an older table: differs from today's $0.012
)
U4 = usage(
    "u4",
    "2026-11-17T11:00:00Z",
    "mystery-model",
    Tokens(input=300, output=700),
    agent="manual",
    fidelity="manual",
)
O3 = output("o3", "2026-11-17T11:00:00Z", "fix", 1, 3)
U5 = usage(
    "u5",
    "2026-11-18T09:00:00Z",
    "acme-large",
    Tokens(input=500, output=500),
    fidelity="estimated",
)
O5A = output("o5a", "2026-11-18T09:00:00Z", "feature", 1, 5)
U6 = usage("u6", "2026-11-18T09:30:00Z", "acme-large", Tokens(input=100, output=100))
O5B = output("o5b", "2026-11-18T09:30:00Z", "feature", 1, 5, supersedes=(O5A.id,))
U7 = usage(
    "u7",
    "2026-11-19T10:00:00Z",
    "acme-small",
    Tokens(input=2000, output=400),
    agent="gemini",
    first="2026-11-19T08:00:00Z",
)
O7 = output("o7", "2026-11-19T10:00:00Z", "feature", 1, 5, branch="topic")
U8 = usage("u8", "2026-11-20T14:00:00Z", "acme-large", Tokens(input=10000, output=3000))
O8 = output("o8", "2026-11-20T14:00:00Z", "other", 1, 1, branch="topic")
BAD_LINE = "this line is not a record"


def _at(stamp: str) -> dict[str, str]:
    when = f"{stamp} +0000"
    return {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}


def _commit(path: Path, name: str, message: str, stamp: str) -> str:
    (path / name).write_text(f"{message}\n")
    git(path, "add", name)
    git(path, "commit", "-q", "-m", message, env=_at(stamp))
    return git(path, "rev-parse", "HEAD").strip()


def add_note(path: Path, sha: str, *lines: str) -> None:
    """Union ``lines`` into the note on ``sha`` (what the hook does), sorted and unique."""
    listed = git(path, "notes", f"--ref={REF}", "list")
    existing = git(path, "notes", f"--ref={REF}", "show", sha) if sha in listed else ""
    body = sorted({*existing.splitlines(), *lines} - {""})
    git(path, "notes", f"--ref={REF}", "add", "-f", "-F", "-", sha, input="\n".join(body) + "\n")


def make_history(root: Path) -> dict[str, str]:
    """Build the repository of the module doc under ``root``; return its commits by name."""
    path = root / "history"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "notes.rewriteRef", REF)
    git(path, "config", "notes.rewriteMode", "cat_sort_uniq")
    (path / ".tokennotes.yml").write_text(CONFIG)
    (path / "prices.json").write_text(json.dumps(PRICES))
    git(path, "add", ".tokennotes.yml", "prices.json")
    shas = {"C0": _commit(path, "README.md", "initial", "2026-11-15T09:00:00")}
    shas["C1"] = _commit(path, "parser.py", "feat: add parser", "2026-11-16T10:00:00")
    add_note(path, shas["C1"], dump_record(U1), dump_record(O1))
    shas["C2"] = _commit(path, "README.md", "docs: readme", "2026-11-16T15:00:00")
    add_note(path, shas["C2"], dump_record(O2))
    shas["C3"] = _commit(path, "parser.py", "fix: off by one", "2026-11-17T11:00:00")
    # U3 written with its keys in another order: valid JSON, not canonical (the slow path)
    u3_reordered = json.dumps(dict(reversed(json.loads(dump_record(U3)).items())))
    add_note(path, shas["C3"], u3_reordered, dump_record(U4), dump_record(O3), BAD_LINE)
    shas["C4a"] = _commit(path, "export.py", "feat: export", "2026-11-18T09:00:00")
    add_note(path, shas["C4a"], dump_record(U5), dump_record(O5A))
    (path / "export.py").write_text("feat: export, amended\n")
    git(path, "add", "export.py")
    git(path, "commit", "-q", "--amend", "-m", "feat: export", env=_at("2026-11-18T09:30:00"))
    shas["C4"] = git(path, "rev-parse", "HEAD").strip()
    add_note(path, shas["C4"], dump_record(U6), dump_record(O5B))  # + U5, O5a copied by git
    git(path, "checkout", "-q", "-b", "topic")
    shas["T1"] = _commit(path, "topic.py", "feat: topic work", "2026-11-19T10:00:00")
    add_note(path, shas["T1"], dump_record(U7), dump_record(O7))
    shas["T2"] = _commit(path, "wip.py", "wip: experiment <script>", "2026-11-20T14:00:00")
    add_note(path, shas["T2"], dump_record(U8), dump_record(O8))
    git(path, "checkout", "-q", "main")
    git(path, "cherry-pick", shas["T1"], env=_at("2026-11-19T12:00:00"))
    shas["C5"] = git(path, "rev-parse", "HEAD").strip()
    add_note(path, shas["C5"], dump_record(U7), dump_record(O7))
    (path / "drafts").mkdir()
    (path / "drafts" / "idea.md").write_text("one two three four\n")
    (path / "drafts" / "next.md").write_text("five six\n")
    git(path, "add", "drafts")
    git(path, "commit", "-q", "-m", "chore: drafts", env=_at("2026-11-21T08:00:00"))
    shas["C6"] = git(path, "rev-parse", "HEAD").strip()
    shas["path"] = str(path)
    return shas


@pytest.fixture
def history(tmp_path: Path) -> dict[str, str]:
    return make_history(tmp_path)


def report_json(
    history: dict[str, str], *args: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    code = cli.main(["report", "--repo", history["path"], "--format", "json", "--now", NOW, *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result: dict[str, Any] = json.loads(captured.out)
    return result


def test_window_by_hand(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    data = report_json(history, "--since", "2026-11-16", "--until", "2026-11-22", capsys=capsys)
    assert data["scope"]["since"] == "2026-11-16T00:00:00Z"
    assert data["scope"]["until"] == "2026-11-23T00:00:00Z"  # the --until day is included
    # U1 17000 + U3 26000 + U4 1000 + U5 1000 + U6 200 + U7 2400 + U8 13000
    assert data["tokens"] == {
        "input": 1000 + 5000 + 300 + 500 + 100 + 2000 + 10000,
        "output": 2000 + 1000 + 700 + 500 + 100 + 400 + 3000,
        "cache_read": 10000 + 20000,
        "cache_write": 4000,
        "reasoning": 0,
        "total": 60600,
    }
    # 0.043 + 0.012 + 0.006 + 0.0012 + 0.004 + 0.05 (U4 unpriced)
    assert data["cost_usd"] == "0.1162"
    assert data["unpriced_models"] == ["mystery-model"]
    assert data["unpriced_tokens"] == 1000
    # landed output only: O1, O2, O3, O5b, O7 (O5a superseded, O8 never landed)
    assert (data["items"], data["points"], data["words"]) == (5, 20, 120)
    assert data["pending"] == {"items": 1, "points": 1}
    assert data["points_per_dollar"] == 172.117  # 20 / 0.1162 = 172.1170...
    assert data["cost_per_item_usd"] == "0.02324"
    assert data["grade"] == "A+"
    assert data["cost_without_outcome_usd"] == "0.05"  # U8 on T2
    assert data["records"] == {
        "usage": 7,
        "output": 6,  # O1 O2 O3 O5b O7 O8 (O5a superseded)
        "skipped_lines": 1,
        "duplicates": 4,  # U5, O5a (amend copy) and U7, O7 (cherry-pick copy)
        "superseded": 1,
    }
    # C1..C6 on main in the window, plus C4a, T1 and T2 carrying records
    assert data["commits"] == 9
    assert data["commits_with_records"] == 8
    assert data["commits_with_usage"] == 7  # all but C2
    assert data["by_fidelity"]["exact"]["tokens"]["total"] == 58600
    assert data["by_fidelity"]["estimated"]["tokens"]["total"] == 1000
    assert data["by_fidelity"]["manual"]["tokens"]["total"] == 1000
    assert data["by_fidelity"]["manual"]["cost_usd"] is None
    by_type = {k: (v["cost_usd"], v["items"], v["points"]) for k, v in data["by_type"].items()}
    assert by_type == {
        "feature": ("0.0542", 3, 15),  # C1 0.043 + C4 0.0072 + C5 0.004
        "(not landed)": ("0.05", 0, 0),
        "fix": ("0.012", 1, 3),
        "docs": ("0", 1, 2),
    }
    assert data["by_type"]["feature"]["cost_per_item_usd"] == "0.018067"
    assert {k: v["cost_usd"] for k, v in data["by_agent"].items()} == {
        "claude": "0.1002",
        "codex": "0.012",
        "gemini": "0.004",
        "manual": None,
    }
    assert {k: v["tokens"]["total"] for k, v in data["by_day"].items()} == {
        "2026-11-16": 17000,
        "2026-11-17": 27000,
        "2026-11-18": 1200,
        "2026-11-19": 2400,
        "2026-11-20": 13000,
    }
    assert data["by_day"]["2026-11-16"]["items"] == 2
    assert (data["by_day"]["2026-11-16"]["first"], data["by_day"]["2026-11-16"]["last"]) == (
        "09:30",
        "15:00",
    )
    assert data["by_day"]["2026-11-16"]["active_hours"] == 5.5
    assert data["recorded_cost_usd"] == "0.063"  # U1 0.043 + U3 0.02 (the only costs written)
    assert data["records_with_other_cost"] == 1  # U3
    assert data["pipeline"] == {"files": 2, "words": 6}
    assert data["budget"]["state"] == "disabled"
    assert data["reconciles"] is True
    # the trailing 30 days before the window hold nothing
    assert data["comparison"]["trailing_cost_per_item_usd"] is None


def test_range_by_hand(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    data = report_json(history, f"{history['C0']}..main", capsys=capsys)
    assert data["scope"]["kind"] == "range"
    assert data["commits"] == 6  # C1 C2 C3 C4 C5 C6
    assert data["commits_with_records"] == 5
    assert data["commits_with_usage"] == 4
    assert data["cost_usd"] == "0.0662"  # 0.043 + 0.012 + 0.006 + 0.0012 + 0.004
    assert (data["items"], data["points"]) == (5, 20)
    assert data["records"]["duplicates"] == 0  # the copies' other commits are outside the range
    assert data["records"]["superseded"] == 1
    assert data["records"]["skipped_lines"] == 1
    assert [c["sha"] for c in data["range_commits"]] == [
        history[n] for n in ("C1", "C2", "C3", "C4", "C5", "C6")
    ]
    c4 = data["range_commits"][3]
    assert c4["cost_usd"] == "0.0072"
    assert c4["cost_by_model"] == {"acme-large": "0.0072"}
    assert c4["tokens"]["total"] == 1200
    assert data["range_commits"][1]["cost_usd"] == "0"  # C2: human work, no usage
    assert data["range_commits"][1]["items"] == 1


def test_range_rows_say_which_commits_landed(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in ((), ("--no-compare",)):
        data = report_json(history, f"{history['C4']}..topic", *extra, capsys=capsys)
        landed = {c["sha"]: c["landed"] for c in data["range_commits"]}
        assert landed == {history["T1"]: False, history["T2"]: False}, extra
        data = report_json(history, f"{history['C0']}..main", *extra, capsys=capsys)
        assert all(c["landed"] for c in data["range_commits"]), extra


def test_topic_range_and_budget_gate(
    history: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = report_json(history, f"{history['C4']}..topic", capsys=capsys)
    assert data["cost_usd"] == "0.054"  # U7 0.004 + U8 0.05
    assert (data["items"], data["points"]) == (2, 6)  # a PR counts its own output
    assert data["cost_without_outcome_usd"] is None
    assert data["grade"] == "A+"  # 6 / 0.054 = 111.1


def test_all_history(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    data = report_json(history, capsys=capsys)
    assert data["scope"]["kind"] == "all"
    assert data["cost_usd"] == "0.1162"
    assert data["items"] == 5
    assert data["commits"] == 10  # C0..C6 on main, C4a, T1, T2
    assert data["notes"] == 8


def test_no_notes_is_a_message(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["report", "--repo", str(repo)])
    err = capsys.readouterr().err
    assert code == 1
    assert "no tokennotes records" in err and "refs/notes/ai-tokens" in err
    assert "Traceback" not in err


def test_not_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["report", "--repo", str(tmp_path)])
    assert code == 1
    assert "not inside a git repository" in capsys.readouterr().err


def test_bad_range_and_dates_are_messages(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["report", "--repo", history["path"], "nope..main"]) == 1
    err = capsys.readouterr().err
    assert "cannot read the commits of 'nope..main': fatal: " in err and "[" not in err
    assert cli.main(["report", "--repo", history["path"], "--since", "last tuesday"]) == 1
    assert "--since: cannot read" in capsys.readouterr().err


def test_a_shallow_clone_calls_no_missing_commit_unlanded(
    history: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI checks out one commit by default. Whether the commits past a shallow clone's depth
    landed is unknown: they count as landed, and the report says how many it could not tell
    (the full clone's numbers are test_window_by_hand's)."""
    clone = tmp_path / "shallow"
    source = f"file://{history['path']}"
    git(tmp_path, "clone", "-q", "--depth", "2", "--branch", "main", source, str(clone))
    git(clone, "fetch", "-q", "origin", f"+{REF}:{REF}")
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "true"
    window = ("--since", "2026-11-16", "--until", "2026-11-22")
    full = report_json(history, *window, capsys=capsys)
    shallow = report_json({"path": str(clone)}, *window, capsys=capsys)
    assert full["landing_unknown_commits"] == 0
    # the clone has C6 and C5; C1, C2, C3, C4a, C4, T1 and T2 carry records and are missing
    assert shallow["landing_unknown_commits"] == 7
    assert (shallow["tokens"], shallow["cost_usd"]) == (full["tokens"], full["cost_usd"])
    # T2 (never landed) counts as landed too: nothing in the clone says otherwise
    assert "(not landed)" not in shallow["by_type"]
    assert shallow["cost_without_outcome_usd"] == "0"
    assert (shallow["items"], shallow["points"]) == (6, 21)
    assert shallow["pending"] == {"items": 0, "points": 0}

    notice = "This clone is shallow: 7 commits with records are not in it"
    for form, shown in (("markdown", f"> ⚠️ {notice}"), ("table", f"\n{notice}")):
        args = ["report", "--format", form, *window, "--now", NOW]
        assert cli.main([*args, "--repo", str(clone)]) == 0
        out, err = capsys.readouterr()
        assert shown in out
        assert (f"tokennotes: {notice}" in err) == (form != "table")  # not twice on a screen
        assert "`fetch-depth: 0`" in out
        assert cli.main([*args, "--repo", history["path"]]) == 0
        out, err = capsys.readouterr()
        assert "shallow" not in out + err
