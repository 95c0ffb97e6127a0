"""What a commit shipped: its output types, items and points, from its diff and message.

The rules come from the config (``scoring.rules``, in order; DESIGN.md "Scoring"):

* A rule with ``paths`` claims every changed file that matches one of its globs and that no
  earlier rule claimed; counted per matching file (``count: file``) or once (``count: commit``).
  Deleted files never match.
* A rule with ``conventional`` types matches the Conventional Commit type of the subject
  (``feat:``, ``fix(scope)!:``) and covers the files no path rule claimed. It applies when such
  files are left, or when no path rule matched at all (an empty or deletion-only commit), so a
  ``docs: new post`` that only adds ``posts/x.md`` ships one post, not a post and a docs item.
* Otherwise, when the unclaimed files are all test files, or all documentation, the commit ships
  one ``test`` or ``docs`` item (``fallback:test`` / ``fallback:docs``).
* A commit that matched nothing ships one ``other`` item.
* A commit made to be folded into an earlier one (``git commit --fixup/--squash``: its subject
  starts ``fixup! ``, ``squash! `` or ``amend! ``) is classified by the rest of its subject and
  its files, but ships 0 items and 0 points: ``rebase --autosquash`` unions its note with the
  earlier commit's, whose items already count.

Each type gets one ``Shipped`` entry with its files, insertions, deletions and the words added to
prose files among them. Deleted files' line counts go to the conventional/fallback entry, or to
the first entry when there is none, so the entries add up to the commit's totals.

Globs are matched on ``/``-separated repository paths: ``*``, ``?`` and ``[...]`` match within
one path segment, ``**`` matches any number of segments (zero included); a pattern without ``/``
matches the file's name in any directory. Only the standard library is imported: this runs in
the commit hook.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from tokennotes.config import Rule, ScoringConfig
from tokennotes.globs import match_any
from tokennotes.record import NamedTuple

# git's prefixes for a commit to fold into an earlier one (commit --fixup, --squash)
_AUTOSQUASH = ("fixup! ", "squash! ", "amend! ")
# `type(scope)!: subject`; the type is a word, the scope anything but parentheses.
_CONVENTIONAL = re.compile(r"^\s*([A-Za-z][\w-]*)(?:\([^()\r\n]*\))?(!)?:\s")


class Change(NamedTuple):
    """One file changed by a commit: status letter (A, M, D, T, ...) and line counts.

    ``words`` is the number of words on the lines the commit added to the file (filled only for
    prose files); binary files count 0 lines.
    """

    path: str
    status: str
    insertions: int = 0
    deletions: int = 0
    words: int = 0

    @property
    def deleted(self) -> bool:
        return self.status == "D"


class Shipped(NamedTuple):
    """One output type a commit shipped: items, points and the diff figures behind it."""

    type: str
    items: int
    points: int
    rule: str
    files: int = 0
    insertions: int = 0
    deletions: int = 0
    words: int = 0


# -- messages -------------------------------------------------------------------------------


def conventional_type(message: str) -> str:
    """The Conventional Commit type of a message's subject line, lower-cased, or ""."""
    subject = message.lstrip().split("\n", 1)[0]
    found = _CONVENTIONAL.match(subject)
    return found.group(1).lower() if found else ""


def count_words(text: str) -> int:
    """Words (whitespace-separated runs) in ``text``."""
    return len(text.split())


def is_prose(path: str, scoring: ScoringConfig) -> bool:
    return match_any(path, scoring.prose_globs)


# -- classification -------------------------------------------------------------------------


def _rule_name(rule: Rule) -> str:
    if rule.paths:
        return f"path:{rule.type}"
    return f"conventional:{'/'.join(rule.conventional) or rule.type}"


class _Tally:
    def __init__(self, type_: str, rule: str) -> None:
        self.type = type_
        self.rule = rule
        self.items = 0
        self.files = 0
        self.insertions = 0
        self.deletions = 0
        self.words = 0

    def add(self, changes: Iterable[Change], items: int) -> None:
        self.items += items
        for change in changes:
            self.files += 1
            self.insertions += change.insertions
            self.deletions += change.deletions
            self.words += change.words

    def shipped(self, points: Mapping[str, int]) -> Shipped:
        return Shipped(
            type=self.type,
            items=self.items,
            points=self.items * points.get(self.type, 0),
            rule=self.rule,
            files=self.files,
            insertions=self.insertions,
            deletions=self.deletions,
            words=self.words,
        )


def classify(message: str, changes: Sequence[Change], scoring: ScoringConfig) -> list[Shipped]:
    """The output types a commit shipped, one entry per type, in rule order (see module doc)."""
    subject = message.lstrip()
    folds = subject.startswith(_AUTOSQUASH)
    while subject.startswith(_AUTOSQUASH):  # "fixup! fixup! feat: x"
        subject = subject.split(" ", 1)[1]
    cc_type = conventional_type(subject)
    live = [c for c in changes if not c.deleted]
    deleted = [c for c in changes if c.deleted]
    claimed: set[str] = set()
    tallies: dict[str, _Tally] = {}
    remainder_tally: _Tally | None = None

    def tally(type_: str, rule: str) -> _Tally:
        if type_ not in tallies:
            tallies[type_] = _Tally(type_, rule)
        return tallies[type_]

    for rule in scoring.rules:
        if rule.conventional and cc_type not in {t.lower() for t in rule.conventional}:
            continue
        unclaimed = [c for c in live if c.path not in claimed]
        if rule.paths:
            hits = [c for c in unclaimed if match_any(c.path, rule.paths)]
            if not hits:
                continue
            items = len(hits) if rule.count == "file" else 1
            tally(rule.type, _rule_name(rule)).add(hits, items)
            claimed.update(c.path for c in hits)
            continue
        # a message-only rule covers what the path rules left
        if not unclaimed and tallies:
            continue
        items = len(unclaimed) if rule.count == "file" and unclaimed else 1
        remainder_tally = tally(rule.type, _rule_name(rule))
        remainder_tally.add(unclaimed, items)
        claimed.update(c.path for c in unclaimed)

    rest = [c for c in live if c.path not in claimed]
    if rest:
        if all(match_any(c.path, scoring.test_globs) for c in rest):
            remainder_tally = tally("test", "fallback:test")
            remainder_tally.add(rest, 1)
        elif all(match_any(c.path, scoring.docs_globs) for c in rest):
            remainder_tally = tally("docs", "fallback:docs")
            remainder_tally.add(rest, 1)
    if not tallies:
        remainder_tally = tally("other", "other")
        remainder_tally.add(rest, 1)
    elif rest and remainder_tally is None:
        # files no rule claimed, next to files that did: their lines still count somewhere
        remainder_tally = next(iter(tallies.values()))
        for change in rest:
            remainder_tally.files += 1
            remainder_tally.insertions += change.insertions
            remainder_tally.deletions += change.deletions
            remainder_tally.words += change.words
    if deleted:
        target = remainder_tally or next(iter(tallies.values()))
        target.insertions += sum(c.insertions for c in deleted)
        target.deletions += sum(c.deletions for c in deleted)
    shipped = [t.shipped(scoring.points) for t in tallies.values()]
    if folds:
        shipped = [s._replace(items=0, points=0, rule=f"autosquash:{s.rule}") for s in shipped]
    return shipped


# -- reading a commit's diff ----------------------------------------------------------------


def parse_raw_numstat(data: bytes) -> list[Change]:
    """Parse ``git diff-tree -r -z --raw --numstat`` output (no rename detection).

    Raw entries look like ``:100644 100644 <sha> <sha> M\\0path\\0`` and numstat entries like
    ``12\\t3\\tpath\\0`` (``-\\t-\\t`` for binary files).
    """
    fields = data.split(b"\0")
    status: dict[str, str] = {}
    counts: dict[str, tuple[int, int]] = {}
    order: list[str] = []
    i = 0
    while i < len(fields):
        field = fields[i]
        if field.startswith(b":"):
            letter = field.rsplit(b" ", 1)[-1].decode("ascii", "replace")[:1]
            path = fields[i + 1].decode("utf-8", "surrogateescape") if i + 1 < len(fields) else ""
            if letter in ("R", "C"):  # only with rename detection on; take the new path
                path = fields[i + 2].decode("utf-8", "surrogateescape")
                i += 1
            if path not in status:
                order.append(path)
            status[path] = letter
            i += 2
            continue
        if field.count(b"\t") >= 2:
            ins, dels, path_bytes = field.split(b"\t", 2)
            path = path_bytes.decode("utf-8", "surrogateescape")
            counts[path] = (_int(ins), _int(dels))
        i += 1
    return [
        Change(
            path=p,
            status=status[p],
            insertions=counts.get(p, (0, 0))[0],
            deletions=counts.get(p, (0, 0))[1],
        )
        for p in order
    ]


def _int(raw: bytes) -> int:
    return int(raw) if raw.isdigit() else 0


def added_words(patch: str) -> dict[str, int]:
    """Words on the added lines of a unified diff, per file (new path)."""
    words: dict[str, int] = {}
    current = ""
    in_hunk = False
    for line in patch.split("\n"):
        if line.startswith("diff --git "):
            in_hunk = False
            current = ""
            continue
        if not in_hunk:
            if line.startswith("+++ "):
                target = line[4:].rstrip("\t")  # git adds a tab after names with spaces
                current = target[2:] if target.startswith("b/") else target
                if current.startswith('"'):
                    current = _unquote(current)
            elif line.startswith("@@"):
                in_hunk = True
            continue
        if line.startswith("@@"):
            continue
        if line.startswith("+") and current:
            words[current] = words.get(current, 0) + count_words(line[1:])
    return words


def _unquote(quoted: str) -> str:
    """Undo git's C-style quoting of a path (``"b/caf\\303\\251.md"``)."""
    body = quoted.strip('"')
    raw = bytearray()
    i = 0
    escapes = {"n": 10, "t": 9, '"': 34, "\\": 92, "a": 7, "b": 8, "f": 12, "r": 13, "v": 11}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                raw.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            raw.append(escapes.get(nxt, ord(nxt)))
            i += 2
            continue
        raw.extend(ch.encode("utf-8"))
        i += 1
    text = raw.decode("utf-8", "surrogateescape")
    return text[2:] if text.startswith("b/") else text
