"""Text from notes, commits and branches made safe to show, shared by every output.

A note is written by whoever can push to the notes ref, so its strings are untrusted: markdown
and HTML escape them where they are rendered (``reporter.render.md``, the dashboard's JSON), and
a terminal gets them through ``plain``.
"""

from __future__ import annotations

# The bidirectional controls (embeddings, overrides, isolates, marks; Unicode's Bidi_Control
# property): in a commit subject or a model name they make what a reader sees differ from the
# text ("Trojan Source").
BIDI_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))

# C0 and C1 controls start the escape sequences that retitle, clear or recolour a terminal
_TERMINAL = {c: "?" for c in (*range(32), 127, *range(0x80, 0xA0), *BIDI_CONTROLS)}


# A name, subject or title longer than this is cut (with an ellipsis) where it is shown: one
# 100,000-character model name in a note padded every row of a table to its width and made a PR
# comment larger than GitHub takes. Machine formats (JSON, CSV) keep the whole text.
SHOWN_LIMIT = 200


def clip(text: str, limit: int = SHOWN_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, the last an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(value: object) -> str:
    """Text safe for a terminal, on one line: control characters (escape sequences, line
    breaks) and bidirectional controls become ``?``."""
    return str(value).translate(_TERMINAL)


def plain_name(value: object) -> str:
    """A name or subject for a terminal: ``plain`` and cut to ``SHOWN_LIMIT`` characters."""
    return plain(clip(str(value)))
