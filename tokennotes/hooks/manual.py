"""`tokennotes log`: queue a manual or estimated usage for the next commit.

For tools that keep no local logs (a chat window, Cursor), a person says what was spent:

* manual: ``tokennotes log --model gpt-5 --input 12000 --output 3000 [--agent chatgpt]``
* estimated: ``tokennotes log --model gpt-5 --estimate-text chat.txt`` counts the file's text
  as input tokens, and ``--estimate-output-text answer.txt`` as output tokens, by the rule
  ``tokens = ceil(characters / 4)`` (``CHARS_PER_TOKEN``; characters are Unicode code points of
  the UTF-8 text, the usual rule of thumb for English prose and code with GPT and Claude
  tokenizers; expect ±25%). Explicit ``--input``/``--output`` add to an estimate.

The entry goes to a pending ledger, ``<common git dir>/tokennotes/pending.jsonl`` (shared by all
worktrees, never in the work tree), and the next ``tokennotes record`` (the post-commit hook)
turns it into a usage record of fidelity ``manual`` or ``estimated`` on that commit. An entry's
id is fixed when it is logged, and it leaves the ledger only after the note was written, so a
retry never counts it twice. ``--list`` shows the queue, ``--clear`` empties it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Iterable
from decimal import Decimal

from tokennotes.errors import TokennotesError
from tokennotes.hooks.attribute import (
    LEDGER_FILE,
    STATE_DIR,
    hook_lock,
    iso_from_ns,
    repo_dirs,
)
from tokennotes.record import (
    COUNT_LIMIT,
    NamedTuple,
    RecordError,
    Tokens,
    UsageRecord,
    make_id,
    short_hash,
)

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Literal

    StrPath = str | os.PathLike[str]

HELP = "queue a manual or estimated usage (a chat window, Cursor) for the next commit"
LEDGER = LEDGER_FILE
CHARS_PER_TOKEN = 4


class PendingEntry(NamedTuple):
    """One queued usage: what a person typed in or what a text's length suggests."""

    id: str
    ts: str
    agent: str
    model: str
    tokens: Tokens
    fidelity: Literal["manual", "estimated"]
    messages: int = 0
    session: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts,
            "agent": self.agent,
            "model": self.model,
            "tokens": self.tokens.to_json(),
            "fidelity": self.fidelity,
            "messages": self.messages,
            "session": self.session,
        }

    @classmethod
    def from_json(cls, obj: object) -> PendingEntry:
        if not isinstance(obj, dict):
            raise RecordError("", "a pending entry must be a JSON object")
        fidelity = obj.get("fidelity")
        if fidelity not in ("manual", "estimated"):
            raise RecordError("fidelity", "must be manual or estimated")
        values = {k: obj.get(k) for k in ("id", "ts", "agent", "model", "session")}
        for key in ("id", "ts", "agent", "model"):
            if not isinstance(values[key], str) or not values[key]:
                raise RecordError(key, "must be a non-empty string")
        messages = obj.get("messages", 0)
        if isinstance(messages, bool) or not isinstance(messages, int) or messages < 0:
            raise RecordError("messages", "must be a non-negative integer")
        return cls(
            id=str(values["id"]),
            ts=str(values["ts"]),
            agent=str(values["agent"]),
            model=str(values["model"]),
            tokens=Tokens.from_json(obj.get("tokens")),
            fidelity=fidelity,
            messages=messages,
            session=str(values["session"] or ""),
        )


def ledger_path(common_dir: StrPath) -> Path:
    from pathlib import Path  # the commit hook uses the string (``_ledger_file``)

    return Path(_ledger_file(common_dir))


def _ledger_file(common_dir: StrPath) -> str:
    return os.path.join(os.fspath(common_dir), STATE_DIR, LEDGER)


def estimate_tokens(text: str) -> int:
    """Tokens a text is estimated to be: ``ceil(characters / CHARS_PER_TOKEN)``."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def read_pending(common_dir: StrPath) -> tuple[list[PendingEntry], list[str]]:
    """The queued entries (first logged first) and the problems of lines that were skipped."""
    path = _ledger_file(common_dir)
    try:
        text = _read_file(path)
    except FileNotFoundError:
        return [], []
    entries: list[PendingEntry] = []
    problems: list[str] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = PendingEntry.from_json(json.loads(line))
        except (ValueError, RecordError) as exc:
            problems.append(f"{path}:{lineno}: {exc}")
            continue
        if entry.id not in seen:
            seen.add(entry.id)
            entries.append(entry)
    return entries, problems


def _read_file(path: str) -> str:
    """``Path(path).read_text(encoding="utf-8", errors="replace")``."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def append_pending(common_dir: StrPath, entry: PendingEntry) -> Path:
    """Add an entry to the ledger (caller holds the hook lock)."""
    path = ledger_path(common_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
    return path


def consume_pending(common_dir: StrPath, ids: Iterable[str]) -> None:
    """Drop the entries ``ids`` from the ledger, keeping every other line as it was."""
    drop = set(ids)
    if not drop:
        return
    path = _ledger_file(common_dir)
    try:
        lines = _read_file(path).splitlines()
    except FileNotFoundError:
        return
    keep: list[str] = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            keep.append(line)
            continue
        if not (isinstance(obj, dict) and obj.get("id") in drop):
            keep.append(line)
    if keep:
        tmp = os.path.join(os.path.dirname(path), f"{LEDGER}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in keep))
        os.replace(tmp, path)
    else:
        _unlink(path)


def _unlink(path: str) -> None:
    """``Path(path).unlink(missing_ok=True)``."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def pending_record(
    entry: PendingEntry,
    *,
    commit: str,
    cost_usd: Decimal | None,
    price_table: str,
    host: str,
) -> UsageRecord:
    """The usage record a queued entry becomes on ``commit`` (its id is fixed by the entry)."""
    return UsageRecord(
        id=make_id("pending", entry.id),
        ts=entry.ts,
        agent=entry.agent,
        model=entry.model,
        session=entry.session or short_hash(entry.id, 16),
        first=entry.ts,
        last=entry.ts,
        messages=entry.messages,
        tokens=entry.tokens,
        fidelity=entry.fidelity,
        cost_usd=cost_usd,
        price_table=price_table,
        host=host,
        commit=commit,
    )


# -- the command ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model id as the provider names it (e.g. gpt-5)")
    parser.add_argument(
        "--agent", default="manual", help="the tool used (chatgpt, cursor, ...; default manual)"
    )
    parser.add_argument("--input", type=int, default=0, metavar="N", help="uncached input tokens")
    parser.add_argument("--output", type=int, default=0, metavar="N", help="output tokens")
    parser.add_argument("--cache-read", type=int, default=0, metavar="N", help="cache-read tokens")
    parser.add_argument(
        "--cache-write", type=int, default=0, metavar="N", help="cache-write tokens"
    )
    parser.add_argument(
        "--messages", type=int, default=0, metavar="N", help="model responses (default 0)"
    )
    parser.add_argument(
        "--estimate-text",
        metavar="FILE",
        help=f"estimate input tokens from this text ('-': stdin), {CHARS_PER_TOKEN} chars/token",
    )
    parser.add_argument(
        "--estimate-output-text",
        metavar="FILE",
        help="estimate output tokens from this text, by the same rule",
    )
    parser.add_argument("--list", action="store_true", help="show the queued entries")
    parser.add_argument("--clear", action="store_true", help="drop every queued entry")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-C", "--repo", default=".", help="repository (default: .)")


def _read_text(name: str) -> str:
    try:
        if name == "-":
            return sys.stdin.read()
        return _read_file(name)
    except OSError as exc:
        raise TokennotesError(f"{name}: cannot read ({exc.strerror or exc})") from exc


def build_entry(args: argparse.Namespace, *, now_ns: int | None = None) -> PendingEntry:
    """The entry the command's arguments describe; raises ``TokennotesError`` on bad input."""
    counts = {
        "input": args.input,
        "output": args.output,
        "cache_read": args.cache_read,
        "cache_write": args.cache_write,
        "messages": args.messages,
    }
    for name, value in counts.items():
        if value < 0:
            raise TokennotesError(f"--{name.replace('_', '-')} must not be negative")
        if value >= COUNT_LIMIT:  # every reader would skip the record as a bad line
            raise TokennotesError(f"--{name.replace('_', '-')} must be below 10**15")
    if not (args.model or "").strip():
        raise TokennotesError("--model is required (the model id, e.g. gpt-5)")
    if not args.agent.strip():
        raise TokennotesError("--agent must not be empty")
    estimated = bool(args.estimate_text or args.estimate_output_text)
    inp, out = args.input, args.output
    if args.estimate_text:
        inp += estimate_tokens(_read_text(args.estimate_text))
    if args.estimate_output_text:
        out += estimate_tokens(_read_text(args.estimate_output_text))
    tokens = Tokens(input=inp, output=out, cache_read=args.cache_read, cache_write=args.cache_write)
    if tokens.total == 0:
        raise TokennotesError(
            "nothing to log: give --input/--output (or --estimate-text FILE) with a count above 0"
        )
    import socket
    import uuid

    entry_id = uuid.uuid4().hex
    entry = PendingEntry(
        id=entry_id,
        ts=iso_from_ns(time.time_ns() if now_ns is None else now_ns),
        agent=args.agent.strip(),
        model=args.model.strip(),
        tokens=tokens,
        fidelity="estimated" if estimated else "manual",
        messages=args.messages,
        session=short_hash(f"{socket.gethostname()}\x1f{entry_id}", 16),
    )
    # what the hook will read back: an entry it would skip is refused now, not lost later
    # (an estimate that takes a count past 10**15, say)
    try:
        PendingEntry.from_json(json.loads(json.dumps(entry.to_json())))
    except (RecordError, ValueError) as exc:
        raise TokennotesError(f"cannot log this entry: {exc}") from None
    return entry


def _describe(entry: PendingEntry) -> str:
    t = entry.tokens
    return (
        f"{entry.ts}  {entry.agent}/{entry.model}  {entry.fidelity}  input {t.input:,}  "
        f"output {t.output:,}  cache read {t.cache_read:,}  cache write {t.cache_write:,}"
    )


def run(args: argparse.Namespace) -> int:
    dirs = repo_dirs(args.repo)
    common = dirs.common_dir
    if args.list or args.clear:
        with hook_lock(common):
            entries, problems = read_pending(common)
            if args.clear:
                _unlink(_ledger_file(common))
        if args.json:
            print(json.dumps({"pending": [e.to_json() for e in entries], "cleared": args.clear}))
            return 0
        for problem in problems:
            print(f"tokennotes log: skipped {problem}", file=sys.stderr)
        verb = "dropped" if args.clear else "queued for the next commit"
        print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} {verb}")
        for entry in entries:
            print(f"  {_describe(entry)}")
        return 0
    entry = build_entry(args)
    with hook_lock(common):
        append_pending(common, entry)
    if args.json:
        print(json.dumps(entry.to_json(), sort_keys=True))
    else:
        print(f"queued for the next commit ({entry.fidelity}): {_describe(entry)}")
    return 0
