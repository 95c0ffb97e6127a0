from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.hooks.logwriters_go import (
    FIELDS,
    add_message,
    add_message_v2,
    add_session,
    add_session_v2,
    make_opencode_v1,
    make_opencode_v2,
    opencode_assistant,
    opencode_user,
    sum_messages,
    update_message,
    write_storage_message,
    write_storage_session,
)
from tokennotes.hooks import opencode
from tokennotes.hooks.logs import Diagnostics, Message
from tokennotes.hooks.state import ScanState

APP = "/src/app"
LIB = "/src/lib"
T0 = 1_930_000_000_000  # 2031-02-27T23:06:40Z in epoch milliseconds


def scan(data: Path, state: ScanState | None = None) -> tuple[list[Message], Diagnostics]:
    diag = Diagnostics()
    messages = list(opencode.collect([data], state or ScanState(None), diag))
    return messages, diag


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "share" / "opencode"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def db(data: Path) -> Iterator[sqlite3.Connection]:
    conn = make_opencode_v1(data / "opencode.db")
    add_session(conn, "ses_app", APP)
    add_session(conn, "ses_lib", LIB)
    yield conn
    conn.close()


def ids(messages: list[Message]) -> list[str]:
    return [m.key for m in messages]


def test_homes_follow_xdg_and_override(tmp_path: Path) -> None:
    assert opencode.homes({}, tmp_path) == []
    default = tmp_path / ".local" / "share" / "opencode"
    default.mkdir(parents=True)
    assert opencode.homes({}, tmp_path) == [default]
    xdg = tmp_path / "xdg" / "opencode"
    xdg.mkdir(parents=True)
    assert opencode.homes({"XDG_DATA_HOME": str(tmp_path / "xdg")}, tmp_path) == [xdg]
    assert opencode.homes({"XDG_DATA_HOME": "relative"}, tmp_path) == [default]
    override = tmp_path / "oc"
    override.mkdir()
    assert opencode.homes({"OPENCODE_DATA_DIR": str(override)}, tmp_path) == [override]


def test_message_in_db_and_leftover_json_counts_once(data: Path, db: sqlite3.Connection) -> None:
    reply = opencode_assistant(
        T0, completed=T0 + 9000, tokens=(12, 340, 0, 21000, 3100), cost=0.0211, cwd=APP
    )
    add_message(db, "msg_user1", "ses_app", opencode_user(T0 - 5000))
    add_message(db, "msg_reply1", "ses_app", reply, updated=T0 + 9000)
    storage = data / "storage"
    write_storage_session(storage, "prj_1", "ses_app", APP)
    write_storage_message(storage, "msg_user1", "ses_app", opencode_user(T0 - 5000))
    write_storage_message(storage, "msg_reply1", "ses_app", reply)
    messages, diag = scan(data)
    assert len(messages) == 1
    (m,) = messages
    assert (m.key, m.session, m.cwd, m.model) == ("msg_reply1", "ses_app", APP, "claude-sonnet-4-5")
    assert (m.input, m.output, m.cache_read, m.cache_write_5m, m.cache_write_1h) == (
        12,
        340,
        21000,
        3100,
        0,
    )
    assert m.recorded_cost == "0.0211"
    assert m.prompt == 12 + 21000 + 3100
    assert diag.malformed_lines == 0


def test_zero_token_aborted_turn_is_not_a_message(data: Path, db: sqlite3.Connection) -> None:
    aborted = opencode_assistant(T0, cost=0, error={"name": "MessageAbortedError", "data": {}})
    add_message(db, "msg_aborted", "ses_app", aborted)
    add_message(db, "msg_ok", "ses_app", opencode_assistant(T0 + 1, tokens=(1, 2, 0, 3, 0)))
    messages, _ = scan(data)
    assert ids(messages) == ["msg_ok"]


def test_reasoning_is_kept_as_recorded(data: Path, db: sqlite3.Connection) -> None:
    reply = opencode_assistant(
        T0, model="gpt-5.1", provider="openai", tokens=(2500, 640, 210, 7000, 0), cost=0.01
    )
    add_message(db, "msg_gpt", "ses_lib", reply)
    (m,), _ = scan(data)
    assert (m.input, m.output, m.reasoning, m.cache_read) == (2500, 640, 210, 7000)
    assert (m.model, m.cwd) == ("gpt-5.1", LIB)  # provider kept out of the model name


def test_legacy_only_message_takes_its_session_directory(data: Path) -> None:
    storage = data / "storage"
    write_storage_session(storage, "prj_9", "ses_old", LIB)
    reply = opencode_assistant(T0 - 86_400_000, tokens=(900, 70, 0, 0, 0), cwd="/elsewhere")
    write_storage_message(storage, "msg_old", "ses_old", reply)
    write_storage_message(storage, "msg_old_user", "ses_old", opencode_user(T0 - 86_400_000))
    write_storage_message(  # a session whose session file is gone: path.cwd it is
        storage, "msg_orphan", "ses_gone", opencode_assistant(T0, tokens=(5, 5, 0, 0, 0), cwd=APP)
    )
    messages, diag = scan(data)
    assert [(m.key, m.session, m.cwd, m.input) for m in messages] == [
        ("msg_orphan", "ses_gone", APP, 5),
        ("msg_old", "ses_old", LIB, 900),
    ]
    assert diag.files_read == 3


def test_timestamps_in_milliseconds_and_seconds(data: Path, db: sqlite3.Connection) -> None:
    add_message(db, "msg_ms", "ses_app", opencode_assistant(1_931_126_400_250, tokens=(1,) * 5))
    add_message(db, "msg_s", "ses_app", opencode_assistant(1_931_126_399, tokens=(2,) * 5))
    messages, _ = scan(data)
    assert {m.key: m.ts for m in messages} == {
        "msg_ms": "2031-03-13T00:00:00.250Z",
        "msg_s": "2031-03-12T23:59:59.000Z",
    }
    assert opencode.epoch_ms(1e12) == 1e15 and opencode.epoch_ms(1e12 + 1) == 1e12 + 1
    assert opencode.epoch_ms("1") is None and opencode.epoch_ms(True) is None


def test_forked_session_copies_are_dropped(data: Path, db: sqlite3.Connection) -> None:
    first = opencode_assistant(T0, completed=T0 + 400, tokens=(30, 300, 0, 9000, 500), cost=0.02)
    second = opencode_assistant(T0 + 60_000, completed=T0 + 61_000, tokens=(8, 80, 0, 9500, 40))
    add_message(db, "msg_a1", "ses_app", first)
    add_message(db, "msg_a2", "ses_app", second)
    add_session(db, "ses_fork", APP, parent_id="ses_app")
    add_message(db, "msg_f1", "ses_fork", first, updated=T0 + 90_000)  # copies, new ids
    add_message(db, "msg_f2", "ses_fork", second, updated=T0 + 90_000)
    own = opencode_assistant(T0 + 95_000, completed=T0 + 96_000, tokens=(4, 40, 0, 9600, 30))
    add_message(db, "msg_f3", "ses_fork", own)
    add_session(db, "ses_task", APP, parent_id="ses_app")  # a subagent's own work counts
    add_message(db, "msg_t1", "ses_task", opencode_assistant(T0 + 97_000, tokens=(1, 1, 0, 1, 1)))
    messages, _ = scan(data)
    assert sorted(ids(messages)) == ["msg_a1", "msg_a2", "msg_f3", "msg_t1"]


def test_v2_schema(data: Path) -> None:
    conn = make_opencode_v2(data / "opencode.db")
    add_session_v2(conn, "ses_v2", LIB)
    reply = opencode_assistant(
        T0, completed=T0 + 500, model="gemini-2.5-pro", provider="google", tokens=(70, 7, 3, 700, 0)
    )
    add_message_v2(conn, "msg_v2a", "ses_v2", "assistant", reply, updated=T0 + 500)
    add_message_v2(conn, "msg_v2u", "ses_v2", "user", opencode_user(T0 - 10), updated=T0 - 10)
    tool = {"time": {"created": T0 + 1}, "tokens": {"input": 1, "output": 1}}
    add_message_v2(conn, "msg_v2t", "ses_v2", "tool", tool, updated=T0 + 1)
    conn.close()
    messages, diag = scan(data)
    assert [(m.key, m.session, m.cwd, m.model, m.input, m.reasoning) for m in messages] == [
        ("msg_v2a", "ses_v2", LIB, "gemini-2.5-pro", 70, 3)
    ]
    assert diag.errors == []


def test_wal_database_is_readable_while_a_writer_holds_it(data: Path) -> None:
    writer = make_opencode_v1(data / "opencode.db", wal=True)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")  # committed rows stay in -wal
        add_session(writer, "ses_app", APP)
        add_message(writer, "msg_w1", "ses_app", opencode_assistant(T0, tokens=(3, 3, 0, 3, 3)))
        writer.execute("BEGIN IMMEDIATE")  # a write in progress, not committed
        add_message(writer, "msg_w2", "ses_app", opencode_assistant(T0 + 1, tokens=(4,) * 5))
        assert (data / "opencode.db-wal").stat().st_size > 0
        state = ScanState(None)
        messages, diag = scan(data, state)
        assert ids(messages) == ["msg_w1"] and diag.errors == []
        writer.execute("COMMIT")
        messages, _ = scan(data, state)
        assert ids(messages) == ["msg_w2"]
    finally:
        writer.close()


def test_incremental_requery_after_a_row_update(
    data: Path, db: sqlite3.Connection, tmp_path: Path
) -> None:
    streaming = opencode_assistant(T0, tokens=(40, 100, 0, 5000, 200), cost=0.01)
    add_message(db, "msg_s1", "ses_app", streaming, updated=T0 + 100)
    add_message(db, "msg_s0", "ses_app", opencode_assistant(T0 - 1, tokens=(1,) * 5))
    state_path = tmp_path / "state.sqlite"

    def run() -> tuple[list[Message], Diagnostics]:
        state = ScanState(state_path)
        try:
            return scan(data, state)
        finally:
            state.save()
            state.close()

    first, _ = run()
    assert sorted(ids(first)) == ["msg_s0", "msg_s1"]
    unchanged, diag = run()
    assert unchanged == [] and diag.files_read == 0  # nothing changed: the db is not opened

    done = opencode_assistant(T0, completed=T0 + 4000, tokens=(40, 380, 0, 5000, 200), cost=0.025)
    update_message(db, "msg_s1", done, updated=T0 + 4000)
    grown, _ = run()
    assert [(m.key, m.new, m.output, m.input, m.recorded_cost) for m in grown] == [
        ("msg_s1", 0, 280, 0, "0.015")
    ]
    assert grown[0].prompt == 40 + 5000 + 200
    assert run()[0] == []

    full, _ = scan(data)
    assert sum_messages(first + grown) == sum_messages(full)


def test_database_older_than_the_window_is_only_bookmarked(
    data: Path, db: sqlite3.Connection
) -> None:
    add_message(db, "msg_old", "ses_app", opencode_assistant(T0, tokens=(5, 5, 0, 5, 0)))
    state = ScanState(None, since_ns=(data / "opencode.db").stat().st_mtime_ns + 1)
    assert scan(data, state)[0] == []
    reply = opencode_assistant(T0 + 10_000, tokens=(6, 6, 0, 6, 0))
    add_message(db, "msg_new", "ses_app", reply, updated=T0 + 10_000)
    assert ids(scan(data, state)[0]) == ["msg_new"]


def test_malformed_rows_and_files_are_counted(data: Path, db: sqlite3.Connection) -> None:
    add_message(db, "msg_bad", "ses_app", '{"role":"assistant", "tokens": ')
    add_message(db, "msg_good", "ses_app", opencode_assistant(T0, tokens=(9, 9, 0, 0, 0)))
    bad_file = write_storage_message(data / "storage", "msg_x", "ses_x", '{"role":"assistant"')
    messages, diag = scan(data)
    assert ids(messages) == ["msg_good"]
    assert diag.malformed_lines == 2
    assert diag.per_file == {str(data / "opencode.db"): 1, str(bad_file): 1}


def test_not_a_database_is_reported_not_fatal(data: Path) -> None:
    (data / "opencode.db").write_bytes(b"this is not sqlite" * 100)
    write_storage_message(
        data / "storage", "msg_j", "ses_j", opencode_assistant(T0, tokens=(1, 1, 0, 0, 0))
    )
    messages, diag = scan(data)
    assert ids(messages) == ["msg_j"]
    assert len(diag.errors) == 1 and "opencode.db" in diag.errors[0]
    assert diag.per_file == {str(data / "opencode.db"): 1}


def test_channel_database_is_read(data: Path) -> None:
    conn = make_opencode_v1(data / "opencode-beta.db")
    add_session(conn, "ses_b", APP)
    add_message(conn, "msg_b1", "ses_b", opencode_assistant(T0, tokens=(6, 6, 0, 6, 0)))
    conn.close()
    (data / "opencode.db-wal").write_bytes(b"")  # not a database name
    messages, _ = scan(data)
    assert ids(messages) == ["msg_b1"]


def test_shared_corpus_matches_expected() -> None:
    corpus = SHARED / "fixtures" / "agent-logs"
    if not (corpus / "expected.json").exists():
        pytest.skip("shared fixture corpus not available")
    expected = json.loads((corpus / "expected.json").read_text())["agents"]["opencode"]
    messages, diag = scan(corpus / "opencode")

    def pick(rows: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        return {k: {f: v[f] for f in FIELDS} for k, v in rows.items()}

    assert sum_messages(messages)[""] == pick({"": expected["totals"]})[""]
    assert sum_messages(messages, lambda m: m.model) == pick(expected["by_model"])
    assert sum_messages(messages, lambda m: m.ts[:10]) == pick(expected["by_day"])
    assert sum_messages(messages, lambda m: m.cwd) == pick(expected["by_cwd"])
    assert diag.errors == [] and diag.malformed_lines == 0
