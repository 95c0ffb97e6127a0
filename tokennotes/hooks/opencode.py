"""OpenCode collector: the SQLite database and the legacy JSON storage tree.

Where things are: the data dir is ``$OPENCODE_DATA_DIR`` when set (an override, as in ccusage),
else ``$XDG_DATA_HOME/opencode`` (default ``~/.local/share/opencode``). In it:

* ``opencode.db`` and channel builds' ``opencode-<channel>.db``, opened read-only through an
  SQLite URI (``mode=ro``; never copied, as the database may be in WAL mode with its newest rows
  still in ``-wal``). The tables are probed: v1 ``message(id, session_id, time_created,
  time_updated, data)`` with the role in ``data``, joined to ``session.directory``; v2
  ``session_message(id, session_id, type, data, time_updated, …)`` with the role in ``type``,
  the model in ``data.model.{id, providerID}`` and the directory in ``session_v2`` (or
  ``session``). Both are read when both exist.
* ``storage/message/<sessionID>/<messageID>.json`` (legacy, possibly left over after the
  migration), with the directory in ``storage/session/<projectID>/<sessionID>.json``.

Counting: assistant messages only; ``tokens.input``, ``tokens.cache.read`` and
``tokens.cache.write`` (taken as the 5-minute class) map straight through, ``tokens.output`` is
kept as recorded and ``tokens.reasoning`` is informational. Messages whose five counters are all
0 (aborted turns) are not messages. The model is ``modelID`` (v2: ``model.id``) as logged; the
provider is left out of the name (it only enters the fork fingerprint). The timestamp is
``time.created`` in epoch milliseconds (values up to 1e12 are seconds). ``cost`` becomes the
recorded cost.

De-duplication uses one index per scan state: ``id:<message id>`` holds what was counted for
the message (a row updated in place while streaming emits only its growth, with ``new=0``; a
legacy JSON copy of a message the database had is ignored: the database wins), and
``fp:<fingerprint>`` names the message owning a content fingerprint (``time.created``,
``time.completed``, model, provider, the five counters and the cost), so that a forked
session's copies, which carry new ids, are dropped.

Incremental: per database, the highest ``time_updated`` seen per table is carried in the state
and only rows updated at or after it are read again; when neither the ``.db`` nor its ``-wal``
changed, the database is not opened at all. Legacy JSON files are read again when their stat
changes.

Only the standard library is imported here: this is on the commit hook's path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from tokennotes.hooks.logs import Diagnostics, Message, count_of, is_finite
from tokennotes.hooks.state import Index, ScanState
from tokennotes.record import NamedTuple

try:  # the C module: the sqlite3 package adds date adapters we never use, importing datetime
    import _sqlite3 as sqlite3  # (~1.5 ms on the commit hook's path)
except ImportError:  # pragma: no cover - an interpreter that only has the package
    import sqlite3  # type: ignore[no-redef]

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

AGENT = "opencode"

_SECONDS_LIMIT = 1e12  # epoch values at or below this are seconds, not milliseconds


def home_dirs(environ: Mapping[str, str], home: str | os.PathLike[str]) -> list[str]:
    """``homes``, as strings (pathlib, ~3 ms to import, only when there is one)."""
    candidate = environ.get("OPENCODE_DATA_DIR")
    if not candidate:
        xdg = environ.get("XDG_DATA_HOME")
        base = xdg if xdg and os.path.isabs(xdg) else os.path.join(home, ".local", "share")
        candidate = os.path.join(base, "opencode")
    if not os.path.isdir(candidate):
        return []
    from pathlib import Path

    return [str(Path(candidate))]


def homes(environ: Mapping[str, str], home: Path) -> list[Path]:
    """``$OPENCODE_DATA_DIR``, else ``$XDG_DATA_HOME/opencode`` or ``~/.local/share/opencode``."""
    from pathlib import Path

    return [Path(path) for path in home_dirs(environ, home)]


def collect(
    homes: Sequence[str | os.PathLike[str]], state: ScanState, diag: Diagnostics
) -> Iterator[Message]:
    """The assistant messages (and growths of messages) stored since the last scan of ``state``.

    Every database is read before any legacy JSON file, so that the database's copy of a
    message wins.
    """
    index = state.index(AGENT)
    dirs = list(dict.fromkeys(os.path.realpath(h) for h in homes))
    for home in dirs:
        for path in _databases(home, diag):
            yield from _read_database(path, state, diag, index)
    for home in dirs:
        storage = os.path.join(home, "storage")
        if os.path.isdir(storage):
            yield from _read_storage(storage, state, diag, index)


# -- shared: one message ----------------------------------------------------------------------


class _Usage(NamedTuple):
    input: int
    output: int
    cache_read: int
    cache_write: int
    reasoning: int


def _usage(data: Mapping[str, Any]) -> _Usage | None:
    tokens = data.get("tokens")
    if not isinstance(tokens, dict):
        return None
    cache = tokens.get("cache")
    if not isinstance(cache, dict):
        cache = {}
    usage = _Usage(
        count_of(tokens.get("input")),
        count_of(tokens.get("output")),
        count_of(cache.get("read")),
        count_of(cache.get("write")),
        count_of(tokens.get("reasoning")),
    )
    return usage if any(usage) else None


def epoch_ms(value: Any) -> int | None:
    """An epoch timestamp in milliseconds (seconds when at or below 1e12), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not is_finite(value) or value <= 0:
        return None
    number = float(value)
    if number <= _SECONDS_LIMIT:
        number *= 1000
    return round(number)


def _iso_from_ms(ms: int) -> str | None:
    from datetime import datetime, timezone  # here: not every run needs the module

    seconds, millis = divmod(ms, 1000)
    try:
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def _cost_text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not is_finite(value) or value < 0:
        return None
    return str(value)


def _cost_growth(now: str | None, before: Any) -> str | None:
    if now is None:
        return None
    if not isinstance(before, str):
        return now
    try:
        grown = Decimal(now) - Decimal(before)
    except InvalidOperation:
        return None
    return str(max(grown, Decimal(0)))


def _model_of(data: Mapping[str, Any]) -> tuple[str, str]:
    """(model, provider) from v1 ``modelID``/``providerID`` or v2 ``model.{id, providerID}``."""
    model = data.get("modelID")
    provider = data.get("providerID")
    nested = data.get("model")
    if isinstance(nested, dict):
        if not isinstance(model, str):
            model = nested.get("id", nested.get("modelID"))
        if not isinstance(provider, str):
            provider = nested.get("providerID")
    return (
        model if isinstance(model, str) else "",
        provider if isinstance(provider, str) else "",
    )


def _count(
    index: Index,
    data: Mapping[str, Any],
    mid: str,
    session: str,
    cwd: str,
    fallback_times: tuple[Any, ...],
    source: str,
) -> Message | None:
    """Count one assistant message against the index (``source``: "db" or "json")."""
    usage = _usage(data)
    if usage is None:
        return None
    time = data.get("time")
    if not isinstance(time, dict):
        time = {}
    created = time.get("created")
    model, provider = _model_of(data)
    cost = _cost_text(data.get("cost"))
    id_key = "id:" + mid
    prev = index.get(id_key)
    fingerprint = "fp:" + repr((created, time.get("completed"), model, provider, *usage, cost))
    new = 1
    if prev is None:
        owner = index.get(fingerprint)
        if owner is not None and owner != mid:
            return None  # a forked session's copy of a message counted under another id
        shown = usage
        recorded = cost
        index.put(id_key, [*usage, source, cost])
    else:
        if not isinstance(prev, list) or len(prev) != 7:
            prev = [0, 0, 0, 0, 0, source, None]
        if source == "json" and prev[5] == "db":
            return None  # the database's copy of this message was counted: it wins
        shown = _Usage(*(max(u - count_of(p), 0) for u, p in zip(usage, prev[:5], strict=True)))
        kept = "db" if "db" in (source, prev[5]) else source
        if not any(shown):
            if kept != prev[5]:  # the database has it now: leftover JSON copies no longer count
                index.put(id_key, [*prev[:5], kept, prev[6]])
            return None
        recorded = _cost_growth(cost, prev[6])
        grown = (max(u, count_of(p)) for u, p in zip(usage, prev[:5], strict=True))
        index.put(id_key, [*grown, kept, cost])
        new = 0
    index.put(fingerprint, mid)
    ms = epoch_ms(created)
    ts = _iso_from_ms(ms) if ms is not None else None
    for value in fallback_times if ts is None else ():
        ms = epoch_ms(value)
        ts = _iso_from_ms(ms) if ms is not None else None
        if ts is not None:
            break
    return Message(
        agent=AGENT,
        ts=ts or "1970-01-01T00:00:00.000Z",
        session=session,
        cwd=cwd,
        model=model,
        input=shown.input,
        output=shown.output,
        cache_read=shown.cache_read,
        cache_write_5m=shown.cache_write,
        cache_write_1h=0,
        reasoning=shown.reasoning,
        new=new,
        key=mid,
        recorded_cost=recorded,
        prompt=usage.input + usage.cache_read + usage.cache_write,
    )


def _cwd_of(data: Mapping[str, Any]) -> str:
    path = data.get("path")
    cwd = path.get("cwd") if isinstance(path, dict) else None
    return cwd if isinstance(cwd, str) else ""


# -- the database -----------------------------------------------------------------------------


def _databases(home: str, diag: Diagnostics) -> list[str]:
    try:
        with os.scandir(home) as it:
            names = sorted(
                e.name
                for e in it
                if e.name == "opencode.db"
                or (e.name.startswith("opencode-") and e.name.endswith(".db"))
            )
    except OSError as exc:
        diag.error(home, exc.strerror or str(exc))
        return []
    return [os.path.join(home, name) for name in names]


def _stat_list(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _connect(path: str) -> sqlite3.Connection:
    """A read-only connection to ``path``.

    SQLite cannot open a WAL database read-only when its ``-shm`` is missing and the directory
    is not writable; such a database, when it has no pending ``-wal`` content, is opened as
    immutable instead.
    """
    from pathlib import Path  # here: only a database to open needs it

    uri = Path(os.path.abspath(path)).as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=2.0)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.Error as exc:
        db.close()
        text = str(exc)
        wal = _stat_list(path + "-wal")
        if ("readonly" not in text and "unable to open" not in text) or (wal and wal[1]):
            raise
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)


def _failed(diag: Diagnostics, path: str, doing: str, exc: sqlite3.Error) -> None:
    diag.error(path, f"cannot {doing} the database ({exc})")
    if "malformed" in str(exc) or "not a database" in str(exc):
        diag.malformed(path)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}


class _Source(NamedTuple):
    name: str  # the carry key of its watermark
    sql: str
    incremental: bool  # has time_updated
    typed: bool  # role in a ``type`` column (v2)


def _sources(db: sqlite3.Connection, path: str, diag: Diagnostics) -> list[_Source]:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    sources = []
    for table, sessions in (
        ("message", ("session",)),
        ("session_message", ("session_v2", "session")),
    ):
        if table not in tables:
            continue
        cols = _columns(db, table)
        if not {"id", "data"} <= cols:
            diag.error(path, f"table {table} has no id/data columns; skipped")
            continue
        join, directory = "", "NULL"
        if "session_id" in cols:
            for name in sessions:
                if name in tables and {"id", "directory"} <= _columns(db, name):
                    join = f' LEFT JOIN "{name}" s ON s.id = t.session_id'
                    directory = "s.directory"
                    break
        typed = "type" in cols
        select = ", ".join(
            [
                "t.id",
                "t.session_id" if "session_id" in cols else "NULL",
                "t.time_created" if "time_created" in cols else "NULL",
                "t.time_updated" if "time_updated" in cols else "NULL",
                "t.data",
                directory,
            ]
        )
        where = "t.type = 'assistant'" if typed else "instr(t.data, 'assistant') > 0"
        sql = f'SELECT {select} FROM "{table}" t{join} WHERE {where}'
        sources.append(_Source(table, sql, "time_updated" in cols, typed))
    return sources


def _read_database(
    path: str, state: ScanState, diag: Diagnostics, index: Index
) -> Iterator[Message]:
    try:
        st = os.stat(path)
    except OSError as exc:
        diag.error(path, exc.strerror or str(exc))
        return
    wal = _stat_list(path + "-wal")  # taken before reading: a later write shows next time
    old = state.files.get(path)
    if old is not None and state.unchanged(path, st) and old.carry.get("wal") == wal:
        return
    carry: dict[str, Any] = dict(old.carry) if old is not None else {}
    newest = max(st.st_mtime_ns, wal[2] if wal else 0)
    stale = old is None and state.since_ns is not None and newest < state.since_ns
    try:
        db = _connect(path)
    except sqlite3.Error as exc:
        _failed(diag, path, "open", exc)
        return
    diag.files_read += 1
    try:
        for source in _sources(db, path, diag):
            mark = carry.get(source.name)
            if stale and source.incremental:
                # nothing in it is recent: remember where it ends, past its newest row (rows at
                # the mark are read again next time, and these were never put in the index)
                row = db.execute(f'SELECT max(time_updated) FROM "{source.name}"').fetchone()
                top = row[0] if row else None
                carry[source.name] = top + 1 if isinstance(top, int) else top
                continue
            sql: str = source.sql
            params: tuple[Any, ...] = ()
            if source.incremental and isinstance(mark, (int, float)):
                sql, params = sql + " AND t.time_updated >= ?", (mark,)
            top = mark if isinstance(mark, (int, float)) else None
            for mid, session, created, updated, data, directory in db.execute(sql, params):
                if isinstance(updated, (int, float)) and (top is None or updated > top):
                    top = updated
                message = _row_message(
                    index, diag, path, source, mid, session, created, updated, data, directory
                )
                if message is not None:
                    yield message
            carry[source.name] = top
    except sqlite3.Error as exc:
        _failed(diag, path, "read", exc)
        return
    finally:
        db.close()
    carry["wal"] = wal
    state.mark(path, st, carry)


def _row_message(
    index: Index,
    diag: Diagnostics,
    path: str,
    source: _Source,
    mid: Any,
    session: Any,
    created: Any,
    updated: Any,
    data: Any,
    directory: Any,
) -> Message | None:
    try:
        obj = json.loads(data)
    except (TypeError, ValueError):
        obj = None
    if not isinstance(obj, dict):
        diag.malformed(path)
        return None
    role = obj.get("role")
    if (role is not None or not source.typed) and role != "assistant":
        return None
    mid = str(mid)
    if not isinstance(session, str):
        session = obj.get("sessionID")
    cwd = directory if isinstance(directory, str) and directory else _cwd_of(obj)
    session = session if isinstance(session, str) else ""
    return _count(index, obj, mid, session, cwd, (created, updated), "db")


# -- the legacy JSON tree ---------------------------------------------------------------------


class _SessionDirs:
    """``storage/session/<projectID>/<sessionID>.json`` -> ``directory``, looked up lazily."""

    def __init__(self, storage: str, diag: Diagnostics) -> None:
        self.root = os.path.join(storage, "session")
        self.diag = diag
        self.projects: list[str] | None = None
        self.cache: dict[str, str] = {}

    def directory(self, session: str) -> str:
        if session in self.cache:
            return self.cache[session]
        if self.projects is None:
            try:
                with os.scandir(self.root) as it:
                    self.projects = sorted(e.path for e in it if e.is_dir())
            except OSError:
                self.projects = []
        found = ""
        for project in self.projects:
            path = os.path.join(project, session + ".json")
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
            except OSError:
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                self.diag.malformed(path)
                continue
            value = obj.get("directory") if isinstance(obj, dict) else None
            if isinstance(value, str) and value:
                found = value
                break
        self.cache[session] = found
        return found


def _read_storage(
    storage: str, state: ScanState, diag: Diagnostics, index: Index
) -> Iterator[Message]:
    messages = os.path.join(storage, "message")
    try:
        with os.scandir(messages) as it:
            session_dirs = sorted((e.name, e.path) for e in it if e.is_dir())
    except OSError:
        return
    sessions = _SessionDirs(storage, diag)
    for session_id, session_dir in session_dirs:
        try:
            with os.scandir(session_dir) as it:
                files = sorted((e.name, e.path, e.stat()) for e in it if e.name.endswith(".json"))
        except OSError as exc:
            diag.error(session_dir, exc.strerror or str(exc))
            continue
        for name, path, st in files:
            if state.unchanged(path, st):
                continue
            if path not in state.files and state.is_stale(st):
                state.mark(path, st)
                continue
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
            except OSError as exc:
                diag.error(path, exc.strerror or str(exc))
                continue
            diag.files_read += 1
            diag.bytes_read += len(raw)
            state.mark(path, st)
            if b'"assistant"' not in raw:
                continue  # user messages and the like: nothing to count
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                diag.malformed(path)
                continue
            if obj.get("role") != "assistant":
                continue
            mid = obj.get("id")
            sid = obj.get("sessionID")
            session = sid if isinstance(sid, str) and sid else session_id
            cwd = sessions.directory(session) or _cwd_of(obj)
            message = _count(
                index,
                obj,
                mid if isinstance(mid, str) and mid else name[: -len(".json")],
                session,
                cwd,
                (st.st_mtime_ns // 1_000_000,),
                "json",
            )
            if message is not None:
                yield message
