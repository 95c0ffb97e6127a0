"""Render a report as markdown with jinja2 templates (PR comment, job summary, weekly).

One ``Environment`` (``StrictUndefined``, ``trim_blocks``, ``lstrip_blocks``,
``keep_trailing_newline``) loads the templates shipped in ``tokennotes/templates/`` or, first,
those of ``report.templates`` in the config. Templates only format: every number is computed
before rendering (``build_view``), and the filters registered in ``FILTERS`` are small pure
functions. Every string that comes from a note, a commit or a branch goes through ``md``, which
escapes it for markdown and HTML; the templates escape, the view does not.

The PR comment extends the summary through named blocks and starts with ``MARKER``, the hidden
line the Action uses to find and update its one comment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from tokennotes.pricing import format_usd, format_usd_against
from tokennotes.reporter.aggregate import NO_OUTPUT, NOT_LANDED, Bucket, CommitRow
from tokennotes.reporter.report import Report
from tokennotes.reporter.score import ratio
from tokennotes.text import BIDI_CONTROLS, clip

if TYPE_CHECKING:
    import jinja2

MARKER = "<!-- tokennotes:pr-comment -->"  # the Action finds its one comment by this line
TEMPLATES = {"summary": "summary.md.j2", "comment": "comment.md.j2", "weekly": "weekly.md.j2"}
FIDELITY_ORDER = ("exact", "estimated", "manual")

# --- filters -------------------------------------------------------------------------------

_MD_TABLE = {ord(c): "\\" + c for c in "\\`*_{}[]()#+-.!|~$"}
_MD_TABLE.update(
    {
        ord("&"): "&amp;",
        ord("<"): "&lt;",
        ord(">"): "&gt;",
        ord('"'): "&quot;",
        ord("'"): "&#39;",
        ord("@"): "@&#8203;",  # no @mentions from commit subjects or branch names
        **{c: " " for c in range(32)},
        0x7F: " ",
        0x2028: " ",
        0x2029: " ",
        **dict.fromkeys(BIDI_CONTROLS, ""),
    }
)


def md(value: object) -> str:
    """Text safe inside markdown (tables included) and HTML: markup characters escaped,
    control characters and line breaks turned into spaces, bidirectional controls dropped,
    ``@`` kept from mentioning; cut to ``text.SHOWN_LIMIT`` characters first."""
    return clip(str(value)).translate(_MD_TABLE)


# what may stay as it is in a link's destination: RFC 3986's characters but the parentheses
# (markdown's delimiters) and the quote; anything else (spaces, <, >, controls) is %-encoded
_LINK_SAFE = "-._~:/?#[]@!$&*+,;=%"


def link(value: object) -> str:
    """A URL safe as a markdown link's destination (``[text](here)``): the characters that
    could end it or start markup are percent-encoded, so the link stays one link."""
    from urllib.parse import quote

    return quote(str(value), safe=_LINK_SAFE)


def usd(value: Decimal | None, places: int = 2) -> str:
    """``$1,234.50``; a non-zero amount below a cent shows as ``<$0.01``; None is ``n/a``."""
    return format_usd(value, places)


def spend(item: Bucket | Row) -> str:
    """The cost of a bucket or row that may hold unpriced tokens: ``$1.20``, ``$1.20 +
    unpriced`` or ``unpriced`` (never ``$0.00`` for spend whose price is unknown)."""
    cost = item.cost
    unpriced = getattr(item, "unpriced", None)
    if unpriced is None:
        unpriced = not getattr(item, "priced", True)
    if not unpriced:
        return usd(cost)
    return f"{usd(cost)} + unpriced" if cost else "unpriced"


def pct(value: Decimal | None, places: int = 0) -> str:
    """A fraction as a percentage: ``0.256`` → ``26%``; None → ``n/a``."""
    if value is None:
        return "n/a"
    step = Decimal(1).scaleb(-places)
    return f"{(Decimal(value) * 100).quantize(step, ROUND_HALF_EVEN)}%"


def signed(value: Decimal | None, places: int = 0) -> str:
    """A change as a signed percentage: ``0.12`` → ``+12%``, ``-0.05`` → ``-5%``."""
    if value is None:
        return "n/a"
    step = Decimal(1).scaleb(-places)
    amount = (Decimal(value) * 100).quantize(step, ROUND_HALF_EVEN)
    if amount > 0:
        return f"+{amount}%"
    if amount < 0:
        return f"-{-amount}%"
    return f"±{abs(amount)}%"


def num(value: int | Decimal | None) -> str:
    """Thousands separated: ``1234567`` → ``1,234,567``."""
    if value is None:
        return "n/a"
    return f"{value:,}"


def compact(value: int | Decimal | None) -> str:
    """Short human counts: ``3123456`` → ``3.1M``, ``15300`` → ``15.3k``, ``950`` → ``950``."""
    if value is None:
        return "n/a"
    amount = Decimal(value)
    for limit, suffix in ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"),
                          (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):  # fmt: skip
        if abs(amount) >= limit:
            scaled = (amount / limit).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
            text = f"{scaled}".removesuffix(".0")
            return f"{text}{suffix}"
    if amount == amount.to_integral_value():
        return f"{amount.to_integral_value():,}"
    return f"{amount.quantize(Decimal('0.1'), ROUND_HALF_EVEN)}"


def decimal(value: Decimal | None, places: int = 2) -> str:
    """A number with ``places`` decimals; None → ``n/a``."""
    if value is None:
        return "n/a"
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN):,}"


def compact_against(value: int, other: int | None) -> str:
    """``value`` as ``compact`` shows it, or in full where it would read the same as ``other``
    (``1,000,001 of 1,000,000``, not ``1M of 1M``)."""
    text = compact(value)
    if other is not None and value != other and text == compact(other):
        return num(value)
    return text


def short(sha: str) -> str:
    return sha[:7]


def plural(count: int, word: str, many: str = "") -> str:
    """``1 item``, ``2 items`` (``many`` for irregular plurals)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


FILTERS: dict[str, Callable[..., str]] = {
    "md": md,
    "link": link,
    "spend": spend,
    "usd": usd,
    "pct": pct,
    "signed": signed,
    "num": num,
    "compact": compact,
    "usd_against": format_usd_against,
    "compact_against": compact_against,
    "decimal": decimal,
    "short": short,
    "plural": plural,
}

# --- the view: rows the templates print ------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Row:
    """One line of a breakdown table. ``estimated``/``manual``: tokens of that fidelity."""

    name: str
    tokens: int
    cost: Decimal
    share: Decimal | None  # of the total cost (of tokens when nothing is priced)
    records: int
    priced: bool
    estimated: int
    manual: int
    items: int = 0
    points: int = 0
    cost_per_item: Decimal | None = None
    note: str = ""  # e.g. "not landed" / "no output"

    @property
    def inexact(self) -> bool:
        return bool(self.estimated or self.manual)


def _rows(
    table: Mapping[str, Bucket], total: Bucket, notes: Mapping[str, str] | None = None
) -> list[Row]:
    notes = notes or {}
    by_cost = bool(total.cost)
    rows = []
    for name, b in table.items():
        rows.append(
            Row(
                name=name,
                tokens=b.total,
                cost=b.cost,
                share=ratio(b.cost, total.cost) if by_cost else ratio(b.total, total.total),
                records=b.records,
                priced=not b.unpriced,
                estimated=b.estimated,
                manual=b.manual,
                items=b.items,
                points=b.points,
                cost_per_item=(b.cost / b.items).quantize(Decimal("0.0001"))
                if b.items and not (b.unpriced and not b.cost)  # unknown, not $0
                else None,
                note=notes.get(name, ""),
            )
        )
    return rows


@dataclass(frozen=True, kw_only=True)
class Source:
    """One term of the reconciliation line."""

    name: str
    tokens: int
    cost: Decimal


@dataclass(frozen=True, kw_only=True)
class View:
    """What the templates print; ``r`` is the report itself for the plain figures."""

    r: Report
    by_model: list[Row]
    by_type: list[Row]
    by_agent: list[Row]
    by_fidelity: list[Row]
    by_author: list[Row]
    top_commits: list[CommitRow]
    sources: list[Source]
    unpriced: list[Row]
    charts: Sequence[tuple[str, str]]
    peak_day: tuple[str, int] | None
    active_days: int
    last_7_tokens: int
    last_7_cost: Decimal


def build_view(report: Report, charts: Sequence[tuple[str, str]] = ()) -> View:
    agg = report.agg
    total = agg.total
    fidelity = {k: agg.by_fidelity[k] for k in FIDELITY_ORDER if k in agg.by_fidelity}
    fidelity.update({k: v for k, v in agg.by_fidelity.items() if k not in fidelity})
    days = report.days
    peak = max(days, key=lambda d: (d.total, d.day), default=None)
    week = days[-7:]
    return View(
        r=report,
        by_model=_rows(agg.by_model, total),
        by_type=_rows(agg.by_type, total, {NOT_LANDED: "not landed", NO_OUTPUT: "no output"}),
        by_agent=_rows(agg.by_agent, total),
        by_fidelity=_rows(fidelity, total),
        by_author=_rows(agg.by_author, total),
        top_commits=agg.top_commits,
        sources=[Source(name=n, tokens=b.total, cost=b.cost) for n, b in agg.by_agent.items()],
        unpriced=[row for row in _rows(agg.by_model, total) if not row.priced],
        charts=tuple(charts) or report.charts,
        peak_day=(peak.day, peak.total) if peak is not None and peak.total else None,
        active_days=sum(1 for d in days if d.total or d.items),
        last_7_tokens=sum(d.total for d in week),
        last_7_cost=sum((d.cost for d in week), Decimal(0)),
    )


# --- the environment -----------------------------------------------------------------------


@lru_cache(maxsize=8)
def environment(override_dir: str | None = None) -> jinja2.Environment:
    """The one jinja2 environment (per override directory), filters registered."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.PackageLoader("tokennotes", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # markdown, not HTML: the templates escape with `md`
    )
    env.filters.update(FILTERS)
    env.globals["MARKER"] = MARKER
    return env


def render_markdown(
    report: Report,
    template: str = "summary",
    *,
    templates_dir: str | Path | None = None,
    charts: Sequence[tuple[str, str]] = (),
) -> str:
    """The report as markdown through ``template`` (summary, comment or weekly)."""
    from tokennotes.errors import TokennotesError

    name = TEMPLATES.get(template)
    if name is None:
        raise TokennotesError(
            f"unknown template {template!r}; choose one of {', '.join(sorted(TEMPLATES))}"
        )
    env = environment(str(templates_dir) if templates_dir else None)
    import jinja2

    try:
        text = env.get_template(name).render(v=build_view(report, charts))
    except jinja2.TemplateError as exc:
        where = f" ({templates_dir})" if templates_dir else ""
        raise TokennotesError(f"template {name}{where}: {exc}") from None
    except Exception as exc:  # an overriding template's own error: 1/0, a filter misused
        if not templates_dir:
            raise  # the shipped templates' is a bug: the traceback says where
        raise TokennotesError(
            f"template {name} ({templates_dir}){_template_line(exc)}: {type(exc).__name__}: {exc}"
        ) from None
    if template == "comment" and MARKER not in text:  # an overridden summary lost the block
        text = f"{MARKER}\n{text}"
    return text


def _template_line(exc: BaseException) -> str:
    """``", line N"`` of the innermost template frame of ``exc``'s traceback, or ""."""
    import traceback

    lines = [
        frame.lineno
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename.endswith(".j2")
    ]
    return f", line {lines[-1]}" if lines else ""
