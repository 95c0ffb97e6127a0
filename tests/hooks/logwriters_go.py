"""Writers of Gemini CLI and OpenCode log shapes for the collectors' tests.

Gemini: ``~/.gemini/projects.json``, ``tmp/<project-id>/.project_root``, JSONL chat recordings
(metadata line, messages appended as they evolve, ``$set`` / ``$rewindTo`` lines) and legacy
whole-file JSON sessions. OpenCode: an SQLite database with the v1 tables (``project``,
``session``, ``message``, ``part``) or the v2 ones (``session_v2``, ``session_message``), and the
legacy JSON storage tree. Plus ``sum_messages`` to total what a collector emitted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tokennotes.hooks.logs import Message

# -- Gemini CLI ---------------------------------------------------------------------------------


def project_hash(root: str) -> str:
    """Old Gemini CLI project ids: the SHA-256 hex of the project root."""
    return hashlib.sha256(root.encode()).hexdigest()


def make_gemini_home(home: Path) -> Path:
    gemini = home / ".gemini"
    (gemini / "tmp").mkdir(parents=True, exist_ok=True)
    return gemini


def write_projects(gemini: Path, projects: Mapping[str, str]) -> None:
    """``projects.json``: ``{"projects": {root: slug}}``."""
    (gemini / "projects.json").write_text(json.dumps({"projects": dict(projects)}, indent=2))


def make_project(gemini: Path, name: str, root: str | None = None) -> Path:
    """``tmp/<name>/chats``; with ``root``, also the ``.project_root`` marker."""
    project = gemini / "tmp" / name
    (project / "chats").mkdir(parents=True, exist_ok=True)
    if root is not None:
        (project / ".project_root").write_text(root)
    return project


def gemini_tokens(
    prompt: int, output: int, *, cached: int = 0, thoughts: int = 0, tool: int = 0
) -> dict[str, int]:
    """A ``tokens`` object as ``recordMessageTokens`` writes it (``total`` computed)."""
    return {
        "input": prompt,
        "output": output,
        "cached": cached,
        "thoughts": thoughts,
        "tool": tool,
        "total": prompt + output + thoughts + tool,
    }


def gemini_reply(
    mid: str,
    ts: str,
    tokens: Mapping[str, int] | None = None,
    *,
    model: str = "gemini-2.5-flash",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": mid,
        "timestamp": ts,
        "type": "gemini",
        "content": f"reply {mid}",
        "thoughts": [],
        "tokens": None if tokens is None else dict(tokens),
        "model": model,
        **extra,
    }


def gemini_user(mid: str, ts: str, text: str = "do it", *, parts: bool = True) -> dict[str, Any]:
    content: Any = [{"text": text}] if parts else text
    return {"id": mid, "timestamp": ts, "type": "user", "content": content}


def gemini_meta(session_id: str, root_hash: str, start: str, **extra: Any) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "projectHash": root_hash,
        "startTime": start,
        "lastUpdated": start,
        **extra,
    }


def _line(record: Mapping[str, Any] | str) -> str:
    return record if isinstance(record, str) else json.dumps(record, separators=(",", ":"))


def write_jsonl(
    path: Path,
    records: Iterable[Mapping[str, Any] | str],
    *,
    final_newline: bool = True,
    mode: str = "w",
    eol: str = "\n",
) -> Path:
    """Write (or with ``mode="a"`` append) records, one compact JSON per line; a ``str``
    record is written as it is (for malformed or cut lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = eol.join(_line(r) for r in records)
    if final_newline and text:
        text += eol
    with open(path, mode, encoding="utf-8", newline="") as fh:
        fh.write(text)
    return path


def write_gemini_legacy(
    path: Path, session_id: str, root_hash: str, messages: Iterable[Mapping[str, Any]]
) -> Path:
    """A legacy ``session-*.json``: one pretty-printed object holding every message."""
    items = list(messages)
    body = {
        "sessionId": session_id,
        "projectHash": root_hash,
        "startTime": items[0]["timestamp"] if items else "2031-01-01T00:00:00.000Z",
        "lastUpdated": items[-1]["timestamp"] if items else "2031-01-01T00:00:00.000Z",
        "messages": items,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2))
    return path


# -- OpenCode -----------------------------------------------------------------------------------

_V1_TABLES = (
    "CREATE TABLE project (id TEXT PRIMARY KEY, worktree TEXT NOT NULL, vcs TEXT, name TEXT,"
    " time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL)",
    "CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, parent_id TEXT,"
    " slug TEXT NOT NULL, directory TEXT NOT NULL, title TEXT NOT NULL, version TEXT NOT NULL,"
    " time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL)",
    "CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL,"
    " time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL)",
    "CREATE INDEX message_by_session ON message (session_id)",
    "CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL,"
    " time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL)",
)

_V2_TABLES = (
    "CREATE TABLE session_v2 (id TEXT PRIMARY KEY, directory TEXT NOT NULL, title TEXT,"
    " time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL)",
    "CREATE TABLE session_message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL,"
    " type TEXT NOT NULL, data TEXT NOT NULL, time_created INTEGER NOT NULL,"
    " time_updated INTEGER NOT NULL)",
)


def _open(path: Path, tables: Iterable[str], wal: bool) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    for ddl in tables:
        db.execute(ddl)
    return db


def make_opencode_v1(path: Path, *, wal: bool = False) -> sqlite3.Connection:
    """A v1 ``opencode.db`` (autocommit connection; the caller closes it)."""
    return _open(path, _V1_TABLES, wal)


def make_opencode_v2(path: Path, *, wal: bool = False) -> sqlite3.Connection:
    return _open(path, _V2_TABLES, wal)


def opencode_assistant(
    created: float,
    *,
    completed: float | None = None,
    model: str = "claude-sonnet-4-5",
    provider: str = "anthropic",
    tokens: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0),
    cost: float = 0.0,
    cwd: str = "/src/app",
    v2: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """An assistant message's data; ``tokens`` = (input, output, reasoning, read, write)."""
    inp, out, reasoning, read, write = tokens
    time: dict[str, float] = {"created": created}
    if completed is not None:
        time["completed"] = completed
    data: dict[str, Any] = {"role": "assistant", "time": time, "parentID": "msg_user"}
    if v2:
        data["model"] = {"id": model, "providerID": provider}
        del data["role"]
    else:
        data["modelID"] = model
        data["providerID"] = provider
    data.update(
        {
            "mode": "build",
            "path": {"cwd": cwd, "root": cwd},
            "cost": cost,
            "tokens": {
                "input": inp,
                "output": out,
                "reasoning": reasoning,
                "cache": {"read": read, "write": write},
            },
            **extra,
        }
    )
    return data


def opencode_user(created: float) -> dict[str, Any]:
    return {
        "role": "user",
        "time": {"created": created},
        "agent": "build",
        "model": {"providerID": "anthropic", "modelID": "claude-sonnet-4-5"},
    }


def add_session(
    db: sqlite3.Connection,
    session_id: str,
    directory: str,
    *,
    parent_id: str | None = None,
    created: int = 1_900_000_000_000,
) -> None:
    db.execute(
        "INSERT INTO session (id, project_id, parent_id, slug, directory, title, version,"
        " time_created, time_updated) VALUES (?, 'prj_1', ?, 'slug', ?, 'title', '1.2.0', ?, ?)",
        (session_id, parent_id, directory, created, created),
    )


def add_message(
    db: sqlite3.Connection,
    mid: str,
    session_id: str,
    data: Mapping[str, Any] | str,
    *,
    updated: int | None = None,
) -> None:
    """A v1 ``message`` row (``data`` without id/sessionID, as OpenCode stores it)."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    created = int(data["time"]["created"]) if not isinstance(data, str) else 0
    db.execute(
        "INSERT INTO message (id, session_id, time_created, time_updated, data)"
        " VALUES (?, ?, ?, ?, ?)",
        (mid, session_id, created, created if updated is None else updated, text),
    )


def update_message(
    db: sqlite3.Connection, mid: str, data: Mapping[str, Any], *, updated: int
) -> None:
    db.execute(
        "UPDATE message SET data = ?, time_updated = ? WHERE id = ?",
        (json.dumps(data, separators=(",", ":")), updated, mid),
    )


def add_session_v2(db: sqlite3.Connection, session_id: str, directory: str) -> None:
    db.execute(
        "INSERT INTO session_v2 (id, directory, title, time_created, time_updated)"
        " VALUES (?, ?, 'title', 1, 1)",
        (session_id, directory),
    )


def add_message_v2(
    db: sqlite3.Connection,
    mid: str,
    session_id: str,
    kind: str,
    data: Mapping[str, Any],
    *,
    updated: int,
) -> None:
    db.execute(
        "INSERT INTO session_message (id, session_id, type, data, time_created, time_updated)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (mid, session_id, kind, json.dumps(data), updated, updated),
    )


def write_storage_session(storage: Path, project_id: str, session_id: str, directory: str) -> None:
    path = storage / "session" / project_id / f"{session_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"id": session_id, "projectID": project_id, "directory": directory, "title": "t"}
    path.write_text(json.dumps(body, indent=2))


def write_storage_message(
    storage: Path, mid: str, session_id: str, data: Mapping[str, Any] | str
) -> Path:
    """``storage/message/<session>/<message>.json`` (a ``str`` is written as it is)."""
    path = storage / "message" / session_id / f"{mid}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_text(json.dumps({"id": mid, "sessionID": session_id, **data}, indent=2))
    return path


# -- totals -------------------------------------------------------------------------------------

FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning", "messages", "total")


def _values(m: Message) -> dict[str, int]:
    return {
        "input": m.input,
        "output": m.output,
        "cache_read": m.cache_read,
        "cache_write": m.cache_write,
        "reasoning": m.reasoning,
        "messages": m.new,
        "total": m.total,
    }


def sum_messages(
    messages: Iterable[Message], by: Callable[[Message], str] | None = None
) -> dict[str, dict[str, int]]:
    """Field sums of ``messages``, under the key ``by(message)`` (``""`` without ``by``)."""
    sums: dict[str, dict[str, int]] = {}
    for message in messages:
        row = sums.setdefault("" if by is None else by(message), dict.fromkeys(FIELDS, 0))
        for name, value in _values(message).items():
            row[name] += value
    return sums
