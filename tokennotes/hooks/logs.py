"""The collectors' contract: normalised messages, per-file incremental reading, diagnostics.

Every collector (claude, codex, gemini, opencode) turns an agent's logs into ``Message`` values:
one per counted model response, or a *growth* of one already counted (``count == 0``) when a
streamed response grew after an earlier scan saw it. Summing the messages of successive
incremental scans gives exactly what one full scan gives.

Only the standard library is imported here, and only what every run needs: this is on the
commit hook's path, where each import costs (``dataclasses`` alone pulls in ``inspect``, ``ast``
and ``dis``, ~6 ms), so ``Diagnostics`` is a plain class and ``datetime`` is imported when an
unusual timestamp needs it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

from tokennotes.record import COUNT_LIMIT, NamedTuple

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from typing import Any

AGENTS = ("claude", "codex", "gemini", "opencode")

# json's C scanner: parses one value at an offset and says where it ended
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]


class Message(NamedTuple):
    """One counted model response (or the growth of one), with non-overlapping buckets.

    ``ts`` is UTC ISO-8601 ending in ``Z`` (``YYYY-MM-DDTHH:MM:SS[.fff]Z``); ``ts[:10]`` is its
    UTC day. ``input`` is uncached input; ``output`` includes ``reasoning``; cache writes are
    split by Anthropic's TTL classes. ``prompt`` is the whole request's prompt size
    (input + cache read + cache write) used to pick long-context price tiers; for a growth
    message it is the prompt of the response it belongs to.
    """

    agent: str
    ts: str
    session: str
    cwd: str
    model: str
    input: int
    output: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int
    reasoning: int
    new: int = 1
    key: str = ""
    recorded_cost: str | None = None
    prompt: int = 0

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write


class Diagnostics:
    """What a scan skipped and why: counted, never fatal.

    Behaves as the ``@dataclass`` it was (same constructor, ``repr``, field-wise ``==``,
    unhashable), without importing ``dataclasses``.
    """

    __match_args__ = ("malformed_lines", "files_read", "bytes_read", "errors", "per_file")

    def __init__(
        self,
        malformed_lines: int = 0,
        files_read: int = 0,
        bytes_read: int = 0,
        errors: list[str] | None = None,
        per_file: dict[str, int] | None = None,
    ) -> None:
        self.malformed_lines = malformed_lines
        self.files_read = files_read
        self.bytes_read = bytes_read
        self.errors: list[str] = [] if errors is None else errors
        self.per_file: dict[str, int] = {} if per_file is None else per_file

    def _fields(self) -> tuple[int, int, int, list[str], dict[str, int]]:
        return self.malformed_lines, self.files_read, self.bytes_read, self.errors, self.per_file

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Diagnostics)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(malformed_lines={self.malformed_lines!r}, "
            f"files_read={self.files_read!r}, bytes_read={self.bytes_read!r}, "
            f"errors={self.errors!r}, per_file={self.per_file!r})"
        )

    def malformed(self, path: str, count: int = 1) -> None:
        self.malformed_lines += count
        self.per_file[path] = self.per_file.get(path, 0) + count

    def error(self, where: str, problem: str) -> None:
        if len(self.errors) < 100:
            self.errors.append(f"{where}: {problem}")


class FileState(NamedTuple):
    """What an earlier scan knew of one file; ``offset`` ends the last complete line read."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    offset: int
    carry: dict[str, Any]


class Chunk(NamedTuple):
    """Bytes appended to a file since the last scan, cut at the end of the last complete line.

    ``data`` holds whole lines only (each ending in ``\\n``) plus, when ``tail`` is set, a last
    line without its newline that a collector may count if it parses as complete JSON (then it
    calls ``ScanState.consume_tail``). ``carry`` is the format's carried state from the previous
    scan ({} when the file is read from the start), for the collector to update in place.
    """

    path: str
    data: bytes
    start: int
    tail: bytes
    carry: dict[str, Any]
    fresh: bool


_INF = float("inf")


def is_finite(value: float) -> bool:
    """``math.isfinite(value)`` (an int too large for a float raises OverflowError, as there),
    without importing math (~0.15 ms) for it."""
    number = float(value)
    return -_INF < number < _INF


def count_of(value: Any) -> int:
    """A token counter as logged, as a non-negative int: null, booleans, NaN, infinities and
    anything else that is not a number count 0; floats are truncated; a string of up to 15 ASCII
    digits (seen from gateways) is read.

    A count of 10**15 or more (``record.COUNT_LIMIT``) is a garbled counter and counts 0: a
    record holding it would be a bad line to every reader, and the real counts of its session
    would be lost with it.
    """
    if type(value) is int:
        return value if 0 < value < COUNT_LIMIT else 0
    if isinstance(value, float) and is_finite(value) and 0 < value < COUNT_LIMIT:
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)  # str.isdigit() alone takes "²", which int() refuses, and 5,000 digits
    return 0


def parse_json(raw: bytes) -> Any:
    """The one JSON value that fills all of ``raw`` (surrounding white space allowed), or None.

    Collectors call this on cut-out fragments of a line (a ``usage`` object) as well as on whole
    lines; anything malformed, truncated or too deeply nested gives None, never an exception.
    """
    try:
        text = raw.decode()
        if text[:1].isspace():
            text = text.lstrip()
        value, end = _SCAN(text, 0)
    except (ValueError, StopIteration, RecursionError):
        return None
    if end != len(text) and text[end:].strip():
        return None
    return value


def iter_lines(data: bytes) -> Iterator[bytes]:
    """Lines of a chunk, without ``\\n`` and ``\\r`` ends, skipping blank ones."""
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip():
            yield line


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


# compiled on first use (``re`` caches it): most logs never need it
_ISO_PATTERN = (
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:[.,](\d+))?\s*(Z|z|[+-]\d\d(?::?\d\d)?)?\Z"
)


def utc_timestamp(value: object) -> str | None:
    """An ISO-8601 timestamp as ``YYYY-MM-DDTHH:MM:SS.fffZ`` in UTC, or None when unreadable.

    The common form (already UTC, milliseconds, ``Z``) is returned as it is; other precisions
    are cut or padded to milliseconds, offsets are converted, and a time without an offset is
    taken as UTC. Every collector emits this one form, so timestamps compare as strings.
    """
    if type(value) is not str:
        return None
    if (
        len(value) == 24 and value[23] == "Z" and value[19] == "." and value[10] == "T"
        and value.isascii()  # "²" and other non-ASCII digits take the checked path below
    ):  # fmt: skip
        return value
    match = re.match(_ISO_PATTERN, value.strip())
    if match is None:
        return None
    day, clock, fraction, offset = match.groups()
    millis = (fraction or "").ljust(3, "0")[:3]
    from datetime import datetime, timedelta, timezone  # here: rarely needed

    try:
        moment = datetime.fromisoformat(f"{day}T{clock}.{millis}")
    except ValueError:
        return None
    if offset in (None, "Z", "z"):
        return f"{day}T{clock}.{millis}Z"
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    moment = (moment - sign * shift).replace(tzinfo=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
