"""Incremental scan state: per-file offsets and carries, and the global de-duplication index.

``ScanState(None)`` keeps everything in memory (a one-off full scan). ``ScanState(path)`` keeps it
in an SQLite file (the commit hook keeps its under the repository's common git dir), so that the
next scan reads only the bytes appended since this one, and a response seen before (a resumed
session's replay, a streamed message that grew) is recognised across runs. SQLite gives atomic
saves and point look-ups, so a run loads only the index keys it meets.

A corrupt state file raises ``StateError``; callers move it aside and rescan.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tokennotes.hooks.logs import Chunk, Diagnostics, FileState

READ_LIMIT = 1 << 30  # never read more than 1 GiB of one file in one go

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,
    offset INTEGER, carry TEXT
);
CREATE TABLE IF NOT EXISTS seen (
    agent TEXT, key TEXT, value TEXT, PRIMARY KEY (agent, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
"""


class StateError(Exception):
    """The state file cannot be used (corrupt, wrong format); move it aside and rescan."""


class Index:
    """A de-dup index for one agent: key -> JSON-able value, loaded lazily from the state."""

    def __init__(self, agent: str, db: sqlite3.Connection | None) -> None:
        self._agent = agent
        self._db = db
        self._cache: dict[str, Any] = {}
        self.dirty: dict[str, Any] = {}
        self._writes = db
        # a first scan meets every key once: with no stored rows, skip the look-ups
        if db is not None:
            row = db.execute("SELECT 1 FROM seen WHERE agent = ? LIMIT 1", (agent,)).fetchone()
            if row is None:
                self._db = None

    def get(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        value = None
        if self._db is not None:
            row = self._db.execute(
                "SELECT value FROM seen WHERE agent = ? AND key = ?", (self._agent, key)
            ).fetchone()
            if row is not None:
                value = json.loads(row[0])
        self._cache[key] = value
        return value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def put(self, key: str, value: Any) -> None:
        self._cache[key] = value
        if self._writes is not None:
            self.dirty[key] = value


class ScanState:
    """Where each file was read up to, and what was counted."""

    def __init__(self, path: Path | None = None, *, since_ns: int | None = None) -> None:
        self.path = path
        self.since_ns = since_ns
        self.files: dict[str, FileState] = {}
        self._indexes: dict[str, Index] = {}
        self._touched: dict[str, FileState] = {}
        self._meta: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        self._pending_baseline: dict[str, bytes] = {}
        if path is not None:
            self._open(path)

    # -- persistence ------------------------------------------------------------------------

    def _open(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
            self._db.executescript(_SCHEMA)
            for row in self._db.execute(
                "SELECT path, dev, ino, size, mtime_ns, offset, carry FROM files"
            ):
                carry = json.loads(row[6]) if row[6] and row[6] != "{}" else {}
                self.files[row[0]] = FileState(row[1], row[2], row[3], row[4], row[5], carry)
            self._meta = dict(self._db.execute("SELECT k, v FROM meta").fetchall())
        except (sqlite3.DatabaseError, ValueError) as exc:
            if self._db is not None:
                self._db.close()
                self._db = None
            raise StateError(f"{path}: unreadable scan state ({exc})") from exc

    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def save(self) -> None:
        """Write what this run changed, in one transaction."""
        if self._db is None:
            return
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (p, s.dev, s.ino, s.size, s.mtime_ns, s.offset, json.dumps(s.carry))
                    for p, s in self._touched.items()
                ],
            )
            for agent, index in self._indexes.items():
                db.executemany(
                    "INSERT OR REPLACE INTO seen VALUES (?, ?, ?)",
                    [(agent, k, json.dumps(v)) for k, v in index.dirty.items()],
                )
                index.dirty.clear()
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(self._meta.items()))
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StateError(f"{self.path}: could not save scan state ({exc})") from exc
        self._touched.clear()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- what collectors call ---------------------------------------------------------------

    def index(self, agent: str) -> Index:
        if agent not in self._indexes:
            self._indexes[agent] = Index(agent, self._db)
        return self._indexes[agent]

    def unchanged(self, path: str, st: os.stat_result) -> bool:
        """True when the file is exactly as the last scan left it (nothing to read)."""
        old = self.files.get(path)
        return (
            old is not None
            and old.dev == st.st_dev
            and old.ino == st.st_ino
            and old.size == st.st_size
            and old.mtime_ns == st.st_mtime_ns
        )

    def is_stale(self, st: os.stat_result) -> bool:
        """A file last modified before the window opened holds nothing the window needs."""
        return self.since_ns is not None and st.st_mtime_ns < self.since_ns

    def read(self, path: str, diag: Diagnostics, st: os.stat_result | None = None) -> Chunk | None:
        """The bytes appended to ``path`` since the last scan, or None when there are none.

        A file that shrank or was replaced (other inode) is read again from the start. A file
        first met while a window is set and not modified since the window opened is recorded as
        read without reading it; if it grows later, its old bytes come back as ``baseline`` so
        that carried state (a Codex counter) can be rebuilt without counting them.
        """
        try:
            if st is None:
                st = os.stat(path)
            if self.unchanged(path, st):
                return None
            old = self.files.get(path)
            if old is None and self.is_stale(st):
                self._touched[path] = self.files[path] = FileState(
                    st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_size, {"unread": 1}
                )
                return None
            fresh = old is None or old.ino != st.st_ino or old.dev != st.st_dev
            fresh = fresh or (old is not None and st.st_size < old.offset)
            start = 0 if fresh or old is None else old.offset
            carry: dict[str, Any] = {} if fresh or old is None else dict(old.carry)
            baseline = b""
            with open(path, "rb") as fh:
                if carry.pop("unread", None):
                    # the old bytes may end in a line still being written: cut at its start
                    baseline = fh.read(start)
                    start = baseline.rfind(b"\n") + 1
                    baseline = baseline[:start]
                    carry = {}
                fh.seek(start)
                # an exact size: read(READ_LIMIT) would allocate 1 GiB per file (~0.3 ms each)
                data = fh.read(min(READ_LIMIT, max(st.st_size - start, 0)))
        except OSError as exc:
            diag.error(path, exc.strerror or str(exc))
            return None
        diag.files_read += 1
        diag.bytes_read += len(data)
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        chunk = Chunk(path, data[:cut], start, tail, carry, fresh or start == 0)
        if baseline:
            chunk.carry["__baseline__"] = True
            self._pending_baseline[path] = baseline
        self._commit_offset(path, st, start + cut, chunk.carry)
        return chunk

    def baseline(self, chunk: Chunk) -> bytes:
        """Old bytes of a file first skipped as stale, to replay without counting (else b'')."""
        if chunk.carry.pop("__baseline__", None):
            return self._pending_baseline.pop(chunk.path, b"")
        return b""

    def consume_tail(self, chunk: Chunk) -> None:
        """The chunk's unterminated last line parsed and was counted: do not read it again."""
        old = self._touched[chunk.path]
        self._touched[chunk.path] = self.files[chunk.path] = old._replace(
            offset=old.offset + len(chunk.tail)
        )

    def set_carry(self, chunk: Chunk, carry: dict[str, Any]) -> None:
        old = self._touched[chunk.path]
        self._touched[chunk.path] = self.files[chunk.path] = old._replace(carry=carry)

    def mark(self, path: str, st: os.stat_result, carry: dict[str, Any] | None = None) -> None:
        """Record a non-JSONL source (a database, a whole-file JSON) as read at this stat."""
        self._commit_offset(path, st, st.st_size, carry or {})

    def forget(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.files.pop(path, None)

    def _commit_offset(
        self, path: str, st: os.stat_result, offset: int, carry: dict[str, Any]
    ) -> None:
        self._touched[path] = self.files[path] = FileState(
            st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, offset, carry
        )
