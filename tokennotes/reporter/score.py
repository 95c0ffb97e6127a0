"""Score an aggregate: what the spend bought (pure).

Points per dollar = points / cost; cost per item = cost / items (also per output type); cost per
point; cache hit ratio = cache_read / (input + cache_read + cache_write); a grade from the
points-per-dollar thresholds of the config (best first, "D" below the last). Cost is the whole
spend of the scope, including spend on commits that never landed (shown apart as cost without
outcome), so an abandoned branch lowers the score instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from tokennotes.reporter.aggregate import ZERO, Aggregate, Bucket, week_of

LOWEST_GRADE = "D"
WORDS_PER_TOKEN = Decimal("0.75")
WORDS_PER_NOVEL = 90_000
WORDS_PER_MINUTE = 250
_RATIO = Decimal("0.0001")
_MONEY = Decimal("0.000001")


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """``numerator / denominator`` rounded to 4 places, None when the denominator is 0."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(_RATIO, ROUND_HALF_EVEN)


def per(cost: Decimal, count: int) -> Decimal | None:
    """Cost per unit, rounded to a millionth of a dollar; None when there are no units."""
    if not count:
        return None
    return (cost / count).quantize(_MONEY, ROUND_HALF_EVEN)


def grade_for(points_per_dollar: Decimal | None, grades: Sequence[tuple[str, Decimal]]) -> str:
    """The first grade whose threshold ``points_per_dollar`` reaches; "" when there is no spend."""
    if points_per_dollar is None:
        return ""
    for name, threshold in grades:
        if points_per_dollar >= threshold:
            return name
    return LOWEST_GRADE


def cache_hit_ratio(bucket: Bucket) -> Decimal | None:
    return ratio(bucket.cache_read, bucket.input + bucket.cache_read + bucket.cache_write)


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    """Files waiting in the draft/pipeline globs at the head commit, and their words."""

    files: int = 0
    words: int = 0
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The period's cost per item against a trailing window's (``change``: a fraction)."""

    cost_per_item: Decimal | None
    trailing_cost_per_item: Decimal | None
    trailing_cost: Decimal
    trailing_items: int
    days: int = 30

    @property
    def change(self) -> Decimal | None:
        if self.cost_per_item is None or not self.trailing_cost_per_item:
            return None
        return ratio(self.cost_per_item - self.trailing_cost_per_item, self.trailing_cost_per_item)


def compare(
    period_cost: Decimal,
    period_items: int,
    trailing_cost: Decimal,
    trailing_items: int,
    days: int = 30,
) -> Comparison:
    return Comparison(
        cost_per_item=per(period_cost, period_items),
        trailing_cost_per_item=per(trailing_cost, trailing_items),
        trailing_cost=trailing_cost,
        trailing_items=trailing_items,
        days=days,
    )


@dataclass(frozen=True, kw_only=True)
class TypeScore:
    """One output type: its share of spend and what each item cost."""

    items: int
    points: int
    cost: Decimal
    tokens: int
    share: Decimal | None
    cost_per_item: Decimal | None


@dataclass(frozen=True, kw_only=True)
class Score:
    items: int
    points: int
    words: int
    cost: Decimal
    points_per_dollar: Decimal | None
    cost_per_item: Decimal | None
    cost_per_point: Decimal | None
    cache_hit_ratio: Decimal | None
    grade: str
    active_hours: Decimal
    by_type: dict[str, TypeScore]


def _unknown(b: Bucket) -> bool:
    """Whether a bucket's spend has no known cost at all (every token of it unpriced): its cost
    per item is unknown, not $0."""
    return bool(b.unpriced) and not b.cost


def score(agg: Aggregate, grades: Sequence[tuple[str, Decimal]]) -> Score:
    total = agg.total
    ppd = ratio(total.points, total.cost) if total.cost else None
    by_type = {
        name: TypeScore(
            items=b.items,
            points=b.points,
            cost=b.cost,
            tokens=b.total,
            share=ratio(b.cost, total.cost),
            cost_per_item=None if _unknown(b) else per(b.cost, b.items),
        )
        for name, b in agg.by_type.items()
    }
    unknown = _unknown(total)
    return Score(
        items=total.items,
        points=total.points,
        words=total.words,
        cost=total.cost,
        points_per_dollar=ppd,
        cost_per_item=None if unknown else per(total.cost, total.items),
        cost_per_point=None if unknown else per(total.cost, total.points),
        cache_hit_ratio=cache_hit_ratio(total),
        grade=grade_for(ppd, grades),
        active_hours=(Decimal(sum(d.seconds for d in agg.by_day.values())) / 3600).quantize(
            Decimal("0.01")
        ),
        by_type=by_type,
    )


@dataclass(frozen=True, kw_only=True)
class Equivalent:
    """A huge token count in human units; ``math`` says how it was computed."""

    name: str
    value: Decimal
    math: str


def scale_equivalents(tokens: int) -> list[Equivalent]:
    """Tokens as words, novels and hours of reading (rough, and labelled as such)."""
    words = tokens * WORDS_PER_TOKEN
    return [
        Equivalent(name="words", value=words, math=f"tokens × {WORDS_PER_TOKEN} words per token"),  # noqa: RUF001
        Equivalent(
            name="novels",
            value=(words / WORDS_PER_NOVEL).quantize(Decimal("0.1")),
            math=f"words ÷ {WORDS_PER_NOVEL:,} words per novel",
        ),
        Equivalent(
            name="hours of reading",
            value=(words / WORDS_PER_MINUTE / 60).quantize(Decimal("0.1")),
            math=f"words ÷ {WORDS_PER_MINUTE} words per minute ÷ 60",
        ),
    ]


@dataclass(frozen=True, kw_only=True)
class DayPoint:
    """One calendar day of a window (days without records included) for charts and tables."""

    day: str
    total: int
    exact: int
    estimated: int
    manual: int
    cost: Decimal
    items: int
    moving_average: Decimal  # tokens, mean of this day and the six before it


def day_series(by_day: Mapping[str, Bucket], first: str, last: str) -> list[DayPoint]:
    """Every day from ``first`` to ``last`` (inclusive), with a 7-day moving average of tokens
    (over the days of the series: the first six days average fewer days with data)."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    points: list[DayPoint] = []
    window: list[int] = []
    for offset in range((end - start).days + 1):  # no day past ``end``: 9999-12-31 has none
        key = (start + timedelta(days=offset)).isoformat()
        b = by_day.get(key) or Bucket()
        window.append(b.total)
        if len(window) > 7:
            window.pop(0)
        points.append(
            DayPoint(
                day=key,
                total=b.total,
                exact=b.exact,
                estimated=b.estimated,
                manual=b.manual,
                cost=b.cost,
                items=b.items,
                moving_average=(Decimal(sum(window)) / 7).quantize(Decimal(1)),
            )
        )
    return points


@dataclass(frozen=True, kw_only=True)
class WeekPoint:
    week: str
    tokens: int
    cost: Decimal
    items: int


def week_series(days: Sequence[DayPoint]) -> list[WeekPoint]:
    """Sum days into ISO weeks (in order)."""
    weeks: dict[str, list[int | Decimal]] = {}
    for d in days:
        acc = weeks.setdefault(week_of(d.day), [0, ZERO, 0])
        acc[0] += d.total
        acc[1] += d.cost
        acc[2] += d.items
    return [
        WeekPoint(week=w, tokens=int(a[0]), cost=Decimal(a[1]), items=int(a[2]))
        for w, a in weeks.items()
    ]
