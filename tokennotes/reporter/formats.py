"""The report as JSON, CSV or a terminal table (markdown is ``render.py``'s).

The JSON object is the contract ``docs/report.md`` documents: money as decimal strings (exact,
never floats), ratios as numbers or null, every breakdown a mapping from a name to its
``tokens``, ``cost_usd`` and, where it applies, ``items``/``points``. The CSV is the same
breakdowns in long form, one row per (dimension, name). The table is for people at a terminal;
strings from notes have their control characters replaced so they cannot drive the terminal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tokennotes.reporter.aggregate import Bucket, CommitRow
from tokennotes.reporter.gate import Verdict
from tokennotes.reporter.render import (
    build_view,
    compact,
    decimal,
    num,
    pct,
    plural,
    spend,
    usd,
)
from tokennotes.reporter.report import Report
from tokennotes.text import plain, plain_name

JSON_SCHEMA = 1
CSV_FIELDS = (
    "dimension",
    "name",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "total",
    "cost_usd",
    "unpriced_tokens",
    "records",
    "estimated",
    "manual",
    "items",
    "points",
)


def money_str(value: Decimal | None) -> str | None:
    """A Decimal as a plain decimal string (``"7.75"``, never ``"7.75E+1"``); None stays None."""
    if value is None:
        return None
    if not value:
        return "0"
    text = format(value, "f")  # exact (normalize() would round to Decimal's 28 digits)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def tokens_json(b: Bucket) -> dict[str, int]:
    return {
        "input": b.input,
        "output": b.output,
        "cache_read": b.cache_read,
        "cache_write": b.cache_write,
        "reasoning": b.reasoning,
        "total": b.total,
    }


def bucket_json(b: Bucket, *, output: bool = True) -> dict[str, Any]:
    """One breakdown entry. ``cost_usd`` is null when none of its tokens has a price."""
    entry: dict[str, Any] = {
        "tokens": tokens_json(b),
        "cost_usd": None if b.unpriced and b.unpriced == b.total else money_str(b.cost),
        "unpriced_tokens": b.unpriced,
        "records": b.records,
        "estimated_tokens": b.estimated,
        "manual_tokens": b.manual,
    }
    if output:
        entry.update(items=b.items, points=b.points, words=b.words)
    return entry


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {
        "kind": v.kind,
        "state": v.state.value,
        "period": v.period or None,
        "limit_usd": money_str(v.limit_usd),
        "limit_tokens": v.limit_tokens,
        "spent_usd": money_str(v.spent_usd),
        "spent_tokens": v.spent_tokens,
    }


def _commit_json(c: CommitRow) -> dict[str, Any]:
    return {
        "sha": c.sha,
        "subject": c.subject,
        "author": c.author,
        "ts": c.ts or None,
        "landed": c.landed,
        "types": list(c.types),
        **bucket_json(c.bucket),
        "cost_by_model": {m: money_str(v) for m, v in c.cost_by_model.items()},
    }


def report_json(report: Report) -> dict[str, Any]:
    """The report as the documented JSON object."""
    agg, sc = report.agg, report.score
    total = agg.total
    scope = report.scope
    return {
        "schema": JSON_SCHEMA,
        "title": report.title,
        "scope": {
            "kind": scope.kind,
            "range": scope.spec if scope.kind == "range" else None,
            "since": f"{scope.since}Z" if scope.since else None,
            "until": f"{scope.until}Z" if scope.until else None,
            "timezone": report.timezone,
            "default_branch": report.default_branch or None,
            "head": report.head or None,
        },
        "generated_at": report.generated_at,
        "price_table": report.price_table,
        "notes": report.notes,
        "commits": agg.commit_count,
        "commits_with_records": agg.commits_with_records,
        "commits_with_usage": agg.commits_with_usage,
        "records": {
            "usage": agg.usage_records,
            "output": agg.output_records,
            "skipped_lines": report.skipped_lines,
            "duplicates": agg.duplicates,
            "superseded": agg.superseded,
        },
        "tokens": tokens_json(total),
        "cost_usd": money_str(total.cost),
        "recorded_cost_usd": money_str(agg.recorded_cost) if agg.recorded_records else None,
        "records_with_other_cost": agg.cost_changed,
        "unpriced_tokens": total.unpriced,
        "items": sc.items,
        "points": sc.points,
        "words": sc.words,
        "points_per_dollar": _number(sc.points_per_dollar),
        "cost_per_item_usd": money_str(sc.cost_per_item),
        "cost_per_point_usd": money_str(sc.cost_per_point),
        "cache_hit_ratio": _number(sc.cache_hit_ratio),
        "grade": sc.grade or None,
        "active_hours": _number(sc.active_hours),
        "cost_without_outcome_usd": money_str(agg.unlanded.cost) if scope.kind != "range" else None,
        "landing_unknown_commits": report.landing_unknown,
        "pending": {"items": agg.pending_items, "points": agg.pending_points},
        "by_model": {k: bucket_json(b, output=False) for k, b in agg.by_model.items()},
        "by_agent": {k: bucket_json(b, output=False) for k, b in agg.by_agent.items()},
        "by_type": {
            k: {**bucket_json(b), "cost_per_item_usd": money_str(sc.by_type[k].cost_per_item)}
            for k, b in agg.by_type.items()
        },
        "by_fidelity": {k: bucket_json(b, output=False) for k, b in agg.by_fidelity.items()},
        "by_author": {k: bucket_json(b) for k, b in agg.by_author.items()},
        "by_host": {k: bucket_json(b, output=False) for k, b in agg.by_host.items()},
        "by_day": {
            day: {
                **bucket_json(row.bucket),
                "first": row.first or None,
                "last": row.last or None,
                "active_hours": _number(row.hours.quantize(Decimal("0.01"))),
            }
            for day, row in agg.by_day.items()
        },
        "unpriced_models": list(agg.unpriced_models),
        "approximate_models": list(report.approximate_models),
        "top_commits": [_commit_json(c) for c in agg.top_commits],
        "range_commits": [_commit_json(c) for c in agg.commits] if scope.kind == "range" else None,
        "pipeline": {"files": report.pipeline.files, "words": report.pipeline.words},
        "comparison": None
        if report.comparison is None
        else {
            "days": report.comparison.days,
            "cost_per_item_usd": money_str(report.comparison.cost_per_item),
            "trailing_cost_per_item_usd": money_str(report.comparison.trailing_cost_per_item),
            "change": _number(report.comparison.change),
        },
        "budget": _verdict_json(report.budget),
        "budgets": [_verdict_json(v) for v in report.budgets],
        "alerts": [
            {
                "rule": a.rule,
                "subject": a.subject,
                "value": money_str(a.value),
                "threshold": money_str(a.threshold),
                "message": a.message,
            }
            for a in report.alerts
        ],
        "reconciles": report.reconciles,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"


# a cell a spreadsheet would read as a formula (CSV injection): names come from notes
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A name for a CSV cell: one a spreadsheet would run as a formula gets a leading ``'``."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _csv_row(dimension: str, name: str, b: Bucket) -> list[object]:
    return [
        dimension,
        csv_text(name),
        b.input,
        b.output,
        b.cache_read,
        b.cache_write,
        b.reasoning,
        b.total,
        money_str(b.cost),
        b.unpriced,
        b.records,
        b.estimated,
        b.manual,
        b.items,
        b.points,
    ]


def render_csv(report: Report) -> str:
    """Every breakdown in long form: ``dimension,name,<sums>`` (dimension ``total`` first)."""
    agg = report.agg
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    writer.writerow(_csv_row("total", "", agg.total))
    tables: Sequence[tuple[str, Mapping[str, Bucket]]] = (
        ("model", agg.by_model),
        ("agent", agg.by_agent),
        ("type", agg.by_type),
        ("fidelity", agg.by_fidelity),
        ("author", agg.by_author),
        ("host", agg.by_host),
        ("day", {day: row.bucket for day, row in agg.by_day.items()}),
    )
    for dimension, table in tables:
        for name, b in table.items():
            writer.writerow(_csv_row(dimension, name, b))
    commits = agg.commits if report.scope.kind == "range" else agg.top_commits
    for c in commits:
        writer.writerow(_csv_row("commit", c.sha, c.bucket))
    return out.getvalue()


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = []
    for cells in (headers, *rows):
        parts = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def render_table(report: Report) -> str:
    """A plain-text report for a terminal."""
    view = build_view(report)
    agg, sc = report.agg, report.score
    total = agg.total
    out = [
        f"tokennotes · {plain_name(report.title)}",
        f"{compact(total.total)} tokens · {spend(total)} · {plural(sc.items, 'item')} · "
        f"{plural(sc.points, 'point')} · {decimal(sc.points_per_dollar)} points/$ · "
        f"grade {plain_name(sc.grade or 'n/a')} · budget {report.budget.state.value}",
    ]
    if total.estimated or total.manual:
        out.append(
            f"≈ not exact: {compact(total.estimated)} estimated, {compact(total.manual)} manual"
        )
    for alert in report.alerts:
        out.append(f"! {plain(alert.message)}")
    if agg.unpriced_models:
        out.append("unpriced: " + ", ".join(plain_name(m) for m in agg.unpriced_models))
    if report.empty:
        out.append("no records in scope")
    for title, rows in (("Model", view.by_model), ("Agent", view.by_agent)):
        if rows:
            out.append("")
            out.append(
                _table(
                    (title, "Records", "Tokens", "Cost", "Share"),
                    [
                        (
                            plain_name(row.name) + (" ≈" if row.inexact else ""),
                            num(row.records),
                            compact(row.tokens),
                            spend(row),
                            pct(row.share),
                        )
                        for row in rows
                    ],
                    (False, True, True, True, True),
                )
            )
    if view.by_type:
        out.append("")
        out.append(
            _table(
                ("Output", "Items", "Points", "Tokens", "Cost", "Per item", "Share"),
                [
                    (
                        plain_name(row.note or row.name) + (" ≈" if row.inexact else ""),
                        num(row.items),
                        num(row.points),
                        compact(row.tokens),
                        spend(row),
                        usd(row.cost_per_item),
                        pct(row.share),
                    )
                    for row in view.by_type
                ],
                (False, True, True, True, True, True, True),
            )
        )
    if view.top_commits:
        out.append("")
        out.append(
            _table(
                ("Commit", "Subject", "Tokens", "Cost", "Items", "Points"),
                [
                    (
                        c.sha[:7],
                        plain_name(c.subject)[:50],
                        compact(c.bucket.total),
                        spend(c.bucket),
                        num(c.bucket.items),
                        num(c.bucket.points),
                    )
                    for c in view.top_commits
                ],
                (False, False, True, True, True, True),
            )
        )
    out.append("")
    out.append(
        f"cost per item {usd(sc.cost_per_item)} · cache hits {pct(sc.cache_hit_ratio)} · "
        f"{num(sc.words)} words · {decimal(sc.active_hours, 1)} active hours"
        + (f" · pipeline {report.pipeline.files} files" if report.pipeline.files else "")
    )
    if report.scope.kind != "range" and agg.unlanded.total:
        out.append(f"cost without outcome (not landed): {usd(agg.unlanded.cost)}")
    if report.landing_unknown:
        out.append(report.landing_notice)
    out.append(
        f"{agg.usage_records} usage + {agg.output_records} output records on "
        f"{agg.commits_with_records} of {agg.commit_count} commits; price table "
        f"{plain_name(report.price_table)}"
        + (f"; {report.skipped_lines} unreadable lines skipped" if report.skipped_lines else "")
    )
    return "\n".join(out) + "\n"
