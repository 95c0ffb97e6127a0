from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.hooks.logwriters import (
    CWD,
    THREAD,
    append_lines,
    codex_event,
    codex_item,
    codex_meta,
    codex_path,
    codex_tokens,
    codex_turn,
    dumps,
    tally,
    totals,
    write_lines,
)
from tokennotes.hooks import codex
from tokennotes.hooks.logs import Diagnostics, Message
from tokennotes.hooks.state import ScanState

T0 = "2026-11-19T10:00:00.000Z"
T1 = "2026-11-19T10:01:00.000Z"
T2 = "2026-11-19T10:02:00.000Z"
T3 = "2026-11-19T10:03:00.000Z"
T4 = "2026-11-20T00:01:00.000Z"
CHILD = "019aa3f4-0000-7000-8000-0000000000c3"


def scan(
    home: Path, state: ScanState | None = None, diag: Diagnostics | None = None
) -> list[Message]:
    return list(codex.collect([home], state or ScanState(None), diag or Diagnostics()))


def deltas(messages: list[Message]) -> list[tuple[int, int, int, int]]:
    """(input incl. cached, cached, output, reasoning) per message, as Codex would report it."""
    return [(m.input + m.cache_read, m.cache_read, m.output, m.reasoning) for m in messages]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "codex"
    path.mkdir()
    return path


def session(*lines: str) -> list[str]:
    return [codex_meta(T0), codex_turn(T0), *lines]


# -- where ------------------------------------------------------------------------------------


def test_homes(tmp_path: Path) -> None:
    user = tmp_path / "u"
    assert codex.homes({}, user) == []
    (user / ".codex").mkdir(parents=True)
    assert codex.homes({}, user) == [(user / ".codex").resolve()]
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert codex.homes({"CODEX_HOME": str(other)}, user) == [other.resolve()]
    assert codex.homes({"CODEX_HOME": str(tmp_path / "none")}, user) == []


# -- traps ------------------------------------------------------------------------------------


def test_cumulative_totals_become_deltas_cached_inside_input(home: Path) -> None:
    lines = session(
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_item(T1, "token_count total_token_usage"),
        codex_tokens(T2, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
        codex_tokens(T4, (20500, 10000, 1000, 300), (8500, 6000, 300, 50)),
    )
    write_lines(codex_path(home), lines)
    messages = scan(home)
    assert deltas(messages) == [(5000, 0, 300, 100), (7000, 4000, 400, 150), (8500, 6000, 300, 50)]
    second = messages[1]
    assert (second.input, second.cache_read, second.output, second.reasoning) == (
        3000,
        4000,
        400,
        150,
    )
    assert (second.prompt, second.cache_write, second.total) == (7000, 0, 7400)
    assert [m.ts[:10] for m in messages] == ["2026-11-19", "2026-11-19", "2026-11-20"]
    assert {(m.session, m.cwd, m.model) for m in messages} == {(THREAD, CWD, "gpt-5.1-codex")}


def test_reemitted_total_skipped(home: Path) -> None:
    lines = session(
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (5000, 0, 300, 100)),
        codex_event(T2),
        codex_tokens(T3, (5000, 0, 300, 100)),
        codex_tokens(T4, (6000, 500, 400, 100), (1000, 500, 100, 0)),
    )
    write_lines(codex_path(home), lines)
    assert deltas(scan(home)) == [(5000, 0, 300, 100), (1000, 500, 100, 0)]


def test_reset_after_resume_uses_last(home: Path) -> None:
    lines = session(
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (9000, 2000, 500, 100), (4000, 2000, 200, 0)),
        codex_turn(T3),  # codex resume appends to the same file, counters from 0
        codex_tokens(T3, (3000, 1000, 50, 10)),
        codex_tokens(T4, (7000, 1000, 80, 10), (4000, 0, 30, 0)),
    )
    write_lines(codex_path(home), lines)
    assert deltas(scan(home)) == [
        (5000, 0, 300, 100),
        (4000, 2000, 200, 0),
        (3000, 1000, 50, 10),
        (4000, 0, 30, 0),
    ]


def test_increase_with_a_different_last_prefers_last(home: Path) -> None:
    lines = session(
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (90000, 2000, 900, 100), (80000, 2000, 500, 0)),
    )
    write_lines(codex_path(home), lines)
    assert deltas(scan(home))[1] == (80000, 2000, 500, 0)


def test_only_last_or_only_total(home: Path) -> None:
    lines = session(
        codex_tokens(T1, None, (1000, 100, 10, 0)),
        codex_tokens(T2, None, (1000, 100, 10, 0)),  # no total: cannot tell a re-emit (same ts?)
        codex_tokens(T3, (2000, 0, 20, 0), omit_last=True),
        codex_tokens(T4, (2500, 0, 30, 0), omit_last=True),
    )
    write_lines(codex_path(home), lines)
    assert deltas(scan(home)) == [
        (1000, 100, 10, 0),
        (1000, 100, 10, 0),
        (2000, 0, 20, 0),
        (500, 0, 10, 0),
    ]


def test_info_null_and_zero_deltas_skipped(home: Path) -> None:
    lines = session(
        codex_tokens(T1, None, info_null=True),
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, None, info_null=True),
        codex_tokens(T3, (0, 0, 0, 0)),  # a restart that has not called the model yet
        codex_tokens(T4, (100, 0, 10, 0)),
    )
    write_lines(codex_path(home), lines)
    diag = Diagnostics()
    assert deltas(scan(home, diag=diag)) == [(5000, 0, 300, 100), (100, 0, 10, 0)]
    assert diag.malformed_lines == 0


def test_cached_clamped_to_input(home: Path) -> None:
    write_lines(codex_path(home), session(codex_tokens(T1, (100, 250, 30, 40))))
    (message,) = scan(home)
    assert (message.input, message.cache_read, message.output, message.reasoning) == (
        0,
        100,
        30,
        40,
    )


def test_missing_model_falls_back_to_gpt5_approximate(home: Path) -> None:
    path = write_lines(
        codex_path(home),
        [
            codex_meta(T0),
            codex_tokens(T1, (100, 0, 10, 0)),
            codex_tokens(T2, (200, 0, 20, 0), (100, 0, 10, 0)),
            codex_turn(T3, "gpt-5.1-codex-max"),
            codex_tokens(T3, (300, 0, 30, 0), (100, 0, 10, 0)),
            codex_tokens(T4, (400, 0, 40, 0), (100, 0, 10, 0), model="gpt-5.2-codex"),
        ],
    )
    diag = Diagnostics()
    messages = scan(home, diag=diag)
    assert [m.model for m in messages] == ["gpt-5", "gpt-5", "gpt-5.1-codex-max", "gpt-5.2-codex"]
    assert [m.key.startswith(codex.APPROXIMATE) for m in messages] == [True, True, False, False]
    assert diag.errors == [f"{path}: no model recorded; counted as gpt-5"]


def test_fork_replay_is_baseline_not_counted(home: Path) -> None:
    parent = session(
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
    )
    write_lines(codex_path(home), parent)
    fork = [
        codex_meta(T3, CHILD, forked_from=THREAD),
        codex_turn(T0),
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
        codex_turn(T3, "gpt-5.2-codex"),
        codex_tokens(T4, (17500, 8000, 900, 270), (5500, 4000, 200, 20)),
    ]
    write_lines(codex_path(home, CHILD, "2026-11-19T10-03-00"), fork)
    messages = scan(home)
    assert deltas(messages) == [(5000, 0, 300, 100), (7000, 4000, 400, 150), (5500, 4000, 200, 20)]
    assert [m.session for m in messages] == [THREAD, THREAD, CHILD]
    assert messages[2].model == "gpt-5.2-codex"


def test_fork_of_a_fork_resolves_the_root(home: Path) -> None:
    grandchild = "019aa400-0000-7000-8000-0000000000c4"
    write_lines(codex_path(home), session(codex_tokens(T1, (5000, 0, 300, 100))))
    write_lines(
        codex_path(home, CHILD, "2026-11-19T10-03-00"),
        [codex_meta(T3, CHILD, forked_from=THREAD), codex_tokens(T1, (5000, 0, 300, 100))],
    )
    write_lines(
        codex_path(home, grandchild, "2026-11-19T10-04-00"),
        [
            codex_meta(T3, grandchild, forked_from=CHILD),
            codex_tokens(T1, (5000, 0, 300, 100)),
            codex_turn(T3),
            codex_tokens(T4, (6000, 0, 350, 100), (1000, 0, 50, 0)),
        ],
    )
    assert deltas(scan(home)) == [(5000, 0, 300, 100), (1000, 0, 50, 0)]


def test_thread_spawn_replay_with_new_timestamps(home: Path) -> None:
    parent = session(
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
        codex_tokens(T2, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
    )
    write_lines(codex_path(home), parent)
    spawn = "2026-11-19T10:02:30.000Z"
    child = [
        codex_meta(spawn, CHILD, spawned_by=THREAD),
        codex_meta(spawn, THREAD),
        codex_tokens(spawn, (5000, 0, 300, 100)),
        codex_tokens(spawn, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
        codex_tokens(spawn, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
        codex_turn(T3, "gpt-5.1-codex-mini", cwd="/home/dev/proj/sub"),
        codex_tokens(T3, (800, 200, 30, 5)),
        codex_tokens(T4, (1800, 700, 60, 5), (1000, 500, 30, 0)),
    ]
    write_lines(codex_path(home, CHILD, "2026-11-19T10-02-30"), child)
    messages = scan(home)
    assert deltas(messages) == [
        (5000, 0, 300, 100),
        (7000, 4000, 400, 150),
        (800, 200, 30, 5),
        (1000, 500, 30, 0),
    ]
    assert [(m.session, m.cwd) for m in messages[2:]] == [(CHILD, "/home/dev/proj/sub")] * 2


def test_archived_duplicate_read_from_sessions_only(home: Path) -> None:
    lines = session(codex_tokens(T1, (5000, 0, 300, 100)))
    live = write_lines(codex_path(home), lines)
    write_lines(home / "archived_sessions" / live.name, lines)
    other = "019aa3b0-0000-7000-8000-0000000000c9"
    write_lines(
        home / "archived_sessions" / codex_path(home, other).name,
        [codex_meta(T0, other), codex_turn(T0), codex_tokens(T2, (100, 0, 1, 0))],
    )
    diag = Diagnostics()
    messages = scan(home, diag=diag)
    assert [m.session for m in messages] == [THREAD, other]
    assert diag.files_read == 2


def test_unusual_layouts_parsed_whole(home: Path) -> None:
    reordered = dumps(
        {
            "type": "event_msg",
            "payload": {"type": "token_count", "info": {
                "total_token_usage": {"input_tokens": 100, "cached_input_tokens": 0,
                                      "output_tokens": 10, "reasoning_output_tokens": 0}}},
            "timestamp": T1,
        }
    )  # fmt: skip
    spaced = json.dumps(json.loads(codex_tokens(T2, (300, 50, 30, 0), (200, 50, 20, 0))))
    nested = codex_tokens(T3, (400, 50, 35, 0), (100, 0, 5, 0)).replace(
        '"cached_input_tokens":0', '"details":{"x":1},"cached_input_tokens":0'
    )
    write_lines(codex_path(home), [codex_meta(T0), codex_turn(T0), reordered, spaced, nested])
    assert deltas(scan(home)) == [(100, 0, 10, 0), (200, 50, 20, 0), (100, 0, 5, 0)]


def test_crlf_malformed_and_offsets(home: Path) -> None:
    lines = session(
        codex_tokens("2026-11-20T01:01:00+02:00", (5000, 0, 300, 100)),
        '{"timestamp":"2026-11-19T23:50:00.000Z","type":"event_msg","payload":{"type":"token_count",',
        '{"timestamp":"2026-11-19T23:51:00.000Z","type":"turn_context","payload":{"model":',
        codex_tokens(T4, (6000, 0, 310, 100), (1000, 0, 10, 0)),
    )
    path = write_lines(codex_path(home), lines, newline="\r\n")
    diag = Diagnostics()
    messages = scan(home, diag=diag)
    assert [(m.ts, m.input) for m in messages] == [("2026-11-19T23:01:00.000Z", 5000), (T4, 1000)]
    assert diag.per_file == {str(path): 2}


def test_truncated_last_line_counted_when_completed(home: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    path = write_lines(codex_path(home), session(codex_tokens(T1, (5000, 0, 300, 100))))
    last = codex_tokens(T2, (6000, 0, 310, 100), (1000, 0, 10, 0))
    with path.open("ab") as fh:
        fh.write(last[:-20].encode())
    state = ScanState(state_path)
    assert deltas(scan(home, state)) == [(5000, 0, 300, 100)]
    state.save()
    state.close()
    with path.open("ab") as fh:
        fh.write(last[-20:].encode())  # complete now, still without a newline
    state = ScanState(state_path)
    assert deltas(scan(home, state)) == [(1000, 0, 10, 0)]
    state.save()
    state.close()
    append_lines(path, ["", codex_tokens(T3, (6500, 0, 320, 100), (500, 0, 10, 0))])
    state = ScanState(state_path)
    assert deltas(scan(home, state)) == [(500, 0, 10, 0)]


# -- incremental ------------------------------------------------------------------------------


def _corpus(home: Path) -> list[tuple[Path, list[str]]]:
    parent = session(
        codex_tokens(T1, None, info_null=True),
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
        codex_turn(T3, "gpt-5.2-codex"),
        codex_tokens(T3, (1000, 0, 10, 0)),
        codex_tokens(T4, (3000, 1000, 30, 0), (2000, 1000, 20, 0)),
    )
    fork = [
        codex_meta(T3, CHILD, forked_from=THREAD),
        codex_turn(T0),
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
        codex_tokens(T4, (17500, 8000, 900, 270), (5500, 4000, 200, 20)),
        codex_tokens(T4, (17600, 8000, 905, 270), (100, 0, 5, 0)),
    ]
    return [(codex_path(home), parent), (codex_path(home, CHILD, "2026-11-19T10-03-00"), fork)]


@pytest.mark.parametrize("cut", [0, 2, 3, 4, 5, 6, 7, 8])
def test_scans_in_steps_equal_one_full_scan(home: Path, tmp_path: Path, cut: int) -> None:
    corpus = _corpus(home)
    state_path = tmp_path / f"state-{cut}.db"
    got: list[Message] = []
    for step in range(cut, 10):
        for path, lines in corpus:
            write_lines(path, lines[:step])
        state = ScanState(state_path)
        got += scan(home, state)
        state.save()
        state.close()
    full = scan(home)
    for by in (None, "model", "day", "cwd"):
        assert tally(got, by) == tally(full, by)
    assert deltas(full) == [
        (5000, 0, 300, 100),
        (7000, 4000, 400, 150),
        (1000, 0, 10, 0),
        (2000, 1000, 20, 0),
        (5500, 4000, 200, 20),
        (100, 0, 5, 0),
    ]


def test_replaced_file_rescanned_without_double_count(home: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    lines = session(codex_tokens(T1, (5000, 0, 300, 100)))
    path = write_lines(codex_path(home), lines)
    state = ScanState(state_path)
    assert len(scan(home, state)) == 1
    state.save()
    state.close()
    more = [*lines, codex_tokens(T2, (6000, 0, 310, 100), (1000, 0, 10, 0))]
    write_lines(path.with_suffix(".new"), more).replace(path)
    state = ScanState(state_path)
    assert deltas(scan(home, state)) == [(1000, 0, 10, 0)]
    state.save()
    state.close()
    # archived: the same thread moves to archived_sessions/ and grows there
    archived = home / "archived_sessions" / path.name
    archived.parent.mkdir()
    path.replace(archived)
    append_lines(archived, [codex_tokens(T3, (6500, 0, 315, 100), (500, 0, 5, 0))])
    state = ScanState(state_path)
    assert deltas(scan(home, state)) == [(500, 0, 5, 0)]


def test_stale_file_then_appended_rebuilds_counters(home: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    lines = session(
        codex_tokens(T1, (5000, 0, 300, 100)),
        codex_tokens(T2, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),
    )
    path = write_lines(codex_path(home), lines)
    with path.open("ab") as fh:
        fh.write(b'{"timestamp":"2026-11-19T10:02:10.000Z","type":"event_msg","pay')  # crashed
    os.utime(path, ns=(10**18, 10**18))
    state = ScanState(state_path, since_ns=2 * 10**18)
    assert scan(home, state) == []
    state.save()
    state.close()
    with path.open("ab") as fh:
        fh.write(b'load":{"type":"agent_message","message":"back"}}\n')
    append_lines(
        path,
        [
            codex_tokens(T3, (12000, 4000, 700, 250), (7000, 4000, 400, 150)),  # re-emit
            codex_tokens(T4, (13000, 4500, 750, 250), (1000, 500, 50, 0)),
        ],
    )
    state = ScanState(state_path, since_ns=2 * 10**18)
    messages = scan(home, state)
    assert deltas(messages) == [(1000, 500, 50, 0)]
    assert (messages[0].model, messages[0].session) == ("gpt-5.1-codex", THREAD)


# -- against the shared corpus and the generator ----------------------------------------------


def test_shared_fixture_matches_expected() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    corpus = SHARED / "fixtures" / "agent-logs"
    expected = json.loads((corpus / "expected.json").read_text())["agents"]["codex"]
    messages = scan(corpus / "codex")
    fields = ("input", "output", "cache_read", "cache_write", "reasoning", "messages", "total")
    assert totals(messages) == {k: expected["totals"][k] for k in fields}
    for by, name in (("model", "by_model"), ("day", "by_day"), ("cwd", "by_cwd")):
        want = {key: {k: row[k] for k in fields} for key, row in expected[name].items()}
        assert tally(messages, by) == want


def _truth_rows(rule: dict[str, int]) -> dict[str, int]:
    return {
        "input": rule["input_tokens"] - rule["cached_input_tokens"],
        "cache_read": rule["cached_input_tokens"],
        "output": rule["output_tokens"],
        "reasoning": rule["reasoning_output_tokens"],
        "messages": rule["events"],
        "total": rule["total_tokens"],
    }


def _mine(rows: dict[str, int]) -> dict[str, int]:
    return {k: rows[k] for k in ("input", "cache_read", "output", "reasoning", "messages", "total")}


def test_generated_home_matches_truth_then_append(generated: Path, tmp_path: Path) -> None:
    expected = json.loads((generated / "expected-totals.json").read_text())
    home = tmp_path / "codex"
    shutil.copytree(generated / "codex", home)
    state_path = tmp_path / "state.db"
    state = ScanState(state_path)
    messages = scan(home, state)
    state.save()
    state.close()
    truth = expected["codex"]["truth"]
    assert _mine(totals(messages)) == _truth_rows(truth["total"])
    for by, name in (("model", "by_model"), ("day", "by_day")):
        assert {k: _mine(v) for k, v in tally(messages, by).items()} == {
            k: _truth_rows(v) for k, v in truth[name].items()
        }
    assert all(m.cache_write == 0 for m in messages)
    for item in expected["append"]["files"]:
        if item["path"].startswith("codex/"):
            with (tmp_path / item["path"]).open("ab") as fh:
                fh.write((generated / "append" / item["path"]).read_bytes())
    state = ScanState(state_path)
    more = scan(home, state)
    assert _mine(totals(more)) == _truth_rows(expected["append"]["codex_truth"]["total"])
