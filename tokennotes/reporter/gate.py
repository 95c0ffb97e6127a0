"""Budget verdicts and alerts (pure).

A verdict compares spend with one limit of the config (``pr``, ``daily`` or ``weekly``; dollars
and/or tokens): ``disabled`` (no limit set), ``no_data`` (no usage records in scope), ``ok``,
``warn`` (at or over ``warn_at`` of a limit), ``exceeded`` (over a limit), ``overridden``
(exceeded, but the override label is set). With both dollars and tokens set, the larger share
decides. Alerts are observations that never fail anything: a commit over N tokens or dollars,
a week over the previous one by more than X %.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from tokennotes.config import AlertsConfig, Limit
from tokennotes.pricing import format_usd
from tokennotes.reporter.score import WeekPoint


class BudgetState(str, enum.Enum):
    DISABLED = "disabled"
    NO_DATA = "no_data"
    OK = "ok"
    WARN = "warn"
    OVERRIDDEN = "overridden"
    EXCEEDED = "exceeded"


_SEVERITY = {state: rank for rank, state in enumerate(BudgetState)}


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """One budget's state; ``period`` names the day or week it judged ("" for a PR)."""

    kind: str
    state: BudgetState
    limit_usd: Decimal | None = None
    limit_tokens: int | None = None
    spent_usd: Decimal = Decimal(0)
    spent_tokens: int = 0
    period: str = ""

    @property
    def share(self) -> Decimal | None:
        """The larger of spend / limit over the limits set (1 = all of the budget)."""
        shares = []
        if self.limit_usd is not None:
            shares.append(self.spent_usd / self.limit_usd if self.limit_usd else Decimal(1))
        if self.limit_tokens is not None:
            shares.append(
                Decimal(self.spent_tokens) / self.limit_tokens if self.limit_tokens else Decimal(1)
            )
        return max(shares) if shares else None


def judge_budget(
    kind: str,
    limit: Limit,
    *,
    spent_usd: Decimal,
    spent_tokens: int,
    has_data: bool,
    warn_at: Decimal,
    overridden: bool = False,
    period: str = "",
) -> Verdict:
    """The verdict of one limit on one spend (see the module doc)."""
    base = Verdict(
        kind=kind,
        state=BudgetState.DISABLED,
        limit_usd=limit.usd,
        limit_tokens=limit.tokens,
        spent_usd=spent_usd,
        spent_tokens=spent_tokens,
        period=period,
    )
    if not limit.enabled:
        state = BudgetState.DISABLED
    elif not has_data:
        state = BudgetState.NO_DATA
    else:
        over = (limit.usd is not None and spent_usd > limit.usd) or (
            limit.tokens is not None and spent_tokens > limit.tokens
        )
        share = base.share or Decimal(0)
        if over:
            state = BudgetState.OVERRIDDEN if overridden else BudgetState.EXCEEDED
        elif share >= warn_at:
            state = BudgetState.WARN
        else:
            state = BudgetState.OK
    return Verdict(
        kind=base.kind,
        state=state,
        limit_usd=base.limit_usd,
        limit_tokens=base.limit_tokens,
        spent_usd=base.spent_usd,
        spent_tokens=base.spent_tokens,
        period=base.period,
    )


def worst(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The most severe verdict (ties: the first, then the larger share)."""
    best: Verdict | None = None
    for verdict in verdicts:
        if best is None or _SEVERITY[verdict.state] > _SEVERITY[best.state]:
            best = verdict
        elif _SEVERITY[verdict.state] == _SEVERITY[best.state] and (verdict.share or 0) > (
            best.share or 0
        ):
            best = verdict
    return best


def gate_fails(verdict: Verdict, mode: str) -> bool:
    """Whether a check should fail: a budget exceeded (not overridden) in ``fail`` mode."""
    return verdict.state is BudgetState.EXCEEDED and mode == "fail"


@dataclass(frozen=True, kw_only=True)
class Alert:
    """A rule that fired: ``subject`` is a commit sha or an ISO week."""

    rule: str
    subject: str
    value: Decimal
    threshold: Decimal
    message: str


def check_alerts(
    costly: Sequence[tuple[str, int, Decimal]],
    weeks: Sequence[WeekPoint],
    alerts: AlertsConfig,
) -> list[Alert]:
    """The alerts of the config that fire.

    ``costly``: ``(sha, tokens, cost)`` of the commits that may be over a commit limit (those
    over none are ignored); ``weeks``: consecutive weeks, oldest first (each is compared with the
    one before it).
    """
    fired: list[Alert] = []
    for sha, tokens, cost in costly:
        if alerts.commit_tokens is not None and tokens > alerts.commit_tokens:
            fired.append(
                Alert(
                    rule="commit_tokens",
                    subject=sha,
                    value=Decimal(tokens),
                    threshold=Decimal(alerts.commit_tokens),
                    message=f"commit {sha[:10]} used {tokens:,} tokens "
                    f"(alert above {alerts.commit_tokens:,})",
                )
            )
        if alerts.commit_usd is not None and cost > alerts.commit_usd:
            fired.append(
                Alert(
                    rule="commit_usd",
                    subject=sha,
                    value=cost,
                    threshold=alerts.commit_usd,
                    message=f"commit {sha[:10]} cost {format_usd(cost)} "
                    f"(alert above {format_usd(alerts.commit_usd)})",
                )
            )
    if alerts.week_over_week_pct is not None:
        for before, week in itertools.pairwise(weeks):
            if not before.cost:
                continue
            growth = (week.cost - before.cost) / before.cost * 100
            if growth > alerts.week_over_week_pct:
                fired.append(
                    Alert(
                        rule="week_over_week_pct",
                        subject=week.week,
                        value=growth.quantize(Decimal("0.1")),
                        threshold=alerts.week_over_week_pct,
                        message=f"{week.week} cost {format_usd(week.cost)}, "
                        f"{growth:.0f}% more than {before.week} ({format_usd(before.cost)}; "
                        f"alert above {alerts.week_over_week_pct}%)",
                    )
                )
    return fired
