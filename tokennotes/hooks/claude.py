"""Claude Code collector: ``projects/**/*.jsonl`` transcripts to de-duplicated messages.

Where: every entry of ``$CLAUDE_CONFIG_DIR`` (comma-separated; a config dir or directly its
``projects/``), else both ``$XDG_CONFIG_HOME/claude`` (``~/.config/claude``) and ``~/.claude``.
Every ``*.jsonl`` below ``projects/`` is a transcript, except ``journal.jsonl`` under
``subagents/`` (a workflow journal).

What counts (``spec/agent-logs.md`` section 1): ``type == "assistant"`` lines with
``message.usage``, never a ``<synthetic>`` model, never a ``toolUseResult`` summary. Claude Code
writes several lines per API response (one per content block, streaming snapshots), and resumed
sessions and ``/btw`` side questions replay old responses in other files, so one response is one
``message.id`` across all files: main-chain lines win over sidechain lines of the same id, the
counters are the field-wise maximum of the remaining lines, and the response is dated by their
earliest timestamp. A line without ``message.id`` counts as it is. ``input``, ``cache_read`` and
the cache writes are disjoint; the cache write goes to the 5m/1h buckets by
``usage.cache_creation`` when it is there (and not all zero), else all to 5m. Null counters are
0.

Incremental scans: the de-dup index (``state.index("claude")``) keeps, per message id, the
first timestamp, the counted fields, the model and whether a sidechain line was counted. A later
scan that meets the id again emits only what grew, as a message with ``new == 0`` dated by the
first timestamp; a replay emits nothing. A main-chain line arriving after its sidechain replay
was counted replaces it: that correction can be negative in some buckets.

Speed: nothing is parsed that cannot carry usage. Candidate lines are found by searching the
bytes for ``"output_tokens"`` (every Anthropic usage object has it); a candidate is parsed
without its ``content`` array: the text from the first ``"content":`` key to the ``"usage":``
key is cut out. Both cuts sit before a key, so the rest parses as one JSON object only when they
are at the same depth, and it is used only when its top-level ``type`` is ``"assistant"`` and its
``message`` has ``id``, ``model`` and ``usage``; anything else falls back to the whole line.
Huge tool-result lines are never parsed whole: a line that does not contain ``"assistant"``
cannot be a response. As a consequence a malformed line is noticed (and counted in
``Diagnostics``) only when it carries ``"output_tokens"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence

from tokennotes.hooks.logs import Diagnostics, Message, count_of, parse_json, utc_timestamp
from tokennotes.hooks.state import Index, ScanState

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    # A pending response: [ts, input, output, cache_read, cw_5m, cw_1h, sidechain, model,
    # session, cwd, recorded cost]. The index stores [ts, input, output, cache_read, cw_5m,
    # cw_1h, model, sidechain] per message id.
    Pending = list[Any]

AGENT = "claude"
SYNTHETIC_MODEL = "<synthetic>"
UNKNOWN_MODEL = "unknown"

_NEEDLE = b'"output_tokens"'
_USAGE = b'"usage":'
_CONTENT = b'"content":'
_ASSISTANT = b'"assistant"'


# -- where the logs are -----------------------------------------------------------------------
# (with os.path, as pathlib would: importing pathlib costs the commit hook ~3 ms)


def _expand(entry: str, home: str) -> str:
    if entry == "~" or entry.startswith(("~/", "~\\")):
        return os.path.join(home, entry[2:])
    return entry


def _name(path: str) -> str:
    """``Path(path).name``."""
    if os.sep != "/":  # pragma: no cover - Windows paths follow pathlib's own rules
        from pathlib import PurePath

        return PurePath(path).name
    parts = [part for part in path.split("/") if part and part != "."]
    return parts[-1] if parts else ""


def _is_absolute(path: str) -> bool:
    """``Path(path).is_absolute()``."""
    if os.sep != "/":  # pragma: no cover - Windows paths follow pathlib's own rules
        from pathlib import PurePath

        return PurePath(path).is_absolute()
    return path.startswith("/")


def _projects_dir(path: str) -> str | None:
    """The ``projects/`` dir of a config dir, or ``path`` itself when it is one."""
    projects = os.path.join(path, "projects")
    if os.path.isdir(projects):
        return projects
    if _name(path) == "projects" and os.path.isdir(path):
        return path
    return None


def _resolved(paths: Iterable[str]) -> list[str]:
    """Each path's ``os.path.realpath`` (= ``Path.resolve()``), once (as paths compare)."""
    found: dict[str, str] = {}
    for path in paths:
        real = os.path.realpath(path)
        found.setdefault(os.path.normcase(real), real)
    return list(found.values())


def home_dirs(environ: Mapping[str, str], home: str | os.PathLike[str]) -> list[str]:
    """``homes``, as strings."""
    home = os.fspath(home)
    configured = environ.get("CLAUDE_CONFIG_DIR", "").strip()
    if configured:
        candidates = [_expand(e.strip(), home) for e in configured.split(",") if e.strip()]
    else:
        xdg = environ.get("XDG_CONFIG_HOME", "").strip()
        base = xdg if xdg and _is_absolute(xdg) else os.path.join(home, ".config")
        candidates = [os.path.join(base, "claude"), os.path.join(home, ".claude")]
    return _resolved(p for p in map(_projects_dir, candidates) if p is not None)


def homes(environ: Mapping[str, str], home: Path) -> list[Path]:
    """Claude Code's existing ``projects/`` dirs, de-duplicated (symlinks resolved)."""
    from pathlib import Path

    return [Path(path) for path in home_dirs(environ, home)]


def transcripts(
    roots: Sequence[str | os.PathLike[str]], diag: Diagnostics, state: ScanState | None = None
) -> list[tuple[str, os.stat_result]]:
    """Every transcript below the roots that changed since ``state`` read it (without a state:
    every transcript), main sessions first, then subagent files."""
    walker = ScanState(None) if state is None else state
    files: list[tuple[int, str, os.stat_result]] = []
    paths = [os.fspath(root) for root in roots]
    for projects in _resolved(_projects_dir(root) or root for root in paths):
        base = len(projects) + 1
        for path, st in walker.walk(projects, diag, ".jsonl", unchanged=False):
            if st is None:
                continue  # (only changed files come with unchanged=False)
            parts = path[base:].replace("\\", "/").split("/")
            side = len(parts) > 2 or parts[-1].startswith("agent-") or "subagents" in parts
            if side and parts[-1] == "journal.jsonl" and "subagents" in parts:
                continue
            files.append((1 if side else 0, path, st))
    files.sort(key=lambda f: (f[0], f[1]))
    seen: set[str] = set()
    result = []
    for _, path, st in files:
        if path not in seen:
            seen.add(path)
            result.append((path, st))
    return result


# -- reading ----------------------------------------------------------------------------------


class _Reader:
    """Turns transcript bytes into pending responses (by id) and loose messages (no id)."""

    def __init__(self, diag: Diagnostics) -> None:
        self.diag = diag
        self.pending: dict[str, Pending] = {}
        self.loose: list[Message] = []
        self.path = ""

    def feed(self, data: bytes) -> None:
        """Every complete line of ``data`` that can carry usage."""
        find = data.find
        rfind = data.rfind
        parse = parse_json
        take = self.take
        size = len(data)
        pos = 0
        while True:
            i = find(_NEEDLE, pos)
            if i < 0:
                return
            start = rfind(b"\n", pos, i) + 1
            if start < pos:
                start = pos
            end = find(b"\n", i)
            if end < 0:
                end = size
            pos = end + 1
            if data[end - 1] == 13:  # CR of a CRLF line
                end -= 1
            usage = rfind(_USAGE, start, i)
            if usage >= 0:
                content = find(_CONTENT, start, usage)
                raw = data[start:content] + data[usage:end] if content >= 0 else data[start:end]
                obj = parse(raw)
                if type(obj) is dict and take(obj, content >= 0):
                    continue
            if find(_ASSISTANT, start, end) < 0:
                continue  # not a response (a tool result quoting usage, say): never parse it
            self.feed_line(data[start:end])

    def feed_line(self, line: bytes) -> bool:
        """Parse one whole line; False when it is not a JSON object."""
        obj = parse_json(line)
        if type(obj) is not dict:
            self.diag.malformed(self.path)
            return False
        self.take(obj, False)
        return True

    def take(self, obj: dict[str, Any], reduced: bool) -> bool:
        """Count one parsed line. With ``reduced`` (content cut out), False asks for the whole
        line: a field it needs may have been cut with the content."""
        kind = obj.get("type")
        if kind != "assistant":
            return not (reduced and kind is None)
        message = obj.get("message")
        if type(message) is not dict:
            return not reduced
        usage = message.get("usage")
        if type(usage) is not dict:
            return not reduced
        model = message.get("model")
        msg_id = message.get("id")
        if reduced and (model is None or msg_id is None):
            return False
        if model == SYNTHETIC_MODEL:
            return True
        ts = obj.get("timestamp")
        if type(ts) is not str or len(ts) != 24 or ts[23] != "Z" or ts[10] != "T":
            ts = utc_timestamp(ts)
            if ts is None:
                self.diag.malformed(self.path)
                return True
        inp = usage.get("input_tokens")
        out = usage.get("output_tokens")
        read = usage.get("cache_read_input_tokens")
        if type(inp) is not int or inp < 0:
            inp = count_of(inp)
        if type(out) is not int or out < 0:
            out = count_of(out)
        if type(read) is not int or read < 0:
            read = count_of(read)
        split = usage.get("cache_creation")
        if type(split) is dict:
            w5 = split.get("ephemeral_5m_input_tokens")
            w1 = split.get("ephemeral_1h_input_tokens")
            if type(w5) is not int or w5 < 0:
                w5 = count_of(w5)
            if type(w1) is not int or w1 < 0:
                w1 = count_of(w1)
            if not (w5 or w1):  # an empty breakdown says nothing: fall back to the total
                w5 = count_of(usage.get("cache_creation_input_tokens"))
        else:
            w5 = count_of(usage.get("cache_creation_input_tokens"))
            w1 = 0
        side = 1 if obj.get("isSidechain") is True else 0
        if type(model) is not str or not model:
            model = UNKNOWN_MODEL
        session = obj.get("sessionId")
        cwd = obj.get("cwd")
        cost = obj.get("costUSD")
        if type(session) is not str:
            session = ""
        if type(cwd) is not str:
            cwd = ""
        if cost is not None and not isinstance(cost, (int, float)):
            cost = None
        if type(msg_id) is not str or not msg_id:
            self.loose.append(
                Message(
                    AGENT, ts, session, cwd, model, inp, out, read, w5, w1, 0, 1, "",
                    None if cost is None else str(cost), inp + read + w5 + w1,
                )
            )  # fmt: skip
            return True
        cur = self.pending.get(msg_id)
        if cur is None:
            self.pending[msg_id] = [ts, inp, out, read, w5, w1, side, model, session, cwd, cost]
        elif cur[6] == side:
            if ts < cur[0]:
                cur[0] = ts
                cur[8] = session
                cur[9] = cwd
            if inp > cur[1]:
                cur[1] = inp
            if out > cur[2]:
                cur[2] = out
            if read > cur[3]:
                cur[3] = read
            if w5 > cur[4]:
                cur[4] = w5
            if w1 > cur[5]:
                cur[5] = w1
            if cost is not None and (cur[10] is None or cost > cur[10]):
                cur[10] = cost
        elif not side:  # the main-chain line wins over its sidechain replay
            self.pending[msg_id] = [ts, inp, out, read, w5, w1, side, model, session, cwd, cost]
        return True

    def feed_tail(self, tail: bytes) -> bool:
        """An unterminated last line: True when it is complete JSON and was taken."""
        if tail.endswith(b"\r"):
            tail = tail[:-1]
        if _NEEDLE not in tail or _ASSISTANT not in tail:
            return False
        obj = parse_json(tail)
        if type(obj) is not dict:
            return False
        self.take(obj, False)
        return True


# -- counting ---------------------------------------------------------------------------------


def _merge(old: list[Any], new: Pending) -> list[Any] | None:
    """The index value after ``new`` (pending) meets ``old`` (stored); None when unchanged."""
    if old[7] == new[6]:
        grown = [max(old[k], new[k]) for k in range(1, 6)]
        if grown == old[1:6]:
            return None
        return [old[0], *grown, old[6], old[7]]
    if old[7] and not new[6]:  # a main-chain line replaces a counted sidechain replay
        return [old[0], *new[1:6], old[6], 0]
    return None


def _absorb(index: Index, pending: dict[str, Pending]) -> None:
    """Put responses into the index without counting them (a stale file's old bytes)."""
    for msg_id, new in pending.items():
        old = index.get(msg_id)
        if old is None:
            index.put(msg_id, [new[0], *new[1:6], new[7], new[6]])
        else:
            merged = _merge(old, new)
            if merged is not None:
                index.put(msg_id, merged)


def _count(index: Index, pending: dict[str, Pending]) -> Iterator[Message]:
    for msg_id, new in pending.items():
        old = index.get(msg_id)
        if old is None:
            ts, inp, out, read, w5, w1, side, model, session, cwd, cost = new
            index.put(msg_id, [ts, inp, out, read, w5, w1, model, side])
            yield Message(
                AGENT, ts, session, cwd, model, inp, out, read, w5, w1, 0, 1, msg_id,
                None if cost is None else str(cost), inp + read + w5 + w1,
            )  # fmt: skip
            continue
        merged = _merge(old, new)
        if merged is None:
            continue
        index.put(msg_id, merged)
        inp, out, read, w5, w1 = (merged[k] - old[k] for k in range(1, 6))
        yield Message(
            AGENT, old[0], new[8], new[9], old[6], inp, out, read, w5, w1, 0, 0, msg_id, None,
            merged[1] + merged[3] + merged[4] + merged[5],
        )  # fmt: skip


def collect(
    homes: Sequence[str | os.PathLike[str]], state: ScanState, diag: Diagnostics
) -> Iterator[Message]:
    """The messages of every transcript below ``homes`` that this state has not counted yet."""
    index = state.index(AGENT)
    reader = _Reader(diag)
    for path, st in transcripts(homes, diag, state):
        chunk = state.read(path, diag, st)
        if chunk is None:
            continue
        reader.path = path
        old = state.baseline(chunk)
        if old:
            silent = _Reader(diag)
            silent.path = path
            silent.feed(old)
            _absorb(index, silent.pending)
        reader.feed(chunk.data)
        if chunk.tail and reader.feed_tail(chunk.tail):
            state.consume_tail(chunk)
        if reader.loose:
            yield from reader.loose
            reader.loose.clear()
    yield from _count(index, reader.pending)
