"""Aggregation over facts built in memory (no git): dedupe, scope, splits, days, money."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.reporter.history_test import output, usage
from tokennotes.record import Tokens, dump_record
from tokennotes.reporter.aggregate import (
    NO_OUTPUT,
    NOT_LANDED,
    LocalDays,
    Rates,
    Scope,
    aggregate,
    costly_commits,
    dedupe_facts,
    money,
    recorded_atto,
    same_cost,
    spend_in,
    sum_buckets,
    to_atto,
    week_of,
)
from tokennotes.reporter.facts import Fact, Usage, parse_fact

PER_TOKEN = Decimal("1e-6")
RATES = {
    "acme-large": Rates(*(Decimal(p) * PER_TOKEN for p in ("2", "10", "0.5", "4", "8"))),
    "acme-small": Rates(*(Decimal(p) * PER_TOKEN for p in ("1", "5", "0.1", "1", "2"))),
}
UTC = LocalDays(ZoneInfo("UTC"))
A, B, C, D = "a" * 40, "b" * 40, "c" * 40, "d" * 40


def pricer(model: str, tier: str) -> Rates | None:
    return RATES.get(model)


def fact(record: object) -> Fact:
    return parse_fact(dump_record(record))  # type: ignore[arg-type]


def test_copies_count_once_and_live_on_the_landed_commit() -> None:
    u = fact(usage("u", "2026-11-16T10:00:00Z", "acme-large", Tokens(input=1000)))
    deduped = dedupe_facts([(A, u), (B, u), (C, u)], landed={C})
    assert deduped.homes == [C]
    assert deduped.landed == [True]
    assert deduped.duplicates == 2
    assert sorted(deduped.carriers[0]) == [A, B]


def test_superseded_facts_are_dropped() -> None:
    old = fact(output("old", "2026-11-16T10:00:00Z", "feature", 1, 5))
    new = fact(output("new", "2026-11-16T10:05:00Z", "fix", 1, 3, supersedes=(old.id, "gone")))
    deduped = dedupe_facts([(A, old), (B, new)])
    assert [f.id for f in deduped.facts] == [new.id]
    assert deduped.superseded == 1


def _agg(pairs: list[tuple[str, Fact]], scope: Scope, landed: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    return aggregate(
        dedupe_facts(pairs, landed), scope=scope, pricer=pricer, days=UTC, landed=landed
    )


def test_a_window_counts_only_landed_output_and_shows_unlanded_spend() -> None:
    pairs = [
        (A, fact(usage("u1", "2026-11-16T10:00:00Z", "acme-large", Tokens(1000, 100)))),
        (A, fact(output("o1", "2026-11-16T10:00:00Z", "feature", 1, 5))),
        (B, fact(usage("u2", "2026-11-17T10:00:00Z", "acme-small", Tokens(output=1000)))),
        (B, fact(output("o2", "2026-11-17T10:00:00Z", "fix", 2, 6))),
        (C, fact(usage("u3", "2026-11-30T10:00:00Z", "acme-large", Tokens(input=5)))),  # later
    ]  # fmt: skip
    window = Scope(kind="window", since="2026-11-16T00:00:00", until="2026-11-23T00:00:00")
    agg = _agg(pairs, window, landed=frozenset({A}))
    assert agg.total.cost == Decimal("0.003") + Decimal("0.005")
    assert (agg.total.items, agg.total.points) == (1, 5)
    assert (agg.pending_items, agg.pending_points) == (2, 6)
    assert agg.unlanded.cost == Decimal("0.005")
    assert agg.by_type[NOT_LANDED].cost == Decimal("0.005")
    assert agg.by_type["feature"].cost == Decimal("0.003")
    assert agg.usage_records == 2
    # the same facts as a range: everything counts, nothing needs to land
    agg = _agg(pairs, Scope(kind="range", spec="x..y"))
    assert (agg.total.items, agg.total.points) == (3, 11)
    assert agg.unlanded.total == 0
    assert agg.total.cost == Decimal("0.00801")


def test_a_window_counts_the_copies_and_superseded_facts_of_its_own_records() -> None:
    inside = fact(usage("in", "2026-11-17T10:00:00Z", "acme-large", Tokens(input=10)))
    before = fact(usage("before", "2026-11-02T10:00:00Z", "acme-large", Tokens(input=10)))
    old = fact(output("old", "2026-11-03T10:00:00Z", "feature", 1, 5))
    new = fact(output("new", "2026-11-18T10:00:00Z", "fix", 1, 3, supersedes=(old.id,)))
    amended = fact(output("amended", "2026-11-18T11:00:00Z", "fix", 1, 3))
    again = fact(output("again", "2026-11-18T11:05:00Z", "fix", 1, 3, supersedes=(amended.id,)))
    pairs = [
        (A, before), (B, before), (C, before),  # two copies, before the window
        (A, old), (B, old),  # superseded, with a copy, before the window
        (B, inside), (C, inside), (C, inside),  # two copies, one on the same commit
        (B, new), (C, amended), (D, amended), (D, again),
    ]  # fmt: skip
    window = Scope(kind="window", since="2026-11-16T00:00:00", until="2026-11-23T00:00:00")
    deduped = dedupe_facts(pairs, frozenset({A, B, C, D}))
    assert (deduped.duplicates, deduped.superseded) == (6, 2)  # the whole ref
    agg = _agg(pairs, window, landed=frozenset({A, B, C, D}))
    # "inside" twice and "amended" once (superseded, in the window): 3 copies, 1 superseded
    assert (agg.duplicates, agg.superseded) == (3, 1)
    everything = Scope(kind="window", since="2026-01-01T00:00:00", until="2027-01-01T00:00:00")
    agg = _agg(pairs, everything, landed=frozenset({A, B, C, D}))
    assert (agg.duplicates, agg.superseded) == (6, 2)  # a window over everything: the ref's
    agg = _agg(pairs, Scope(kind="all"), landed=frozenset({A, B, C, D}))
    assert (agg.duplicates, agg.superseded) == (6, 2)


def test_spend_is_shared_among_output_types_by_points_exactly() -> None:
    pairs = [
        (A, fact(usage("u", "2026-11-16T10:00:00Z", "acme-large", Tokens(input=1, output=1)))),
        (A, fact(output("o1", "2026-11-16T10:00:00Z", "draft", 2, 4))),
        (A, fact(output("o2", "2026-11-16T10:00:00Z", "script", 1, 5))),
        (A, fact(output("o3", "2026-11-16T10:00:00Z", "post", 1, 0))),
        (B, fact(usage("v", "2026-11-16T11:00:00Z", "acme-small", Tokens(input=7)))),
    ]  # fmt: skip
    agg = _agg(pairs, Scope(kind="range"))
    total = Decimal("0.000012")  # 1 x 2 + 1 x 10 per million
    assert agg.by_type["draft"].cost + agg.by_type["script"].cost == total
    assert agg.by_type["draft"].cost == Decimal("0.000005333333333333")  # 4/9, to 1e-18
    assert agg.by_type["post"].cost == 0  # no points: no share
    assert agg.by_type["post"].items == 1
    assert agg.by_type[NO_OUTPUT].cost == Decimal("0.000007")
    assert agg.by_type["draft"].total + agg.by_type["script"].total == 2
    parts = sum_buckets(agg.by_type.values())
    assert (parts.total, parts.cost) == (agg.total.total, agg.total.cost)


def test_unpriced_models_keep_their_tokens_and_are_listed() -> None:
    pairs = [
        (A, fact(usage("u", "2026-11-16T10:00:00Z", "mystery", Tokens(input=50)))),
        (A, fact(usage("v", "2026-11-16T10:00:00Z", "other", Tokens(input=70)))),
        (A, fact(usage("w", "2026-11-16T10:00:00Z", "acme-small", Tokens(input=1)))),
    ]
    agg = _agg(pairs, Scope(kind="all"))
    assert agg.unpriced_models == ("other", "mystery")
    assert agg.total.total == 121
    assert agg.total.unpriced == 120
    assert agg.total.cost == Decimal("0.000001")
    assert agg.by_model["mystery"].unpriced == 50


def test_days_follow_the_time_zone() -> None:
    new_york = LocalDays(ZoneInfo("America/New_York"))
    assert new_york.day("2026-11-16T04:59:59Z") == "2026-11-15"
    assert new_york.day("2026-11-16T05:00:00Z") == "2026-11-16"
    # DST ends on 2026-11-01 at 06:00 UTC: the hour before and after
    assert new_york.day("2026-11-01T04:30:00Z") == "2026-11-01"
    assert new_york.day("2026-03-08T06:59:00Z") == "2026-03-08"
    kolkata = LocalDays(ZoneInfo("Asia/Kolkata"))  # +05:30: the day changes at 18:30 UTC
    assert kolkata.day("2026-11-16T18:29:59Z") == "2026-11-16"
    assert kolkata.day("2026-11-16T18:30:00Z") == "2026-11-17"
    assert kolkata.day("2026-11-16T18:10:00Z") == "2026-11-16"  # cached hour, other minute
    assert UTC.day("2026-11-16T23:59:59.9Z") == "2026-11-16"
    assert week_of("2026-11-16") == "2026-W47"


def test_by_day_uses_local_days_and_activity() -> None:
    zone = LocalDays(ZoneInfo("Europe/Berlin"))
    pairs = [
        (A, fact(usage("u", "2026-11-16T23:30:00Z", "acme-small", Tokens(input=1),
                       first="2026-11-16T22:00:00Z"))),
        (A, fact(output("o", "2026-11-17T07:00:00Z", "fix", 1, 3))),
    ]  # fmt: skip
    deduped = dedupe_facts(pairs)
    agg = aggregate(deduped, scope=Scope(kind="range"), pricer=pricer, days=zone)
    row = agg.by_day["2026-11-17"]
    assert (row.first, row.last) == ("00:00", "08:00")  # clamped to the local day
    assert row.hours == 8
    assert row.bucket.items == 1


PAST_BOTH_MIDNIGHTS = ("2026-11-16T10:00:00Z", "2026-11-14T00:00:00Z", "2099-01-01T00:00:00Z")
ENDED_BEFORE_ITS_DAY = ("2026-11-02T00:05:00Z", "2026-11-01T22:00:00Z", "2026-11-01T23:50:00Z")


@pytest.mark.parametrize(
    ("zone", "times", "expected"),
    [
        # a span reaching past its day on both sides (a garbled or hostile one far past it):
        # a day has at most 24 active hours, shown up to 24:00
        ("UTC", PAST_BOTH_MIDNIGHTS, ("00:00", "24:00", 24, 86_400)),
        ("Europe/Berlin", PAST_BOTH_MIDNIGHTS, ("00:00", "24:00", 24, 86_400)),
        # a session ending at 23:50, committed at 00:05: the record's day is the next one,
        # whose span (clamped to it) is empty: no activity shown before the day began
        ("UTC", ENDED_BEFORE_ITS_DAY, ("00:00", "00:00", 0, 0)),
        ("Europe/London", ENDED_BEFORE_ITS_DAY, ("00:00", "00:00", 0, 0)),
    ],
)
def test_a_span_is_clamped_to_its_day(
    zone: str, times: tuple[str, str, str], expected: tuple[str, str, int, int]
) -> None:
    ts, first, last = times
    days = UTC if zone == "UTC" else LocalDays(ZoneInfo(zone))
    pairs = [(A, fact(usage("u", ts, "acme-small", Tokens(input=1), first=first, last=last)))]
    agg = aggregate(dedupe_facts(pairs), scope=Scope(kind="all"), pricer=pricer, days=days)
    row = agg.by_day[days.day(ts)]
    assert (row.first, row.last, row.hours, row.seconds) == expected


@pytest.mark.parametrize(
    ("zone", "ts", "day"),
    [
        ("Europe/Berlin", "9999-12-31T23:00:00Z", "9999-12-31"),  # local: year 10000
        ("America/New_York", "9999-12-31T23:00:00Z", "9999-12-31"),
    ],
)
def test_times_at_the_ends_of_the_calendar_do_not_crash(zone: str, ts: str, day: str) -> None:
    """Only a garbled record holds such a time; its local day stays the UTC one."""
    days = LocalDays(ZoneInfo(zone))
    assert days.day(ts) == day
    pairs = [(A, fact(usage("u", ts, "acme-small", Tokens(input=1), first=ts, last=ts)))]
    agg = aggregate(dedupe_facts(pairs), scope=Scope(kind="all"), pricer=pricer, days=days)
    assert agg.total.total == 1 and set(agg.by_day) == {day}


def test_an_amend_undone_keeps_the_landed_original() -> None:
    """Commit A landed; amending it made B, whose output record supersedes A's (and git copied
    A's record onto B); then a reset went back to A. B never landed: A's output stands, and B's
    own spend is cost without outcome. Where neither landed (an open branch), the newer wins."""
    original = output("orig", "2026-11-16T10:00:00Z", "feature", 1, 5)
    amended = output("amended", "2026-11-16T10:05:00Z", "feature", 1, 5, supersedes=(original.id,))
    spent = usage("amend", "2026-11-16T10:05:00Z", "acme-large", Tokens(output=1000))
    pairs = [(A, fact(original)), (B, fact(amended)), (B, fact(original)), (B, fact(spent))]
    undone = dedupe_facts(pairs, landed={A})
    agg = aggregate(undone, scope=Scope(kind="all"), pricer=pricer, days=UTC)
    assert (undone.superseded, agg.total.items, agg.pending_items) == (0, 1, 1)
    assert agg.unlanded.total == 1000 and agg.by_type["feature"].items == 1
    open_branch = dedupe_facts(pairs)
    assert open_branch.superseded == 1 and original.id in open_branch.dropped
    amend = dedupe_facts(pairs, landed={B})  # an amend kept: A is no longer reachable
    assert amend.superseded == 1 and original.id in amend.dropped


def test_active_hours_count_real_hours_across_a_clock_change() -> None:
    """00:30Z-01:30Z is one hour, though Berlin's clocks jump (29 March) or repeat (25 October)
    an hour within it."""
    berlin = LocalDays(ZoneInfo("Europe/Berlin"))
    pairs = [
        (A, fact(usage(name, f"{day}T01:30:00Z", "acme-small", Tokens(input=1),
                       first=f"{day}T00:30:00Z")))
        for name, day in (("spring", "2026-03-29"), ("autumn", "2026-10-25"))
    ]  # fmt: skip
    rows = aggregate(dedupe_facts(pairs), scope=Scope(kind="all"), pricer=pricer, days=berlin)
    spring, autumn = rows.by_day["2026-03-29"], rows.by_day["2026-10-25"]
    assert (spring.first, spring.last, spring.hours) == ("01:30", "03:30", 1)
    assert (autumn.first, autumn.last, autumn.hours) == ("02:30", "02:30", 1)


def test_active_hours_in_utc_match_the_time_zone_arithmetic() -> None:
    # UTC days take a string shortcut; London in winter is the same clock through datetime
    london = LocalDays(ZoneInfo("Europe/London"))
    assert not london.utc and UTC.utc
    pairs = [
        (A, fact(usage("a", "2026-11-16T09:15:00Z", "acme-small", Tokens(input=1),
                       first="2026-11-15T22:00:00Z"))),  # started the day before: clamped
        (A, fact(usage("b", "2026-11-17T10:00:00Z", "acme-small", Tokens(input=1),
                       first="2026-11-17T08:20:30Z"))),
        (B, fact(usage("c", "2026-11-18T12:00:00.750Z", "acme-small", Tokens(input=1),
                       first="2026-11-18T11:59:59.500Z"))),  # fractions: the long way
        (B, fact(output("o", "2026-11-17T17:45:10Z", "fix", 1, 3))),
        (B, fact(usage("d", "2026-11-20T10:00:00Z", "acme-small", Tokens(input=1),
                       first="2026-11-21T05:00:00Z"))),  # garbled: it starts after it ends
    ]  # fmt: skip
    deduped = dedupe_facts(pairs)
    rows = {
        name: aggregate(deduped, scope=Scope(kind="range"), pricer=pricer, days=zone).by_day
        for name, zone in (("utc", UTC), ("london", london))
    }
    assert rows["utc"] == rows["london"]
    day = rows["utc"]["2026-11-17"]
    assert (day.first, day.last, day.hours) == ("08:20", "17:45", Decimal(33880) / 3600)
    first_day = rows["utc"]["2026-11-16"]
    assert (first_day.first, first_day.hours) == ("00:00", Decimal(33300) / 3600)
    assert rows["utc"]["2026-11-18"].hours == Decimal(1) / 3600
    assert rows["utc"]["2026-11-20"].hours == 0


def test_money_is_exact() -> None:
    assert money(to_atto(Decimal("0.1162"))) == Decimal("0.1162")
    assert str(money(10**18 * 1000)) == "1000"
    assert money(0) == 0
    assert same_cost("0.4123", to_atto(Decimal("0.41234")))
    assert not same_cost("0.4123", to_atto(Decimal("0.41236")))
    assert same_cost("0.5", to_atto(Decimal("0.5000000000000000001")))
    assert same_cost("10", to_atto(Decimal("10.4")))
    assert not same_cost("10", to_atto(Decimal("10.5")))  # half up
    assert same_cost("10", to_atto(Decimal("9.5")))
    assert same_cost("0.0000000000000000010", 1)  # finer than 10**-18: exact values
    assert not same_cost("0.0000000000000000015", 1)
    assert recorded_atto("0.043") == to_atto(Decimal("0.043"))
    assert recorded_atto("0.0000000000000000015") is None


def test_summed_record_time_costs_follow_same_cost() -> None:
    """``UsageSums.add_all`` inlines ``same_cost`` and ``recorded_atto``: over costs written at
    every precision, rounded either way or not at all, the sums agree with the functions."""
    import random

    from tokennotes.reporter.aggregate import UsageSums, atto_cost, atto_rates

    rng = random.Random(7)
    rates = atto_rates(RATES["acme-large"])  # type: ignore[arg-type]
    facts, expected_changed, expected_total = [], 0, Decimal(0)
    for n in range(400):
        tokens = Tokens(rng.randrange(10**5), rng.randrange(10**4), rng.randrange(10**6))
        record = usage(f"c{n}", "2026-11-16T10:00:00Z", "acme-large", tokens)
        fact_ = fact(record)
        exact = money(atto_cost(rates, fact_))  # type: ignore[arg-type]
        places = rng.choice((0, 2, 4, 6, 9, 12, 18, 19, 22))
        nudge = rng.choice((Decimal(0), Decimal(0), Decimal(1), Decimal(-1)))
        written = exact.quantize(Decimal(1).scaleb(-places)) + nudge.scaleb(-places)
        text = format(abs(written), "f")
        fact_ = fact_._replace(cost_usd=text)  # type: ignore[union-attr]
        facts.append(fact_)
        expected_changed += not same_cost(text, atto_cost(rates, fact_))  # type: ignore[arg-type]
        expected_total += Decimal(text)
    sums = UsageSums(Scope(kind="all"), pricer, UTC).add_all(facts, [A] * len(facts))
    assert sums.recorded_records == 400
    assert sums.cost_changed == expected_changed and 0 < expected_changed < 400
    assert sums.recorded_cost == expected_total


@pytest.mark.parametrize("seed", range(6))
def test_usage_sums_equal_a_fact_by_fact_reference(seed: int) -> None:
    """``UsageSums.add_all`` sums in runs with inlined arithmetic; a plain loop over the same
    random facts (several commits and days, notes split apart, inexact and unpriced facts,
    1-hour cache writes, a window) must give the same tables."""
    import random

    from tokennotes.reporter.aggregate import UsageSums, atto_cost, atto_rates

    rng = random.Random(seed)
    facts: list[Fact] = []
    homes: list[str] = []
    for n in range(300):
        day = 10 + rng.randrange(4)
        ts = f"2026-11-{day}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
        write = rng.randrange(500)
        record = usage(
            f"r{n}", ts, rng.choice(("acme-large", "acme-small", "mystery")),
            Tokens(rng.randrange(900), rng.randrange(900), rng.randrange(9000), write,
                   rng.randrange(50), cache_write_1h=rng.choice((0, 0, write // 2, write + 5))),
            fidelity=rng.choice(("exact", "exact", "exact", "estimated", "manual")),
            host=rng.choice(("h1", "h2")),
            first=ts if rng.random() < 0.5 else f"2026-11-{day - 1}T23:00:00Z",
        )  # fmt: skip
        facts.append(fact(record))
        homes.append(rng.choice((A, B, C, D)) if rng.random() < 0.3 or not homes else homes[-1])
    scope = rng.choice(
        (
            Scope(kind="all"),
            Scope(kind="window", since="2026-11-11T06:00:00", until="2026-11-13T00:00:00"),
        )
    )
    sums = UsageSums(scope, pricer, UTC).add_all(facts, homes)

    groups: dict[object, list[int]] = {}
    by_day: dict[object, list[int]] = {}
    per_commit: dict[object, list[int]] = {}
    unpriced: dict[str, int] = {}
    for usage_, home in zip(facts, homes, strict=True):
        assert isinstance(usage_, Usage)
        if not scope.holds(usage_.ts):
            continue
        rates = pricer(usage_.model, usage_.tier)
        total = usage_.total
        row = [usage_.input, usage_.output, usage_.cache_read, usage_.cache_write,
               usage_.reasoning, 0 if rates is None else atto_cost(atto_rates(rates), usage_),
               total if rates is None else 0, 1,
               total if usage_.fidelity == "estimated" else 0,
               total if usage_.fidelity == "manual" else 0]  # fmt: skip
        if rates is None:
            unpriced[usage_.model] = unpriced.get(usage_.model, 0) + total
        keys = ((groups, (usage_.agent, usage_.model, usage_.fidelity, usage_.host)),
                (by_day, usage_.ts[:10]), (per_commit, home))  # fmt: skip
        for table, key in keys:
            acc = table.setdefault(key, [0] * 13)
            for slot, value in enumerate(row):
                acc[slot] += value
    assert sums.groups == groups
    assert sums.by_day == by_day
    assert sums.per_commit == per_commit
    assert sums.unpriced == unpriced


@pytest.mark.parametrize("model", ["acme-large", "mystery"])
def test_an_absurdly_long_recorded_cost_is_summed_without_int(model: str) -> None:
    from tokennotes.reporter.aggregate import UsageSums

    # notes refuse such a cost (record.COUNT_LIMIT); the sums must not depend on that
    written = "9" * 5000 + ".5"
    line = dump_record(usage("big", "2026-11-16T10:00:00Z", model, Tokens(input=10)))
    fact_ = parse_fact(line)._replace(cost_usd=written)  # type: ignore[union-attr]
    sums = UsageSums(Scope(kind="all"), pricer, UTC).add_all([fact_], [A])
    assert (sums.recorded_records, sums.cost_changed) == (1, 1)
    assert sums.recorded_cost > 10**4999
    assert not same_cost(written, 10**18) and recorded_atto(written) is None


def test_spend_in_windows_and_costly_commits() -> None:
    pairs = [
        (A, fact(usage("u", "2026-11-10T10:00:00Z", "acme-large", Tokens(output=1000)))),
        (B, fact(usage("v", "2026-11-17T10:00:00Z", "acme-large", Tokens(output=3000)))),
        (B, fact(output("o", "2026-11-17T10:00:00Z", "fix", 2, 6))),
    ]
    deduped = dedupe_facts(pairs, landed={B})
    first, second = spend_in(
        deduped,
        [
            ("2026-11-09T00:00:00", "2026-11-16T00:00:00"),
            ("2026-11-16T00:00:00", "2026-11-23T00:00:00"),
        ],
        pricer,
    )
    assert (first.cost, first.tokens, first.items) == (Decimal("0.01"), 1000, 0)
    assert (second.cost, second.tokens, second.items) == (Decimal("0.03"), 3000, 2)
    agg = aggregate(deduped, scope=Scope(kind="all"), pricer=pricer, days=UTC, landed={B})
    assert costly_commits(agg, usd=Decimal("0.02")) == [(B, 3000, Decimal("0.03"))]
    assert [c[0] for c in costly_commits(agg, tokens=500)] == [B, A]
    assert costly_commits(agg) == []
    assert [row.sha for row in agg.top_commits] == [B, A]


def test_top_commits_include_output_only_commits_when_few() -> None:
    pairs = [(A, fact(output("o", "2026-11-17T10:00:00Z", "docs", 1, 2)))]
    agg = _agg(pairs, Scope(kind="range"))
    assert [row.sha for row in agg.top_commits] == [A]
    assert agg.top_commits[0].bucket.points == 2


@pytest.mark.parametrize("kind", ["range", "window", "all"])
def test_empty_scope(kind: str) -> None:
    scope = Scope(kind=kind, since="2026-01-01T00:00:00" if kind == "window" else None)  # type: ignore[arg-type]
    agg = _agg([], scope)
    assert agg.total.total == 0 and agg.commit_count == 0 and agg.by_day == {}


def test_usage_is_summed_in_one_pass_over_the_settled_facts() -> None:
    """A commit's facts summed in runs: copies that settle on another commit (so that commit's
    facts are no longer next to each other), a superseded fact, a window, one commit's facts on
    two days."""
    from tokennotes.reporter.aggregate import settle
    from tokennotes.reporter.facts import parse_notes

    u1 = usage("u1", "2026-11-16T10:00:00Z", "acme-large", Tokens(1000, 100, 50, 20))
    u2 = usage("u2", "2026-11-17T10:00:00Z", "mystery", Tokens(7, 7), cost_usd=Decimal("0.1"))
    u3 = usage("u3", "2026-11-18T10:00:00Z", "acme-small", Tokens(300), supersedes=(u2.id,))
    u4 = usage("u4", "2026-11-30T10:00:00Z", "acme-small", Tokens(9))  # outside the window
    u5 = usage("u5", "2026-11-19T10:00:00Z", "acme-small", Tokens(5), cost_usd=Decimal("0.005"))
    o1 = output("o1", "2026-11-16T10:00:00Z", "feature", 1, 5)
    parsed = parse_notes(
        [
            (A, "\n".join(dump_record(r) for r in (u1, u2, o1, u4))),  # A never lands
            (B, "\n".join(dump_record(r) for r in (u1, o1, u3, u5))),  # copies of u1 and o1
            (C, dump_record(u2) + "\n"),
        ]
    )
    window = Scope(kind="window", since="2026-11-16T00:00:00", until="2026-11-23T00:00:00")
    landed = frozenset({B, C})
    deduped = settle(parsed, landed)
    assert deduped.homes[0] == B and deduped.homes[-1] == B and A in deduped.homes  # apart
    agg = aggregate(deduped, scope=window, pricer=pricer, days=UTC, landed=landed)
    assert agg.unpriced_models == ()  # u2, the only unpriced fact, was superseded
    assert set(agg.commit_spend) == {B}
    assert agg.commit_spend[B][7] == 3  # u1, u3, u5
    assert agg.total.total == 1170 + 300 + 5 and agg.usage_records == 3
    assert {day: row.bucket.total for day, row in agg.by_day.items()} == {
        "2026-11-16": 1170,
        "2026-11-18": 300,
        "2026-11-19": 5,
    }
    # u1: 1000 x $2 + 100 x $10 + 50 x $0.5 + 20 x $4 per million; u3 and u5: $1 per million
    assert agg.total.cost == Decimal("0.003105") + Decimal("0.0003") + Decimal("0.000005")
    assert (agg.recorded_records, agg.recorded_cost, agg.cost_changed) == (1, Decimal("0.005"), 1)


@pytest.mark.parametrize("kind", ["range", "all"])
def test_aggregate_leaves_no_reference_cycles(kind: str) -> None:
    """A report runs with the garbage collector paused and then frozen (``read.paused_gc``), so
    whatever ``aggregate`` leaves in reference cycles stays alive with every fact it holds (as
    the functions once nested in it did when compiled with mypyc: docs/report.md, "Speed")."""
    import gc

    from tokennotes.reporter.aggregate import CommitInfo, settle
    from tokennotes.reporter.facts import parse_notes

    u1 = usage("u1", "2026-11-16T10:00:00Z", "acme-large", Tokens(1000, 100))
    u2 = usage("u2", "2026-11-17T10:00:00Z", "mystery", Tokens(7, 7))
    o1 = output("o1", "2026-11-16T10:00:00Z", "feature", 1, 5)
    o2 = output("o2", "2026-11-17T10:00:00Z", "docs", 1, 2)
    parsed = parse_notes(
        [
            (A, "\n".join(dump_record(r) for r in (u1, o1, o2))),
            (B, "\n".join(dump_record(r) for r in (u1, u2, o1))),
        ]
    )
    commits = [CommitInfo(sha=A, author="a@example.com"), CommitInfo(sha=B)]
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        agg = aggregate(
            settle(parsed, frozenset({B})),
            scope=Scope(kind=kind),  # type: ignore[arg-type]
            pricer=pricer,
            days=UTC,
            commits=commits,
            landed=frozenset({B}),
        )
        assert agg.top_commits and agg.usage_records == 2
        del agg
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_days_right_after_a_fall_back_within_an_hour() -> None:
    """America/Goose_Bay set its clocks back at 00:01 ADT (03:01 UTC) on 2009-11-01: 03:30 UTC
    is 23:30 on 31 October there, and the rest of that UTC hour too."""
    goose_bay = LocalDays(ZoneInfo("America/Goose_Bay"))
    assert goose_bay.day("2009-11-01T03:30:00Z") == "2009-10-31"
    assert goose_bay.day("2009-11-01T03:00:30Z") == "2009-11-01"  # 00:00:30 ADT, before
    assert goose_bay.day("2009-11-01T03:59:00Z") == "2009-10-31"


def test_total_active_hours_are_exact_before_rounding() -> None:
    """152,154 s is 42.265 h exactly, which rounds (half even) to 42.26; summing each day's
    28-digit quotient gave 42.26500000000000000000000001 and so 42.27."""
    from tokennotes.reporter.score import score

    pairs = []
    for n, seconds in enumerate((66_548, 24_884, 39_764, 20_958)):
        day = f"2026-11-{10 + n:02d}"
        end = f"{day}T{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}Z"
        pairs.append((A, fact(usage(f"u{n}", end, "acme-small", Tokens(input=1),
                                    first=f"{day}T00:00:00Z", last=end))))  # fmt: skip
    agg = aggregate(dedupe_facts(pairs), scope=Scope(kind="all"), pricer=pricer, days=UTC)
    assert sum(row.seconds for row in agg.by_day.values()) == 152_154
    assert score(agg, ()).active_hours == Decimal("42.26")


def test_money_is_exact_past_28_digits() -> None:
    assert str(money(999_999_999_999_999_999_999_999_999_999_999)) == (
        "999999999999999.999999999999999999"
    )
    assert str(money(-1_500_000_000_000_000_000)) == "-1.5"
    assert str(money(7 * 10**18)) == "7" and str(money(10**36)) == "1000000000000000000"
