"""Scoring helpers (pure)."""

from __future__ import annotations

from decimal import Decimal

from tokennotes.config import DEFAULT_GRADES
from tokennotes.reporter.aggregate import Bucket
from tokennotes.reporter.score import (
    cache_hit_ratio,
    compare,
    day_series,
    grade_for,
    per,
    ratio,
    scale_equivalents,
    week_series,
)


def test_grades_follow_the_thresholds() -> None:
    # the seed tracker's day: 148 points for $7.75 is 19.1 points per dollar, an A+
    assert grade_for(ratio(148, Decimal("7.75")), DEFAULT_GRADES) == "A+"
    assert grade_for(Decimal(15), DEFAULT_GRADES) == "A+"
    assert grade_for(Decimal("14.99"), DEFAULT_GRADES) == "A"
    assert grade_for(Decimal(5), DEFAULT_GRADES) == "B"
    assert grade_for(Decimal(2), DEFAULT_GRADES) == "C"
    assert grade_for(Decimal("1.99"), DEFAULT_GRADES) == "D"
    assert grade_for(None, DEFAULT_GRADES) == ""
    assert grade_for(Decimal(3), (("gold", Decimal(3)),)) == "gold"


def test_ratios() -> None:
    assert ratio(148, Decimal("7.75")) == Decimal("19.0968")
    assert ratio(1, 0) is None
    assert per(Decimal("0.1162"), 5) == Decimal("0.02324")
    assert per(Decimal(1), 0) is None
    bucket = Bucket(input=100, cache_read=800, cache_write=100)
    assert cache_hit_ratio(bucket) == Decimal("0.8")
    assert cache_hit_ratio(Bucket()) is None


def test_comparison() -> None:
    c = compare(Decimal("1.00"), 5, Decimal("10"), 40)
    assert (c.cost_per_item, c.trailing_cost_per_item) == (Decimal("0.2"), Decimal("0.25"))
    assert c.change == Decimal("-0.2")
    assert compare(Decimal(1), 0, Decimal(1), 1).change is None


def test_day_series_fills_gaps_and_averages_seven_days() -> None:
    days = day_series(
        {"2026-11-01": Bucket(input=700, manual=100), "2026-11-08": Bucket(input=70)},
        "2026-11-01",
        "2026-11-08",
    )
    assert [d.day for d in days][:2] == ["2026-11-01", "2026-11-02"]
    assert len(days) == 8
    assert [d.moving_average for d in days] == [100] * 7 + [10]
    assert (days[0].exact, days[0].manual) == (600, 100)
    weeks = week_series(days)
    assert [(w.week, w.tokens) for w in weeks] == [("2026-W44", 700), ("2026-W45", 70)]


def test_scale_equivalents_show_their_math() -> None:
    words, novels, hours = scale_equivalents(3_100_000)
    assert words.value == Decimal("2325000.00")
    assert novels.value == Decimal("25.8")
    assert hours.value == Decimal("155.0")
    assert "0.75" in words.math and "90,000" in novels.math and "250" in hours.math


def test_a_series_may_end_on_the_last_day_there_is() -> None:
    """A note dated 9999-12-31 (valid, if odd) once overflowed the date after it."""
    points = day_series({}, "9999-12-29", "9999-12-31")
    assert [p.day for p in points] == ["9999-12-29", "9999-12-30", "9999-12-31"]
