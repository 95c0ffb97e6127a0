"""Write realistic Claude Code and Codex CLI session logs, and know exactly what they contain.

The demo (and tests) use this to make agent-log homes with no agent installed. The shapes follow
the agents' real logs, including the traps a parser must handle: Claude writes one line per
content block of a streamed response (sharing ``message.id``, the early ones with a partial
``output_tokens``); Codex writes cumulative ``total_token_usage`` counters and re-emits them
unchanged. ``LogWriter.truth`` sums what a correct parser must count.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path


@dataclass
class Truth:
    """What a correct parser counts, in tokennotes' buckets."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    messages: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def add(
        self, *, input: int, output: int, cache_read: int, cache_write: int, reasoning: int = 0
    ) -> None:
        self.input += input
        self.output += output
        self.cache_read += cache_read
        self.cache_write += cache_write
        self.reasoning += reasoning
        self.messages += 1


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and a Z, as the agents write it."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def encode_cwd(cwd: str) -> str:
    """Claude Code's project directory name: every non-alphanumeric character becomes '-'."""
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in cwd)


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


@dataclass
class LogWriter:
    """Appends sessions to a Claude home and a Codex home; ``truth`` accumulates by agent."""

    claude_home: Path
    codex_home: Path
    seed: int = 7
    truth: dict[str, Truth] = field(default_factory=dict)
    by_model: dict[str, Truth] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _count(self, agent: str, model: str, **buckets: int) -> None:
        self.truth.setdefault(agent, Truth()).add(**buckets)
        self.by_model.setdefault(model, Truth()).add(**buckets)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def claude_session(
        self, cwd: str, start: datetime, turns: int, model: str = "claude-sonnet-4-5-20250929"
    ) -> datetime:
        """One Claude Code session of ``turns`` streamed responses; returns its end time."""
        session = self._uuid()
        path = self.claude_home / "projects" / encode_cwd(cwd) / f"{session}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = self._rng
        now = start
        lines: list[str] = []
        base = {
            "isSidechain": False,
            "userType": "external",
            "cwd": cwd,
            "sessionId": session,
            "version": "2.0.55",
            "gitBranch": "main",
        }
        cache = 0
        for turn in range(turns):
            now += timedelta(seconds=rng.randint(20, 90))
            lines.append(
                _dump(
                    {
                        **base,
                        "type": "user",
                        "uuid": f"u{turn}",
                        "timestamp": iso(now),
                        "message": {"role": "user", "content": "Continue with the plan."},
                    }
                )
            )
            msg_id = "msg_01" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(22))
            request = "req_01" + "".join(rng.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(22))
            uncached = rng.randint(3, 40)
            write = rng.randint(500, 6000)
            read = cache
            output = rng.randint(150, 2400)
            cache += write
            blocks = ["thinking", "text", "tool_use"][: rng.randint(1, 3)]
            for i, block in enumerate(blocks):
                now += timedelta(milliseconds=rng.randint(200, 2500))
                last = i == len(blocks) - 1
                usage = {
                    "input_tokens": uncached,
                    "cache_creation_input_tokens": write,
                    "cache_read_input_tokens": read,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": write,
                        "ephemeral_1h_input_tokens": 0,
                    },
                    "output_tokens": output if last else rng.randint(1, 9),
                    "service_tier": "standard",
                }
                lines.append(
                    _dump(
                        {
                            **base,
                            "type": "assistant",
                            "uuid": f"a{turn}-{i}",
                            "requestId": request,
                            "timestamp": iso(now),
                            "message": {
                                "model": model,
                                "id": msg_id,
                                "type": "message",
                                "role": "assistant",
                                "content": [{"type": block, "text": f"({block})"}],
                                "stop_reason": "end_turn" if last else None,
                                "usage": usage,
                            },
                        }
                    )
                )
            self._count(
                "claude", model, input=uncached, output=output, cache_read=read, cache_write=write
            )
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines)
        return now

    def codex_session(
        self, cwd: str, start: datetime, turns: int, model: str = "gpt-5.1-codex"
    ) -> datetime:
        """One Codex CLI rollout with cumulative counters and re-emits; returns its end time."""
        thread = self._uuid()
        rng = self._rng
        day = start.astimezone(timezone.utc)
        path = (
            self.codex_home
            / "sessions"
            / day.strftime("%Y/%m/%d")
            / f"rollout-{day.strftime('%Y-%m-%dT%H-%M-%S')}-{thread}.jsonl"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        now = start
        lines = [
            _dump(
                {
                    "timestamp": iso(now),
                    "type": "session_meta",
                    "payload": {
                        "id": thread,
                        "timestamp": iso(now),
                        "cwd": cwd,
                        "originator": "codex_cli_rs",
                        "cli_version": "0.63.0",
                        "source": "cli",
                        "model_provider": "openai",
                    },
                }
            ),
            _dump(
                {
                    "timestamp": iso(now),
                    "type": "turn_context",
                    "payload": {"cwd": cwd, "model": model, "effort": "medium"},
                }
            ),
            _dump(
                {
                    "timestamp": iso(now),
                    "type": "event_msg",
                    "payload": {"type": "token_count", "info": None},
                }
            ),
        ]
        total = {
            "input_tokens": 0,
            "cached_input_tokens": 0,
            "output_tokens": 0,
            "reasoning_output_tokens": 0,
            "total_tokens": 0,
        }
        context = 0
        for _ in range(turns):
            now += timedelta(seconds=rng.randint(30, 120))
            fresh = rng.randint(800, 5000)
            cached = context  # the whole earlier context is served from the cache
            prompt = fresh + cached
            output = rng.randint(120, 1500)
            reasoning = rng.randint(0, output // 2)
            context = prompt + output
            last = {
                "input_tokens": prompt,
                "cached_input_tokens": cached,
                "output_tokens": output,
                "reasoning_output_tokens": reasoning,
                "total_tokens": prompt + output,
            }
            for key in total:
                total[key] += last[key]
            event = {
                "type": "token_count",
                "info": {
                    "total_token_usage": dict(total),
                    "last_token_usage": last,
                    "model_context_window": 272000,
                },
            }
            lines.append(_dump({"timestamp": iso(now), "type": "event_msg", "payload": event}))
            if rng.random() < 0.5:  # Codex re-sends unchanged counters on UI refreshes
                now += timedelta(seconds=2)
                lines.append(_dump({"timestamp": iso(now), "type": "event_msg", "payload": event}))
            self._count(
                "codex",
                model,
                input=fresh,
                output=output,
                cache_read=cached,
                cache_write=0,
                reasoning=reasoning,
            )
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines)
        return now
