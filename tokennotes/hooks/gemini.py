"""Gemini CLI collector: chat recordings under ``~/.gemini/tmp/<project-id>/chats/``.

Where things are (``$GEMINI_CLI_HOME/.gemini`` when the variable is set, else ``~/.gemini``):

* ``tmp/<project-id>/`` per project. ``<project-id>`` is a short slug (current versions: the slug
  dir holds a ``.project_root`` file, and ``projects.json`` maps ``{"projects": {root: slug}}``)
  or, in older versions, the SHA-256 hex of the project root. A hash dir is resolved by hashing
  the roots we know of (``projects.json``, the ``.project_root`` files, ``trustedFolders.json``
  and the ``roots`` the caller passes, e.g. the repository's worktrees), also against the
  session's own ``projectHash``. An unresolvable one gets the cwd ``""`` (reported once per dir).
* ``chats/session-*.jsonl`` (current), ``chats/<parentSessionId>/<sessionId>.jsonl`` (subagents)
  and ``chats/session-*.json`` (legacy: one JSON object holding ``messages``).

Counting: only messages with a ``tokens`` object are responses. ``cached`` is a subset of the
prompt ``input`` and ``thoughts`` come on top of ``output``, so ``input = input - cached + tool``,
``cache_read = cached``, ``output = output + thoughts``, ``reasoning = thoughts``. (When
``total`` shows that ``input`` was already net of ``cached``, i.e. ``total == input + cached +
output + thoughts + tool``, nothing is subtracted.) The same message is appended again as it
evolves; a legacy ``.json`` resumed by a newer CLI is re-appended whole to a ``.jsonl`` of the
same name. One global index keyed by ``(sessionId, message id)`` therefore holds what was counted
for each response: a repeat emits nothing, a later version with more tokens emits only the
growth (``new=0``), and a version with fewer never takes tokens back. ``$set`` lines (which may
embed the whole history, tokens included) and ``$rewindTo`` lines are not usage; rewound
responses were billed and stay counted.

Reading is incremental: JSONL files through ``ScanState.read`` (appended bytes only), legacy
``.json`` files whole, again only when their stat changes. To stay fast, a JSONL line is parsed
only when it can matter (it mentions ``"tokens"``, or it may be the session's metadata); a line
that cannot be a JSON object is counted as malformed without parsing it.

Only the standard library is imported here: this is on the commit hook's path.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

from tokennotes.hooks.logs import Diagnostics, Message, count_of, iter_lines
from tokennotes.hooks.state import Index, ScanState
from tokennotes.record import NamedTuple

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

AGENT = "gemini"

# patterns, compiled on first use (``re`` caches them): importing this module must stay cheap
_HASH_DIR = r"[0-9a-f]{64}\Z"
_ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z\Z"


def home_dirs(environ: Mapping[str, str], home: str | os.PathLike[str]) -> list[str]:
    """``homes``, as strings (pathlib, ~3 ms to import, only when there is one)."""
    root = os.path.join(environ.get("GEMINI_CLI_HOME") or home, ".gemini")
    if not os.path.isdir(root):
        return []
    from pathlib import Path

    return [str(Path(root))]


def homes(environ: Mapping[str, str], home: Path) -> list[Path]:
    """``$GEMINI_CLI_HOME/.gemini`` if the variable is set, else ``~/.gemini`` (if it exists)."""
    from pathlib import Path

    return [Path(path) for path in home_dirs(environ, home)]


def collect(
    homes: Sequence[str | os.PathLike[str]],
    state: ScanState,
    diag: Diagnostics,
    *,
    roots: Iterable[str] = (),
) -> Iterator[Message]:
    """The responses (and growths of responses) recorded since the last scan of ``state``.

    ``roots`` are extra candidate project roots for old SHA-256-named project dirs.
    """
    scan = _Scan(state, diag, state.index(AGENT))
    extra = [r for r in roots if r]
    seen: set[str] = set()
    for home in homes:
        key = os.path.realpath(home)
        if key in seen:
            continue
        seen.add(key)
        projects, hashes = _projects(os.fspath(home), extra, diag)
        for project in projects:
            for path in _chat_files(project.path):
                if path.endswith(".jsonl"):
                    yield from scan.read_jsonl(path, project, hashes)
                else:
                    yield from scan.read_legacy(path, project, hashes)


# -- projects and their roots ------------------------------------------------------------------


class _Project(NamedTuple):
    path: str  # tmp/<project-id>
    root: str | None  # the project root, when the dir itself tells


def _read_json(path: str, diag: Diagnostics) -> Any:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        diag.error(path, exc.strerror or str(exc))
        return None
    try:
        return json.loads(data)
    except ValueError:
        diag.malformed(path)
        return None


def _registry(home: str, diag: Diagnostics) -> dict[str, str]:
    """``projects.json``: project root -> slug."""
    path = os.path.join(home, "projects.json")
    data = _read_json(path, diag)
    if data is None:
        return {}
    projects = data.get("projects") if isinstance(data, dict) else None
    if not isinstance(projects, dict):
        diag.malformed(path)
        return {}
    return {k: v for k, v in projects.items() if isinstance(k, str) and isinstance(v, str)}


def _trusted(home: str, diag: Diagnostics) -> list[str]:
    """Folders listed in ``trustedFolders.json``: more candidate roots for hash dirs."""
    data = _read_json(os.path.join(home, "trustedFolders.json"), diag)
    return [k for k in data if isinstance(k, str)] if isinstance(data, dict) else []


def _project_root_file(project: str) -> str | None:
    try:
        with open(os.path.join(project, ".project_root"), encoding="utf-8") as fh:
            root = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return root or None


def _projects(
    home: str, extra: Sequence[str], diag: Diagnostics
) -> tuple[list[_Project], dict[str, str]]:
    """The project dirs under ``tmp/`` and a sha256(root) -> root map of every known root
    (empty when every dir names its root: the map is only asked about dirs that do not)."""
    tmp = os.path.join(home, "tmp")
    try:
        with os.scandir(tmp) as it:
            entries = sorted((e.name, e.path) for e in it if e.is_dir())
    except FileNotFoundError:
        return [], {}
    except OSError as exc:
        diag.error(tmp, exc.strerror or str(exc))
        return [], {}
    registry = _registry(home, diag)
    by_slug = {slug: root for root, slug in registry.items()}
    projects = [
        _Project(path, _project_root_file(path) or by_slug.get(name)) for name, path in entries
    ]
    if all(p.root is not None for p in projects):
        return projects, {}
    candidates = {*registry, *extra, *(p.root for p in projects if p.root)}
    if any(p.root is None and re.match(_HASH_DIR, os.path.basename(p.path)) for p in projects):
        candidates.update(_trusted(home, diag))
    hashes = {_sha256(root): root for root in candidates}
    resolved = [
        p if p.root is not None else p._replace(root=hashes.get(os.path.basename(p.path)))
        for p in projects
    ]
    return resolved, hashes


def _sha256(text: str) -> str:
    import hashlib  # only old hash-named project dirs need it

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _chat_files(project: str) -> Iterator[str]:
    """Session files of one project dir, legacy ``.json`` and current ``.jsonl``, sorted."""
    chats = os.path.join(project, "chats")
    try:
        with os.scandir(chats) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        name = entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:  # chats/<parentSessionId>/<sessionId>.jsonl: subagents
            try:
                with os.scandir(entry.path) as sub:
                    names = sorted(e.name for e in sub if e.name.endswith(".jsonl"))
            except OSError:
                continue
            for sub_name in names:
                yield os.path.join(entry.path, sub_name)
        elif name.startswith("session-") and name.endswith((".jsonl", ".json")):
            yield entry.path


# -- token mapping and timestamps ------------------------------------------------------------


def map_tokens(tokens: Any) -> tuple[int, int, int, int] | None:
    """Gemini ``tokens`` -> (input, output, cache_read, reasoning); None when not usage."""
    if not isinstance(tokens, dict):
        return None
    prompt = count_of(tokens.get("input"))
    output = count_of(tokens.get("output"))
    cached = count_of(tokens.get("cached"))
    thoughts = count_of(tokens.get("thoughts"))
    tool = count_of(tokens.get("tool"))
    total = tokens.get("total")
    if cached and isinstance(total, int) and total == prompt + cached + output + thoughts + tool:
        net = prompt  # this writer already left the cached part out of the prompt count
    else:
        cached = min(cached, prompt)
        net = prompt - cached
    counts = (net + tool, output + thoughts, cached, thoughts)
    return counts if any(counts) else None


def _utc_iso(value: Any) -> str | None:
    """An ISO-8601 timestamp as UTC ``…Z`` (naive ones are taken as UTC), else None."""
    if not isinstance(value, str):
        return None
    if re.match(_ISO_UTC, value):
        return value
    from datetime import datetime, timezone

    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _mtime_iso(st: os.stat_result) -> str:
    from datetime import datetime, timezone

    moment = datetime.fromtimestamp(st.st_mtime_ns // 1_000_000_000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{st.st_mtime_ns // 1_000_000 % 1000:03d}Z"


# -- reading ------------------------------------------------------------------------------------


class _Scan:
    """One scan's reading context: the state, diagnostics and the (sessionId, id) index."""

    def __init__(self, state: ScanState, diag: Diagnostics, index: Index) -> None:
        self.state = state
        self.diag = diag
        self.index = index
        self.unresolved: set[str] = set()

    def cwd_of(self, project: _Project, project_hash: Any, hashes: Mapping[str, str]) -> str:
        if project.root is not None:
            return project.root
        if isinstance(project_hash, str) and project_hash in hashes:
            return hashes[project_hash]
        if project.path not in self.unresolved:
            self.unresolved.add(project.path)
            self.diag.error(project.path, "project root unknown; its responses have no cwd")
        return ""

    def count(
        self, obj: dict[str, Any], session: str, cwd: str, fallback_ts: str, replay: bool
    ) -> Message | None:
        """Count one message object; ``replay`` records it in the index without emitting."""
        counts = map_tokens(obj.get("tokens"))
        if counts is None:
            return None
        ts = _utc_iso(obj.get("timestamp")) or fallback_ts
        mid = obj.get("id")
        key = f"{session}:{mid}" if isinstance(mid, str) and mid else f"{session}:@{ts}"
        prev = self.index.get(key)
        new = 1
        if prev is None:
            self.index.put(key, list(counts))
            shown = counts
        else:
            if not isinstance(prev, list) or len(prev) != 4:
                prev = [0, 0, 0, 0]
            shown = tuple(max(c - p, 0) for c, p in zip(counts, prev, strict=True))
            if not any(shown):
                return None
            self.index.put(key, [max(c, p) for c, p in zip(counts, prev, strict=True)])
            new = 0
        if replay:
            return None
        model = obj.get("model")
        return Message(
            agent=AGENT,
            ts=ts,
            session=session,
            cwd=cwd,
            model=model if isinstance(model, str) else "",
            input=shown[0],
            output=shown[1],
            cache_read=shown[2],
            cache_write_5m=0,
            cache_write_1h=0,
            reasoning=shown[3],
            new=new,
            key=key,
            prompt=counts[0] + counts[2],
        )

    def _stat(self, path: str) -> os.stat_result | None:
        try:
            return os.stat(path)
        except OSError as exc:
            self.diag.error(path, exc.strerror or str(exc))
            return None

    def read_jsonl(
        self, path: str, project: _Project, hashes: Mapping[str, str]
    ) -> Iterator[Message]:
        st = self._stat(path)
        if st is None:
            return
        chunk = self.state.read(path, self.diag, st)
        if chunk is None:
            return
        carry = chunk.carry
        fallback_ts = _mtime_iso(st)
        stem = os.path.basename(path)[: -len(".jsonl")]
        baseline = self.state.baseline(chunk)
        for replay, data in ((True, baseline), (False, chunk.data)):
            for line in iter_lines(data):
                obj = self._line_object(line, path, "sid" not in carry, quiet=replay)
                if obj is not None:
                    message = self._take(obj, carry, stem, project, hashes, fallback_ts, replay)
                    if message is not None:
                        yield message
        if chunk.tail:
            try:
                obj = json.loads(chunk.tail)
            except ValueError:
                obj = None  # cut off while being written: read it again next time
            if isinstance(obj, dict):
                self.state.consume_tail(chunk)
                message = self._take(obj, carry, stem, project, hashes, fallback_ts, False)
                if message is not None:
                    yield message
        self.state.set_carry(chunk, carry)

    def _line_object(
        self, line: bytes, path: str, want_meta: bool, quiet: bool
    ) -> dict[str, Any] | None:
        """The line's JSON object when it may matter for counting, else None."""
        if line.startswith(b'{"$'):  # $set / $rewindTo: not usage
            return None
        if not (line.startswith(b"{") and line.endswith(b"}")):
            line = line.strip()
            if not (line.startswith(b"{") and line.endswith(b"}")):
                if not quiet:
                    self.diag.malformed(path)
                return None
        if b'"tokens"' not in line and not (want_meta and b'"sessionId"' in line):
            return None
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            if not quiet:
                self.diag.malformed(path)
            return None
        return obj

    def _take(
        self,
        obj: dict[str, Any],
        carry: dict[str, Any],
        stem: str,
        project: _Project,
        hashes: Mapping[str, str],
        fallback_ts: str,
        replay: bool,
    ) -> Message | None:
        if "type" not in obj and "id" not in obj:  # session metadata (or a metadata update)
            sid = obj.get("sessionId")
            if isinstance(sid, str) and sid and "sid" not in carry:
                carry["sid"] = sid
                project_hash = obj.get("projectHash")
                if isinstance(project_hash, str):
                    carry["hash"] = project_hash
            return None
        if "tokens" not in obj:
            return None
        session = carry.get("sid") or stem
        cwd = self.cwd_of(project, carry.get("hash"), hashes)
        return self.count(obj, session, cwd, fallback_ts, replay)

    def read_legacy(
        self, path: str, project: _Project, hashes: Mapping[str, str]
    ) -> Iterator[Message]:
        """A legacy whole-file session, read again whenever its stat changes."""
        state = self.state
        st = self._stat(path)
        if st is None or state.unchanged(path, st):
            return
        if path not in state.files and state.is_stale(st):
            state.mark(path, st)
            return
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            self.diag.error(path, exc.strerror or str(exc))
            return
        self.diag.files_read += 1
        self.diag.bytes_read += len(data)
        state.mark(path, st)
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        messages = obj.get("messages") if isinstance(obj, dict) else None
        if not isinstance(obj, dict) or not isinstance(messages, list):
            self.diag.malformed(path)
            return
        sid = obj.get("sessionId")
        session = sid if isinstance(sid, str) and sid else os.path.basename(path)[: -len(".json")]
        fallback_ts = _mtime_iso(st)
        cwd: str | None = None
        for item in messages:
            if not isinstance(item, dict) or "tokens" not in item:
                continue
            if cwd is None:
                cwd = self.cwd_of(project, obj.get("projectHash"), hashes)
            message = self.count(item, session, cwd, fallback_ts, False)
            if message is not None:
                yield message
