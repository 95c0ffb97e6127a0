"""The facts a report is made of: compact usage and output records, parsed fast from notes.

``tokennotes.record`` is the one definition of what a valid line is. Reports read tens of
thousands of notes, and building its frozen dataclasses costs about 8 µs a line, so this module
adds a fast path: a line in the canonical form the hooks write is checked and turned straight
into a ``Usage`` or ``Output`` tuple. Anything the fast path does not recognise goes through
``record.record_from_json`` (the authority) and is converted, so both paths accept and reject the
same lines (a test fuzzes that). On top of the schema, a report needs a time: a record whose
``ts`` is not an RFC 3339 time is skipped and counted like any other bad line.

``ts`` is kept in the canonical UTC form ``YYYY-MM-DDTHH:MM:SS[.fff]Z``, so comparing strings
compares times.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from tokennotes.record import (
    COST_PLACES,
    COUNT_LIMIT,
    FIDELITIES,
    SCHEMA_VERSION,
    OutputRecord,
    RecordError,
    UsageRecord,
    record_from_json,
)

# A real UTC time: ASCII digits (``\d`` would take any Unicode digit), months of their length,
# hours to 23, seconds to 59, years 1000-9999. Only 29 February of a common year passes, and
# ``_real`` catches it: a time that is not a date broke every report that met it.
_DATE_OPEN = (  # a date, up to 28 February: the February alternatives are left open
    r"[1-9][0-9]{3}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]"
)
_TIME = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?Z"
_TS = _DATE_OPEN + r"|29))" + _TIME
_CANONICAL_TS = re.compile(_TS + r"\Z")


def _real(ts: str) -> bool:
    """Whether a time in the canonical pattern is a real one (29 February of a leap year)."""
    if ts[5:10] != "02-29":
        return True
    year = int(ts[:4])
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _is_canonical(ts: str) -> bool:
    return _CANONICAL_TS.match(ts) is not None and _real(ts)


# A line exactly as the hooks write it (keys sorted, no spaces, strings without escapes, no
# `supersedes`) is read by one regular expression; anything else goes through json + record.py.
_S = r'"([^"\\\x00-\x1f]*)"'  # a JSON string with no escapes: its text is its value
# a non-negative JSON integer below record.COUNT_LIMIT (15 digits): longer ones take the slow
# path, which refuses them (and what int() would refuse, over 4,300 digits) as bad lines
_N = r"(0|[1-9][0-9]{0,14})"
_S_ = r'"[^"\\\x00-\x1f]*"'  # _S and _N matched but not captured (a kept group costs a string)
_N_ = r"(?:0|[1-9][0-9]{0,14})"
# the line patterns leave out 29 February: such a line takes the slow path, which knows leap
# years (looking for "-02-29T" in every text cost 2 % of a report)
_T = '"(' + _DATE_OPEN + "))" + _TIME + ')"'
_EOL = r"(?:\n|\Z)"  # a line ends at a newline or where the text (or its note) does
_USAGE_LINE = re.compile(
    r'\{"agent":'
    + _S
    + r'(?:,"commit":'
    + _S_
    + r')?,"cost_usd":(?:"([0-9]{1,15}(?:\.[0-9]{1,18})?)"|null)'
    r',"fidelity":"(exact|estimated|manual)","first":'
    + _T
    + r',"host":'
    + _S
    + r',"id":'
    + _S
    + r',"kind":"usage","last":'
    + _T
    + r',"messages":'
    + _N_
    + r',"model":'
    + _S
    + r',"price_table":'
    + _S_
    + r',"session":'
    + _S_
    + r'(?:,"tier":'
    + _S
    + r')?,"tokens":\{"cache_read":'
    + _N
    + r',"cache_write":'
    + _N
    + r'(?:,"cache_write_1h":'
    + _N
    + r')?,"input":'
    + _N
    + r',"output":'
    + _N
    + r',"reasoning":'
    + _N
    + r'\},"ts":'
    + _T
    + r',"v":1\}'
    + _EOL
).match
_OUTPUT_LINE = re.compile(
    r'\{"author":'
    + _S
    + r',"branch":'
    + _S
    + r',"commit":'
    + _S
    + r',"deletions":'
    + _N_
    + r',"files":'
    + _N_
    + r',"id":'
    + _S
    + r',"insertions":'
    + _N_
    + r',"items":'
    + _N
    + r',"kind":"output","points":'
    + _N
    + r',"rule":'
    + _S_
    + r',"ts":'
    + _T
    + r',"type":(?!"\()'  # "(no output)"…: the reports' own rows, refused by record.py
    + _S
    + r',"v":1,"words":'
    + _N
    + r"\}"
    + _EOL
).match
# the C scanner behind json.loads, without its Python wrappers (a third of the cost of a line)
_SCAN: Callable[[str, int], tuple[Any, int]] = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]
_MAX_ERRORS = 50
_tuple = tuple.__new__


class Usage(NamedTuple):
    """Tokens one agent spent on one model in one session (``kind: usage``)."""

    id: str
    ts: str
    agent: str
    model: str
    fidelity: str
    host: str
    tier: str
    first: str
    last: str
    input: int
    output: int
    cache_read: int
    cache_write: int
    reasoning: int
    cache_write_1h: int
    cost_usd: str | None  # the recorded cost as a plain decimal string, None if unpriced then
    supersedes: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write


class Output(NamedTuple):
    """What a commit shipped: one output type with its items and points (``kind: output``)."""

    id: str
    ts: str
    type: str
    items: int
    points: int
    words: int
    author: str
    branch: str
    commit: str
    supersedes: tuple[str, ...]


Fact = Usage | Output


class Parsed(NamedTuple):
    """The facts of some notes, one per id (the first read), ``homes[i]`` the commit
    ``records[i]`` was read from; ``carriers`` lists, by index, the other commits carrying the
    same id; ``copies`` counts, by index, the copies read after the first (``duplicates`` is
    their sum)."""

    records: list[Fact]
    homes: list[str]
    carriers: dict[int, list[str]]
    duplicates: int
    skipped: int
    errors: list[str]
    copies: dict[int, int]

    @property
    def facts(self) -> list[tuple[str, Fact]]:
        """``(commit, fact)`` pairs, one per id (built on demand; prefer ``records``)."""
        return list(zip(self.homes, self.records, strict=True))


def canonical_ts(value: str) -> str | None:
    """``value`` as ``YYYY-MM-DDTHH:MM:SS[.fff]Z`` in UTC, or None when it is not a time.

    A time without an offset is taken as UTC.
    """
    if _is_canonical(value):
        return value
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc)  # past year 9999 or before year 1: overflow
    except (ValueError, OverflowError):
        return None
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        stamp += f".{moment.microsecond:06d}".rstrip("0")
    stamp += "Z"
    return stamp if _is_canonical(stamp) else None  # years before 1000 are no commit times


def _nonneg(value: object) -> bool:
    return type(value) is int and value >= 0


def _supersedes(obj: dict[str, Any]) -> tuple[str, ...] | None:
    """The optional ``supersedes`` list as a tuple; None when it is not a list of strings."""
    if "supersedes" not in obj:
        return ()
    value = obj["supersedes"]
    if type(value) is list and all(type(s) is str for s in value):
        return tuple(value)
    return None


_USAGE_KEYS = 15  # the keys the hooks always write; more means optional or unknown ones
_OUTPUT_KEYS = 15


def _fast_usage(obj: dict[str, Any]) -> Usage | None:
    """The canonical happy path; None sends the object to the authoritative parser."""
    try:
        tokens = obj["tokens"]
        inp, out, read, write, reasoning = (
            tokens["input"],
            tokens["output"],
            tokens["cache_read"],
            tokens["cache_write"],
            tokens["reasoning"],
        )
        id_, ts, agent, model, fidelity = (
            obj["id"],
            obj["ts"],
            obj["agent"],
            obj["model"],
            obj["fidelity"],
        )
        first, last, host, price_table, session, messages, raw_cost = (
            obj["first"],
            obj["last"],
            obj["host"],
            obj["price_table"],
            obj["session"],
            obj["messages"],
            obj["cost_usd"],
        )
    except (KeyError, TypeError):
        return None
    one_hour = 0 if len(tokens) == 5 else tokens.get("cache_write_1h", 0)
    if not (
        type(inp) is int
        and type(out) is int
        and type(read) is int
        and type(write) is int
        and type(reasoning) is int
        and type(one_hour) is int
        and 0 <= (inp | out | read | write | reasoning | one_hour)
        and max(inp, out, read, write, reasoning, one_hour) < COUNT_LIMIT
        and type(id_) is str
        and type(ts) is str
        and type(agent) is str
        and type(model) is str
        and type(fidelity) is str
        and fidelity in FIDELITIES
        and type(first) is str
        and type(last) is str
        and type(host) is str
        and type(price_table) is str
        and type(session) is str
        and type(messages) is int
        and 0 <= messages < COUNT_LIMIT
    ):
        return None
    cost: str | None = None
    if raw_cost is not None:
        if type(raw_cost) is not str:
            return None
        try:
            number = Decimal(raw_cost)
        except InvalidOperation:
            return None
        if (
            not number.is_finite()
            or not 0 <= number < COUNT_LIMIT
            or number.as_tuple().exponent < -COST_PLACES  # type: ignore[operator]
        ):
            return None
        cost = format(number, "f")
    tier = ""
    superseded: tuple[str, ...] = ()
    if len(obj) != _USAGE_KEYS:
        tier_value, commit = obj.get("tier"), obj.get("commit")
        for value in (tier_value, commit):
            if type(value) is not str and value is not None:
                return None
        tier = tier_value or ""
        listed = _supersedes(obj)
        if listed is None:
            return None
        superseded = listed
    return Usage(
        id_,
        ts,
        agent,
        model,
        fidelity,
        host,
        tier,
        first or ts,
        last or ts,
        inp,
        out,
        read,
        write,
        reasoning,
        one_hour,
        cost,
        superseded,
    )


def _fast_output(obj: dict[str, Any]) -> Output | None:
    try:
        id_, ts, type_, items, points, words = (
            obj["id"],
            obj["ts"],
            obj["type"],
            obj["items"],
            obj["points"],
            obj["words"],
        )
        files, insertions, deletions = obj["files"], obj["insertions"], obj["deletions"]
        commit, author, branch, rule = obj["commit"], obj["author"], obj["branch"], obj["rule"]
    except KeyError:
        return None
    if not (
        type(id_) is str
        and type(ts) is str
        and type(type_) is str
        and not type_.startswith("(")  # the reports' own rows: record.py says why
        and type(items) is int
        and type(points) is int
        and type(words) is int
        and type(files) is int
        and type(insertions) is int
        and type(deletions) is int
        and 0 <= (items | points | words | files | insertions | deletions)
        and max(items, points, words, files, insertions, deletions) < COUNT_LIMIT
        and type(commit) is str
        and type(author) is str
        and type(branch) is str
        and type(rule) is str
    ):
        return None
    superseded = () if len(obj) == _OUTPUT_KEYS else _supersedes(obj)
    if superseded is None:
        return None
    return Output(id_, ts, type_, items, points, words, author, branch, commit, superseded)


def fact_from_record(record: UsageRecord | OutputRecord) -> Fact:
    """The compact form of a validated record."""
    if isinstance(record, UsageRecord):
        t = record.tokens
        return Usage(
            record.id,
            record.ts,
            record.agent,
            record.model,
            record.fidelity,
            record.host,
            record.tier,
            record.first,
            record.last,
            t.input,
            t.output,
            t.cache_read,
            t.cache_write,
            t.reasoning,
            t.cache_write_1h,
            None if record.cost_usd is None else format(record.cost_usd, "f"),
            record.supersedes,
        )
    return Output(
        record.id,
        record.ts,
        record.type,
        record.items,
        record.points,
        record.words,
        record.author,
        record.branch,
        record.commit,
        record.supersedes,
    )


def fact_from_json(obj: object) -> Fact:
    """Validate a decoded JSON line into a fact; raise ``RecordError`` naming the key."""
    fact: Fact | None = None
    if type(obj) is dict:
        version = obj.get("v")
        if version == SCHEMA_VERSION and type(version) is int:
            kind = obj.get("kind")
            if kind == "usage":
                fact = _fast_usage(obj)
            elif kind == "output":
                fact = _fast_output(obj)
    if fact is None:
        fact = fact_from_record(record_from_json(obj))
    if not _is_canonical(fact.ts):
        ts = canonical_ts(fact.ts)
        if ts is None:
            raise RecordError("ts", f"not an RFC 3339 time: {fact.ts[:40]!r}")
        fact = fact._replace(ts=ts)
    if type(fact) is Usage and (not _is_canonical(fact.first) or not _is_canonical(fact.last)):
        fact = fact._replace(
            first=canonical_ts(fact.first) or fact.ts, last=canonical_ts(fact.last) or fact.ts
        )
    return fact


def _decode(line: str) -> object:
    try:
        obj, end = _SCAN(line, 0)
    except StopIteration:
        obj, end = json.loads(line), len(line)  # raises the JSONDecodeError that explains it
    if end != len(line):
        return json.loads(line)  # "Extra data"
    return obj


def parse_fact(line: str) -> Fact:
    """Parse one note line (stripped); raise ``RecordError`` naming the key and the reason."""
    if "\n" not in line:
        reader = FactReader()
        reader.add("", line)
        if reader.facts:
            return reader.facts[0]
    return _parse_slow(line)  # raises the reader's error


def _parse_slow(line: str) -> Fact:
    """``parse_fact`` for a line that is not in the canonical form."""
    try:
        obj = _decode(line)
    except json.JSONDecodeError as exc:
        raise RecordError("", f"not JSON ({exc.msg} at column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise RecordError("", f"not JSON ({exc})") from None
    return fact_from_json(obj)


class FactReader:
    """Parse note texts one after the other: keep the first fact of each id, count the copies
    (a record copied onto several commits) and the bad lines."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []
        self.homes: list[str] = []
        self.carriers: dict[int, list[str]] = {}
        self.copies: dict[int, int] = {}
        self.duplicates = 0
        self.skipped = 0
        self.errors: list[str] = []
        self._index: dict[str, int] = {}
        self._names: dict[str, str] = {}  # one string per name (see add_spans)

    def add(self, sha: str, text: str) -> None:
        """Parse the note ``text`` of commit ``sha``."""
        self.add_spans(text, [(sha, 0, len(text))])

    def add_spans(self, text: str, spans: Iterable[tuple[str, int, int]]) -> None:
        """Parse the notes ``text[start:stop]`` of each ``(commit, start, stop)`` of ``spans``,
        in place (``notes.read_all_note_chunks`` reads them so).

        A line in the hooks' exact canonical form is checked and split by one regular
        expression, matched where the line starts and bounded by the note's end; any other line
        goes through ``json`` and ``tokennotes.record``. This is the hot loop of a report, written
        out in one function (a call per line cost 2.5 % of parsing).

        Names (agent, model, host, output type, author, …) are kept once per value: 50k notes
        repeat a few dozen names 690,000 times, and one string per value took the facts from 126
        to 87 MB there and the usage sums ~10 % faster, for ~2 % more parsing.
        """
        index, facts, homes = self._index, self.facts, self.homes
        name = self._names.setdefault
        for sha, pos, stop in spans:
            while pos < stop:
                fact: Fact
                m = _USAGE_LINE(text, pos, stop)  # fails at the third character of other lines
                if m is not None:
                    (agent, cost, fidelity, first, host, id_, last, model, tier, read, write,
                     one_hour, inp, out, reasoning, ts) = m.groups()  # fmt: skip
                    fact = _tuple(  # Usage(...) without the Python-level __new__
                        Usage,
                        (
                            id_,
                            ts,
                            name(agent, agent),
                            name(model, model),
                            name(fidelity, fidelity),
                            name(host, host),
                            name(tier, tier) if tier else "",
                            first,
                            last,
                            int(inp),
                            int(out),
                            int(read),
                            int(write),
                            int(reasoning),
                            int(one_hour) if one_hour else 0,
                            cost,
                            (),
                        ),
                    )
                    pos = m.end()
                elif (m := _OUTPUT_LINE(text, pos, stop)) is not None:
                    author, branch, commit, id_, items, points, ts, type_, words = m.groups()
                    fact = _tuple(
                        Output,
                        (
                            id_,
                            ts,
                            name(type_, type_),
                            int(items),
                            int(points),
                            int(words),
                            name(author, author),
                            name(branch, branch),
                            commit,
                            (),
                        ),
                    )
                    pos = m.end()
                else:  # anything else: json and tokennotes.record decide
                    end = text.find("\n", pos, stop)
                    if end < 0:
                        end = stop
                    line = text[pos:end].strip()
                    pos = end + 1
                    if not line:  # blank lines
                        continue
                    try:
                        fact = _parse_slow(line)
                    except RecordError as exc:
                        self.skipped += 1
                        if len(self.errors) < _MAX_ERRORS:
                            self.errors.append(f"{sha[:12]}: {exc}")
                        continue
                count = len(facts)
                i = index.setdefault(fact.id, count)
                if i == count:
                    facts.append(fact)
                    homes.append(sha)
                    continue
                self.duplicates += 1
                self.copies[i] = self.copies.get(i, 0) + 1
                if sha != homes[i]:
                    others = self.carriers.setdefault(i, [])
                    if sha not in others:
                        others.append(sha)

    def result(self) -> Parsed:
        return Parsed(
            self.facts,
            self.homes,
            self.carriers,
            self.duplicates,
            self.skipped,
            self.errors,
            self.copies,
        )


def parse_notes(notes: Iterable[tuple[str, str]]) -> Parsed:
    """Parse ``(annotated sha, note text)`` pairs."""
    reader = FactReader()
    for sha, text in notes:
        reader.add(sha, text)
    return reader.result()


def collect_facts(pairs: Iterable[tuple[str, Fact]]) -> Parsed:
    """``Parsed`` from facts already built (``(commit, fact)`` pairs), deduplicated by id."""
    reader = FactReader()
    index = reader._index
    for sha, fact in pairs:
        i = index.get(fact.id)
        if i is None:
            index[fact.id] = len(reader.facts)
            reader.facts.append(fact)
            reader.homes.append(sha)
            continue
        reader.duplicates += 1
        reader.copies[i] = reader.copies.get(i, 0) + 1
        if sha != reader.homes[i]:
            others = reader.carriers.setdefault(i, [])
            if sha not in others:
                others.append(sha)
    return reader.result()
