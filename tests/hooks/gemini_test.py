from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED
from tests.hooks.logwriters_go import (
    FIELDS,
    gemini_meta,
    gemini_reply,
    gemini_tokens,
    gemini_user,
    make_gemini_home,
    make_project,
    project_hash,
    sum_messages,
    write_gemini_legacy,
    write_jsonl,
    write_projects,
)
from tokennotes.hooks import gemini
from tokennotes.hooks.logs import Diagnostics, Message
from tokennotes.hooks.state import ScanState

ROOT = "/srv/work/alpha"
OTHER = "/srv/work/beta"
SID = "0b7e4c1a-9d2f-4e3a-8b5c-6d7e8f901234"


def scan(
    home: Path, state: ScanState | None = None, **kwargs: Any
) -> tuple[list[Message], Diagnostics]:
    diag = Diagnostics()
    messages = list(gemini.collect([home], state or ScanState(None), diag, **kwargs))
    return messages, diag


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_gemini_home(tmp_path / "user")


def session_file(home: Path, name: str = "alpha", root: str | None = ROOT) -> Path:
    project = make_project(home, name, root)
    return project / "chats" / f"session-2031-03-04T10-00-{SID[:8]}.jsonl"


def meta(root: str = ROOT, sid: str = SID) -> dict[str, Any]:
    return gemini_meta(sid, project_hash(root), "2031-03-04T10:00:00.000Z", kind="main")


def test_homes_follow_gemini_cli_home(tmp_path: Path) -> None:
    assert gemini.homes({}, tmp_path) == []
    default = make_gemini_home(tmp_path)
    assert gemini.homes({}, tmp_path) == [default]
    other = make_gemini_home(tmp_path / "elsewhere")
    assert gemini.homes({"GEMINI_CLI_HOME": str(tmp_path / "elsewhere")}, tmp_path) == [other]
    assert gemini.homes({"GEMINI_CLI_HOME": str(tmp_path / "missing")}, tmp_path) == []


def test_message_appended_three_times_counts_once(home: Path) -> None:
    tokens = gemini_tokens(7000, 300, cached=5000)
    calls = [{"id": "c1", "name": "read_file", "args": {}, "status": "success"}]
    write_jsonl(
        session_file(home),
        [
            meta(),
            gemini_user("u1", "2031-03-04T10:00:05.000Z"),
            gemini_reply("r1", "2031-03-04T10:00:09.000Z"),  # tokens not known yet
            gemini_reply("r1", "2031-03-04T10:00:09.000Z", tokens),
            gemini_reply("r1", "2031-03-04T10:00:09.000Z", tokens, toolCalls=calls),
        ],
    )
    messages, diag = scan(home)
    assert len(messages) == 1
    (m,) = messages
    assert (m.input, m.cache_read, m.output, m.new) == (2000, 5000, 300, 1)
    assert (m.ts, m.session, m.cwd, m.model) == (
        "2031-03-04T10:00:09.000Z",
        SID,
        ROOT,
        "gemini-2.5-flash",
    )
    assert m.key == f"{SID}:r1"
    assert diag.malformed_lines == 0


def test_thoughts_and_tool_prompt_map_into_buckets(home: Path) -> None:
    tokens = gemini_tokens(5000, 700, cached=2000, thoughts=120, tool=300)
    write_jsonl(
        session_file(home), [meta(), gemini_reply("r1", "2031-03-04T10:01:00.000Z", tokens)]
    )
    (m,), _ = scan(home)
    assert (m.input, m.cache_read, m.output, m.reasoning) == (3300, 2000, 820, 120)
    assert m.prompt == 5300
    assert m.total == tokens["total"]


def test_input_already_net_of_cache_is_not_reduced() -> None:
    # total == input + cached + output + thoughts + tool: this writer left cached out of input
    net = {"input": 400, "cached": 600, "output": 50, "thoughts": 0, "tool": 0, "total": 1050}
    assert gemini.map_tokens(net) == (400, 50, 600, 0)
    assert gemini.map_tokens({"input": 10, "cached": 25, "output": 1}) == (0, 1, 10, 0)
    assert gemini.map_tokens(None) is None
    assert gemini.map_tokens({"input": 0, "output": 0}) is None


def test_set_history_is_not_counted(home: Path) -> None:
    counted = gemini_reply("r1", "2031-03-04T10:02:00.000Z", gemini_tokens(900, 40))
    only_in_set = gemini_reply("r-hist", "2031-03-04T09:00:00.000Z", gemini_tokens(8000, 800))
    write_jsonl(
        session_file(home),
        [
            meta(),
            counted,
            {"$set": {"messages": [counted, only_in_set], "lastUpdated": "2031-03-04T10:02:01Z"}},
            {"$set": {"lastUpdated": "2031-03-04T10:02:02.000Z"}},
        ],
    )
    messages, _ = scan(home)
    assert [m.key for m in messages] == [f"{SID}:r1"]
    assert sum_messages(messages)[""]["input"] == 900


def test_malformed_lines_are_skipped_and_counted(home: Path) -> None:
    path = write_jsonl(
        session_file(home),
        [
            meta(),
            gemini_reply("r1", "2031-03-04T10:03:00.000Z", gemini_tokens(100, 10)),
            "{not json at all",
            '{"id":"r9","type":"gemini","tokens":{"input":5}',
            '["tokens"]',
            gemini_reply("r2", "2031-03-04T10:03:30.000Z", gemini_tokens(200, 20)),
        ],
    )
    messages, diag = scan(home)
    assert [m.key.rsplit(":", 1)[1] for m in messages] == ["r1", "r2"]
    assert diag.malformed_lines == 3
    assert diag.per_file == {str(path): 3}


def test_rewound_reply_still_counts(home: Path) -> None:
    write_jsonl(
        session_file(home),
        [
            meta(),
            gemini_user("u1", "2031-03-04T10:04:00.000Z"),
            gemini_reply("r1", "2031-03-04T10:04:10.000Z", gemini_tokens(3000, 90, cached=1000)),
            {"$rewindTo": "u1"},
            gemini_user("u2", "2031-03-04T10:05:00.000Z"),
            gemini_reply("r2", "2031-03-04T10:05:10.000Z", gemini_tokens(2500, 60, cached=2000)),
        ],
    )
    messages, _ = scan(home)
    assert [m.key.rsplit(":", 1)[1] for m in messages] == ["r1", "r2"]
    assert sum_messages(messages)[""]["input"] == 2000 + 500


def test_cut_last_line_is_read_once_complete(home: Path) -> None:
    path = session_file(home)
    full = json.dumps(gemini_reply("r2", "2031-03-04T10:06:30.000Z", gemini_tokens(600, 60)))
    write_jsonl(
        path,
        [meta(), gemini_reply("r1", "2031-03-04T10:06:00.000Z", gemini_tokens(500, 50)), full[:40]],
        final_newline=False,
    )
    state = ScanState(None)
    messages, diag = scan(home, state)
    assert [m.output for m in messages] == [50]
    assert diag.malformed_lines == 0  # a cut last line is not malformed, just not finished

    with open(path, "a") as fh:  # the writer finishes the line, then writes one without "\n"
        fh.write(full[40:] + "\n")
        fh.write(json.dumps(gemini_reply("r3", "2031-03-04T10:07:00.000Z", gemini_tokens(7, 1))))
    messages, diag = scan(home, state)
    assert [m.output for m in messages] == [60, 1]  # a complete unterminated line counts

    with open(path, "a") as fh:
        fh.write("\n")
    assert scan(home, state)[0] == []  # and is not counted again once terminated


def test_crlf_lines_are_read(home: Path) -> None:
    write_jsonl(
        session_file(home),
        [meta(), gemini_reply("r1", "2031-03-04T10:08:00.000Z", gemini_tokens(40, 4))],
        eol="\r\n",
    )
    messages, diag = scan(home)
    assert [(m.session, m.input) for m in messages] == [(SID, 40)]
    assert diag.malformed_lines == 0


def test_legacy_json_in_hash_dir(home: Path) -> None:
    write_projects(home, {OTHER: "beta"})  # the registry knows the root; the dir is still old
    chats = make_project(home, project_hash(OTHER)) / "chats"
    legacy_sid = "5e6f7081-2a3b-4c5d-9e0f-112233445566"
    write_gemini_legacy(
        chats / "session-2031-03-03T21-40-5e6f7081.json",
        legacy_sid,
        project_hash(OTHER),
        [
            gemini_user("lu1", "2031-03-03T21:40:10.000Z", "list the flaky tests"),
            gemini_reply(
                "lg1",
                "2031-03-03T21:40:30.000Z",
                gemini_tokens(11000, 500, cached=9000, thoughts=250),
                model="gemini-2.5-pro",
            ),
            {"id": "li1", "timestamp": "2031-03-03T21:41:00.000Z", "type": "info", "content": "x"},
            gemini_user("lu2", "2031-03-03T21:42:00.000Z", "now fix them"),
            gemini_reply(
                "lg2", "2031-03-03T21:42:20.000Z", gemini_tokens(14000, 900, cached=13000)
            ),
        ],
    )
    messages, diag = scan(home)
    assert [(m.key, m.cwd, m.input, m.cache_read, m.output) for m in messages] == [
        (f"{legacy_sid}:lg1", OTHER, 2000, 9000, 750),
        (f"{legacy_sid}:lg2", OTHER, 1000, 13000, 900),
    ]
    assert diag.errors == [] and diag.malformed_lines == 0


def test_unknown_hash_dir_has_no_cwd_until_a_root_matches(home: Path) -> None:
    chats = make_project(home, project_hash(OTHER)) / "chats"
    write_gemini_legacy(
        chats / "session-2031-03-03T22-00-aa11bb22.json",
        "aa11bb22-0000-4000-8000-000000000001",
        project_hash(OTHER),
        [gemini_reply("g1", "2031-03-03T22:00:30.000Z", gemini_tokens(300, 30))],
    )
    # a slug dir the registry lost: the session's projectHash still names its root
    slug_chats = make_project(home, "beta-2") / "chats"
    write_jsonl(
        slug_chats / "session-2031-03-03T22-10-cc33dd44.jsonl",
        [
            meta(OTHER, "cc33dd44-0000-4000-8000-000000000002"),
            gemini_reply("g2", "2031-03-03T22:10:30.000Z", gemini_tokens(400, 40)),
        ],
    )
    messages, diag = scan(home)
    assert [m.cwd for m in messages] == ["", ""]
    assert len(diag.errors) == 2 and all("project root unknown" in e for e in diag.errors)

    messages, diag = scan(home, roots=[OTHER])
    assert [m.cwd for m in messages] == [OTHER, OTHER]
    assert diag.errors == []


def test_legacy_json_and_migrated_jsonl_count_once(home: Path) -> None:
    chats = make_project(home, "alpha", ROOT) / "chats"
    history = [
        gemini_user("u1", "2031-03-02T08:00:00.000Z"),
        gemini_reply("a1", "2031-03-02T08:00:10.000Z", gemini_tokens(1000, 100, cached=400)),
        gemini_reply("a2", "2031-03-02T08:01:10.000Z", gemini_tokens(2000, 200, cached=1500)),
    ]
    name = f"session-2031-03-02T08-00-{SID[:8]}"
    write_gemini_legacy(chats / f"{name}.json", SID, project_hash(ROOT), history)
    write_jsonl(  # a newer CLI resumed it: same name, whole history re-appended, then more
        chats / f"{name}.jsonl",
        [
            meta(),
            *history,
            gemini_reply("a3", "2031-03-04T11:00:00.000Z", gemini_tokens(3000, 300, cached=2900)),
        ],
    )
    messages, _ = scan(home)
    assert sorted(m.key.rsplit(":", 1)[1] for m in messages) == ["a1", "a2", "a3"]
    assert sum_messages(messages)[""] == {
        "input": 600 + 500 + 100,
        "output": 600,
        "cache_read": 400 + 1500 + 2900,
        "cache_write": 0,
        "reasoning": 0,
        "messages": 3,
        "total": 1200 + 600 + 4800,
    }


def test_slug_dirs_resolve_from_project_root_file_and_registry(home: Path) -> None:
    write_projects(home, {OTHER: "beta"})
    first = make_project(home, "alpha", ROOT) / "chats"  # .project_root marker
    second = make_project(home, "beta") / "chats"  # only the registry names it
    for chats, sid in ((first, SID), (second, "beefbeef-1111-4222-8333-4444")):
        write_jsonl(
            chats / f"session-2031-03-04T12-00-{sid[:8]}.jsonl",
            [
                meta("/elsewhere", sid),  # the dir wins over a stale projectHash
                gemini_reply("x1", "2031-03-04T12:00:10.000Z", gemini_tokens(10, 1)),
            ],
        )
    messages, diag = scan(home)
    assert sorted((m.session, m.cwd) for m in messages) == sorted(
        [(SID, ROOT), ("beefbeef-1111-4222-8333-4444", OTHER)]
    )
    assert diag.errors == []


def test_subagent_sessions_are_counted(home: Path) -> None:
    chats = make_project(home, "alpha", ROOT) / "chats"
    child = "77aa88bb-0000-4000-8000-00000000000c"
    write_jsonl(chats / f"session-2031-03-04T13-00-{SID[:8]}.jsonl", [meta()])
    write_jsonl(
        chats / SID / f"{child}.jsonl",
        [
            gemini_meta(child, project_hash(ROOT), "2031-03-04T13:00:00Z", kind="subagent"),
            gemini_reply("s1", "2031-03-04T13:00:30.000Z", gemini_tokens(50, 5)),
        ],
    )
    messages, _ = scan(home)
    assert [(m.session, m.cwd, m.input) for m in messages] == [(child, ROOT, 50)]


def test_incremental_scans_add_up_to_a_full_scan(home: Path, tmp_path: Path) -> None:
    path = session_file(home)
    first = gemini_reply("r1", "2031-03-04T14:00:00.000Z", gemini_tokens(800, 80, cached=300))
    write_jsonl(path, [meta(), first])
    state_path = tmp_path / "state.sqlite"
    seen: list[Message] = []
    for step in range(3):
        state = ScanState(state_path)
        messages, _ = scan(home, state)
        state.save()
        state.close()
        seen += messages
        if step == 0:
            assert [m.new for m in messages] == [1]
            grown = gemini_reply(
                "r1", "2031-03-04T14:00:00.000Z", gemini_tokens(800, 95, cached=300, thoughts=5)
            )
            later = gemini_reply("r2", "2031-03-04T14:01:00.000Z", gemini_tokens(900, 9))
            write_jsonl(path, [first, grown, later], mode="a")  # a repeat, a growth, a new one
        elif step == 1:
            assert [(m.key, m.new, m.output, m.input) for m in messages] == [
                (f"{SID}:r1", 0, 20, 0),
                (f"{SID}:r2", 1, 9, 900),
            ]
        else:
            assert messages == []
    full, _ = scan(home)
    assert sum_messages(seen) == sum_messages(full)
    assert sum_messages(full)[""]["messages"] == 2


def test_stale_file_is_replayed_not_counted_when_it_grows(home: Path) -> None:
    path = session_file(home)
    old = gemini_reply("r1", "2031-03-04T15:00:00.000Z", gemini_tokens(100, 10))
    write_jsonl(path, [meta(), old])
    state = ScanState(None, since_ns=path.stat().st_mtime_ns + 1)
    assert scan(home, state) == ([], Diagnostics())  # old file: not even read

    calls = [{"id": "c9", "name": "ls", "args": {}, "status": "success"}]
    new = gemini_reply("r2", "2031-03-04T15:10:00.000Z", gemini_tokens(200, 20))
    write_jsonl(path, [{**old, "toolCalls": calls}, new], mode="a")
    messages, _ = scan(home, state)
    assert [(m.session, m.key) for m in messages] == [(SID, f"{SID}:r2")]


def test_unchanged_legacy_file_is_not_read_again(home: Path) -> None:
    chats = make_project(home, "alpha", ROOT) / "chats"
    path = write_gemini_legacy(
        chats / "session-2031-03-01T09-00-12345678.json",
        "12345678-aaaa-4bbb-8ccc-ddddeeeeffff",
        project_hash(ROOT),
        [gemini_reply("o1", "2031-03-01T09:00:30.000Z", gemini_tokens(60, 6))],
    )
    state = ScanState(None)
    assert len(scan(home, state)[0]) == 1
    messages, diag = scan(home, state)
    assert messages == [] and diag.files_read == 0
    path.write_text("{broken")
    messages, diag = scan(home, state)
    assert messages == [] and diag.per_file == {str(path): 1}


def test_shared_corpus_matches_expected() -> None:
    corpus = SHARED / "fixtures" / "agent-logs"
    if not (corpus / "expected.json").exists():
        pytest.skip("shared fixture corpus not available")
    expected = json.loads((corpus / "expected.json").read_text())["agents"]["gemini"]
    roots = list(expected["by_cwd"])  # as the hook passes its repository's roots
    messages, _ = scan(corpus / "gemini", roots=roots)

    def pick(rows: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        return {k: {f: v[f] for f in FIELDS} for k, v in rows.items()}

    assert sum_messages(messages)[""] == pick({"": expected["totals"]})[""]
    assert sum_messages(messages, lambda m: m.model) == pick(expected["by_model"])
    assert sum_messages(messages, lambda m: m.ts[:10]) == pick(expected["by_day"])
    assert sum_messages(messages, lambda m: m.cwd) == pick(expected["by_cwd"])
