from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.hooks.logwriters import (
    CWD,
    HAIKU,
    SESSION,
    SONNET,
    append_lines,
    claude_assistant,
    claude_session_path,
    claude_subagent_path,
    claude_summary,
    claude_synthetic,
    claude_tool_result,
    claude_usage,
    claude_user,
    dumps,
    tally,
    totals,
    write_lines,
)
from tokennotes.hooks import claude
from tokennotes.hooks.logs import Diagnostics, Message
from tokennotes.hooks.state import ScanState

T1 = "2026-11-19T10:00:00.000Z"
T2 = "2026-11-19T10:00:01.500Z"
T3 = "2026-11-19T10:05:00.000Z"
T4 = "2026-11-20T00:00:03.000Z"


def scan(
    root: Path, state: ScanState | None = None, diag: Diagnostics | None = None
) -> list[Message]:
    return list(claude.collect([root], state or ScanState(None), diag or Diagnostics()))


@pytest.fixture
def projects(tmp_path: Path) -> Path:
    path = tmp_path / "claude" / "projects"
    path.mkdir(parents=True)
    return path


# -- where ------------------------------------------------------------------------------------


def test_homes_default_both_dirs_deduplicated(tmp_path: Path) -> None:
    home = tmp_path / "h"
    (home / ".claude" / "projects").mkdir(parents=True)
    (home / ".config" / "claude" / "projects").mkdir(parents=True)
    found = claude.homes({}, home)
    assert found == [
        (home / ".config" / "claude" / "projects").resolve(),
        (home / ".claude" / "projects").resolve(),
    ]
    # the XDG dir is a symlink to ~/.claude: one home
    shutil.rmtree(home / ".config" / "claude")
    (home / ".config" / "claude").symlink_to(home / ".claude")
    assert claude.homes({}, home) == [(home / ".claude" / "projects").resolve()]
    xdg = tmp_path / "xdg"
    (xdg / "claude" / "projects").mkdir(parents=True)
    assert (
        claude.homes({"XDG_CONFIG_HOME": str(xdg)}, home)[0]
        == (xdg / "claude" / "projects").resolve()
    )


def test_homes_from_variable_comma_list(tmp_path: Path) -> None:
    a = tmp_path / "a"
    (a / "projects").mkdir(parents=True)
    b = tmp_path / "b" / "projects"
    b.mkdir(parents=True)
    (tmp_path / "h" / ".claude" / "projects").mkdir(parents=True)
    env = {"CLAUDE_CONFIG_DIR": f"{a}, {b} ,{tmp_path / 'missing'},{a}"}
    assert claude.homes(env, tmp_path / "h") == [(a / "projects").resolve(), b.resolve()]


def test_collect_accepts_a_config_dir(projects: Path) -> None:
    write_lines(claude_session_path(projects), [claude_assistant("msg_1", T1)])
    assert totals(scan(projects.parent))["messages"] == 1
    assert totals(scan(projects))["messages"] == 1


# -- traps ------------------------------------------------------------------------------------


def test_streaming_duplicates_take_fieldwise_max_and_earliest_ts(projects: Path) -> None:
    lines = [
        claude_user(T1),
        claude_assistant("msg_1", T2, usage=claude_usage(input=12, output=8, cache_read=900)),
        claude_assistant("msg_1", T3, usage=claude_usage(input=12, output=310, cache_read=0)),
        claude_assistant("msg_1", T1, usage=claude_usage(input=5, output=20, cache_write=40)),
    ]
    write_lines(claude_session_path(projects), lines)
    (message,) = scan(projects)
    assert (message.input, message.output, message.cache_read, message.cache_write_5m) == (
        12,
        310,
        900,
        40,
    )
    assert message.ts == T1 and message.new == 1 and message.key == "msg_1"
    assert (message.session, message.cwd, message.model) == (SESSION, CWD, SONNET)


def test_missing_request_id_still_deduplicates(projects: Path) -> None:
    lines = [
        claude_assistant("msg_1", T1, request_id=None, usage=claude_usage(output=3)),
        claude_assistant("msg_1", T2, request_id=None, usage=claude_usage(output=90)),
        claude_assistant("msg_2", T3, request_id=None),
    ]
    write_lines(claude_session_path(projects), lines)
    assert totals(scan(projects))["messages"] == 2
    assert totals(scan(projects))["output"] == 190


def test_resumed_session_replay_counted_once(projects: Path) -> None:
    first = [claude_assistant("msg_1", T1), claude_assistant("msg_2", T2)]
    write_lines(claude_session_path(projects), first)
    resumed = "6b1d2e3f-0000-4000-8000-00000000bb02"
    replay = [
        claude_assistant("msg_1", T1, session=resumed),
        claude_assistant("msg_2", T2, session=resumed),
        claude_assistant("msg_3", T3, session=resumed),
    ]
    write_lines(claude_session_path(projects, resumed), replay)
    messages = scan(projects)
    assert totals(messages)["messages"] == 3
    assert {m.key: m.session for m in messages}["msg_3"] == resumed


def test_btw_sidechain_replay_loses_to_main_line(projects: Path) -> None:
    main = claude_assistant("msg_1", T1, usage=claude_usage(input=4, output=50, cache_read=1000))
    write_lines(claude_session_path(projects), [main])
    replay = claude_assistant(
        "msg_1",
        T3,
        sidechain=True,
        request_id="req_new",
        usage=claude_usage(input=4, output=50, cache_read=60000),
    )
    answer = claude_assistant("msg_btw", T3, sidechain=True, usage=claude_usage(output=7))
    write_lines(claude_subagent_path(projects, "b7w"), [replay, answer])
    by_key = {m.key: m for m in scan(projects)}
    assert set(by_key) == {"msg_1", "msg_btw"}
    assert by_key["msg_1"].cache_read == 1000 and by_key["msg_1"].ts == T1


def test_main_line_after_counted_sidechain_replaces_it(projects: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    side = claude_assistant(
        "msg_1", T3, sidechain=True, usage=claude_usage(output=50, cache_read=60000)
    )
    write_lines(claude_subagent_path(projects, "b7w"), [side])
    state = ScanState(state_path)
    first = scan(projects, state)
    state.save()
    state.close()
    main = claude_assistant("msg_1", T1, usage=claude_usage(output=50, cache_read=1000))
    write_lines(claude_session_path(projects), [main])
    state = ScanState(state_path)
    second = scan(projects, state)
    assert [m.new for m in second] == [0]
    assert totals(first + second) == totals(scan(projects))


def test_subagent_file_counted_with_parent_session(projects: Path) -> None:
    write_lines(claude_session_path(projects), [claude_assistant("msg_1", T1)])
    sub = [
        claude_user(T2),
        claude_assistant("msg_sa1", T2, sidechain=True, model=HAIKU, agentId="7f3a"),
        claude_assistant("msg_sa2", T3, sidechain=True, model=HAIKU, agentId="7f3a"),
    ]
    write_lines(claude_subagent_path(projects, "7f3a"), sub)
    old_style = claude_session_path(projects).parent / "agent-0ld.jsonl"
    write_lines(old_style, [claude_assistant("msg_old", T3, sidechain=True)])
    messages = scan(projects)
    assert tally(messages, "model")[HAIKU]["messages"] == 2
    assert totals(messages)["messages"] == 4
    assert {m.session for m in messages} == {SESSION}


def test_tool_use_result_usage_ignored(projects: Path) -> None:
    usage = claude_usage(input=200, output=40, cache_read=1500)
    big = "x" * 300_000 + '"output_tokens": 5'
    lines = [
        claude_assistant("msg_1", T1),
        claude_tool_result(T2, usage),
        claude_tool_result(T3, usage, body=big),
    ]
    write_lines(claude_session_path(projects), lines)
    diag = Diagnostics()
    assert totals(scan(projects, diag=diag))["messages"] == 1
    assert diag.malformed_lines == 0


def test_synthetic_model_skipped(projects: Path) -> None:
    write_lines(
        claude_session_path(projects), [claude_assistant("msg_1", T1), claude_synthetic(T2)]
    )
    messages = scan(projects)
    assert [m.model for m in messages] == [SONNET]


def test_workflow_journal_skipped(projects: Path) -> None:
    journal = claude_subagent_path(projects, "x").parent / "wf" / "journal.jsonl"
    write_lines(journal, [claude_assistant("msg_j", T1)])
    write_lines(
        claude_subagent_path(projects, "x").parent / "journal.jsonl",
        [claude_assistant("msg_k", T1)],
    )
    top_level = claude_session_path(projects).parent / "journal.jsonl"
    write_lines(top_level, [claude_assistant("msg_top", T1)])
    assert [m.key for m in scan(projects)] == ["msg_top"]


def test_cache_write_split_by_ttl(projects: Path) -> None:
    lines = [
        claude_assistant("msg_1", T1, usage=claude_usage(cache_write=500, split=(0, 500))),
        claude_assistant("msg_2", T2, usage=claude_usage(cache_write=700, split=(200, 500))),
        claude_assistant("msg_3", T3, usage=claude_usage(cache_write=300)),
        claude_assistant("msg_4", T3, usage=claude_usage(cache_write=90, split=(0, 0))),
    ]
    write_lines(claude_session_path(projects), lines)
    got = {m.key: (m.cache_write_5m, m.cache_write_1h, m.prompt) for m in scan(projects)}
    assert got == {
        "msg_1": (0, 500, 510),
        "msg_2": (200, 500, 710),
        "msg_3": (300, 0, 310),
        "msg_4": (90, 0, 100),
    }


def test_null_counters_are_zero(projects: Path) -> None:
    usage = claude_usage(input=None, output=9, cache_read=None, cache_write=None)
    write_lines(claude_session_path(projects), [claude_assistant("msg_1", T1, usage=usage)])
    (message,) = scan(projects)
    assert (message.input, message.output, message.cache_read, message.cache_write) == (0, 9, 0, 0)


def test_lines_without_message_id_count_as_they_are(projects: Path) -> None:
    lines = [claude_assistant(None, T1), claude_assistant(None, T1), claude_assistant("m", T2)]
    write_lines(claude_session_path(projects), lines)
    messages = scan(projects)
    assert totals(messages)["messages"] == 3
    assert sorted(m.key for m in messages) == ["", "", "m"]


def test_crlf_lines(projects: Path) -> None:
    lines = [claude_user(T1), claude_assistant("msg_1", T1), claude_assistant("msg_2", T2)]
    write_lines(claude_session_path(projects), lines, newline="\r\n")
    diag = Diagnostics()
    assert totals(scan(projects, diag=diag))["messages"] == 2
    assert diag.malformed_lines == 0


def test_malformed_line_skipped_and_counted(projects: Path) -> None:
    broken = '{"type":"assistant","message":{"id":"msg_x","usage":{"output_tokens":5,,}} oops'
    lines = [claude_assistant("msg_1", T1), broken, claude_assistant("msg_2", T2)]
    path = write_lines(claude_session_path(projects), lines)
    diag = Diagnostics()
    assert totals(scan(projects, diag=diag))["messages"] == 2
    assert diag.malformed_lines == 1 and diag.per_file == {str(path): 1}


def test_truncated_last_line_counted_when_completed(projects: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    last = claude_assistant("msg_2", T2, usage=claude_usage(output=77))
    path = claude_session_path(projects)
    write_lines(path, [claude_assistant("msg_1", T1)])
    with path.open("ab") as fh:
        fh.write(last[:150].encode())
    state = ScanState(state_path)
    first = scan(projects, state)
    state.save()
    state.close()
    assert [m.key for m in first] == ["msg_1"]
    with path.open("ab") as fh:
        fh.write(last[150:].encode() + b"\n")
    state = ScanState(state_path)
    second = scan(projects, state)
    assert [(m.key, m.output) for m in second] == [("msg_2", 77)]


def test_complete_last_line_without_newline_counted_once(projects: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    path = write_lines(
        claude_session_path(projects),
        [claude_assistant(None, T1), claude_assistant(None, T2)],
        final_newline=False,
    )
    state = ScanState(state_path)
    assert totals(scan(projects, state))["messages"] == 2
    state.save()
    state.close()
    append_lines(path, ["", claude_assistant(None, T3)])
    state = ScanState(state_path)
    assert totals(scan(projects, state))["messages"] == 1


def test_timestamps_normalised_to_utc(projects: Path) -> None:
    lines = [
        claude_assistant("msg_1", "2026-11-20T01:30:00.250+02:00"),
        claude_assistant("msg_2", "2026-11-19T23:59:59Z"),
        claude_assistant("msg_3", "not a time"),
    ]
    write_lines(claude_session_path(projects), lines)
    diag = Diagnostics()
    got = sorted(m.ts for m in scan(projects, diag=diag))
    assert got == ["2026-11-19T23:30:00.250Z", "2026-11-19T23:59:59.000Z"]
    assert diag.malformed_lines == 1


def test_odd_layouts_fall_back_to_whole_line(projects: Path) -> None:
    # model and id after the content; usage quoted inside a tool call's input
    grep = {"pattern": "output_tokens", "usage": {"output_tokens": 99999}}
    nested = {"usage": {"output_tokens": 88888}}
    tricky = [
        {"type": "tool_use", "id": "toolu_8", "name": "Echo", "input": nested},
        {"type": "tool_use", "id": "toolu_9", "name": "Grep", "input": grep},
    ]
    spaced = json.dumps(
        json.loads(claude_assistant("msg_4", T3, usage=claude_usage(output=4))), indent=None
    )
    bare = {"id": "msg_5", "model": "m", "usage": claude_usage(output=5)}
    quoted = '"usage":{"output_tokens":5}'
    lines = [
        claude_assistant("msg_1", T1, model_after_content=True, usage=claude_usage(output=11)),
        claude_assistant("msg_2", T2, content=tricky, usage=claude_usage(output=22)),
        claude_assistant("msg_3", T2, text=quoted, usage=claude_usage(output=3)),
        spaced,
        dumps({"message": bare, "type": "assistant", "timestamp": T3}),
    ]
    write_lines(claude_session_path(projects), lines)
    assert {m.key: m.output for m in scan(projects)} == {
        "msg_1": 11,
        "msg_2": 22,
        "msg_3": 3,
        "msg_4": 4,
        "msg_5": 5,
    }


def test_summary_and_other_lines_ignored(projects: Path) -> None:
    lines = [claude_summary(), claude_user(T1), "", "   ", claude_assistant("msg_1", T1)]
    write_lines(claude_session_path(projects), lines)
    diag = Diagnostics()
    assert totals(scan(projects, diag=diag))["messages"] == 1
    assert diag.malformed_lines == 0


# -- incremental ------------------------------------------------------------------------------


def _corpus(projects: Path) -> list[tuple[Path, list[str]]]:
    resumed = "6b1d2e3f-0000-4000-8000-00000000bb02"
    final_2 = claude_usage(input=3, output=80, cache_read=50)
    main = [
        claude_user(T1),
        claude_assistant("msg_1", T1, usage=claude_usage(output=2, cache_write=10, split=(10, 0))),
        claude_assistant(
            "msg_1", T1, usage=claude_usage(output=200, cache_write=10, split=(10, 0))
        ),
        claude_assistant("msg_2", T2, usage=claude_usage(input=3, output=1, cache_read=50)),
        claude_assistant("msg_2", T2, usage=final_2),
        claude_assistant(None, T3, usage=claude_usage(output=5)),
        claude_assistant("msg_3", T4, usage=claude_usage(output=9)),
    ]
    replay = [
        claude_assistant("msg_2", T2, session=resumed, usage=final_2),
        claude_assistant("msg_4", T4, session=resumed, usage=claude_usage(output=1)),
        claude_assistant("msg_4", T4, session=resumed, usage=claude_usage(output=41)),
    ]
    side = [
        claude_assistant("msg_2", T3, sidechain=True, usage=claude_usage(cache_read=99999)),
        claude_assistant("msg_s", T3, sidechain=True, model=HAIKU, usage=claude_usage(output=6)),
    ]
    return [
        (claude_session_path(projects), main),
        (claude_session_path(projects, resumed), replay),
        (claude_subagent_path(projects, "a1"), side),
    ]


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 4, 5, 6])
def test_scans_in_steps_equal_one_full_scan(projects: Path, tmp_path: Path, cut: int) -> None:
    corpus = _corpus(projects)
    state_path = tmp_path / f"state-{cut}.db"
    got: list[Message] = []
    for step in range(cut, 8):
        for path, lines in corpus:
            write_lines(path, lines[:step])  # the same bytes and more: an append
        state = ScanState(state_path)
        got += scan(projects, state)
        state.save()
        state.close()
    full = scan(projects)
    for by in (None, "model", "day", "cwd"):
        assert tally(got, by) == tally(full, by)
    assert totals(full) == {
        "input": 3 + 10 * 5,
        "output": 200 + 80 + 5 + 9 + 41 + 6,
        "cache_read": 50,
        "cache_write": 10,
        "reasoning": 0,
        "messages": 6,
        "total": 53 + 341 + 50 + 10,
    }


def test_growth_of_streamed_message(projects: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    path = write_lines(
        claude_session_path(projects), [claude_assistant("msg_1", T1, usage=claude_usage(output=1))]
    )
    state = ScanState(state_path)
    assert [(m.output, m.new) for m in scan(projects, state)] == [(1, 1)]
    state.save()
    state.close()
    append_lines(path, [claude_assistant("msg_1", T3, usage=claude_usage(output=519))])
    state = ScanState(state_path)
    (growth,) = scan(projects, state)
    assert (growth.output, growth.input, growth.new, growth.ts, growth.key) == (
        518,
        0,
        0,
        T1,
        "msg_1",
    )
    assert growth.prompt == 10
    state.save()
    state.close()
    append_lines(path, [claude_assistant("msg_1", T3, usage=claude_usage(output=519))])
    assert scan(projects, ScanState(state_path)) == []


def test_replaced_or_shrunk_file_rescanned_without_double_count(
    projects: Path, tmp_path: Path
) -> None:
    state_path = tmp_path / "state.db"
    path = claude_session_path(projects)
    write_lines(path, [claude_assistant("msg_1", T1), claude_assistant("msg_2", T2)])
    state = ScanState(state_path)
    assert totals(scan(projects, state))["messages"] == 2
    state.save()
    state.close()
    # replaced (a new inode)
    spare = write_lines(
        path.with_suffix(".new"), [claude_assistant("msg_2", T2), claude_assistant("msg_3", T3)]
    )
    spare.replace(path)
    state = ScanState(state_path)
    assert [m.key for m in scan(projects, state)] == ["msg_3"]
    state.save()
    state.close()
    # shrunk in place (same inode)
    write_lines(path, [claude_assistant("msg_4", T4)])
    state = ScanState(state_path)
    assert [m.key for m in scan(projects, state)] == ["msg_4"]


def test_stale_file_then_appended_counts_only_growth(projects: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    path = write_lines(
        claude_session_path(projects),
        [
            claude_assistant("msg_1", T1, usage=claude_usage(output=3)),
            claude_assistant("msg_0", T1),
        ],
    )
    os.utime(path, ns=(10**18, 10**18))
    state = ScanState(state_path, since_ns=2 * 10**18)
    assert scan(projects, state) == []
    state.save()
    state.close()
    append_lines(
        path,
        [
            claude_assistant("msg_1", T3, usage=claude_usage(output=30)),
            claude_assistant("msg_9", T3),
        ],
    )
    state = ScanState(state_path, since_ns=2 * 10**18)
    got = {m.key: (m.output, m.new) for m in scan(projects, state)}
    assert got == {"msg_1": (27, 0), "msg_9": (100, 1)}


# -- against the shared corpus and the generator ----------------------------------------------


def test_shared_fixture_matches_expected() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    corpus = SHARED / "fixtures" / "agent-logs"
    expected = json.loads((corpus / "expected.json").read_text())["agents"]["claude"]
    messages = scan(corpus / "claude")
    fields = ("input", "output", "cache_read", "cache_write", "reasoning", "messages", "total")
    assert totals(messages) == {k: expected["totals"][k] for k in fields}
    for by, name in (("model", "by_model"), ("day", "by_day"), ("cwd", "by_cwd")):
        want = {key: {k: row[k] for k in fields} for key, row in expected[name].items()}
        assert tally(messages, by) == want
    assert sum(m.cache_write_1h for m in messages) == expected["totals"]["cache_write_1h"]


def _truth_rows(rule: dict[str, int]) -> dict[str, int]:
    return {
        "input": rule["input_tokens"],
        "output": rule["output_tokens"],
        "cache_read": rule["cache_read_input_tokens"],
        "cache_write": rule["cache_creation_input_tokens"],
        "messages": rule["messages"],
    }


def _mine(rows: dict[str, int]) -> dict[str, int]:
    return {k: rows[k] for k in ("input", "output", "cache_read", "cache_write", "messages")}


def test_generated_home_matches_truth_then_append(generated: Path, tmp_path: Path) -> None:
    expected = json.loads((generated / "expected-totals.json").read_text())
    home = tmp_path / "claude"
    shutil.copytree(generated / "claude", home)
    state_path = tmp_path / "state.db"
    state = ScanState(state_path)
    messages = scan(home, state)
    state.save()
    state.close()
    truth = expected["claude"]["truth"]
    assert _mine(totals(messages)) == _truth_rows(truth["total"])
    assert {k: _mine(v) for k, v in tally(messages, "model").items()} == {
        k: _truth_rows(v) for k, v in truth["by_model"].items()
    }
    assert {k: _mine(v) for k, v in tally(messages, "day").items()} == {
        k: _truth_rows(v) for k, v in truth["by_day"].items()
    }
    for item in expected["append"]["files"]:
        if item["path"].startswith("claude/"):
            target = tmp_path / item["path"]
            with target.open("ab") as fh:
                fh.write((generated / "append" / item["path"]).read_bytes())
    state = ScanState(state_path)
    more = scan(home, state)
    assert _mine(totals(more)) == _truth_rows(expected["append"]["claude_truth"]["total"])
