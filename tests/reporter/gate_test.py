"""Budget verdicts and alerts (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tokennotes.config import AlertsConfig, Limit
from tokennotes.reporter.gate import BudgetState, check_alerts, gate_fails, judge_budget, worst
from tokennotes.reporter.score import WeekPoint

WARN = Decimal("0.8")


def judge(limit: Limit, usd: str = "0", tokens: int = 0, **kw: object) -> BudgetState:
    has_data = bool(kw.pop("has_data", True))
    overridden = bool(kw.pop("overridden", False))
    return judge_budget(
        "pr",
        limit,
        spent_usd=Decimal(usd),
        spent_tokens=tokens,
        has_data=has_data,
        warn_at=WARN,
        overridden=overridden,
    ).state


@pytest.mark.parametrize(
    ("limit", "usd", "tokens", "extra", "state"),
    [
        (Limit(), "100", 10**9, {}, BudgetState.DISABLED),
        (Limit(usd=Decimal(5)), "0", 0, {"has_data": False}, BudgetState.NO_DATA),
        (Limit(usd=Decimal(5)), "3.99", 0, {}, BudgetState.OK),
        (Limit(usd=Decimal(5)), "4", 0, {}, BudgetState.WARN),
        (Limit(usd=Decimal(5)), "5", 0, {}, BudgetState.WARN),
        (Limit(usd=Decimal(5)), "5.01", 0, {}, BudgetState.EXCEEDED),
        (Limit(usd=Decimal(5)), "5.01", 0, {"overridden": True}, BudgetState.OVERRIDDEN),
        (Limit(tokens=1000), "99", 999, {}, BudgetState.WARN),
        (Limit(tokens=1000), "99", 1001, {}, BudgetState.EXCEEDED),
        (Limit(usd=Decimal(5), tokens=1000), "1", 1001, {}, BudgetState.EXCEEDED),
        (Limit(usd=Decimal(5), tokens=1000), "4.5", 10, {}, BudgetState.WARN),
        (Limit(usd=Decimal(0)), "0", 0, {}, BudgetState.WARN),
    ],
)
def test_budget_states(
    limit: Limit, usd: str, tokens: int, extra: dict[str, object], state: BudgetState
) -> None:
    assert judge(limit, usd, tokens, **extra) is state


def test_gate_and_worst() -> None:
    limit = Limit(usd=Decimal(1))
    verdicts = [
        judge_budget("daily", limit, spent_usd=Decimal(s), spent_tokens=0, has_data=True,
                     warn_at=WARN, period=p)
        for s, p in (("0.5", "mon"), ("1.5", "tue"), ("2.5", "wed"), ("0.9", "thu"))
    ]  # fmt: skip
    bad = worst(verdicts)
    assert bad is not None and bad.period == "wed" and bad.share == Decimal("2.5")
    assert gate_fails(bad, "fail") and not gate_fails(bad, "warn")
    assert worst([]) is None
    overridden = judge_budget("pr", limit, spent_usd=Decimal(9), spent_tokens=0, has_data=True,
                              warn_at=WARN, overridden=True)  # fmt: skip
    assert not gate_fails(overridden, "fail")


def test_alerts() -> None:
    config = AlertsConfig(
        commit_tokens=1000, commit_usd=Decimal("0.5"), week_over_week_pct=Decimal(50)
    )
    costly = [("a" * 40, 5000, Decimal("0.75")), ("b" * 40, 1500, Decimal("0.1"))]
    weeks = [
        WeekPoint(week="w1", tokens=1, cost=Decimal(0), items=0),
        WeekPoint(week="w2", tokens=1, cost=Decimal(2), items=0),
        WeekPoint(week="w3", tokens=1, cost=Decimal(3), items=0),
        WeekPoint(week="w4", tokens=1, cost=Decimal("4.6"), items=0),
    ]
    fired = check_alerts(costly, weeks, config)
    assert [(a.rule, a.subject[:1]) for a in fired] == [
        ("commit_tokens", "a"),
        ("commit_usd", "a"),
        ("commit_tokens", "b"),
        ("week_over_week_pct", "w"),
    ]
    assert fired[-1].subject == "w4" and fired[-1].value == Decimal("53.3")
    assert "53% more than w3" in fired[-1].message
    assert fired[1].message == "commit aaaaaaaaaa cost $0.75 (alert above $0.50)"
    assert check_alerts(costly, weeks, AlertsConfig()) == []
