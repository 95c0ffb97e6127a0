"""OpenAI Codex CLI collector: rollout files to per-response messages.

Where: ``$CODEX_HOME`` (default ``~/.codex``): ``sessions/YYYY/MM/DD/rollout-*.jsonl`` and
``archived_sessions/rollout-*.jsonl``; a name in both is read from ``sessions/`` only. Files are
read in the order of their names (``rollout-<time>-<id>``), so a parent session is read before
its forks and spawned subagents. Days come from the in-line UTC timestamps, never the path.

What counts (``spec/agent-logs.md`` section 2): ``event_msg`` lines of ``payload.type ==
"token_count"``. ``info.total_token_usage`` is cumulative per process; per file the collector
carries the previous total and turns each event into a delta: equal totals are a re-emit (skip);
a total that grew gives ``total - previous`` (``last_token_usage`` wins when it differs); a total
that went down in any counter is a reset (``codex resume``), giving ``last`` (or the total);
only ``last`` gives ``last``; ``info: null`` and zero deltas are skipped. ``cached_input_tokens``
is a subset of ``input_tokens`` (``input = input - cached``, cached clamped to input) and
``reasoning_output_tokens`` a subset of ``output_tokens`` (``output = output_tokens``).

Forks and spawned subagent threads replay their parent's ``token_count`` lines. An event is
counted only when its (lineage, cumulative total) was never counted before, in any file or any
earlier scan (``state.index("codex")``); replayed lines still set the previous total, so the
child's own first delta is right. The lineage is the root thread id (``forked_from_id`` and
``thread_spawn.parent_thread_id`` are followed through the index, which keeps ``t:<thread>`` ->
root for every session met); without one the key is (timestamp, model, delta).

The carry per file (``chunk.carry``, saved with the offset): ``t`` previous total, ``m`` model
(from ``turn_context``; ``info.model`` wins for its event), ``c`` cwd (``session_meta`` then each
``turn_context``), ``s`` session id, ``l`` lineage. An event before any model is priced as
``gpt-5``: its message key then starts with ``APPROXIMATE`` and the file gets one diagnostic.

Speed: lines are walked with ``bytes.find``; a line is looked at further only when its head
(``{"timestamp":"…","type":"…"``) names one of the three kinds, and a ``token_count`` line is
not parsed at all when its total is byte-identical to the previous one (a re-emit); otherwise
only its two small usage objects are parsed. Lines of any other layout are parsed whole when
they mention one of the kinds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

from tokennotes.hooks.logs import Diagnostics, Message, count_of, parse_json, utc_timestamp
from tokennotes.hooks.state import Index, ScanState

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

AGENT = "codex"
FALLBACK_MODEL = "gpt-5"
APPROXIMATE = "approx:"

_HEAD = b'{"timestamp":"'
_TYPE = b',"type":"'
_EVENT = b'event_msg",'
_PAYLOAD_TYPE = b'"payload":{"type":"'  # 19 bytes
_TOKEN_COUNT = b'token_count","info":'
_TOTAL = b'"total_token_usage":'
_LAST = b'"last_token_usage":'
_KINDS = (b"token_count", b"turn_context", b"session_meta")

Usage = tuple[int, int, int, int, int]  # input (incl. cached), cached, output, reasoning, cw


# -- where the logs are -----------------------------------------------------------------------


def home_dirs(environ: Mapping[str, str], home: str | os.PathLike[str]) -> list[str]:
    """``homes``, as strings (with os.path: importing pathlib costs the commit hook ~3 ms)."""
    configured = environ.get("CODEX_HOME", "").strip()
    if configured == "~" or configured.startswith(("~/", "~\\")):
        path = os.path.join(home, configured[2:])
    else:
        path = configured if configured else os.path.join(home, ".codex")
    return [os.path.realpath(path)] if os.path.isdir(path) else []


def homes(environ: Mapping[str, str], home: Path) -> list[Path]:
    """The existing ``$CODEX_HOME`` (default ``~/.codex``)."""
    from pathlib import Path

    return [Path(path) for path in home_dirs(environ, home)]


def _is_rollout(name: str) -> bool:
    return name.startswith("rollout-")


def rollouts(
    roots: Sequence[str | os.PathLike[str]], diag: Diagnostics, state: ScanState | None = None
) -> list[tuple[str, os.stat_result]]:
    """Rollout files below the homes that changed since ``state`` read them (without a state:
    all), by name; a name in ``sessions/`` hides its copy in ``archived_sessions/``."""
    walker = ScanState(None) if state is None else state
    found: dict[str, tuple[str, os.stat_result] | None] = {}
    for root in dict.fromkeys(os.fspath(root) for root in roots):
        sessions, archived = os.path.join(root, "sessions"), os.path.join(root, "archived_sessions")
        tops = [sessions, archived]
        if not (os.path.isdir(sessions) or os.path.isdir(archived)):
            tops = [root]
        for top in tops:
            for path, st in walker.walk(top, diag, ".jsonl", _is_rollout):
                name = path.rpartition(os.sep)[2]
                if name not in found:  # an unchanged name still hides its archived copy
                    found[name] = None if st is None else (path, st)
    return [item for _, item in sorted((k, v) for k, v in found.items() if v is not None)]


# -- reading ----------------------------------------------------------------------------------


def _usage(value: Any) -> Usage | None:
    if type(value) is not dict:
        return None
    get = value.get
    return (
        count_of(get("input_tokens")),
        count_of(get("cached_input_tokens")),
        count_of(get("output_tokens")),
        count_of(get("reasoning_output_tokens")),
        count_of(get("cache_write_input_tokens")),
    )


def _session_of(path: str) -> str:
    """The thread id at the end of a rollout file name (used when no session_meta says it)."""
    name = os.path.basename(path)
    return name[-42:-6] if len(name) > 50 else ""


class _Rollout:
    """One file's carried state and the messages of its new lines."""

    def __init__(self, path: str, carry: dict[str, Any], index: Index, diag: Diagnostics) -> None:
        self.path = path
        self.carry = carry
        self.index = index
        self.diag = diag
        self.out: list[Message] | None = []
        self.prev_raw = b""  # the bytes of the previous total, to skip re-emits unparsed
        self.warned = False

    def feed(self, data: bytes, emit: bool = True) -> None:
        self.out = [] if emit else None
        find = data.find
        startswith = data.startswith
        size = len(data)
        pos = 0
        while pos < size:
            end = find(b"\n", pos)
            if end < 0:
                end = size
            line_start = pos
            pos = end + 1
            if startswith(_HEAD, line_start):
                quote = find(b'"', line_start + 14, end)
                if quote > 0 and startswith(_TYPE, quote + 1):
                    kind = quote + 10
                    if startswith(_EVENT, kind):
                        if startswith(_PAYLOAD_TYPE, kind + 11):
                            if startswith(_TOKEN_COUNT, kind + 30):
                                info = kind + 30 + len(_TOKEN_COUNT)
                                self.token_count(data, line_start, quote, info, end)
                            elif startswith(b'token_count"', kind + 30):
                                self.whole(data[line_start:end].rstrip(b"\r"))
                            continue  # another event
                    elif startswith(b'turn_context"', kind) or startswith(b'session_meta"', kind):
                        self.whole(data[line_start:end])
                        continue
                    else:
                        continue  # response_item, compacted, ...
            for needle in _KINDS:
                if find(needle, line_start, end) >= 0:
                    self.whole(data[line_start:end])
                    break

    def whole(self, line: bytes) -> bool:
        """Parse and take one line; False when it is not a JSON object."""
        obj = parse_json(line)
        if type(obj) is not dict:
            self.diag.malformed(self.path)
            return False
        self.take(obj)
        return True

    def take(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        payload = obj.get("payload")
        if type(payload) is not dict:
            return
        carry = self.carry
        if kind == "turn_context":
            model = payload.get("model")
            if type(model) is str and model:
                carry["m"] = model
            cwd = payload.get("cwd")
            if type(cwd) is str:
                carry["c"] = cwd
        elif kind == "session_meta":
            self.meta(payload)
        elif kind == "event_msg" and payload.get("type") == "token_count":
            self.prev_raw = b""
            info = payload.get("info")
            if type(info) is not dict:
                return
            model = info.get("model")
            self.count(
                obj.get("timestamp"),
                _usage(info.get("total_token_usage")),
                _usage(info.get("last_token_usage")),
                model if type(model) is str and model else None,
            )

    def meta(self, payload: dict[str, Any]) -> None:
        """The file's own (first) session_meta names the thread and its lineage."""
        carry = self.carry
        if carry.get("s"):
            return  # a replayed parent's meta, or a resume
        thread = payload.get("id")
        if type(thread) is not str or not thread:
            return
        carry["s"] = thread
        cwd = payload.get("cwd")
        if type(cwd) is str and "c" not in carry:
            carry["c"] = cwd
        parent = payload.get("forked_from_id")
        if type(parent) is not str or not parent:
            source = payload.get("source")
            parent = None
            if type(source) is dict:
                spawn = (source.get("subagent") or {}).get("thread_spawn")
                if type(spawn) is dict:
                    parent = spawn.get("parent_thread_id")
        root = thread
        if type(parent) is str and parent:
            known = self.index.get("t:" + parent)
            root = known if type(known) is str else parent
        carry["l"] = root
        if self.index.get("t:" + thread) != root:
            self.index.put("t:" + thread, root)

    def token_count(self, data: bytes, start: int, quote: int, info: int, end: int) -> None:
        """A token_count line of the usual layout, from its bytes (whole when unusual)."""
        if data.startswith(b"null", info):
            self.prev_raw = b""
            return
        find = data.find
        total_at = find(_TOTAL, info, end)
        close = find(b"}", total_at, end) if total_at >= 0 else -1
        if close >= 0:
            raw = data[total_at + 20 : close + 1]
            if raw == self.prev_raw:
                return  # a re-emit, byte for byte
            total = _usage(parse_json(raw))
            last: Usage | None = None
            last_at = find(_LAST, info, end)
            if last_at >= 0 and not data.startswith(b"null", last_at + 19):
                close = find(b"}", last_at, end)
                last = _usage(parse_json(data[last_at + 19 : close + 1])) if close >= 0 else None
                if last is None:
                    total = None
            if total is not None and find(b'"model"', info, end) < 0:
                self.count(data[start + 14 : quote].decode(), total, last, None)
                self.prev_raw = raw
                return
        self.prev_raw = b""
        self.whole(data[start:end].rstrip(b"\r"))

    def count(self, ts: Any, total: Usage | None, last: Usage | None, model: str | None) -> None:
        carry = self.carry
        lineage = carry.get("l")
        key: str | None = None
        if total is not None:
            prev = carry.get("t")
            if prev is not None and prev[0] == total[0] and list(total) == prev:
                return  # re-emit
            if prev is None:
                delta = total
            elif (
                total[0] >= prev[0]
                and total[1] >= prev[1]
                and total[2] >= prev[2]
                and total[3] >= prev[3]
                and total[4] >= prev[4]
            ):
                delta = (
                    total[0] - prev[0],
                    total[1] - prev[1],
                    total[2] - prev[2],
                    total[3] - prev[3],
                    total[4] - prev[4],
                )
            else:  # reset: a restarted or resumed process
                delta = total if last is None else last
            if last is not None and delta != last:
                delta = last
            carry["t"] = list(total)
            if lineage:
                key = f"{lineage}:{total[0]}:{total[1]}:{total[2]}:{total[3]}"
                if total[4]:
                    key += f":{total[4]}"
        elif last is not None:
            delta = last
        else:
            return
        if not (delta[0] or delta[1] or delta[2] or delta[3] or delta[4]):
            return
        if type(ts) is not str or len(ts) != 24 or ts[23] != "Z" or ts[10] != "T":
            ts = utc_timestamp(ts)
            if ts is None:
                self.diag.malformed(self.path)
                return
        approximate = False
        if model is None:
            model = carry.get("m")
            if model is None:
                model = FALLBACK_MODEL
                approximate = True
        if key is None:
            key = f"{ts}|{model}|{delta[0]}:{delta[1]}:{delta[2]}:{delta[3]}:{delta[4]}"
        index = self.index
        if index.get(key) is not None:
            return  # counted before: a fork's or a subagent's replay, or a rescanned file
        index.put(key, 1)
        out = self.out
        if out is None:
            return
        if approximate:
            key = APPROXIMATE + key
            if not self.warned:
                self.warned = True
                self.diag.error(self.path, f"no model recorded; counted as {FALLBACK_MODEL}")
        inp, cached, output, reasoning, written = delta
        if cached > inp:
            cached = inp
        if written > inp - cached:
            written = inp - cached
        out.append(
            Message(
                AGENT, ts, carry.get("s") or _session_of(self.path), carry.get("c") or "", model,
                inp - cached - written, output, cached, written, 0, reasoning, 1, key, None, inp,
            )
        )  # fmt: skip

    def feed_tail(self, tail: bytes) -> bool:
        """An unterminated last line: True when it is complete JSON and was taken."""
        tail = tail.rstrip(b"\r")
        if not any(needle in tail for needle in _KINDS):
            return False
        obj = parse_json(tail)
        if type(obj) is not dict:
            return False
        self.prev_raw = b""
        self.take(obj)
        return True


def collect(
    homes: Sequence[str | os.PathLike[str]], state: ScanState, diag: Diagnostics
) -> Iterator[Message]:
    """The messages of every rollout below ``homes`` that this state has not counted yet."""
    index = state.index(AGENT)
    for path, st in rollouts(homes, diag, state):
        chunk = state.read(path, diag, st)
        if chunk is None:
            continue
        rollout = _Rollout(path, chunk.carry, index, diag)
        old = state.baseline(chunk)
        if old:
            rollout.feed(old, emit=False)
        rollout.feed(chunk.data)
        if chunk.tail and rollout.feed_tail(chunk.tail):
            state.consume_tail(chunk)
        yield from rollout.out or ()
