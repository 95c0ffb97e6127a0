"""The scan state's directory-listing cache: incremental sums always equal a full scan."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tokennotes.hooks import claude
from tokennotes.hooks.logs import Diagnostics, count_of, parse_json
from tokennotes.hooks.state import _MARGIN_NS, ScanState, StateError


class Home:
    """A Claude projects/ tree, scanned incrementally with a persisted state."""

    def __init__(self, root: Path) -> None:
        self.projects = root / "projects"
        self.projects.mkdir()
        self.state = root / "state.sqlite"
        self.serial = 0
        self.counted = [0, 0]  # input tokens, messages over every incremental run

    def write(self, relative: str, lines: int = 1) -> None:
        path = self.projects / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            for _ in range(lines):
                self.serial += 1
                fh.write(json.dumps({
                    "type": "assistant", "timestamp": "2026-11-19T10:00:00.000Z",
                    "sessionId": "s", "cwd": "/x",
                    "message": {"id": f"m{self.serial}", "model": "claude-x",
                                "usage": {"input_tokens": 10, "output_tokens": 1}},
                }) + "\n")  # fmt: skip

    def age_dirs(self) -> None:
        """Make every directory look an hour old, as a real home's are, so listings are trusted."""
        old = time.time() - 3600
        for directory, _, _ in os.walk(self.projects):
            os.utime(directory, (old, old))

    def incremental(self) -> tuple[int, int]:
        state = ScanState(self.state)
        messages = list(claude.collect([self.projects], state, Diagnostics()))
        state.save()
        state.close()
        got = (sum(m.input for m in messages), sum(m.new for m in messages))
        self.counted[0] += got[0]
        self.counted[1] += got[1]
        return got

    def full(self) -> tuple[int, int]:
        messages = list(claude.collect([self.projects], ScanState(None), Diagnostics()))
        return sum(m.input for m in messages), sum(m.new for m in messages)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


def test_appends_new_files_and_new_directories_are_all_found(home: Home) -> None:
    home.write("p1/a.jsonl", 3)
    home.age_dirs()
    assert home.incremental() == (30, 3)
    assert home.incremental() == (0, 0)
    home.write("p1/a.jsonl", 2)  # an append leaves the directory's mtime alone
    assert home.incremental() == (20, 2)
    home.write("p1/b.jsonl")
    home.age_dirs()  # the directory changed, even though it looks old again
    assert home.incremental() == (10, 1)
    home.write("p1/b/subagents/agent-1.jsonl", 2)
    assert home.incremental() == (20, 2)
    home.write("p2/c.jsonl", 4)
    assert home.incremental() == (40, 4)
    assert tuple(home.counted) == home.full()


def test_a_deleted_file_keeps_what_was_counted(home: Home) -> None:
    home.write("p1/a.jsonl", 2)
    home.write("p1/b.jsonl", 1)
    home.age_dirs()
    home.incremental()
    (home.projects / "p1" / "a.jsonl").unlink()
    assert home.incremental() == (0, 0)
    home.write("p1/b.jsonl")
    assert home.incremental() == (10, 1)


def test_a_listing_taken_too_close_to_the_mtime_is_not_trusted(home: Home) -> None:
    home.write("p3/x.jsonl")
    home.incremental()
    state = ScanState(home.state)
    listing = state._dirs[str(home.projects / "p3")]
    state.close()
    assert not listing[2] + _MARGIN_NS <= listing[3]  # listed right after it changed
    home.write("p3/y.jsonl")  # may land in the same mtime tick: found all the same
    assert home.incremental() == (10, 1)
    assert tuple(home.counted) == home.full()


def test_a_corrupt_state_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(StateError):
        ScanState(path)


@pytest.mark.parametrize(
    ("value", "count"),
    [(5, 5), (-3, 0), (True, 0), (None, 0), (2.9, 2), (float("nan"), 0), (float("inf"), 0),
     ("42", 42), ("4x", 0), ([1], 0), ("\u00b2", 0), ("\u0661\u0662", 0), ("9" * 5000, 0),
     (10**15 - 1, 10**15 - 1), (10**15, 0), (1e15, 0), ("9" * 15, 10**15 - 1), ("1" + "0" * 15, 0)],
)  # fmt: skip
def test_count_of_coerces_logged_counters(value: object, count: int) -> None:
    assert count_of(value) == count


def test_parse_json_never_raises() -> None:
    assert parse_json(b' {"a": 1} ') == {"a": 1}
    assert parse_json(b'{"a": 1} trailing') is None
    assert parse_json(b'{"a": ') is None
    assert parse_json(b"\xff\xfe") is None
    assert parse_json(b"[" * 100_000) is None
