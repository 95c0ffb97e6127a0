"""The note record schema v1: the one contract between the writers (hooks) and the readers.

A note is JSON Lines: one canonical JSON object per line (keys sorted, no spaces), the note's
lines sorted and unique, newline-terminated. Two kinds of record exist, ``usage`` and ``output``.
Readers skip blank lines, count and skip lines that are not JSON or not a known ``v``, and ignore
unknown fields: a bad line never stops a report.

The commit hook imports this module, and every millisecond of its start counts, so this module
also holds the two cheap ways the hook path defines value classes:

* ``Frozen``: the record classes are written out rather than made by ``@dataclass``; they behave
  as the frozen dataclasses they were (same constructors, ``==``, ``hash``, ``repr``,
  ``FrozenInstanceError`` on assignment) without generating them (~0.6 ms a class) or importing
  ``dataclasses`` (~6 ms).
* ``NamedTuple``: ``typing.NamedTuple`` for the type checker; at run time a tuple class with
  what ``collections.namedtuple`` gives (fields, defaults, ``_make``, ``_replace``,
  ``_asdict``, its ``repr``, pickling), built without ``typing``'s evaluation of each annotation
  (with ``from __future__ import annotations`` they are strings, compiled one by one), without
  compiling a ``__new__`` per class as ``namedtuple`` does (together ~0.1-0.3 ms a class), and
  without importing ``typing`` (~2 ms), which no module of the hook path imports at run time
  (hence their ``TYPE_CHECKING = False``).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from operator import itemgetter

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, ClassVar, Literal
    from typing import NamedTuple as NamedTuple

SCHEMA_VERSION = 1
# No record counts (or costs) this much: a number at or past it makes the line a bad one, and
# keeps a report's sums of many records within the 28 digits of Decimal arithmetic.
COUNT_LIMIT = 10**15
# A cost has at most this many decimal places: "1e-99999999999" is a valid decimal, but written
# out in plain digits (as reports and notes keep costs) it would take 10^11 characters.
COST_PLACES = 40
FIDELITIES = ("exact", "estimated", "manual")
TOKEN_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")


class Frozen:
    """Base of immutable value classes: field-wise ``==`` and ``hash``, a dataclass-style
    ``repr``, and no assignment after ``__init__`` (which fills ``__dict__`` directly).

    ``FIELDS`` names the fields in order; subclasses write their own ``__init__``.
    """

    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        values = self.__dict__
        return tuple([values[name] for name in self.FIELDS])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={self.__dict__[name]!r}" for name in self.FIELDS)
        return f"{type(self).__qualname__}({values})"

    def __setattr__(self, name: str, value: object) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")


# attributes a NamedTuple class body may not set, and those not copied from it (as in typing)
_PROHIBITED = frozenset(
    {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make"}
    | {"_replace", "_asdict", "_source"}
)
_NOT_COPIED = frozenset({"__module__", "__name__", "__annotations__"})


def _property(index: int, doc: str) -> Any:
    return property(itemgetter(index), doc=doc)


# the field accessor collections.namedtuple uses (a C descriptor, in CPython)
_tuplegetter: Callable[[int, str], Any] = getattr(collections, "_tuplegetter", _property)


class _Fields(tuple):  # type: ignore[type-arg]
    """What ``collections.namedtuple`` generates, written once: the fields of a subclass are
    ``_fields`` (and ``_field_defaults``), its values the tuple's items."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _field_defaults: ClassVar[dict[str, Any]] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != len(cls._fields):
            args = cls._arguments(args, kwargs)
        return tuple.__new__(cls, args)

    @classmethod
    def _arguments(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        fields, defaults = cls._fields, cls._field_defaults
        where = f"{cls.__name__}.__new__()"
        if len(args) > len(fields):
            raise TypeError(
                f"{where} takes {len(fields) + 1} positional arguments "
                f"but {len(args) + 1} were given"
            )
        values = list(args)
        for name in fields[len(args) :]:
            if name in kwargs:
                values.append(kwargs.pop(name))
            elif name in defaults:
                values.append(defaults[name])
            else:
                raise TypeError(f"{where} missing required argument: {name!r}")
        for name in kwargs:
            if name in fields:
                raise TypeError(f"{where} got multiple values for argument {name!r}")
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
        return tuple(values)

    @classmethod
    def _make(cls, iterable: Any) -> Any:
        result = tuple.__new__(cls, iterable)
        if len(result) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
        return result

    def _replace(self, /, **kwargs: Any) -> Any:
        result = self._make(map(kwargs.pop, self._fields, self))
        if kwargs:
            raise ValueError(f"Got unexpected field names: {list(kwargs)!r}")
        return result

    __replace__ = _replace

    def __repr__(self) -> str:
        values = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True)
        )
        return f"{self.__class__.__name__}({values})"

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)


class _NamedTupleMeta(type):
    """Turns ``class X(NamedTuple): ...`` into a tuple class with the body's fields, defaults,
    methods and (unevaluated) annotations, as ``typing.NamedTupleMeta`` does with
    ``collections.namedtuple`` but without compiling code for each class (~80 µs a class)."""

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]
    ) -> Any:  # a tuple class, not an instance of this metaclass
        annotations: dict[str, Any] = namespace.get("__annotations__", {})
        fields = tuple(annotations)
        defaults = {field: namespace[field] for field in fields if field in namespace}
        if defaults and any(field not in namespace for field in fields[-len(defaults) :]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        body: dict[str, Any] = {
            "__slots__": (),
            "__module__": namespace["__module__"],
            "__doc__": f"{name}({', '.join(fields)})",
            "__annotations__": dict(annotations),
            "__match_args__": fields,
            "_fields": fields,
            "_field_defaults": defaults,
        }
        for index, field in enumerate(fields):
            body[field] = _tuplegetter(index, f"Alias for field number {index}")
        for key, value in namespace.items():
            if key in _PROHIBITED:
                raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
            if key not in _NOT_COPIED and key not in fields:
                body[key] = value
        return type(name, (_Fields,), body)


if not TYPE_CHECKING:
    NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})


class RecordError(ValueError):
    """A line that is not a valid record; the message names the key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


class Tokens(Frozen):
    """Token buckets that never overlap; ``reasoning`` and ``cache_write_1h`` are subsets.

    ``input`` is uncached input, ``output`` includes reasoning, ``cache_write`` is all cache
    creation of which ``cache_write_1h`` was written with Anthropic's one-hour TTL.
    """

    FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning", "cache_write_1h")
    __match_args__ = ("input", "output", "cache_read", "cache_write", "reasoning", "cache_write_1h")

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    cache_write_1h: int = 0

    def __init__(
        self,
        input: int = 0,
        output: int = 0,
        cache_read: int = 0,
        cache_write: int = 0,
        reasoning: int = 0,
        cache_write_1h: int = 0,
    ) -> None:
        values = self.__dict__
        values["input"] = input
        values["output"] = output
        values["cache_read"] = cache_read
        values["cache_write"] = cache_write
        values["reasoning"] = reasoning
        values["cache_write_1h"] = cache_write_1h

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
            if value >= COUNT_LIMIT:
                raise RecordError(f"{key}.{name}", "must be below 10**15")
            values[name] = value
        return cls(**values)


class UsageRecord(Frozen):
    """Tokens spent by one agent on one model in one session, attributed to a commit."""

    FIELDS = (
        "id", "ts", "agent", "model", "session", "first", "last", "messages", "tokens",
        "fidelity", "cost_usd", "price_table", "host", "tier", "commit", "supersedes", "kind",
    )  # fmt: skip
    __match_args__ = ()

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

    def __init__(
        self,
        *,
        id: str,
        ts: str,
        agent: str,
        model: str,
        session: str,
        first: str,
        last: str,
        messages: int,
        tokens: Tokens,
        fidelity: Literal["exact", "estimated", "manual"] = "exact",
        cost_usd: Decimal | None = None,
        price_table: str = "",
        host: str = "",
        tier: str = "",
        commit: str = "",
        supersedes: tuple[str, ...] = (),
        kind: Literal["usage"] = "usage",
    ) -> None:
        self.__dict__.update(
            id=id, ts=ts, agent=agent, model=model, session=session, first=first, last=last,
            messages=messages, tokens=tokens, fidelity=fidelity, cost_usd=cost_usd,
            price_table=price_table, host=host, tier=tier, commit=commit,
            supersedes=supersedes, kind=kind,
        )  # fmt: skip

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


class OutputRecord(Frozen):
    """What a commit shipped: one output type, its item count and points."""

    FIELDS = (
        "id", "ts", "commit", "type", "items", "points", "files", "insertions", "deletions",
        "words", "rule", "author", "branch", "supersedes", "kind",
    )  # fmt: skip
    __match_args__ = ()

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

    def __init__(
        self,
        *,
        id: str,
        ts: str,
        commit: str,
        type: str,
        items: int,
        points: int,
        files: int = 0,
        insertions: int = 0,
        deletions: int = 0,
        words: int = 0,
        rule: str = "",
        author: str = "",
        branch: str = "",
        supersedes: tuple[str, ...] = (),
        kind: Literal["output"] = "output",
    ) -> None:
        self.__dict__.update(
            id=id, ts=ts, commit=commit, type=type, items=items, points=points, files=files,
            insertions=insertions, deletions=deletions, words=words, rule=rule, author=author,
            branch=branch, supersedes=supersedes, kind=kind,
        )  # fmt: skip

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


class ParsedNote:
    """The records of one or more notes, with what had to be skipped and why.

    Mutable, compared field-wise and unhashable, as the ``@dataclass`` it was.
    """

    __match_args__ = ("records", "skipped", "errors")

    def __init__(
        self,
        records: list[Record] | None = None,
        skipped: int = 0,
        errors: list[str] | None = None,
    ) -> None:
        self.records: list[Record] = [] if records is None else records
        self.skipped = skipped
        self.errors: list[str] = [] if errors is None else errors

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, ParsedNote)
        return (self.records, self.skipped, self.errors) == (
            other.records,
            other.skipped,
            other.errors,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(records={self.records!r}, skipped={self.skipped!r}, "
            f"errors={self.errors!r})"
        )


def dump_record(record: Record) -> str:
    """The canonical one-line JSON of a record (keys sorted, no spaces, no newline)."""
    return json.dumps(record.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_id(*parts: str) -> str:
    """A deterministic record id: the first 32 hex digits of the sha256 of the parts."""
    import hashlib  # here: readers of notes never need it

    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8"))
    return digest.hexdigest()[:32]


def short_hash(text: str, length: int) -> str:
    """A stable pseudonym (sessions: 16 hex, hosts: 8 hex) so no raw names reach a note."""
    import hashlib

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
    if value >= COUNT_LIMIT:
        raise RecordError(key, "must be below 10**15")
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
    if cost >= COUNT_LIMIT:
        raise RecordError("cost_usd", "must be below 10**15")
    if cost.as_tuple().exponent < -COST_PLACES:  # type: ignore[operator]  # finite: an int
        raise RecordError("cost_usd", f"more than {COST_PLACES} decimal places")
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
            type=_output_type(obj),
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


def _output_type(obj: Mapping[str, Any]) -> str:
    """An output record's type: names in parentheses are the reports' own rows ("(no
    output)", "(not landed)"), which a note must not add to."""
    value = _str(obj, "type")
    if value.startswith("("):
        raise RecordError("type", f"{value!r} is reserved: the reports' own rows are named so")
    return value


def parse_record(line: str) -> Record:
    """Parse one note line; raise RecordError naming the key and the reason."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordError("", f"not JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # e.g. a lone surrogate or an out-of-range number
        raise RecordError("", f"not JSON ({exc})") from None
    except RecursionError:  # a hostile line: "[[[[…" nested deeper than Python recurses
        raise RecordError("", "not JSON (nested too deeply)") from None
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
