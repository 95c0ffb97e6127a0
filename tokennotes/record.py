"""The note record schema v1: the one contract between the writers (hooks) and the readers.

A note is JSON Lines: one canonical JSON object per line (keys sorted, no spaces), the note's
lines sorted and unique, newline-terminated. Two kinds of record exist, ``usage`` and ``output``.
Readers skip blank lines, count and skip lines that are not JSON or not a known ``v``, and ignore
unknown fields: a bad line never stops a report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

SCHEMA_VERSION = 1
FIDELITIES = ("exact", "estimated", "manual")
TOKEN_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")


class RecordError(ValueError):
    """A line that is not a valid record; the message names the key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class Tokens:
    """Token buckets that never overlap; ``reasoning`` and ``cache_write_1h`` are subsets.

    ``input`` is uncached input, ``output`` includes reasoning, ``cache_write`` is all cache
    creation of which ``cache_write_1h`` was written with Anthropic's one-hour TTL.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    cache_write_1h: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            input=self.input + other.input,
            output=self.output + other.output,
            cache_read=self.cache_read + other.cache_read,
            cache_write=self.cache_write + other.cache_write,
            reasoning=self.reasoning + other.reasoning,
            cache_write_1h=self.cache_write_1h + other.cache_write_1h,
        )

    def to_json(self) -> dict[str, int]:
        out = {name: getattr(self, name) for name in TOKEN_FIELDS}
        if self.cache_write_1h:
            out["cache_write_1h"] = self.cache_write_1h
        return out

    @classmethod
    def from_json(cls, obj: object, key: str = "tokens") -> Tokens:
        if not isinstance(obj, Mapping):
            raise RecordError(key, "must be an object")
        values: dict[str, int] = {}
        for name in (*TOKEN_FIELDS, "cache_write_1h"):
            value = obj.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RecordError(f"{key}.{name}", "must be a non-negative integer")
            values[name] = value
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class UsageRecord:
    """Tokens spent by one agent on one model in one session, attributed to a commit."""

    id: str
    ts: str
    agent: str
    model: str
    session: str
    first: str
    last: str
    messages: int
    tokens: Tokens
    fidelity: Literal["exact", "estimated", "manual"] = "exact"
    cost_usd: Decimal | None = None
    price_table: str = ""
    host: str = ""
    tier: str = ""
    commit: str = ""
    supersedes: tuple[str, ...] = ()
    kind: Literal["usage"] = "usage"

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "kind": "usage",
            "id": self.id,
            "ts": self.ts,
            "agent": self.agent,
            "model": self.model,
            "session": self.session,
            "first": self.first,
            "last": self.last,
            "messages": self.messages,
            "tokens": self.tokens.to_json(),
            "fidelity": self.fidelity,
            "cost_usd": None if self.cost_usd is None else format(self.cost_usd, "f"),
            "price_table": self.price_table,
            "host": self.host,
        }
        if self.tier:
            obj["tier"] = self.tier
        if self.commit:
            obj["commit"] = self.commit
        if self.supersedes:
            obj["supersedes"] = list(self.supersedes)
        return obj


@dataclass(frozen=True, kw_only=True)
class OutputRecord:
    """What a commit shipped: one output type, its item count and points."""

    id: str
    ts: str
    commit: str
    type: str
    items: int
    points: int
    files: int = 0
    insertions: int = 0
    deletions: int = 0
    words: int = 0
    rule: str = ""
    author: str = ""
    branch: str = ""
    supersedes: tuple[str, ...] = ()
    kind: Literal["output"] = "output"

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "kind": "output",
            "id": self.id,
            "ts": self.ts,
            "commit": self.commit,
            "type": self.type,
            "items": self.items,
            "points": self.points,
            "files": self.files,
            "insertions": self.insertions,
            "deletions": self.deletions,
            "words": self.words,
            "rule": self.rule,
            "author": self.author,
            "branch": self.branch,
        }
        if self.supersedes:
            obj["supersedes"] = list(self.supersedes)
        return obj


Record = UsageRecord | OutputRecord


@dataclass
class ParsedNote:
    """The records of one or more notes, with what had to be skipped and why."""

    records: list[Record] = field(default_factory=list)
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def dump_record(record: Record) -> str:
    """The canonical one-line JSON of a record (keys sorted, no spaces, no newline)."""
    return json.dumps(record.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_id(*parts: str) -> str:
    """A deterministic record id: the first 32 hex digits of the sha256 of the parts."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8"))
    return digest.hexdigest()[:32]


def short_hash(text: str, length: int) -> str:
    """A stable pseudonym (sessions: 16 hex, hosts: 8 hex) so no raw names reach a note."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _str(obj: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise RecordError(key, "missing" if value is None else "must be a string")
    return value


def _int(obj: Mapping[str, Any], key: str, *, default: int | None = None) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(key, "missing" if value is None else "must be an integer")
    if value < 0:
        raise RecordError(key, "must not be negative")
    return value


def _supersedes(obj: Mapping[str, Any]) -> tuple[str, ...]:
    value = obj.get("supersedes", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError("supersedes", "must be a list of ids")
    return tuple(value)


def _cost(obj: Mapping[str, Any]) -> Decimal | None:
    value = obj.get("cost_usd")
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError("cost_usd", "must be a decimal string or null")
    try:
        cost = Decimal(value)
    except InvalidOperation:
        raise RecordError("cost_usd", f"not a decimal: {value[:40]!r}") from None
    if not cost.is_finite() or cost < 0:
        raise RecordError("cost_usd", "must be a finite, non-negative decimal")
    return cost


def record_from_json(obj: object) -> Record:
    """Validate a decoded JSON object into a record; raise RecordError naming the key."""
    if not isinstance(obj, Mapping):
        raise RecordError("", "a record must be a JSON object")
    version = obj.get("v")
    if version != SCHEMA_VERSION:
        raise RecordError("v", f"unknown schema version {version!r} (this tokennotes reads v1)")
    kind = obj.get("kind")
    if kind == "usage":
        fidelity = _str(obj, "fidelity")
        if fidelity not in FIDELITIES:
            raise RecordError("fidelity", f"must be one of {', '.join(FIDELITIES)}")
        return UsageRecord(
            id=_str(obj, "id"),
            ts=_str(obj, "ts"),
            agent=_str(obj, "agent"),
            model=_str(obj, "model"),
            session=_str(obj, "session", required=False),
            first=_str(obj, "first", required=False) or _str(obj, "ts"),
            last=_str(obj, "last", required=False) or _str(obj, "ts"),
            messages=_int(obj, "messages", default=0),
            tokens=Tokens.from_json(obj.get("tokens")),
            fidelity=fidelity,  # type: ignore[arg-type]
            cost_usd=_cost(obj),
            price_table=_str(obj, "price_table", required=False),
            host=_str(obj, "host", required=False),
            tier=_str(obj, "tier", required=False),
            commit=_str(obj, "commit", required=False),
            supersedes=_supersedes(obj),
        )
    if kind == "output":
        return OutputRecord(
            id=_str(obj, "id"),
            ts=_str(obj, "ts"),
            commit=_str(obj, "commit", required=False),
            type=_str(obj, "type"),
            items=_int(obj, "items"),
            points=_int(obj, "points"),
            files=_int(obj, "files", default=0),
            insertions=_int(obj, "insertions", default=0),
            deletions=_int(obj, "deletions", default=0),
            words=_int(obj, "words", default=0),
            rule=_str(obj, "rule", required=False),
            author=_str(obj, "author", required=False),
            branch=_str(obj, "branch", required=False),
            supersedes=_supersedes(obj),
        )
    raise RecordError("kind", f"unknown record kind {kind!r}")


def parse_record(line: str) -> Record:
    """Parse one note line; raise RecordError naming the key and the reason."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordError("", f"not JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # e.g. a lone surrogate or an out-of-range number
        raise RecordError("", f"not JSON ({exc})") from None
    return record_from_json(obj)


def parse_note(text: str, *, where: str = "", into: ParsedNote | None = None) -> ParsedNote:
    """Parse every line of a note body, skipping and counting the bad ones."""
    parsed = into if into is not None else ParsedNote()
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            parsed.records.append(parse_record(line))
        except RecordError as exc:
            parsed.skipped += 1
            if len(parsed.errors) < 50:
                label = f"{where}:{lineno}" if where else f"line {lineno}"
                parsed.errors.append(f"{label}: {exc}")
    return parsed


def merge_note_lines(*bodies: Iterable[str] | str) -> str:
    """The sorted, unique, newline-terminated union of note lines (git's cat_sort_uniq)."""
    lines: set[str] = set()
    for body in bodies:
        chunks = body.split("\n") if isinstance(body, str) else body
        lines.update(line.strip() for line in chunks if line.strip())
    return "".join(f"{line}\n" for line in sorted(lines))


def dedupe(records: Iterable[Record]) -> tuple[list[Record], int]:
    """Drop repeated ids and every record superseded by a record in scope.

    Returns the surviving records (first occurrence order) and how many duplicates were dropped.
    """
    seen: dict[str, Record] = {}
    duplicates = 0
    for record in records:
        if record.id in seen:
            duplicates += 1
            continue
        seen[record.id] = record
    superseded = {old for record in seen.values() for old in record.supersedes}
    return [r for r in seen.values() if r.id not in superseded], duplicates
