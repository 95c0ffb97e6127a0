"""Incremental scan state: per-file offsets and carries, and the global de-duplication index.

``ScanState(None)`` keeps everything in memory (a one-off full scan). ``ScanState(path)`` keeps it
in an SQLite file (the commit hook keeps its under the repository's common git dir), so that the
next scan reads only the bytes appended since this one, and a response seen before (a resumed
session's replay, a streamed message that grew) is recognised across runs. SQLite gives atomic
saves and point look-ups, so a run loads only the index keys it meets.

A corrupt state file raises ``StateError``; callers move it aside and rescan.

Opening and walking are on the commit hook's path, and most logs have not changed since the
last run, so neither reads the whole file table (1,800 rows for 1 GB of logs):

* ``walk`` lists the log directories. It keeps each directory's listing (the names it holds)
  with the directory's mtime, and a *digest* of its files' stat keys as the file table has
  them. A directory whose device, inode and mtime are those of its listing (and whose mtime was
  old enough then, see ``_MARGIN_NS``) is not listed again: adding, removing or renaming an
  entry changes the mtime. Its files are still stat'ed (appending does not change the
  directory), and when their keys hash to the digest none of them changed; only otherwise are
  the directory's rows read, in one range query, and compared file by file.
* ``FileTable`` reads rows per path or per directory as asked, and decodes a row's carried
  state only for a file that grew.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from stat import S_ISREG

from tokennotes.hooks.logs import Chunk, Diagnostics, FileState

try:  # the C module: the sqlite3 package adds date adapters we never use, importing datetime
    import _sqlite3 as sqlite3  # (~1.5 ms on the commit hook's path)
except ImportError:  # pragma: no cover - an interpreter that only has the package
    import sqlite3  # type: ignore[no-redef]

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from typing import Any

    # A directory's listing: [dev, ino, mtime_ns, listed_ns, files, subdirs, digest], the
    # names "/"-joined as stored until used (no name holds a "/"), digest None when unknown.
    Listing = list[Any]

READ_LIMIT = 1 << 30  # never read more than 1 GiB of one file in one go

_FORMAT = 2  # PRAGMA user_version of a state file with this schema
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,
    offset INTEGER, carry TEXT
);
CREATE TABLE IF NOT EXISTS dirs (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, mtime_ns INTEGER, listed_ns INTEGER,
    files TEXT, subdirs TEXT, digest INTEGER
);
CREATE TABLE IF NOT EXISTS seen (
    agent TEXT, key TEXT, value TEXT, PRIMARY KEY (agent, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
PRAGMA user_version = {_FORMAT};
"""
# a stored row, in FileState's order, with the carry as JSON text and the path last
_ROWS = "SELECT dev, ino, size, mtime_ns, offset, carry, path FROM files"

# A listing is trusted only when the directory's mtime was this much older than the moment it
# was listed: a change in the same clock tick as the one before could leave the mtime as it was.
# Timestamps in whole milliseconds may come from a coarse file system (FAT: 2 s, HFS+: 1 s).
_MARGIN_NS = 250_000_000
_COARSE_MARGIN_NS = 3_000_000_000
# digests are Python's tuple hash of int tuples (stable across runs); 32-bit ones are too short
_DIGESTS = sys.hash_info.width >= 64
_SEP = os.sep


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


class FileTable(MutableMapping[str, FileState]):
    """path -> ``FileState``, read from the state file only as far as a scan asks.

    Rows are fetched per path, per directory (``load_dir``) or all at once (iteration), and
    stay raw tuples until one is asked for: ``unchanged`` compares a stat with a row without
    decoding it; ``[path]`` decodes the row (its carry is JSON) once. A row that cannot be read
    raises ``StateError``.
    """

    __slots__ = ("_db", "_deleted", "_gone", "_rows", "complete")

    def __init__(self, db: sqlite3.Connection | None = None) -> None:
        # FileState, or a raw row: (dev, ino, size, mtime_ns, offset, carry JSON, path)
        self._rows: dict[str, tuple[Any, ...]] = {}
        self._db = db
        self._gone: set[str] = set()  # not in the file, or deleted here: never fetched again
        self._deleted = False
        self.complete = db is None  # every stored row is in _rows

    def detach(self) -> None:
        """The state file is closed: keep what was read, fetch nothing more."""
        self._db = None
        self.complete = True

    def _fetch(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        assert self._db is not None
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"unreadable scan state ({exc})") from exc

    def _add(self, rows: Iterable[tuple[Any, ...]]) -> None:
        known, gone = self._rows, self._gone
        for row in rows:
            path = row[6]
            if path not in known and path not in gone:  # what this run set wins
                known[path] = row

    def _row(self, path: str) -> tuple[Any, ...] | None:
        row = self._rows.get(path)
        if row is None and not self.complete and path not in self._gone:
            found = self._fetch(_ROWS + " WHERE path = ?", (path,))
            if found:
                row = self._rows[path] = found[0]
            else:
                self._gone.add(path)
        return row

    def load_dir(self, directory: str) -> None:
        """Fetch the rows of every file below ``directory`` (one range query)."""
        if not self.complete:
            prefix = directory if directory.endswith(os.sep) else directory + os.sep
            upper = prefix[:-1] + chr(ord(os.sep) + 1)
            self._add(self._fetch(_ROWS + " WHERE path > ? AND path < ?", (prefix, upper)))

    def _load_all(self) -> None:
        if not self.complete:
            self._add(self._fetch(_ROWS, ()))
            self.complete = True

    def unchanged(self, path: str, st: os.stat_result) -> bool:
        """True when ``path`` is known with this device, inode, size and modification time."""
        row = self._rows.get(path) or self._row(path)
        return (
            row is not None
            and row[2] == st.st_size
            and row[3] == st.st_mtime_ns
            and row[1] == st.st_ino
            and row[0] == st.st_dev
        )

    def stat_key(self, path: str) -> tuple[int, int, int, int] | None:
        """(dev, ino, size, mtime_ns) of a known file."""
        row = self._rows.get(path) or self._row(path)
        return None if row is None else (row[0], row[1], row[2], row[3])

    def __getitem__(self, path: str) -> FileState:
        row = self._rows.get(path) or self._row(path)
        if row is None:
            raise KeyError(path)
        if type(row) is FileState:
            return row
        text = row[5]
        try:
            carry = json.loads(text) if text and text != "{}" else {}
        except ValueError as exc:
            raise StateError(f"{path}: unreadable carried state in the scan state") from exc
        if type(carry) is not dict:
            raise StateError(f"{path}: unreadable carried state in the scan state")
        state = self._rows[path] = FileState(row[0], row[1], row[2], row[3], row[4], carry)
        return state

    def __setitem__(self, path: str, state: FileState) -> None:
        self._rows[path] = state
        self._gone.discard(path)

    def __delitem__(self, path: str) -> None:
        if self._row(path) is None:
            raise KeyError(path)
        del self._rows[path]
        self._gone.add(path)
        self._deleted = True

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self._rows or self._row(path) is not None)

    def __iter__(self) -> Iterator[str]:
        self._load_all()
        return iter(self._rows)

    def __len__(self) -> int:
        self._load_all()
        return len(self._rows)

    def __bool__(self) -> bool:
        if self._rows:
            return True
        if self.complete or self._deleted:
            return len(self) > 0
        return bool(self._fetch("SELECT 1 FROM files LIMIT 1", ()))


class ScanState:
    """Where each file was read up to, and what was counted."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, since_ns: int | None = None
    ) -> None:
        self.path = path
        self.since_ns = since_ns
        self.files = FileTable()
        self._dirs: dict[str, Listing] = {}
        self._dirty_dirs: set[str] = set()
        self._indexes: dict[str, Index] = {}
        self._touched: dict[str, FileState] = {}
        self._meta: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        self._pending_baseline: dict[str, bytes] = {}
        if path is not None:
            self._open(path)

    # -- persistence ------------------------------------------------------------------------

    def _open(self, path: str | os.PathLike[str]) -> None:
        try:
            self._db = db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
            if db.execute("PRAGMA user_version").fetchone()[0] != _FORMAT:
                db.executescript(_SCHEMA)  # new, or written by an older version
            self.files = FileTable(db)
            self._dirs = {
                row[0]: list(row[1:])
                for row in db.execute(
                    "SELECT path, dev, ino, mtime_ns, listed_ns, files, subdirs, digest FROM dirs"
                )
            }
            self._meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
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
        self.stage()
        self.commit()

    def stage(self) -> None:
        """Write what this run changed into an open transaction; ``commit`` ends it,
        ``rollback`` drops it. What can go wrong (a locked, read-only or full database) mostly
        goes wrong here, so a caller can stage before an action that must not be repeated
        (writing a note) and commit after it."""
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
            db.executemany(
                "INSERT OR REPLACE INTO dirs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._dir_rows()
            )
        except sqlite3.DatabaseError as exc:
            self.rollback()
            raise StateError(f"{self.path}: could not save scan state ({exc})") from exc

    def commit(self) -> None:
        """End the transaction ``stage`` opened."""
        db = self._db
        if db is None or not db.in_transaction:
            return
        try:
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self.rollback()
            raise StateError(f"{self.path}: could not save scan state ({exc})") from exc
        self._touched.clear()
        self._dirty_dirs.clear()

    def rollback(self) -> None:
        """Drop what ``stage`` wrote: nothing of this run is saved."""
        db = self._db
        if db is not None and db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass

    def close(self) -> None:
        self.files.detach()
        if self._db is not None:
            self._db.close()
            self._db = None

    def _dir_rows(self) -> list[tuple[Any, ...]]:
        """The rows of the listings to save, with digests of the file table as it is now."""
        dirty = self._dirty_dirs
        dirs = self._dirs
        for path in self._touched:
            parent = os.path.dirname(path)
            if parent in dirs:
                dirty.add(parent)
        rows = []
        key = self.files.stat_key
        for path in dirty:
            dev, ino, mtime_ns, listed_ns, files, subdirs, _ = dirs[path]
            prefix = path if path.endswith(_SEP) else path + _SEP
            names = files.split("/") if files else []
            digest = hash(tuple([key(prefix + name) or 0 for name in names]))
            rows.append((path, dev, ino, mtime_ns, listed_ns, files, subdirs, digest))
        return rows

    # -- walking the log directories ---------------------------------------------------------

    def walk(
        self,
        root: str,
        diag: Diagnostics,
        suffix: str,
        keep: Callable[[str], bool] | None = None,
        *,
        unchanged: bool = True,
    ) -> list[tuple[str, os.stat_result | None]]:
        """Every file below ``root`` named ``*suffix`` (and accepted by ``keep(name)``, if
        given), with its stat when it changed since this state last read it (else None; with
        ``unchanged=False`` those are left out), depth first.

        Names ending in ``suffix`` are never entered as directories; symbolic links to
        directories are not followed. Errors go to ``diag``; a missing ``root`` gives [].
        """
        out: list[tuple[str, os.stat_result | None]] = []
        dirs = self._dirs
        stat = os.stat
        stack = [root]
        while stack:
            path = stack.pop()
            try:
                st = stat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                diag.error(path, exc.strerror or str(exc))
                continue
            listing = dirs.get(path)
            if (
                listing is None
                or listing[2] != st.st_mtime_ns
                or listing[1] != st.st_ino
                or listing[0] != st.st_dev
                or listing[2] + (_MARGIN_NS if listing[2] % 1_000_000 else _COARSE_MARGIN_NS)
                > listing[3]
            ):
                listing = self._list(path, st, diag, suffix, keep)
                if listing is None:
                    continue
            prefix = path if path.endswith(_SEP) else path + _SEP
            if listing[4]:
                self._check_files(
                    path, [prefix + name for name in listing[4].split("/")], listing[6], diag,
                    out, unchanged,
                )  # fmt: skip
            if listing[5]:
                stack += [prefix + name for name in reversed(listing[5].split("/"))]
        return out

    def _check_files(
        self,
        directory: str,
        paths: list[str],
        digest: int | None,
        diag: Diagnostics,
        out: list[tuple[str, os.stat_result | None]],
        unchanged: bool,
    ) -> None:
        """Stat the files of one directory; add them to ``out``, unchanged ones with None."""
        stat = os.stat
        stats: Sequence[os.stat_result | None]
        try:
            found = [stat(path) for path in paths]
        except OSError:  # one by one, to say which
            stats, keys = self._stat_each(paths, diag)
        else:
            stats = found
            keys = [(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) for st in found]
        if _DIGESTS and digest is not None and hash(tuple(keys)) == digest:
            if unchanged:  # none changed
                out += [
                    (path, None) for path, st in zip(paths, stats, strict=True) if st is not None
                ]
            return
        self.files.load_dir(directory)
        same = self.files.unchanged
        for path, fst in zip(paths, stats, strict=True):
            if fst is None or not S_ISREG(fst.st_mode):
                continue  # a symbolic link to what is no longer a file: as a listing skips it
            if not same(path, fst):
                out.append((path, fst))
            elif unchanged:
                out.append((path, None))
        if self._db is not None:
            self._dirty_dirs.add(directory)

    @staticmethod
    def _stat_each(
        paths: list[str], diag: Diagnostics
    ) -> tuple[list[os.stat_result | None], list[Any]]:
        stats: list[os.stat_result | None] = []
        keys: list[Any] = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError as exc:
                if not (isinstance(exc, FileNotFoundError) and os.path.islink(path)):
                    diag.error(path, exc.strerror or str(exc))  # (a dangling link: as listed)
                stats.append(None)
                keys.append(0)
            else:
                stats.append(st)
                keys.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
        return stats, keys

    def _list(
        self,
        path: str,
        st: os.stat_result,
        diag: Diagnostics,
        suffix: str,
        keep: Callable[[str], bool] | None,
    ) -> Listing | None:
        listed_ns = time.time_ns()  # before listing: a later change must not look older
        try:
            with os.scandir(path) as found:
                entries = list(found)
        except FileNotFoundError:
            return None
        except OSError as exc:
            diag.error(path, exc.strerror or str(exc))
            return None
        files: list[str] = []
        subdirs: list[str] = []
        for entry in entries:
            name = entry.name
            try:
                if name.endswith(suffix):
                    if (keep is None or keep(name)) and entry.is_file():
                        files.append(name)
                elif entry.is_dir(follow_symlinks=False):
                    subdirs.append(name)
            except OSError as exc:
                diag.error(entry.path, exc.strerror or str(exc))
        listing = [
            st.st_dev, st.st_ino, st.st_mtime_ns, listed_ns, "/".join(files), "/".join(subdirs),
            None,
        ]  # fmt: skip
        if self._db is not None:  # an in-memory state lists each directory once anyway
            self._dirs[path] = listing
            self._dirty_dirs.add(path)
        return listing

    # -- what collectors call ---------------------------------------------------------------

    def index(self, agent: str) -> Index:
        if agent not in self._indexes:
            self._indexes[agent] = Index(agent, self._db)
        return self._indexes[agent]

    def unchanged(self, path: str, st: os.stat_result) -> bool:
        """True when the file is exactly as the last scan left it (nothing to read)."""
        return self.files.unchanged(path, st)

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
            if self.files.unchanged(path, st):
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
            if path in self.files:
                del self.files[path]

    def _commit_offset(
        self, path: str, st: os.stat_result, offset: int, carry: dict[str, Any]
    ) -> None:
        self._touched[path] = self.files[path] = FileState(
            st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, offset, carry
        )
