"""The fast fact parser agrees with record.py, the one definition of a valid line."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.reporter.history_test import O1, O5B, U1, U4, output, usage
from tokennotes.record import (
    OutputRecord,
    RecordError,
    Tokens,
    UsageRecord,
    dump_record,
    parse_record,
)
from tokennotes.reporter.facts import (
    FactReader,
    Output,
    Usage,
    canonical_ts,
    fact_from_record,
    parse_fact,
    parse_notes,
)


def _expected(line: str) -> Usage | Output | None:
    """What record.py makes of a line (as a fact), None when it rejects it."""
    try:
        record = parse_record(line)
    except (RecordError, RecursionError):
        return None
    fact = fact_from_record(record)
    ts = canonical_ts(fact.ts)
    if ts is None:
        return None
    fact = fact._replace(ts=ts)
    if isinstance(fact, Usage):
        fact = fact._replace(
            first=canonical_ts(fact.first) or ts, last=canonical_ts(fact.last) or ts
        )
    return fact


def _got(line: str) -> Usage | Output | None:
    try:
        return parse_fact(line)
    except RecordError:
        return None


def test_canonical_lines_take_the_fast_path() -> None:
    fact = parse_fact(dump_record(U1))
    assert fact == Usage(
        U1.id, U1.ts, "claude", "acme-large", "exact", "0a1b2c3d", "", "2026-11-16T09:30:00Z",
        U1.ts, 1000, 2000, 10000, 4000, 0, 0, "0.043", (),
    )  # fmt: skip
    assert parse_fact(dump_record(O1)) == Output(
        O1.id, O1.ts, "feature", 1, 5, 0, "dev@example.com", "main", "", ()
    )
    assert parse_fact(dump_record(O5B)).supersedes == (make_o5a_id(),)


def make_o5a_id() -> str:
    from tests.reporter.history_test import O5A

    return O5A.id


def _mutations(obj: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    bad_values: list[Any] = [
        None,
        True,
        -1,
        1.5,
        "x",
        "",
        [],
        {},
        [1],
        "2026-13-45T99:00:00Z",
        10**30,
    ]
    out = []
    keys = list(obj)
    for key in keys:
        dropped = dict(obj)
        del dropped[key]
        out.append(dropped)
        for value in rng.sample(bad_values, 4):
            changed = dict(obj)
            changed[key] = value
            out.append(changed)
    if isinstance(obj.get("tokens"), dict):
        for key in [*obj["tokens"], "cache_write_1h"]:
            for value in (None, -5, True, 2.0, "7", 7):
                changed = json.loads(json.dumps(obj))
                changed["tokens"][key] = value
                out.append(changed)
    for extra in ({"tier": "above_200k"}, {"tier": 5}, {"commit": "abc"}, {"commit": None},
                  {"supersedes": ["a"]}, {"supersedes": "a"}, {"supersedes": None},
                  {"unknown": 1}, {"v": 2}, {"v": 1.0}, {"kind": "other"},
                  {"cost_usd": "NaN"}, {"cost_usd": "-1"}, {"cost_usd": "1e-3"},
                  {"cost_usd": 0.5}, {"fidelity": "guess"},
                  {"ts": "2026-11-16T10:00:00+02:00"}, {"ts": "2026-11-16 10:00"},
                  {"first": ""}, {"first": "yesterday"}, {"rule": None}):  # fmt: skip
        changed = dict(obj)
        changed.update(extra)
        out.append(changed)
    return out


@pytest.mark.parametrize(
    "record",
    [
        U1,
        U4,
        usage(
            "t",
            "2026-01-02T03:04:05.250Z",
            "m",
            Tokens(cache_write=9, cache_write_1h=4),
            tier="above_200k",
            commit="c" * 40,
            supersedes=("x", "y"),
        ),
        O1,
        O5B,
        output("t", "2026-01-02T03:04:05Z", "post", 2, 20, words=9),
    ],
)
def test_fast_path_agrees_with_record_py(record: UsageRecord | OutputRecord) -> None:
    rng = random.Random(record.id)
    base = json.loads(dump_record(record))
    lines = [json.dumps(m, sort_keys=True, separators=(",", ":")) for m in _mutations(base, rng)]
    lines += [json.dumps(m) for m in _mutations(base, rng)]  # spaces, not canonical
    lines += [dump_record(record), dump_record(record)[:-1], dump_record(record) + "x", "[1]"]
    lines += ['{"v":1,"kind":"usage"' + ',"x":1' * 3 + "}", "{" * 5000, "[" * 100000]
    assert len(lines) > 100
    for line in lines:
        assert _got(line) == _expected(line), line


def test_strings_with_escapes_and_unicode() -> None:
    record = output("u", "2026-01-02T03:04:05Z", "feature", 1, 5, author='é"\\<x>\n')
    fact = parse_fact(dump_record(record))
    assert isinstance(fact, Output) and fact.author == 'é"\\<x>\n'
    assert parse_fact(json.dumps(json.loads(dump_record(record)), ensure_ascii=True)) == fact


def test_times_are_canonical_utc() -> None:
    assert canonical_ts("2026-11-16T10:00:00Z") == "2026-11-16T10:00:00Z"
    assert canonical_ts("2026-11-16T10:00:00+02:00") == "2026-11-16T08:00:00Z"
    assert canonical_ts("2026-11-16T10:00:00.500000") == "2026-11-16T10:00:00.5Z"
    assert canonical_ts("2026-11-16") == "2026-11-16T00:00:00Z"
    assert canonical_ts("soon") is None
    fact = parse_fact(json.dumps(json.loads(dump_record(O1)) | {"ts": "2026-11-16T12:00:00+02:00"}))
    assert fact.ts == "2026-11-16T10:00:00Z"
    with pytest.raises(RecordError, match="ts"):
        parse_fact(json.dumps(json.loads(dump_record(O1)) | {"ts": "whenever"}))
    # digits of other scripts look like a time to \d but would break the string comparisons
    arabic_indic = "2026-11-16T1\u0660:00:00Z"
    assert canonical_ts(arabic_indic) is None
    for record in (U1, O1):
        with pytest.raises(RecordError, match="ts"):
            parse_fact(dump_record(record).replace(record.ts, arabic_indic))


@pytest.mark.parametrize(
    "ts",
    [
        "2026-13-01T10:00:00Z",  # no 13th month
        "2026-02-30T10:00:00Z",
        "2026-04-31T10:00:00Z",
        "2026-02-29T10:00:00Z",  # 2026 is a common year
        "2100-02-29T10:00:00Z",  # so is 2100
        "2026-11-16T24:00:00Z",
        "2026-11-16T10:60:00Z",
        "2026-11-16T10:00:60Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:00:00-05:00",  # past year 9999 in UTC
    ],
)
def test_times_that_are_no_dates_are_bad_lines(ts: str) -> None:
    """Such a time matched the canonical pattern and broke every report that met it."""
    for record in (U1, O1):
        line = dump_record(record).replace(f'"ts":"{record.ts}"', f'"ts":"{ts}"')
        with pytest.raises(RecordError, match="ts"):
            parse_fact(line)
    assert canonical_ts(ts) is None


def test_leap_days_and_odd_first_times() -> None:
    leap = dump_record(U1).replace(U1.ts, "2028-02-29T10:00:00Z")
    assert parse_fact(leap).ts == "2028-02-29T10:00:00Z"
    odd_first = dump_record(U1).replace(
        '"first":"2026-11-16T09:30:00Z"', '"first":"2026-02-30T09:30:00Z"'
    )
    fact = parse_fact(odd_first)
    assert isinstance(fact, Usage) and fact.first == fact.ts == U1.ts  # the record's own time


def test_reader_dedupes_by_id_and_counts_bad_lines() -> None:
    u1, o1 = dump_record(U1), dump_record(O1)
    parsed = parse_notes(
        [
            ("a" * 40, f"{o1}\n{u1}\n\n"),
            ("b" * 40, f'{u1}\nnot json\n{{"v":9}}\n'),
            ("c" * 40, f"  {u1}  \n"),
            ("b" * 40, u1),
        ]
    )
    assert [f.id for f in parsed.records] == [O1.id, U1.id]
    assert parsed.homes == ["a" * 40, "a" * 40]
    assert parsed.carriers == {1: ["b" * 40, "c" * 40]}
    assert parsed.duplicates == 3
    assert parsed.skipped == 2
    assert parsed.errors[0].startswith("bbbbbbbbbbbb: not JSON")
    assert "unknown schema version 9" in parsed.errors[1]
    assert parsed.facts == [("a" * 40, parsed.records[0]), ("a" * 40, parsed.records[1])]


def test_numbers_too_long_for_int_are_skipped_not_raised() -> None:
    """int() refuses over 4,300 digits, and sums past Decimal's 28 digits break a report: a
    count or cost from 10**15 on is a bad line (record.COUNT_LIMIT), on both paths."""
    usage_line, output_line = dump_record(U1), dump_record(O1)
    huge, limit, below = "9" * 5000, str(10**15), str(10**15 - 1)
    lines = [
        usage_line.replace('"input":1000', f'"input":{huge}'),
        output_line.replace('"items":1', f'"items":{huge}'),
        usage_line.replace('"input":1000', f'"input":{limit}'),
        output_line.replace('"points":5', f'"points":{limit}'),
        usage_line.replace('"messages":3', f'"messages":{limit}'),
        usage_line.replace('"cost_usd":"0.043"', f'"cost_usd":"{limit}.5"'),
        # a cost in plain digits is what a fact keeps: 10**11 of them would exhaust memory
        usage_line.replace('"cost_usd":"0.043"', '"cost_usd":"1e-99999999999"'),
        usage_line.replace('"cost_usd":"0.043"', '"cost_usd":"0e-41"'),
        usage_line.replace('"input":1000', f'"input":{below}'),
        usage_line.replace('"cost_usd":"0.043"', '"cost_usd":"1e-40"').replace(U1.id, "tiny"),
    ]
    parsed = parse_notes([(f"{n:040x}", line) for n, line in enumerate(lines)])
    assert parsed.skipped == 8 and len(parsed.errors) == 8
    assert "not JSON" in parsed.errors[0] and "below 10**15" in parsed.errors[2]
    assert "more than 40 decimal places" in parsed.errors[6]
    kept, tiny = parsed.records
    assert isinstance(kept, Usage) and kept.input == 10**15 - 1
    assert isinstance(tiny, Usage) and tiny.cost_usd == "0." + "0" * 39 + "1"
    for line in lines[2:]:  # the JSON path (not the canonical one) agrees
        assert _got(json.dumps(json.loads(line), indent=1)) == _got(line)


def test_reader_keeps_fifty_error_messages() -> None:
    reader = FactReader()
    reader.add("d" * 40, "\n".join(["nope"] * 80))
    assert reader.skipped == 80
    assert len(reader.errors) == 50


def test_a_reader_keeps_one_string_per_name() -> None:
    """Names repeat across thousands of records: a reader keeps one string per value (31 % less
    memory on 50k notes), and the values stay what the lines say."""
    u2 = usage("u2", "2026-11-16T11:00:00Z", U1.model, Tokens(input=5), host=U1.host)
    o2 = output("o2", "2026-11-16T11:00:00Z", O1.type, 1, 1)
    first, second = (f"{n:040x}" for n in (1, 2))
    parsed = parse_notes(
        [
            (first, dump_record(U1) + "\n" + dump_record(O1) + "\n"),
            (second, dump_record(u2) + "\n" + dump_record(o2) + "\n"),
        ]
    )
    u1_fact, o1_fact, u2_fact, o2_fact = parsed.records
    assert isinstance(u1_fact, Usage) and isinstance(u2_fact, Usage)
    assert isinstance(o1_fact, Output) and isinstance(o2_fact, Output)
    assert u2_fact.model == U1.model and u2_fact.model is u1_fact.model
    assert u2_fact.host is u1_fact.host and u2_fact.agent is u1_fact.agent
    assert o2_fact.type == O1.type and o2_fact.type is o1_fact.type
    assert o2_fact.author is o1_fact.author and o2_fact.branch is o1_fact.branch


def test_notes_parsed_in_place_match_notes_parsed_one_by_one() -> None:
    """``add_spans`` reads many notes of one text (a read of ``cat-file --batch``) in place;
    whatever the lines, the result is that of reading each note on its own."""
    rng = random.Random(7)
    leap = dump_record(U1).replace(U1.ts, "2028-02-29T10:00:00Z")
    not_leap = dump_record(U4).replace(U4.ts, "2026-02-29T10:00:00Z")  # a bad line
    kinds = [
        dump_record(U1), dump_record(O1), dump_record(U4), dump_record(O5B), leap, not_leap,
        dump_record(U1) + "\r", "  " + dump_record(O1), "", "not json", '{"v":9}',
        json.dumps(json.loads(dump_record(U4)), indent=None),  # spaces: the JSON path
    ]  # fmt: skip
    notes = []
    for n in range(60):
        lines = rng.choices(kinds, k=rng.randrange(0, 5))
        text = "\n".join(lines) + rng.choice(("\n", "", "\n\n"))
        notes.append((f"{n % 23:040x}", text))
    one_by_one = parse_notes(notes)
    reader = FactReader()
    text, spans, pos = "", [], 0
    for sha, note in notes:  # as the chunk reader frames them: a header, the note, a newline
        header = f"{sha} {len(note)} blob\n"
        text += header + note + "\n"
        spans.append((sha, pos + len(header), pos + len(header) + len(note)))
        pos = len(text)
    reader.add_spans(text, spans)
    assert reader.result() == one_by_one
    seen: dict[str, Usage | Output] = {}  # the rule itself: each line on its own, first id wins
    for _, note in notes:
        for line in note.split("\n"):
            fact = _got(line.strip()) if line.strip() else None
            if fact is not None:
                seen.setdefault(fact.id, fact)
    assert one_by_one.records == list(seen.values())
    assert one_by_one.skipped and one_by_one.duplicates
    assert any(f.ts.startswith("2028-02-29") for f in one_by_one.records)


@pytest.mark.parametrize("name", ["(no output)", "(not landed)", "(anything)"])
@pytest.mark.parametrize("canonical", [True, False])
def test_a_note_cannot_add_to_the_reports_own_rows(name: str, canonical: bool) -> None:
    """ "(no output)" and "(not landed)" are rows of the reports' by-type tables: an output
    type in parentheses from a note is a bad line, whichever path parses it."""
    record = OutputRecord(
        id="spoof", ts="2026-11-16T10:00:00Z", commit="c" * 40, type=name, items=1,
        points=999, files=1, insertions=0, deletions=0, words=0, rule="x", author="a@b.c",
        branch="main",
    )  # fmt: skip
    line = dump_record(record)
    if not canonical:
        line = json.dumps(dict(reversed(json.loads(line).items())))
    parsed = parse_notes([("c" * 40, line + "\n")])
    assert (parsed.skipped, parsed.records) == (1, [])
    assert "type: " in parsed.errors[0] and "is reserved" in parsed.errors[0]
    with pytest.raises(RecordError, match="is reserved"):
        parse_record(line)
