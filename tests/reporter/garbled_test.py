"""Garbled notes never fail a report: random edits of valid lines, every scope and format."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from tests.reporter.facts_test import O1, U1
from tokennotes.config import default_config
from tokennotes.pricing import load_price_table
from tokennotes.record import dump_record, make_id
from tokennotes.reporter.aggregate import Scope
from tokennotes.reporter.facts import parse_notes
from tokennotes.reporter.formats import render_csv, render_json, render_table
from tokennotes.reporter.render import render_markdown
from tokennotes.reporter.report import build_report, pricer_for, utc_stamp

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
# what breaks numbers, times and strings: digits of other scripts, escapes, NUL, a newline
PIECES = '0123456789-:.TZ"{}[],\\ e+\u00e9\u00b2\u0663\x00\nabcXYZ'
SPLICES = ("9" * 16, "9" * 400, "null", "-1", "1e5", "0.5", '"x"', "[]", "{}", "true")


def _garble(line: str, rng: random.Random) -> str:
    chars = list(line)
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        at = rng.randrange(len(chars))
        roll = rng.random()
        if roll < 0.5:
            chars[at] = rng.choice(PIECES)
        elif roll < 0.7:
            del chars[at]
        elif roll < 0.85:
            chars.insert(at, rng.choice(PIECES))
        else:
            chars[at:at] = list(rng.choice(SPLICES))
    return "".join(chars)


@pytest.mark.parametrize("seed", range(4))
def test_garbled_notes_are_skipped_and_counted(seed: int) -> None:
    rng = random.Random(seed)
    config = default_config()
    pricer = pricer_for(load_price_table(config.pricing))
    base = []
    for n in range(12):
        stamp = (NOW - timedelta(days=rng.randrange(40))).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [
            dump_record(U1).replace(U1.ts, stamp).replace(U1.id, make_id("u", str(n))),
            dump_record(O1).replace(O1.ts, stamp).replace(O1.id, make_id("o", str(n))),
        ]
        base.append((f"{n:040x}", lines))
    landed = frozenset(sha for sha, _ in base[:8])
    week = Scope(kind="window", since=utc_stamp(NOW - timedelta(days=7)), until=utc_stamp(NOW))
    skipped = 0
    for _ in range(40):
        notes = []
        for sha, lines in base:
            text = [_garble(line, rng) if rng.random() < 0.3 else line for line in lines]
            notes.append((sha, "\n".join(text) + "\n"))
        parsed = parse_notes(notes)
        skipped += parsed.skipped
        for scope in (Scope(kind="all"), week, Scope(kind="range", spec="a..b")):
            history = parsed if scope.kind == "range" else None
            report = build_report(
                parsed=parsed, scope=scope, config=config, pricer=pricer, price_table="t",
                now=NOW, landed=landed, history=history,
            )  # fmt: skip
            for kind in ("comment", "summary", "weekly"):
                render_markdown(report, kind)  # type: ignore[arg-type]
            render_json(report)
            render_csv(report)
            render_table(report)
    assert skipped > 40  # the edits did break lines, and they were counted
