from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tokennotes.record import (
    OutputRecord,
    RecordError,
    Tokens,
    UsageRecord,
    dedupe,
    dump_record,
    make_id,
    merge_note_lines,
    parse_note,
    parse_record,
    short_hash,
)


def make_usage(**overrides: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "id": "u1",
        "ts": "2026-11-20T10:04:05Z",
        "agent": "claude",
        "model": "claude-sonnet-4-5-20250929",
        "session": "0123456789abcdef",
        "first": "2026-11-20T10:00:00Z",
        "last": "2026-11-20T10:04:00Z",
        "messages": 12,
        "tokens": Tokens(input=1200, output=5400, cache_read=250000, cache_write=18000),
        "cost_usd": Decimal("0.4123"),
        "price_table": "test-1",
        "host": "abcd1234",
    }
    values.update(overrides)
    return UsageRecord(**values)


def make_output(**overrides: Any) -> OutputRecord:
    values: dict[str, Any] = {
        "id": "o1",
        "ts": "2026-11-20T10:04:05Z",
        "commit": "a" * 40,
        "type": "feature",
        "items": 1,
        "points": 5,
        "files": 4,
        "insertions": 120,
        "deletions": 8,
        "rule": "conventional:feat",
        "author": "a@b.c",
        "branch": "topic",
    }
    values.update(overrides)
    return OutputRecord(**values)


def test_usage_round_trip_is_canonical() -> None:
    record = make_usage()
    line = dump_record(record)
    assert " " not in line and "\n" not in line
    obj = json.loads(line)
    assert list(obj) == sorted(obj)
    assert obj["tokens"] == {
        "cache_read": 250000,
        "cache_write": 18000,
        "input": 1200,
        "output": 5400,
        "reasoning": 0,
    }
    assert obj["cost_usd"] == "0.4123"
    assert parse_record(line) == record
    assert dump_record(parse_record(line)) == line


def test_output_round_trip() -> None:
    record = make_output(supersedes=("old",))
    assert parse_record(dump_record(record)) == record


def test_unpriced_usage_has_null_cost() -> None:
    line = dump_record(make_usage(cost_usd=None))
    assert json.loads(line)["cost_usd"] is None
    assert parse_record(line).cost_usd is None  # type: ignore[union-attr]


def test_tiny_costs_are_written_without_exponent() -> None:
    line = dump_record(make_usage(cost_usd=Decimal("5E-8")))
    assert json.loads(line)["cost_usd"] == "0.00000005"


def test_one_hour_cache_write_is_kept_only_when_present() -> None:
    tokens = Tokens(input=1, cache_write=10, cache_write_1h=4)
    assert tokens.to_json()["cache_write_1h"] == 4
    assert "cache_write_1h" not in Tokens(input=1).to_json()
    assert tokens.total == 11


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("{not json", ""),
        ("[1]", ""),
        ('{"v":2,"kind":"usage"}', "v"),
        ('{"v":1,"kind":"weird"}', "kind"),
        ('{"v":1,"kind":"output","id":"x","ts":"t","type":"fix","items":-1,"points":1}', "items"),
        ('{"v":1,"kind":"output","id":"x","ts":"t","type":"fix","items":true,"points":1}', "items"),
        (
            '{"v":1,"kind":"usage","id":"x","ts":"t","agent":"a","model":"m","fidelity":"guess",'
            '"tokens":{}}',
            "fidelity",
        ),
        (
            '{"v":1,"kind":"usage","id":"x","ts":"t","agent":"a","model":"m","fidelity":"exact",'
            '"tokens":{"input":"5"}}',
            "tokens.input",
        ),
        (
            '{"v":1,"kind":"usage","id":"x","ts":"t","agent":"a","model":"m","fidelity":"exact",'
            '"tokens":{},"cost_usd":"NaN"}',
            "cost_usd",
        ),
        (
            '{"v":1,"kind":"usage","id":"x","ts":"t","agent":"a","model":"m","fidelity":"exact",'
            '"tokens":{},"cost_usd":1.5}',
            "cost_usd",
        ),
        (  # 10**11 characters written out: a bad line, not a report out of memory
            '{"v":1,"kind":"usage","id":"x","ts":"t","agent":"a","model":"m","fidelity":"exact",'
            '"tokens":{},"cost_usd":"1e-99999999999"}',
            "cost_usd",
        ),
        (
            '{"v":1,"kind":"usage","ts":"t","agent":"a","model":"m","fidelity":"exact","tokens":{}}',
            "id",
        ),
    ],
)
def test_bad_lines_name_the_key(line: str, key: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_record(line)
    assert info.value.key == key


def test_hostile_lines_are_skipped_and_counted() -> None:
    body = "\n".join(["[" * 100_000, "{" * 50_000, '"' + "x" * 1000, dump_record(make_output())])
    parsed = parse_note(body)
    assert parsed.skipped == 3
    assert [r.id for r in parsed.records] == ["o1"]
    assert "nested too deeply" in parsed.errors[0]


def test_unknown_fields_are_ignored() -> None:
    obj = make_output().to_json()
    obj["future_field"] = {"x": 1}
    assert parse_record(json.dumps(obj)) == make_output()


def test_parse_note_skips_and_counts_bad_lines() -> None:
    body = "\n".join(
        ["", dump_record(make_usage()), "garbage", "", dump_record(make_output()), '{"v":9}', ""]
    )
    parsed = parse_note(body, where="abc123")
    assert [r.kind for r in parsed.records] == ["usage", "output"]
    assert parsed.skipped == 2
    assert parsed.errors[0].startswith("abc123:3: ")


def test_merge_note_lines_is_sorted_unique_union() -> None:
    a, b, c = (dump_record(make_output(id=i)) for i in "abc")
    merged = merge_note_lines(f"{b}\n{a}\n", [c, a, ""], f"\n\n{b}\n")
    assert merged == f"{a}\n{b}\n{c}\n"
    assert merge_note_lines("") == ""


def test_dedupe_by_id_and_supersedes() -> None:
    first = make_output(id="o1")
    again = make_output(id="o1")
    replacement = make_output(id="o2", supersedes=("o1",))
    usage = make_usage()
    kept, duplicates = dedupe([first, usage, again, replacement])
    assert duplicates == 1
    assert kept == [usage, replacement]


def test_ids_and_pseudonyms_are_deterministic() -> None:
    assert make_id("claude", "s", "m1") == make_id("claude", "s", "m1")
    assert make_id("claude", "s", "m1") != make_id("claude", "s1", "")
    assert len(make_id("x")) == 32
    assert short_hash("host", 8) == short_hash("host", 8)
    assert len(short_hash("session", 16)) == 16
