"""Aggregate the facts of a scope: tokens, cost, items and points by every dimension (pure).

The input is what was read (``facts.Parsed``: one fact per ``id``, the commit it was first read
from, the other commits carrying copies), the commits of the scope and which commits landed on
the default branch. Steps:

1. ``settle`` (``dedupe_facts`` for pairs built in memory): each fact gets a *home* commit, the
   first landed commit carrying it, else the first carrying it; facts superseded by another
   fact are dropped. Duplicates and superseded facts are counted.
2. ``UsageSums``: price every usage fact of the scope (a time window compares ``ts``) with the
   current rates and sum it by (agent, model, fidelity, host), by day (in the configured time
   zone) and by commit, in one pass over the settled facts.
3. ``aggregate``: the output facts, and from the sums every breakdown: model, agent, fidelity,
   host, day, author and output type. In a window, or over all history, output records count
   only when their commit landed; spend on commits that never landed is cost without outcome.

Cost is exact: summed as integers of 10**-18 dollars and shown as ``Decimal``; by-dimension sums
add up to the total to the last digit. A model
without a price keeps its tokens and contributes no cost; it is listed, never priced at 0.
A commit's spend is shared among its output types in proportion to their points (items when no
points, equally when neither) so that ``by_type`` adds up too.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from operator import attrgetter, itemgetter
from typing import Any, Literal, NamedTuple

from tokennotes.reporter.facts import Fact, Output, Parsed, Usage, collect_facts

ZERO = Decimal(0)
NOT_LANDED = "(not landed)"
NO_OUTPUT = "(no output)"
UNKNOWN = "(unknown)"
_HOUR = timedelta(hours=1)

ScopeKind = Literal["range", "window", "all"]


class Rates(NamedTuple):
    """USD per token of each bucket for one model and tier."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal


Pricer = Callable[[str, str], "Rates | None"]  # (model, tier) -> rates, None when unpriced


ATTO = 18  # sums of money are kept as integers of 10**-18 dollars, exact and fast


class AttoRates(NamedTuple):
    """``Rates`` in 10**-18 dollars per token (integers)."""

    input: int
    output: int
    cache_read: int
    cache_write: int
    cache_write_1h: int


def atto_rates(rates: Rates) -> AttoRates:
    """Rates as integers of 10**-18 dollars (exact for list prices with up to 12 decimal places
    per million tokens; finer ones are rounded to the nearest 10**-18 dollar)."""
    return AttoRates(*(int(r.scaleb(ATTO).to_integral_value(ROUND_HALF_EVEN)) for r in rates))


def atto_cost(rates: AttoRates, usage: Usage) -> int:
    """What ``usage`` costs at ``rates``, in 10**-18 dollars: the rule of
    ``tokennotes.pricing.cost_of`` (output includes reasoning, priced once; the 1-hour part of
    the cache writes at its own rate) in integers, so that sums stay exact and fast."""
    one_hour = min(usage.cache_write_1h, usage.cache_write)
    return (
        usage.input * rates.input
        + usage.output * rates.output
        + usage.cache_read * rates.cache_read
        + (usage.cache_write - one_hour) * rates.cache_write
        + one_hour * rates.cache_write_1h
    )


def money(atto: int) -> Decimal:
    """10**-18 dollars as a Decimal number of dollars, without trailing zeros."""
    if not atto:
        return ZERO
    # built from its digits: exact at any size (scaleb and normalize round to the context's
    # 28 digits, and a recorded cost may have 15 + 18)
    digits = str(abs(atto))
    zeros = min(len(digits) - len(digits.rstrip("0")), ATTO)
    digits = digits[: len(digits) - zeros]
    return Decimal((int(atto < 0), tuple(map(int, digits)), zeros - ATTO))


def to_atto(value: Decimal) -> int:
    return int(value.scaleb(ATTO).to_integral_value(ROUND_HALF_EVEN))


class _AttoPricer:
    """A ``Pricer`` cached per (model, tier), in 10**-18 dollars per token."""

    def __init__(self, pricer: Pricer) -> None:
        self.pricer = pricer
        self.cache: dict[tuple[str, str], AttoRates | None] = {}

    def __call__(self, model: str, tier: str) -> AttoRates | None:
        key = (model, tier)
        if key in self.cache:
            return self.cache[key]
        rates = self.pricer(model, tier)
        found = self.cache[key] = None if rates is None else atto_rates(rates)
        return found


@dataclass(frozen=True, kw_only=True)
class Scope:
    """What a report covers: a commit range, a time window, or all history.

    ``since``/``until`` are UTC times ``YYYY-MM-DDTHH:MM:SS`` (inclusive/exclusive); either may be
    None (open). Only ``window`` and ``all`` scopes require output records to have landed.
    """

    kind: ScopeKind
    spec: str = ""
    since: str | None = None
    until: str | None = None

    @property
    def needs_landing(self) -> bool:
        return self.kind != "range"

    def holds(self, ts: str) -> bool:
        stamp = ts[:19]
        return (self.since is None or stamp >= self.since) and (
            self.until is None or stamp < self.until
        )


@dataclass(frozen=True, kw_only=True)
class CommitInfo:
    """A commit as git knows it (``ts``: committer time, canonical UTC)."""

    sha: str
    parents: tuple[str, ...] = ()
    author: str = ""
    ts: str = ""
    subject: str = ""


@dataclass(frozen=True, kw_only=True)
class Deduped:
    """One fact per id with its home commit and whether that landed; superseded facts dropped."""

    facts: list[Fact]
    homes: list[str]
    landed: list[bool]
    carriers: dict[int, list[str]]  # index -> the other commits carrying the same fact
    duplicates: int
    superseded: int
    dropped: frozenset[str] = frozenset()  # the ids of the superseded facts
    copies: dict[int, int] = field(default_factory=dict)  # index -> copies read after the first
    # each superseded fact's time and number of copies (to count the ones of a window)
    dropped_copies: tuple[tuple[str, int], ...] = ()

    def counts_in(self, since: str, until: str) -> tuple[int, int]:
        """The duplicates and superseded facts among the facts whose time (seconds, UTC) is
        in ``[since, until)``: what a window report counts."""
        facts = self.facts
        duplicates = sum(n for i, n in self.copies.items() if since <= facts[i].ts[:19] < until)
        superseded = 0
        for ts, n in self.dropped_copies:
            if since <= ts[:19] < until:
                superseded += 1
                duplicates += n
        return duplicates, superseded


_SUPERSEDES = attrgetter("supersedes")


class ShallowLanded(frozenset[str]):
    """The commits reachable from the default branch of a shallow clone, where the history
    past the clone's depth is missing.

    A commit the clone lacks may have landed or not. ``in`` counts it as landed: a report does
    not call spend "without outcome" on no evidence (and says how many commits it could not
    tell, see ``unknown``). Iterating, like ``len``, gives the reachable commits only.
    """

    present: frozenset[str]  # every commit the clone has

    def __new__(cls, reachable: Iterable[str], present: Iterable[str]) -> ShallowLanded:
        self = super().__new__(cls, reachable)
        self.present = frozenset(present)
        return self

    def __contains__(self, sha: object) -> bool:
        return frozenset.__contains__(self, sha) or sha not in self.present

    def unknown(self, shas: Iterable[str]) -> set[str]:
        """The commits of ``shas`` the clone lacks: whether they landed is unknown."""
        return {sha for sha in shas if sha not in self.present}


def settle(parsed: Parsed, landed: Container[str] = frozenset()) -> Deduped:
    """Home each fact on a landed commit when one carries it; drop superseded facts."""
    facts, homes, carriers = parsed.records, list(parsed.homes), dict(parsed.carriers)
    lands = list(map(landed.__contains__, homes))
    for i, others in parsed.carriers.items():
        if lands[i]:
            continue
        for sha in others:
            if sha in landed:
                carriers[i] = [homes[i], *(o for o in others if o != sha)]
                homes[i] = sha
                lands[i] = True
                break
    dropped = _superseded(facts, lands) if any(filter(_SUPERSEDES, facts)) else set()
    copies = parsed.copies
    if not dropped:
        return Deduped(
            facts=facts,
            homes=homes,
            landed=lands,
            carriers=carriers,
            duplicates=parsed.duplicates,
            superseded=0,
            copies=copies,
        )
    keep = [i for i, fact in enumerate(facts) if fact.id not in dropped]
    return Deduped(
        facts=[facts[i] for i in keep],
        homes=[homes[i] for i in keep],
        landed=[lands[i] for i in keep],
        carriers={n: carriers[i] for n, i in enumerate(keep) if i in carriers},
        duplicates=parsed.duplicates,
        superseded=len(facts) - len(keep),
        dropped=frozenset(dropped),
        copies={n: copies[i] for n, i in enumerate(keep) if i in copies},
        dropped_copies=tuple(
            (fact.ts, copies.get(i, 0)) for i, fact in enumerate(facts) if fact.id in dropped
        ),
    )


def _superseded(facts: Sequence[Fact], lands: Sequence[bool]) -> set[str]:
    """The ids of the facts to drop: each named in the ``supersedes`` of a fact read, unless it
    landed and that fact did not (an amend undone by a reset: the amended commit never landed,
    the original did)."""
    where = {fact.id: i for i, fact in enumerate(facts)}
    dropped = set()
    for i, fact in enumerate(facts):
        for old in fact.supersedes:
            j = where.get(old)
            if j is not None and (lands[i] or not lands[j]):
                dropped.add(old)
    return dropped


def dedupe_facts(
    pairs: Iterable[tuple[str, Fact]], landed: Container[str] = frozenset()
) -> Deduped:
    """``settle`` for ``(commit, fact)`` pairs built in memory."""
    return settle(collect_facts(pairs), landed)


@dataclass(frozen=True, kw_only=True)
class Bucket:
    """Sums for one slice: tokens by kind, priced cost, and shipped output where it applies.

    ``unpriced`` is the part of ``total`` with no price (its cost is not in ``cost``);
    ``estimated`` and ``manual`` are the parts of ``total`` that are not exact measurements.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    cost: Decimal = ZERO
    unpriced: int = 0
    records: int = 0
    estimated: int = 0
    manual: int = 0
    items: int = 0
    points: int = 0
    words: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    @property
    def exact(self) -> int:
        return self.total - self.estimated - self.manual

    @property
    def inexact(self) -> bool:
        return bool(self.estimated or self.manual)


# accumulator slots: input, output, cache_read, cache_write, reasoning, cost, unpriced, records,
# estimated, manual, items, points, words
_SLOTS = 13


Acc = list[Any]  # a mutable Bucket, slot by slot (see _SLOTS)


def _new() -> Acc:
    return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]


def _bucket(acc: Acc) -> Bucket:
    return Bucket(
        input=acc[0],
        output=acc[1],
        cache_read=acc[2],
        cache_write=acc[3],
        reasoning=acc[4],
        cost=money(acc[5]),
        unpriced=acc[6],
        records=acc[7],
        estimated=acc[8],
        manual=acc[9],
        items=acc[10],
        points=acc[11],
        words=acc[12],
    )


def _merge(into: Acc, acc: Acc) -> None:
    for i in range(_SLOTS):
        into[i] += acc[i]


def sum_buckets(buckets: Iterable[Bucket]) -> Bucket:
    acc = _new()
    for b in buckets:
        _merge(acc, _as_list(b))
    return _bucket(acc)


def _as_list(b: Bucket) -> Acc:
    return [
        b.input,
        b.output,
        b.cache_read,
        b.cache_write,
        b.reasoning,
        to_atto(b.cost),
        b.unpriced,
        b.records,
        b.estimated,
        b.manual,
        b.items,
        b.points,
        b.words,
    ]


class LocalDays:
    """Calendar days (``YYYY-MM-DD``) of canonical UTC times in a time zone, cached per hour.

    A time whose local day lies past the calendar (the last hours of 9999 east of UTC: only a
    garbled record holds one) stays in UTC.
    """

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.utc = zone is timezone.utc or getattr(zone, "key", None) in ("UTC", "Etc/UTC")
        self._cache: dict[str, str] = {}

    def local(self, ts: str) -> datetime:
        moment = datetime(
            int(ts[0:4]),
            int(ts[5:7]),
            int(ts[8:10]),
            int(ts[11:13]),
            int(ts[14:16]),
            int(ts[17:19]),
            tzinfo=timezone.utc,
        )
        try:
            return moment.astimezone(self.zone)
        except OverflowError:
            return moment

    def day(self, ts: str) -> str:
        if self.utc:
            return ts[:10]
        key = ts[:13]
        found = self._cache.get(key)
        if found is not None:
            return found
        try:
            return self._day(ts, key)
        except OverflowError:
            return ts[:10]

    def _day(self, ts: str, key: str) -> str:
        start = datetime(
            int(ts[0:4]), int(ts[5:7]), int(ts[8:10]), int(ts[11:13]), tzinfo=timezone.utc
        )
        # the offsets of the hour's first and last instants (not of wall clocks that read as
        # the UTC times: those are off after a fall-back, as in America/Goose_Bay in 2009)
        local_start = start.astimezone(self.zone)
        before = local_start.utcoffset()
        after = (start + _HOUR - timedelta(seconds=1)).astimezone(self.zone).utcoffset()
        if before == after and local_start.minute == 0 and local_start.second == 0:
            found = local_start.date().isoformat()
            self._cache[key] = found
            return found
        return self.local(ts).date().isoformat()


def week_of(day: str) -> str:
    """The ISO week ``YYYY-Www`` of a ``YYYY-MM-DD`` day."""
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True, kw_only=True)
class CommitRow:
    """One commit's spend and output in the scope."""

    sha: str
    subject: str = ""
    author: str = ""
    ts: str = ""
    landed: bool = False
    bucket: Bucket = Bucket()
    cost_by_model: dict[str, Decimal] = field(default_factory=dict)
    types: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DayRow:
    """One local day: sums plus first and last activity (local ``HH:MM``), if any."""

    day: str
    bucket: Bucket
    first: str = ""
    last: str = ""
    hours: Decimal = ZERO
    seconds: int = 0  # the active time exactly (``hours`` is rounded to 28 digits)


@dataclass(frozen=True, kw_only=True)
class Aggregate:
    """Everything summed over a scope.

    ``commits`` lists every commit of a range scope in its order (oldest first); for a window it
    is empty and ``top_commits`` (by cost) is what a report shows. ``commit_spend`` has the
    (tokens, cost) of every commit with usage in the scope.
    """

    scope: Scope
    total: Bucket
    by_model: dict[str, Bucket]
    by_agent: dict[str, Bucket]
    by_fidelity: dict[str, Bucket]
    by_host: dict[str, Bucket]
    by_author: dict[str, Bucket]
    by_type: dict[str, Bucket]
    by_day: dict[str, DayRow]
    commits: list[CommitRow]
    top_commits: list[CommitRow]
    commit_spend: Mapping[str, Sequence[int]]  # sha -> sums (tokens in 0-3, 10**-18 $ in 5)
    commit_count: int
    commits_with_records: int
    commits_with_usage: int
    usage_records: int
    output_records: int
    duplicates: int
    superseded: int
    unpriced_models: tuple[str, ...]
    recorded_cost: Decimal
    recorded_records: int
    cost_changed: int
    unlanded: Bucket
    pending_items: int
    pending_points: int


def share_ints(value: int, weights: Sequence[int]) -> list[int]:
    """Split ``value`` by ``weights`` (largest remainders; the sum is exact)."""
    whole = sum(weights)
    base = [value * w // whole for w in weights]
    rest = value - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (-(value * weights[i] % whole), i))
    for i in order[:rest]:
        base[i] += 1
    return base


def share_money(value: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """Split ``value`` dollars by ``weights`` exactly (at 10**-18 dollar, largest remainders)."""
    return [money(part) for part in share_ints(to_atto(value), weights)]


def _split(acc: Acc, weights: Sequence[int]) -> list[Acc]:
    """Share a usage accumulator among output types (cost and every token count)."""
    parts = [_new() for _ in weights]
    for slot in range(10):
        for part, share in zip(parts, share_ints(acc[slot], weights), strict=True):
            part[slot] = share
    return parts


def spend_weights(outs: Sequence[Output]) -> dict[str, int]:
    """How a commit's spend is shared among its output types: by points, else items, else
    equally ({} without outputs)."""
    points: dict[str, int] = {}
    items: dict[str, int] = {}
    for out in outs:
        points[out.type] = points.get(out.type, 0) + out.points
        items[out.type] = items.get(out.type, 0) + out.items
    if any(points.values()):
        return {k: v for k, v in points.items() if v}
    if any(items.values()):
        return {k: v for k, v in items.items() if v}
    return dict.fromkeys(points, 1)


def _shares(outs: Sequence[Output]) -> tuple[tuple[str, int], ...]:
    """``spend_weights`` as sorted ``(type, weight)`` pairs."""
    return tuple(sorted(spend_weights(outs).items()))


def _add_spend(table: dict[str, Acc], name: str, acc: Acc) -> None:
    into = table.get(name)
    if into is None:
        into = table[name] = _new()
    for i in range(10):  # spend only: items and points come from the output records
        into[i] += acc[i]


def _add_output(table: dict[str, Acc], name: str, out: Output) -> None:
    acc = table.get(name)
    if acc is None:
        acc = table[name] = _new()
    acc[10] += out.items
    acc[11] += out.points
    acc[12] += out.words


def _sorted(groups: Mapping[str, Acc]) -> dict[str, Bucket]:
    buckets = {name: _bucket(acc) for name, acc in groups.items()}
    return dict(
        sorted(buckets.items(), key=lambda kv: (-kv[1].cost, -kv[1].total, -kv[1].points, kv[0]))
    )


_STEPS: tuple[int, ...] = tuple(10 ** (ATTO - n) for n in range(ATTO + 1))  # atto per digit
# a computed cost rounds (half up) to a recorded one of n decimals, ``atto`` in 10**-18 dollars,
# when _LOW[n] <= cost - atto < _HIGH[n]
_LOW: tuple[int, ...] = tuple(-(step // 2) for step in _STEPS)
_HIGH: tuple[int, ...] = tuple((step + 1) // 2 for step in _STEPS)


_COST_CHARS = 40  # a recorded cost longer than this is summed and compared as a Decimal


def recorded_atto(recorded: str) -> int | None:
    """A record-time cost (a plain decimal string) in 10**-18 dollars; None when it has more
    decimals than that, or is too long to be a real cost (int() refuses 4,300 digits)."""
    whole, _, frac = recorded.partition(".")
    if len(frac) > ATTO or len(recorded) > _COST_CHARS:
        return None
    return int(whole + frac) * _STEPS[len(frac)]


def same_cost(recorded: str, atto: int) -> bool:
    """Whether a record-time cost (a plain decimal string, as ``facts.Usage`` keeps it) matches
    a computed one (10**-18 dollars) at the recorded precision, rounding half up."""
    whole, _, frac = recorded.partition(".")
    places = len(frac)
    if places > ATTO or len(recorded) > _COST_CHARS:  # finer or odd: compare the exact values
        return Decimal(recorded) == money(atto)
    return _LOW[places] <= atto - int(whole + frac) * _STEPS[places] < _HIGH[places]


class _Class(NamedTuple):
    """What the usage of a commit is attributed to besides its own dimensions."""

    author: str
    shares: tuple[tuple[str, int], ...]  # output types and weights; () with ``marker``
    marker: str  # NOT_LANDED, NO_OUTPUT or ""


_UNSEEN: Any = object()  # not in a cache yet
_COST = itemgetter(5)  # the cost slot of an accumulator


class UsageSums:
    """The sums of the usage facts of a scope by (agent, model, fidelity, host), by day and by
    commit, with the record-time costs and the unpriced models.

    ``add_all`` is the hot loop of a report: one pass over the settled facts, where a commit's
    facts follow each other. A run of facts of one commit and one day is summed in local
    variables and flushed into the day and commit sums when it ends; rare facts (unpriced,
    estimated, manual) go through ``_add_rare``. The slot updates are written out on purpose.
    """

    def __init__(self, scope: Scope, pricer: Pricer, days: LocalDays) -> None:
        self.scope = scope
        self.days = days
        self.pricer = _AttoPricer(pricer)
        self.since = scope.since or ""
        self.until = scope.until or "~"
        self.windowed = scope.since is not None or scope.until is not None
        self.groups: dict[Any, Acc] = {}  # (agent, model, fidelity, host) -> sums
        self.by_day: dict[Any, Acc] = {}  # local day -> sums
        self.per_commit: dict[Any, Acc] = {}  # home commit -> sums
        self.activity: dict[str, list[str]] = {}  # day -> [first, last] (UTC)
        self.unpriced: dict[str, int] = {}
        self.recorded_records = 0
        self.cost_changed = 0
        self._recorded_atto = 0  # record-time costs, exact to 10**-18 dollars
        self._recorded_finer = ZERO  # and the (odd) ones written with more decimals
        self._utc_days = days.utc
        self._rates = self.pricer.cache

    @property
    def count(self) -> int:
        """How many usage facts are summed."""
        return sum(acc[7] for acc in self.per_commit.values())

    @property
    def recorded_cost(self) -> Decimal:
        """The record-time costs of the facts summed (those that had one)."""
        if not self._recorded_finer:
            return money(self._recorded_atto)
        with localcontext() as exact:  # Decimal's 28 digits would round a sum this large
            exact.prec = 100
            return money(self._recorded_atto) + self._recorded_finer

    def add_all(self, facts: Iterable[Fact], homes: Iterable[str]) -> UsageSums:
        """Count ``facts``, ``homes`` being their commits (output facts and facts outside the
        scope are ignored); returns ``self``."""
        groups, rates_of = self.groups, self._rates
        windowed, since, until, utc_days = self.windowed, self.since, self.until, self._utc_days
        # a run: the facts of one commit and one day (a note's records are usually written at
        # once), summed in local variables and flushed when the next run starts
        home = run_day = run_first = run_last = ""
        d_in = d_out = d_read = d_write = d_reasoning = d_cost = d_count = 0
        recorded_atto = recorded_count = changed = 0
        for fact, sha in zip(facts, homes, strict=True):
            if type(fact) is not Usage:
                continue
            # one unpacking instead of twenty attribute lookups
            (_, ts, agent, model, fidelity, host, tier, first, last, inp, out, read, write,
             reasoning, one_hour, recorded, _) = fact  # fmt: skip
            if windowed and not (since <= ts[:19] < until):
                continue
            day = ts[:10] if utc_days else self.days.day(ts)
            rates = rates_of.get((model, tier), _UNSEEN)
            if rates is _UNSEEN:
                rates = self.pricer(model, tier)
            if rates is None or fidelity != "exact":
                self._add_rare(sha, day, fact, rates)
                continue
            r_in, r_out, r_read, r_write, r_hour = rates
            if one_hour:  # the 1-hour part of the cache writes, at its own rate
                if one_hour > write:
                    one_hour = write
                cost = (inp * r_in + out * r_out + read * r_read + (write - one_hour) * r_write
                        + one_hour * r_hour)  # fmt: skip
            else:
                cost = inp * r_in + out * r_out + read * r_read + write * r_write
            if recorded is not None:  # same_cost and the exact sum, inline
                dot = recorded.find(".")
                places = 0 if dot < 0 else len(recorded) - dot - 1
                if places <= ATTO and len(recorded) <= _COST_CHARS:
                    atto = int(recorded.replace(".", "", 1)) * _STEPS[places]
                    recorded_atto += atto
                    recorded_count += 1
                    if not _LOW[places] <= cost - atto < _HIGH[places]:
                        changed += 1
                else:
                    self._add_recorded(recorded, cost)
            acc = groups.get(group := (agent, model, fidelity, host))
            if acc is None:
                groups[group] = [inp, out, read, write, reasoning, cost, 0, 1, 0, 0, 0, 0, 0]
            else:
                acc[0] += inp
                acc[1] += out
                acc[2] += read
                acc[3] += write
                acc[4] += reasoning
                acc[5] += cost
                acc[7] += 1
            if day == run_day and sha == home:  # the run goes on
                d_in += inp
                d_out += out
                d_read += read
                d_write += write
                d_reasoning += reasoning
                d_cost += cost
                d_count += 1
                if first < run_first:
                    run_first = first
                if last > run_last:
                    run_last = last
                continue
            if d_count:
                self._flush(home, run_day, run_first, run_last,
                            d_in, d_out, d_read, d_write, d_reasoning, d_cost, d_count)  # fmt: skip
            home, run_day, run_first, run_last = sha, day, first, last
            d_in, d_out, d_read, d_write, d_reasoning, d_cost, d_count = (
                inp, out, read, write, reasoning, cost, 1
            )  # fmt: skip
        if d_count:
            self._flush(home, run_day, run_first, run_last,
                        d_in, d_out, d_read, d_write, d_reasoning, d_cost, d_count)  # fmt: skip
        if recorded_count:
            self._recorded_atto += recorded_atto
            self.recorded_records += recorded_count
            self.cost_changed += changed
        return self

    def _active(self, day: str, first: str, last: str) -> None:
        """Widen the day's span of activity (UTC times)."""
        span = self.activity.get(day)
        if span is None:
            self.activity[day] = [first, last]
        else:
            if first < span[0]:
                span[0] = first
            if last > span[1]:
                span[1] = last

    def _flush(
        self, home: str, day: str, first: str, last: str,
        inp: int, out: int, read: int, write: int, reasoning: int, cost: int, count: int,
    ) -> None:  # fmt: skip
        """Add a run of one commit's facts of one day: its span, tokens, cost and count."""
        self._active(day, first, last)
        for table, key in ((self.by_day, day), (self.per_commit, home)):
            acc = table.get(key)
            if acc is None:
                table[key] = [inp, out, read, write, reasoning, cost, 0, count, 0, 0, 0, 0, 0]
            else:
                acc[0] += inp
                acc[1] += out
                acc[2] += read
                acc[3] += write
                acc[4] += reasoning
                acc[5] += cost
                acc[7] += count

    def _add_recorded(self, recorded: str, cost: int | None) -> None:
        """Count a record-time cost (``cost``: today's, None when unpriced)."""
        atto = recorded_atto(recorded)
        if atto is None:
            self._recorded_finer += Decimal(recorded)
        else:
            self._recorded_atto += atto
        self.recorded_records += 1
        if cost is None or not same_cost(recorded, cost):
            self.cost_changed += 1

    def _add_rare(self, home: str, day: str, fact: Usage, rates: AttoRates | None) -> None:
        """Count an unpriced, estimated or manual fact straight into the accumulators."""
        self._active(day, fact.first, fact.last)
        acc = _sums_of(fact, rates)
        if fact.cost_usd is not None:
            self._add_recorded(fact.cost_usd, None if rates is None else acc[5])
        if rates is None:
            self.unpriced[fact.model] = self.unpriced.get(fact.model, 0) + acc[6]
        group = (fact.agent, fact.model, fact.fidelity, fact.host)
        for table, key in ((self.groups, group), (self.by_day, day), (self.per_commit, home)):
            into = table.get(key)
            if into is None:
                table[key] = acc[:]
            else:
                _merge(into, acc)


def _sums_of(usage: Usage, rates: AttoRates | None) -> Acc:
    """The accumulator of one usage fact (``rates`` None: unpriced)."""
    total = usage.total
    return [
        usage.input,
        usage.output,
        usage.cache_read,
        usage.cache_write,
        usage.reasoning,
        0 if rates is None else atto_cost(rates, usage),
        total if rates is None else 0,
        1,
        total if usage.fidelity == "estimated" else 0,
        total if usage.fidelity == "manual" else 0,
        0,
        0,
        0,
    ]


def _seconds_of_day(ts: str) -> int:
    return int(ts[11:13]) * 3600 + int(ts[14:16]) * 60 + int(ts[17:19])


def _day_rows(
    by_day: Mapping[str, Acc], activity: Mapping[str, list[str]], days: LocalDays
) -> dict[str, DayRow]:
    rows = {}
    for day in sorted(by_day):
        span = activity.get(day)
        first = last = ""
        hours = ZERO
        seconds = 0
        # UTC: no time arithmetic (unless a garbled record made the span start after its end)
        if span is not None and days.utc and span[1][:10] == day and span[0] <= span[1]:
            # whole seconds, as LocalDays.local takes them; the day's start sorts after any
            # fraction of its first second ("...00:00:00.5Z" < "...00:00:00Z"): same seconds
            start_ts = max(span[0], day + "T00:00:00Z")
            first, last = start_ts[11:16], span[1][11:16]
            seconds = max(0, _seconds_of_day(span[1]) - _seconds_of_day(start_ts))
            hours = Decimal(seconds) / 3600
        elif span is not None:  # clamped to the day: a record's span may cross midnight
            start, end = days.local(span[0]), days.local(span[1])
            local_day = date.fromisoformat(day)
            day_start = datetime.combine(local_day, datetime.min.time(), days.zone)
            start = max(start, day_start)
            last = ""
            if local_day < date.max:
                day_end = datetime.combine(
                    local_day + timedelta(days=1), datetime.min.time(), days.zone
                )
                if end.timestamp() >= day_end.timestamp():
                    end, last = day_end, "24:00"
            if end.timestamp() < start.timestamp():  # a span ending before the day began
                end = start
            # instants, not wall clocks: one ZoneInfo on both sides would ignore a DST change
            seconds = max(0, int(end.timestamp() - start.timestamp()))
            hours = Decimal(seconds) / 3600
            first, last = start.strftime("%H:%M"), last or end.strftime("%H:%M")
        rows[day] = DayRow(
            day=day,
            bucket=_bucket(by_day[day]),
            first=first,
            last=last,
            hours=hours,
            seconds=seconds,
        )
    return rows


class _Commits:
    """Per-commit views of a scope's facts: a commit's author, its class (what its spend is
    attributed to) and its rows.

    A class rather than functions nested in ``aggregate``: nested functions that call one another
    can hold their frame in a reference cycle (compiled with mypyc they did, docs/report.md), and
    a report frees nothing caught in one: it pauses the garbage collector, then freezes it.
    """

    def __init__(
        self,
        deduped: Deduped,
        scope: Scope,
        info: Mapping[str, CommitInfo],
        outputs_by_commit: Mapping[str, list[Output]],
        landed: Container[str],
        counted: Sequence[tuple[str, Output]],
        pricer: _AttoPricer,
    ) -> None:
        self.facts = deduped.facts
        self.homes = deduped.homes
        self.scope = scope
        self.info = info
        self.outputs_by_commit = outputs_by_commit
        self.landed = landed
        self.counted = counted
        self.pricer = pricer
        self.class_ids: dict[_Class, int] = {}
        self.class_keys: dict[tuple[str, ...], int] = {}

    def chosen(self, wanted: Container[str]) -> list[int]:
        """The usage facts of the scope homed on ``wanted`` commits."""
        facts, scope = self.facts, self.scope
        return [
            i
            for i, home in enumerate(self.homes)
            if home in wanted and type(f := facts[i]) is Usage and scope.holds(f.ts)
        ]

    def author_of(self, sha: str) -> str:
        """The commit's author as its output records name it, else as git does."""
        for out in self.outputs_by_commit.get(sha, ()):
            if out.author:
                return out.author
        return (self.info[sha].author if sha in self.info else "") or UNKNOWN

    def class_id(self, home: str) -> int:
        outs = self.outputs_by_commit.get(home)
        author = self.author_of(home)
        if self.scope.needs_landing and home not in self.landed:
            key: tuple[str, ...] = (author, NOT_LANDED)
        elif not outs:
            key = (author, NO_OUTPUT)
        elif len(outs) == 1:
            key = (author, "", outs[0].type)
        else:
            key = (author, "", *(f"{name}\0{weight}" for name, weight in _shares(outs)))
        found = self.class_keys.get(key)
        if found is not None:
            return found
        if key[1]:
            klass = _Class(author, (), key[1])
        elif outs is not None and len(outs) == 1:
            klass = _Class(author, ((outs[0].type, 1),), "")
        else:
            klass = _Class(author, _shares(outs or ()), "")
        found = self.class_ids.setdefault(klass, len(self.class_ids))
        self.class_keys[key] = found
        return found

    def rows(self, shas: Sequence[str]) -> list[CommitRow]:
        """The rows of ``shas``, in that order."""
        wanted = set(shas)
        spend: dict[str, Acc] = {}
        models: dict[str, dict[str, int]] = {}
        first: dict[str, str] = {}
        for i in self.chosen(wanted):
            home = self.homes[i]
            usage: Usage = self.facts[i]  # type: ignore[assignment]
            sums = _sums_of(usage, self.pricer(usage.model, usage.tier))
            _merge(spend.setdefault(home, _new()), sums)
            cost = sums[5]
            per_model = models.setdefault(home, {})
            per_model[usage.model] = per_model.get(usage.model, 0) + cost
            if home not in first or usage.ts < first[home]:
                first[home] = usage.ts
        for home, out in self.counted:
            if home in wanted:
                acc = spend.setdefault(home, _new())
                acc[10] += out.items
                acc[11] += out.points
                acc[12] += out.words
        out_rows = []
        for sha in shas:
            acc = spend.get(sha) or _new()
            meta = self.info.get(sha)
            outs = self.outputs_by_commit.get(sha, [])
            stamps = [o.ts for o in outs] + ([first[sha]] if sha in first else [])
            out_rows.append(
                CommitRow(
                    sha=sha,
                    subject=meta.subject if meta else "",
                    author=self.author_of(sha) if sha in self.outputs_by_commit or meta else "",
                    ts=meta.ts if meta and meta.ts else min(stamps, default=""),
                    landed=sha in self.landed,
                    bucket=_bucket(acc),
                    cost_by_model={m: money(c) for m, c in sorted(models.get(sha, {}).items())},
                    types=tuple(dict.fromkeys(o.type for o in outs)),
                )
            )
        return out_rows


def aggregate(
    deduped: Deduped,
    *,
    scope: Scope,
    pricer: Pricer,
    days: LocalDays,
    commits: Sequence[CommitInfo] = (),
    landed: Container[str] = frozenset(),
    top: int = 5,
    also_count: Collection[str] = (),
) -> Aggregate:
    """Sum the facts of ``scope`` (see the module doc).

    ``commits``: the commits git lists for the scope (a range's commits, oldest first; a
    window's commits on the default branch), used for counts and subjects. ``landed``: the
    commits reachable from the default branch. ``top``: how many costliest commits to list.
    ``also_count``: more commits of the scope to count (not described).
    """
    info = {c.sha: c for c in commits}
    facts, homes, lands, extra = deduped.facts, deduped.homes, deduped.landed, deduped.carriers
    windowed = scope.since is not None or scope.until is not None
    since = scope.since or ""
    until = scope.until or "~"
    needs_landing = scope.needs_landing

    sums = UsageSums(scope, pricer, days).add_all(facts, homes)
    activity = sums.activity

    # the output facts: by commit (a commit's types decide where its spend goes), and the
    # counted ones' items, points and words by type, day and author
    counted: list[tuple[str, Output]] = []
    outputs_by_commit: dict[str, list[Output]] = {}
    carriers: set[str] = set()
    output_count = pending_items = pending_points = 0
    out_by: tuple[dict[str, list[int]], dict[str, list[int]], dict[str, list[int]]] = ({}, {}, {})
    out_types, out_days, out_authors = out_by
    day_of = days.day
    utc = days.utc
    for i in [i for i, f in enumerate(facts) if type(f) is Output]:
        out: Output = facts[i]  # type: ignore[assignment]
        home = homes[i]
        outs = outputs_by_commit.get(home)
        if outs is None:
            outputs_by_commit[home] = [out]
        else:
            outs.append(out)
        (_, ts, type_, items, points, words, author, _, _, _) = out
        if windowed and not (since <= ts[:19] < until):
            continue
        output_count += 1
        carriers.add(home)
        if i in extra:
            carriers.update(extra[i])
        if needs_landing and not lands[i]:
            pending_items += items
            pending_points += points
            continue
        counted.append((home, out))
        day = ts[:10] if utc else day_of(ts)
        for table, key in ((out_types, type_), (out_days, day), (out_authors, author)):
            found = table.get(key)
            if found is None:
                table[key] = [items, points, words]
            else:
                found[0] += items
                found[1] += points
                found[2] += words
        span = activity.get(day)
        if span is None:
            activity[day] = [ts, ts]
        else:
            if ts < span[0]:
                span[0] = ts
            if ts > span[1]:
                span[1] = ts

    commits_of = _Commits(deduped, scope, info, outputs_by_commit, landed, counted, sums.pricer)
    class_keys = commits_of.class_keys
    members: dict[int, list[Acc]] = {}
    for sha, acc in sums.per_commit.items():
        outs = outputs_by_commit.get(sha)
        if (
            outs is not None
            and len(outs) == 1
            and outs[0].author
            and not (needs_landing and sha not in landed)
        ):  # the common case, as ``class_id`` keys it
            cid = class_keys.get((outs[0].author, "", outs[0].type), -1)
            if cid < 0:
                cid = commits_of.class_id(sha)
        else:
            cid = commits_of.class_id(sha)
        found_members = members.get(cid)
        if found_members is None:
            members[cid] = [acc]
        else:
            found_members.append(acc)
    # column sums in C: a Python loop over each commit's slots was a tenth of a report
    by_class = {
        cid: [sum(column) for column in zip(*accs, strict=True)] for cid, accs in members.items()
    }
    class_list = list(commits_of.class_ids)

    # usage by dimension, from the small tables
    by_model: dict[str, Acc] = {}
    by_agent: dict[str, Acc] = {}
    by_fidelity: dict[str, Acc] = {}
    by_host: dict[str, Acc] = {}
    by_day: dict[str, Acc] = sums.by_day
    by_author: dict[str, Acc] = {}
    by_type: dict[str, Acc] = {}
    unlanded = _new()
    total = _new()
    for (agent, model, fidelity, host), acc in sums.groups.items():
        _merge(total, acc)
        for table, name in (
            (by_model, model),
            (by_agent, agent),
            (by_fidelity, fidelity),
            (by_host, host or UNKNOWN),
        ):
            into = table.get(name)
            if into is None:
                table[name] = list(acc)
            else:
                _merge(into, acc)
    for cid, acc in by_class.items():
        klass = class_list[cid]
        _add_spend(by_author, klass.author, acc)
        if klass.marker:
            _add_spend(by_type, klass.marker, acc)
            if klass.marker == NOT_LANDED:
                _merge(unlanded, acc)
        elif len(klass.shares) == 1:
            _add_spend(by_type, klass.shares[0][0], acc)
        else:
            weights = [w for _, w in klass.shares]
            for (name, _), part in zip(klass.shares, _split(acc, weights), strict=True):
                _add_spend(by_type, name, part)

    unnamed = out_authors.pop("", None)  # outputs without an author: the commit's, from git
    if unnamed is not None:
        for home, out in counted:
            if not out.author:
                found = out_authors.setdefault(commits_of.author_of(home), [0, 0, 0])
                found[0] += out.items
                found[1] += out.points
                found[2] += out.words
    for table, sums_out in zip((by_type, by_day, by_author), out_by, strict=True):
        for name, (items, points, words) in sums_out.items():
            into = table.get(name)
            if into is None:
                into = table[name] = _new()
            into[10] += items
            into[11] += points
            into[12] += words
    for items, points, words in out_types.values():
        total[10] += items
        total[11] += points
        total[12] += words

    usage_carriers = set(sums.per_commit)
    for i, others in extra.items():  # the copies of the chosen usage facts
        fact = facts[i]
        if type(fact) is Usage and (not windowed or since <= fact.ts[:19] < until):
            usage_carriers.update(others)
    carriers |= usage_carriers

    if windowed:  # the copies and superseded facts of the window's records
        duplicates, superseded = deduped.counts_in(since, until)
    else:
        duplicates, superseded = deduped.duplicates, deduped.superseded
    per_commit = sums.per_commit
    # only commits costing at least the top-th cost can be among the top (ties included)
    costs = heapq.nlargest(top, map(_COST, per_commit.values())) if top > 0 else []
    bar = costs[-1] if len(costs) == top and costs else None
    costliest = [
        sha
        for _, _, sha in heapq.nlargest(
            top,
            (
                (v[5], v[0] + v[1] + v[2] + v[3], k)
                for k, v in per_commit.items()
                if bar is None or v[5] >= bar
            ),
        )
    ]
    if len(costliest) < top:  # commits that shipped without spend fill the list
        shipped = sorted({home for home, _ in counted} - set(per_commit))
        costliest.extend(shipped[: top - len(costliest)])
    return Aggregate(
        scope=scope,
        total=_bucket(total),
        by_model=_sorted(by_model),
        by_agent=_sorted(by_agent),
        by_fidelity=_sorted(by_fidelity),
        by_host=_sorted(by_host),
        by_author=_sorted(by_author),
        by_type=_sorted(by_type),
        by_day=_day_rows(by_day, sums.activity, days),
        commits=commits_of.rows([c.sha for c in commits]) if scope.kind == "range" else [],
        top_commits=commits_of.rows(costliest),
        commit_spend=per_commit,
        commit_count=len(carriers.union(info, also_count)),
        commits_with_records=len(carriers),
        commits_with_usage=len(usage_carriers),
        usage_records=sums.count,
        output_records=output_count,
        duplicates=duplicates,
        superseded=superseded,
        unpriced_models=tuple(m for _, m in sorted((-n, m) for m, n in sums.unpriced.items())),
        recorded_cost=sums.recorded_cost,
        recorded_records=sums.recorded_records,
        cost_changed=sums.cost_changed,
        unlanded=_bucket(unlanded),
        pending_items=pending_items,
        pending_points=pending_points,
    )


class Spend(NamedTuple):
    """Spend and landed output between two times (for trailing comparisons and alerts)."""

    cost: Decimal
    tokens: int
    items: int


def spend_in(
    deduped: Deduped,
    windows: Sequence[tuple[str, str]],
    pricer: Pricer,
    *,
    needs_landing: bool = True,
) -> list[Spend]:
    """For each ``(since, until)`` window (UTC, seconds; ``since <= ts < until``): cost and
    tokens of the usage facts there, and the items of the output facts there (only those that
    landed, when ``needs_landing``). One pass for all windows."""
    sums: list[list[int]] = [[0, 0, 0] for _ in windows]
    if not windows:
        return []
    low = min(w[0] for w in windows)
    high = max(w[1] for w in windows)
    atto_pricer = _AttoPricer(pricer)
    for i, fact in enumerate(deduped.facts):
        stamp = fact.ts[:19]
        if stamp < low or stamp >= high:
            continue
        if type(fact) is Output:
            if deduped.landed[i] or not needs_landing:
                for (since, until), acc in zip(windows, sums, strict=True):
                    if since <= stamp < until:
                        acc[2] += fact.items
            continue
        usage: Usage = fact  # type: ignore[assignment]
        rates = atto_pricer(usage.model, usage.tier)
        cost = 0 if rates is None else atto_cost(rates, usage)
        for (since, until), acc in zip(windows, sums, strict=True):
            if since <= stamp < until:
                acc[0] += cost
                acc[1] += usage.total
    return [Spend(money(cost), tokens, items) for cost, tokens, items in sums]


def costly_commits(
    agg: Aggregate, *, tokens: int | None = None, usd: Decimal | None = None
) -> list[tuple[str, int, Decimal]]:
    """``(sha, tokens, cost)`` of the commits over ``tokens`` or over ``usd``, costliest first."""
    if tokens is None and usd is None:
        return []
    limit_tokens = tokens if tokens is not None else -1
    limit_atto = to_atto(usd) if usd is not None else -1
    found = [
        (sha, spent[0] + spent[1] + spent[2] + spent[3], spent[5])
        for sha, spent in agg.commit_spend.items()
        if (tokens is not None and spent[0] + spent[1] + spent[2] + spent[3] > limit_tokens)
        or (usd is not None and spent[5] > limit_atto)
    ]
    found.sort(key=lambda item: (-item[2], -item[1], item[0]))
    return [(sha, spent_tokens, money(atto)) for sha, spent_tokens, atto in found]


def day_totals(
    deduped: Deduped,
    days: LocalDays,
    pricer: Pricer,
    since: str,
    until: str,
    *,
    needs_landing: bool = True,
) -> dict[str, Bucket]:
    """Spend and (landed) output by local day for ``since <= ts < until`` (UTC, seconds): the
    daily series of a window's charts and tables, which reach back before the window."""
    groups: dict[str, Acc] = {}
    atto_pricer = _AttoPricer(pricer)
    day_of = days.day
    for i, fact in enumerate(deduped.facts):
        stamp = fact.ts[:19]
        if stamp < since or stamp >= until:
            continue
        day = day_of(fact.ts)
        acc = groups.get(day)
        if acc is None:
            acc = groups[day] = _new()
        if type(fact) is Output:
            if deduped.landed[i] or not needs_landing:
                acc[10] += fact.items
                acc[11] += fact.points
                acc[12] += fact.words
            continue
        usage: Usage = fact  # type: ignore[assignment]
        rates = atto_pricer(usage.model, usage.tier)
        total = usage.total
        acc[0] += usage.input
        acc[1] += usage.output
        acc[2] += usage.cache_read
        acc[3] += usage.cache_write
        acc[4] += usage.reasoning
        acc[7] += 1
        if rates is None:
            acc[6] += total
        else:
            acc[5] += atto_cost(rates, usage)
        if usage.fidelity == "estimated":
            acc[8] += total
        elif usage.fidelity == "manual":
            acc[9] += total
    return {day: _bucket(acc) for day, acc in sorted(groups.items())}
