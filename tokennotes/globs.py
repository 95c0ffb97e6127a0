"""Path globs of the config (``scoring.rules``, ``pipeline_globs``): one matcher for the hook and
the reporter, so that a file counts the same way in both.

Globs are matched on ``/``-separated repository paths: ``*``, ``?`` and ``[...]`` match within
one path segment, ``**`` matches any number of segments (zero included); a pattern without ``/``
matches the file's name in any directory. Only the standard library is imported: this runs in
the commit hook.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase


@functools.lru_cache(maxsize=512)
def _segments(pattern: str) -> tuple[str, ...]:
    pattern = pattern.strip().lstrip("/")
    if "/" not in pattern:
        return ("**", pattern)
    # collapse runs of `**` (they mean the same as one)
    out: list[str] = []
    for part in pattern.split("/"):
        if part == "**" and out and out[-1] == "**":
            continue
        if part:
            out.append(part)
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _literal(pattern: str) -> tuple[bool, str] | None:
    """How to match a segment pattern without a regex: ``(False, text)`` for a plain name,
    ``(True, text)`` for ``*text``, None when it needs ``fnmatchcase`` (each pattern it meets
    compiles a regex, ~30 µs: most of the default globs' segments need none)."""
    magic = ("*", "?", "[")
    if not any(c in pattern for c in magic):
        return False, pattern
    if pattern[0] == "*" and not any(c in pattern[1:] for c in magic):
        return True, pattern[1:]
    return None


def _match_segment(name: str, pattern: str) -> bool:
    literal = _literal(pattern)
    if literal is None:
        return fnmatchcase(name, pattern)
    suffix, text = literal
    return name.endswith(text) if suffix else name == text


def _match_segments(parts: Sequence[str], pats: Sequence[str]) -> bool:
    if not pats:
        return not parts
    head = pats[0]
    if head == "**":
        rest = pats[1:]
        if not rest:
            return True
        return any(_match_segments(parts[i:], rest) for i in range(len(parts) + 1))
    if not parts or not _match_segment(parts[0], head):
        return False
    return _match_segments(parts[1:], pats[1:])


def match_glob(path: str, pattern: str) -> bool:
    """True when the repository path ``path`` matches ``pattern`` (see the module doc)."""
    return _match_segments(path.split("/"), _segments(pattern))


def match_any(path: str, patterns: Iterable[str]) -> bool:
    return any(match_glob(path, pattern) for pattern in patterns)
