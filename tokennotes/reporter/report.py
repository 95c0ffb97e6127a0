"""The report: everything a template, a chart or the JSON output shows, computed once (pure).

``build_report`` takes what was read (facts, commits, landed commits, the pipeline) and the
config, and returns a ``Report``: the aggregate, the score, the budget verdicts, the alerts, the
comparison with the trailing 30 days, and the day/week series of the charts. Rendering only
formats it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from tokennotes.config import Config
from tokennotes.pricing import PER, PriceTable
from tokennotes.reporter.aggregate import (
    Aggregate,
    Bucket,
    CommitInfo,
    Deduped,
    LocalDays,
    Pricer,
    Rates,
    Scope,
    ShallowLanded,
    aggregate,
    costly_commits,
    day_totals,
    settle,
    spend_in,
    sum_buckets,
    week_of,
)
from tokennotes.reporter.facts import Parsed
from tokennotes.reporter.gate import (
    Alert,
    BudgetState,
    Verdict,
    check_alerts,
    judge_budget,
    worst,
)
from tokennotes.reporter.score import (
    Comparison,
    DayPoint,
    Equivalent,
    Pipeline,
    Score,
    WeekPoint,
    compare,
    day_series,
    scale_equivalents,
    score,
    week_series,
)

TRAILING_DAYS = 30
SERIES_DAYS = TRAILING_DAYS + 7
HEATMAP_DAYS = 371  # 53 weeks
NO_PIPELINE = Pipeline()
MAX_SERIES_DAYS = 3660  # a day series (budgets, charts) covers at most the last ten years


def zone_days(config: Config) -> LocalDays:
    """Local days in the configured time zone (TokennotesError for an unknown zone)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from tokennotes.errors import TokennotesError

    try:
        return LocalDays(ZoneInfo(config.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise TokennotesError(
            f"timezone: unknown time zone {config.timezone!r} (use an IANA name like Europe/Berlin)"
        ) from None


def utc_stamp(moment: datetime) -> str:
    """An aware datetime as the ``YYYY-MM-DDTHH:MM:SS`` UTC form scopes compare with."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp[:19]).replace(tzinfo=timezone.utc)


@dataclass(frozen=True, kw_only=True)
class Report:
    """A scored report; ``days``/``weeks`` are filled calendars (days without records too)."""

    title: str
    scope: Scope
    generated_at: str
    timezone: str
    price_table: str
    default_branch: str
    head: str
    notes: int
    skipped_lines: int
    errors: tuple[str, ...]
    agg: Aggregate
    score: Score
    pipeline: Pipeline
    comparison: Comparison | None
    budget: Verdict
    budgets: tuple[Verdict, ...]
    alerts: tuple[Alert, ...]
    days: tuple[DayPoint, ...]
    weeks: tuple[WeekPoint, ...]
    equivalents: tuple[Equivalent, ...]
    approximate_models: tuple[str, ...] = ()
    landing_unknown: int = 0  # commits with records a shallow clone lacks: counted as landed
    daily_target: int | None = None
    budget_mode: str = "fail"
    charts: tuple[tuple[str, str], ...] = field(default=())  # (alt text, URL) to embed

    @property
    def landing_notice(self) -> str:
        return landing_notice(self.landing_unknown)

    @property
    def empty(self) -> bool:
        return not (self.agg.usage_records or self.agg.output_records)

    @property
    def reconciles(self) -> bool:
        """Whether every breakdown adds up to the total, in tokens and in dollars."""
        total = self.agg.total
        for table in (
            self.agg.by_agent,
            self.agg.by_model,
            self.agg.by_fidelity,
            self.agg.by_host,
            self.agg.by_author,
            self.agg.by_type,
        ):
            parts = sum_buckets(table.values())
            if (parts.total, parts.cost, parts.reasoning) != (
                total.total,
                total.cost,
                total.reasoning,
            ):
                return False
        days = sum_buckets(d.bucket for d in self.agg.by_day.values())
        return (days.total, days.cost, days.items) == (total.total, total.cost, total.items)

    @property
    def last_30_days(self) -> tuple[DayPoint, ...]:
        return self.days[-TRAILING_DAYS:]


def _budgets(
    agg: Aggregate, config: Config, overridden: bool, totals: Mapping[str, Bucket]
) -> tuple[Verdict, tuple[Verdict, ...]]:
    """The verdicts of the budgets that apply, and the one shown.

    A range is judged against the PR budget. A window or all history is judged per day and
    per ISO week that holds its spend, each period whole up to the scope's end: ``totals``
    (local day -> spend) reaches 30 days before a window, so a window starting on a Thursday
    still counts the week's Monday.
    """
    budget = config.budget
    total = agg.total
    has_data = agg.usage_records > 0
    if agg.scope.kind == "range":
        verdict = judge_budget(
            "pr",
            budget.pr,
            spent_usd=total.cost,
            spent_tokens=total.total,
            has_data=has_data,
            warn_at=budget.warn_at,
            overridden=overridden,
        )
        return verdict, (verdict,)
    verdicts: list[Verdict] = []
    for kind, limit, key in (
        ("daily", budget.daily, lambda day: day),
        ("weekly", budget.weekly, week_of),
    ):
        if not limit.enabled:
            continue
        touched = {key(day) for day, row in agg.by_day.items() if row.bucket.records}
        periods: dict[str, list[Any]] = {}
        for day, bucket in sorted(totals.items()):
            if bucket.records and key(day) in touched:
                acc = periods.setdefault(key(day), [0, Decimal(0)])
                acc[0] += bucket.total
                acc[1] += bucket.cost
        judged = [
            judge_budget(
                kind,
                limit,
                spent_usd=cost,
                spent_tokens=tokens,
                has_data=True,
                warn_at=budget.warn_at,
                overridden=overridden,
                period=name,
            )
            for name, (tokens, cost) in periods.items()
        ]
        verdicts.append(
            worst(judged)
            or judge_budget(
                kind,
                limit,
                spent_usd=total.cost,
                spent_tokens=total.total,
                has_data=False,
                warn_at=budget.warn_at,
            )
        )
    if not verdicts:
        off = Verdict(
            kind="weekly",
            state=BudgetState.DISABLED,
            spent_usd=total.cost,
            spent_tokens=total.total,
        )
        return off, ()
    return worst(verdicts) or verdicts[0], tuple(verdicts)


def _series(
    agg: Aggregate,
    everything: Deduped,
    days: LocalDays,
    pricer: Pricer,
    now: datetime,
    series_days: int,
) -> tuple[list[DayPoint], dict[str, Bucket]]:
    """The daily series of the charts and tables, and the day totals behind it.

    A window's series reaches ``series_days`` before its end (its ``--until``, else ``now``)
    and, for the comparison, 30 days before its start (from every note, by local day); a
    range's or all history's has the days with records. Days before the first one with data are
    left out. A window's day totals also reach its own ends, which the budgets judge: an open
    end takes every later record (as the report does), a window without a start every earlier
    one.
    """
    scope = agg.scope
    if scope.kind == "window":
        until = scope.until or utc_stamp(now)
        back = _moment(until) - timedelta(days=series_days)
        if scope.since is not None:
            back = min(back, _moment(scope.since) - timedelta(days=TRAILING_DAYS))
        since = utc_stamp(back)
        totals = day_totals(
            everything, days, pricer, since if scope.since is not None else "", scope.until or "~"
        )
        first = days.day(since + "Z")
        window_first = days.day((scope.since or since) + "Z")
        with_data = [day for day, b in totals.items() if b.records or b.items]
        if with_data:  # no empty stretch before the first recorded day
            first = max(first, min(min(with_data), window_first))
        last = days.day(utc_stamp(_moment(until) - timedelta(seconds=1)) + "Z")
    elif agg.by_day:
        totals = {day: row.bucket for day, row in agg.by_day.items()}
        first, last = min(totals), max(totals)
    else:
        return [], {}
    earliest = (date.fromisoformat(last) - timedelta(days=MAX_SERIES_DAYS - 1)).isoformat()
    return day_series(totals, max(first, earliest), max(first, last)), totals


def _week_pair(series: Sequence[DayPoint], totals: Mapping[str, Bucket]) -> list[WeekPoint]:
    """The 7 days ending on the series' last day and the 7 before them, from the day totals
    (for the week-over-week alert): days the series leaves out for want of data count as
    nothing spent, so a history shorter than two weeks still compares."""
    if not series:
        return []
    try:
        last = date.fromisoformat(series[-1].day)
        starts = [last - timedelta(days=back) for back in (13, 6)]
    except OverflowError:  # a series ending in the first days of year 1
        return []
    pair = []
    for start in starts:
        names = [(start + timedelta(days=k)).isoformat() for k in range(7)]
        buckets = [b for b in map(totals.get, names) if b is not None]
        pair.append(
            WeekPoint(
                week=f"{names[0]}..{names[-1]}",
                tokens=sum(b.total for b in buckets),
                cost=sum((b.cost for b in buckets), Decimal(0)),
                items=sum(b.items for b in buckets),
            )
        )
    return pair


def _trailing(totals: Mapping[str, Bucket], first: str, days: int) -> tuple[Decimal, int]:
    """Cost and items of the ``days`` local days before ``first``."""
    start = (date.fromisoformat(first) - timedelta(days=days)).isoformat()
    cost, items = Decimal(0), 0
    for day, b in totals.items():
        if start <= day < first:
            cost += b.cost
            items += b.items
    return cost, items


def build_report(
    *,
    parsed: Parsed,
    scope: Scope,
    config: Config,
    pricer: Pricer,
    price_table: str,
    now: datetime,
    commits: Sequence[CommitInfo] = (),
    landed: Container[str] = frozenset(),
    history: Parsed | None = None,
    pipeline: Pipeline = NO_PIPELINE,
    default_branch: str = "",
    head: str = "",
    notes: int = 0,
    overridden: bool = False,
    title: str = "",
    approximate_models: Sequence[str] = (),
    describe: Callable[[Iterable[str]], Mapping[str, CommitInfo]] | None = None,
    series_days: int = SERIES_DAYS,
    also_count: Collection[str] = (),
) -> Report:
    """Score ``parsed`` over ``scope``.

    ``history``: every fact of the notes ref, for the trailing comparison and the week-over-week
    alert (a window's ``parsed`` is already all of them). ``describe``: looks up commits by sha
    (subjects and authors of the top commits of a window, which git did not list).
    ``series_days``: how far back before a window's end its daily series reaches (the 30-day
    table needs 37 days for a full 7-day average in each row; a heatmap wants a year).
    ``also_count``: more commits of the scope, counted but not described (all history: the
    default branch's commits).
    """
    days = zone_days(config)
    deduped = settle(parsed, landed)
    agg = aggregate(
        deduped,
        scope=scope,
        pricer=pricer,
        days=days,
        commits=commits,
        landed=landed,
        top=config.report.top_commits,
        also_count=also_count,
    )
    missing = [row.sha for row in agg.top_commits if not row.subject]
    if describe is not None and missing:
        agg = _with_details(agg, describe(missing))
    scored = score(agg, config.scoring.grades)
    everything = deduped if history is None else settle(history, landed)
    series, totals = _series(agg, everything, days, pricer, now, series_days)
    weeks = week_series(series)
    comparison: Comparison | None = None
    if scope.kind == "window" and scope.since is not None:
        cost, items = _trailing(totals, days.day(scope.since + "Z"), TRAILING_DAYS)
        comparison = compare(agg.total.cost, agg.total.items, cost, items)
    elif scope.kind == "range" and history is not None:
        end = utc_stamp(now)
        start = utc_stamp(_moment(end) - timedelta(days=TRAILING_DAYS))
        (trailing,) = spend_in(everything, [(start, end)], pricer)
        comparison = compare(agg.total.cost, agg.total.items, trailing.cost, trailing.items)
    week_pair = _week_pair(series, totals) if scope.kind != "range" else []
    verdict, verdicts = _budgets(agg, config, overridden, totals)
    costly = costly_commits(agg, tokens=config.alerts.commit_tokens, usd=config.alerts.commit_usd)
    alerts = check_alerts(costly, week_pair, config.alerts)
    landing_unknown = 0
    if isinstance(landed, ShallowLanded) and scope.needs_landing:
        landing_unknown = len(landed.unknown(_carriers(deduped, scope)))
    return Report(
        title=title or _title(scope),
        scope=scope,
        generated_at=utc_stamp(now) + "Z",
        timezone=config.timezone,
        price_table=price_table,
        default_branch=default_branch,
        head=head,
        notes=notes,
        skipped_lines=parsed.skipped,
        errors=tuple(parsed.errors),
        agg=agg,
        score=scored,
        pipeline=pipeline,
        comparison=comparison,
        budget=verdict,
        budgets=verdicts,
        alerts=tuple(alerts),
        days=tuple(series),
        weeks=tuple(weeks),
        equivalents=tuple(scale_equivalents(agg.total.total)),
        approximate_models=tuple(approximate_models),
        landing_unknown=landing_unknown,
        daily_target=config.report.daily_target_tokens,
        budget_mode=config.budget.mode,
    )


def landing_notice(unknown: int) -> str:
    """What a shallow clone left unknown (``unknown`` commits with records it lacks), or ""."""
    if not unknown:
        return ""
    many = unknown != 1
    return (
        f"This clone is shallow: {unknown:,} commit{'s' if many else ''} with records "
        f"{'are' if many else 'is'} not in it, so whether {'they' if many else 'it'} landed is "
        f"unknown; {'they count' if many else 'it counts'} as landed. Fetch the whole history "
        "to tell (`git fetch --unshallow`; in GitHub Actions, `fetch-depth: 0`)."
    )


def _carriers(deduped: Deduped, scope: Scope) -> set[str]:
    """The commits carrying the facts of ``scope``."""
    shas: set[str] = set()
    for i, fact in enumerate(deduped.facts):
        if scope.holds(fact.ts):
            shas.add(deduped.homes[i])
            shas.update(deduped.carriers.get(i, ()))
    return shas


def _with_details(agg: Aggregate, by_sha: Mapping[str, CommitInfo]) -> Aggregate:
    """Fill in subjects and authors of the top commits from ``by_sha``."""
    rows = [
        replace(
            row,
            subject=row.subject or by_sha[row.sha].subject,
            author=row.author or by_sha[row.sha].author,
            ts=row.ts or by_sha[row.sha].ts,
        )
        if row.sha in by_sha
        else row
        for row in agg.top_commits
    ]
    return replace(agg, top_commits=rows)


def _title(scope: Scope) -> str:
    if scope.kind == "range":
        return f"commits {scope.spec}"
    if scope.kind == "all":
        return "all history"
    return f"{scope.spec}" if scope.spec else "time window"


def pricer_for(table: PriceTable, approximate: set[str] | None = None) -> Pricer:
    """Per-token rates from a price table (``pricing.cost_of`` is the same sum, per million).

    Models priced only by a prefix match are added to ``approximate``.
    """

    def pricer(model: str, tier: str) -> Rates | None:
        price, approx = table.lookup(model)
        if price is None:
            return None
        if approx and approximate is not None:
            approximate.add(model)
        r = price.rates(tier)
        return Rates(
            input=r.input.scaleb(-PER),
            output=r.output.scaleb(-PER),
            cache_read=r.cache_read.scaleb(-PER),
            cache_write=r.cache_write_5m.scaleb(-PER),
            cache_write_1h=r.cache_write_1h.scaleb(-PER),
        )

    return pricer
