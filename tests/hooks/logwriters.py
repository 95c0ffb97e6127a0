"""Test helpers that write Claude Code and Codex CLI log lines of each shape, and sum messages.

Values are made up; shapes follow ``spec/agent-logs.md``. Every builder returns one JSON line
(``str``, no newline) so a test reads as the list of lines it writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokennotes.hooks.logs import Message

SESSION = "5a0c1e2d-0000-4000-8000-00000000aa01"
CWD = "/home/dev/proj"
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


# -- Claude Code ------------------------------------------------------------------------------


def claude_usage(
    *,
    input: int | None = 10,
    output: int | None = 100,
    cache_read: int | None = 0,
    cache_write: int | None = 0,
    split: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A ``message.usage`` object; ``split`` = (5m, 1h) adds the ``cache_creation`` breakdown."""
    usage: dict[str, Any] = {
        "input_tokens": input,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }
    if split is not None:
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": split[0],
            "ephemeral_1h_input_tokens": split[1],
        }
    usage["output_tokens"] = output
    usage["service_tier"] = "standard"
    return usage


def claude_assistant(
    msg_id: str | None,
    ts: str,
    *,
    usage: dict[str, Any] | None = None,
    model: str = SONNET,
    session: str = SESSION,
    cwd: str = CWD,
    sidechain: bool = False,
    request_id: str | None = "req_default",
    text: str = "ok",
    content: list[Any] | None = None,
    model_after_content: bool = False,
    **extra: Any,
) -> str:
    """An assistant line the way Claude Code writes it (usage last in ``message``)."""
    message: dict[str, Any] = {}
    if not model_after_content:
        message["model"] = model
        if msg_id is not None:
            message["id"] = msg_id
    message["type"] = "message"
    message["role"] = "assistant"
    message["content"] = content if content is not None else [{"type": "text", "text": text}]
    if model_after_content:
        message["model"] = model
        if msg_id is not None:
            message["id"] = msg_id
    message["stop_reason"] = None
    message["stop_sequence"] = None
    message["usage"] = usage if usage is not None else claude_usage()
    line: dict[str, Any] = {
        "parentUuid": "p-1",
        "isSidechain": sidechain,
        "userType": "external",
        "cwd": cwd,
        "sessionId": session,
        "version": "2.0.55",
        "gitBranch": "main",
        "message": message,
    }
    if request_id is not None:
        line["requestId"] = request_id
    line["type"] = "assistant"
    line["uuid"] = f"u-{msg_id}-{ts}"
    line["timestamp"] = ts
    line.update(extra)
    return dumps(line)


def claude_user(ts: str, text: str = "do it", *, session: str = SESSION, cwd: str = CWD) -> str:
    return dumps(
        {
            "parentUuid": None,
            "isSidechain": False,
            "cwd": cwd,
            "sessionId": session,
            "type": "user",
            "message": {"role": "user", "content": text},
            "uuid": f"user-{ts}",
            "timestamp": ts,
        }
    )


def claude_tool_result(ts: str, usage: dict[str, Any], body: str = "done") -> str:
    """A Task tool result: a ``user`` line whose ``toolUseResult`` repeats a subagent's usage."""
    return dumps(
        {
            "parentUuid": "p-2",
            "isSidechain": False,
            "cwd": CWD,
            "sessionId": SESSION,
            "type": "user",
            "message": {
                "role": "user",
                "content": [{"tool_use_id": "toolu_1", "type": "tool_result", "content": body}],
            },
            "uuid": f"tool-{ts}",
            "timestamp": ts,
            "toolUseResult": {"status": "completed", "totalTokens": 9999, "usage": usage},
        }
    )


def claude_synthetic(ts: str) -> str:
    return dumps(
        {
            "parentUuid": "p-3",
            "isSidechain": False,
            "cwd": CWD,
            "sessionId": SESSION,
            "type": "assistant",
            "uuid": f"syn-{ts}",
            "timestamp": ts,
            "isApiErrorMessage": True,
            "message": {
                "id": f"syn-{ts}",
                "model": "<synthetic>",
                "role": "assistant",
                "type": "message",
                "content": [{"type": "text", "text": "API Error"}],
                "usage": claude_usage(input=0, output=0),
            },
        }
    )


def claude_summary() -> str:
    return dumps({"type": "summary", "summary": "Did things", "leafUuid": "x"})


def claude_session_path(projects: Path, session: str = SESSION, cwd: str = CWD) -> Path:
    encoded = "".join(c if c.isalnum() else "-" for c in cwd)
    return projects / encoded / f"{session}.jsonl"


def claude_subagent_path(projects: Path, agent_id: str, session: str = SESSION) -> Path:
    encoded = "".join(c if c.isalnum() else "-" for c in CWD)
    return projects / encoded / session / "subagents" / f"agent-{agent_id}.jsonl"


# -- Codex CLI --------------------------------------------------------------------------------

THREAD = "019aa3b0-0000-7000-8000-0000000000c1"


def codex_path(home: Path, thread: str = THREAD, when: str = "2026-11-19T10-00-00") -> Path:
    day = when[:10].replace("-", "/")
    return home / "sessions" / day / f"rollout-{when}-{thread}.jsonl"


def codex_meta(
    ts: str,
    thread: str = THREAD,
    *,
    cwd: str = CWD,
    forked_from: str | None = None,
    spawned_by: str | None = None,
) -> str:
    payload: dict[str, Any] = {"id": thread}
    if forked_from is not None:
        payload["forked_from_id"] = forked_from
    payload.update({"timestamp": ts, "cwd": cwd, "originator": "codex_cli_rs"})
    payload["cli_version"] = "0.63.0"
    payload["instructions"] = None
    if spawned_by is not None:
        payload["source"] = {"subagent": {"thread_spawn": {"parent_thread_id": spawned_by}}}
    else:
        payload["source"] = "cli"
    payload["model_provider"] = "openai"
    return dumps({"timestamp": ts, "type": "session_meta", "payload": payload})


def codex_turn(ts: str, model: str | None = "gpt-5.1-codex", *, cwd: str = CWD) -> str:
    payload: dict[str, Any] = {"cwd": cwd, "approval_policy": "on-request"}
    if model is not None:
        payload["model"] = model
    payload["effort"] = "medium"
    return dumps({"timestamp": ts, "type": "turn_context", "payload": payload})


def codex_counts(values: Sequence[int] | None) -> dict[str, int] | None:
    """``(input incl. cached, cached, output, reasoning)`` as a Codex ``TokenUsage``."""
    if values is None:
        return None
    inp, cached, out, reasoning = values
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": inp + out,
    }


def codex_tokens(
    ts: str,
    total: Sequence[int] | None,
    last: Sequence[int] | None = None,
    *,
    info_null: bool = False,
    model: str | None = None,
    omit_last: bool = False,
) -> str:
    """A ``token_count`` event; ``last`` defaults to ``total`` (a first call)."""
    info: dict[str, Any] | None = None
    if not info_null:
        info = {}
        if total is not None:
            info["total_token_usage"] = codex_counts(total)
        if not omit_last:
            info["last_token_usage"] = codex_counts(last if last is not None else total)
        info["model_context_window"] = 258400
        if model is not None:
            info["model"] = model
    rate = {"primary": {"used_percent": 4.0, "window_minutes": 300}}
    payload = {"type": "token_count", "info": info, "rate_limits": rate}
    return dumps({"timestamp": ts, "type": "event_msg", "payload": payload})


def codex_item(ts: str, text: str = "thinking about it") -> str:
    """A ``response_item`` (no usage); its text may mention anything."""
    payload = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }
    return dumps({"timestamp": ts, "type": "response_item", "payload": payload})


def codex_event(ts: str, text: str = "done") -> str:
    return dumps(
        {
            "timestamp": ts,
            "type": "event_msg",
            "payload": {"type": "agent_message", "message": text},
        }
    )


# -- files ------------------------------------------------------------------------------------


def write_lines(
    path: Path, lines: Iterable[str], *, newline: str = "\n", final_newline: bool = True
) -> Path:
    """Write lines as a new file (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(lines)
    if final_newline and text:
        text += newline
    path.write_bytes(text.encode())
    return path


def append_lines(path: Path, lines: Iterable[str], *, final_newline: bool = True) -> Path:
    text = "\n".join(lines)
    if final_newline and text:
        text += "\n"
    with path.open("ab") as fh:
        fh.write(text.encode())
    return path


# -- sums -------------------------------------------------------------------------------------

FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning", "messages", "total")


def tally(messages: Iterable[Message], by: str | None = None) -> dict[str, dict[str, int]]:
    """Sums of messages (``by``: ``model``, ``day``, ``cwd`` or None for one row keyed "")."""
    rows: dict[str, dict[str, int]] = {}
    for m in messages:
        key = "" if by is None else m.ts[:10] if by == "day" else getattr(m, by)
        row = rows.setdefault(key, dict.fromkeys(FIELDS, 0))
        row["input"] += m.input
        row["output"] += m.output
        row["cache_read"] += m.cache_read
        row["cache_write"] += m.cache_write
        row["reasoning"] += m.reasoning
        row["messages"] += m.new
        row["total"] += m.total
    return rows


def totals(messages: Iterable[Message]) -> dict[str, int]:
    return tally(messages).get("", dict.fromkeys(FIELDS, 0))
