"""Charts as PNG bytes, drawn with matplotlib's ``Figure`` API and the Agg canvas (no pyplot).

- ``draw_pr_chart``: a PR's cost per commit, stacked by model, with the cumulative cost against
  the PR budget;
- ``draw_dashboard``: a window's daily burn views: a calendar heatmap of daily tokens (log colour
  scale, days over the daily target marked), the weekly trend (log axis, peak week labelled), the
  drivers (cost and share by output type), the last 30 days with a 7-day moving average, and a
  line of scale equivalents with the math shown.

Each returns a ``Chart``: the PNG bytes and the data that was plotted (for tests and for anyone
who wants to draw it differently). The same data gives the same bytes: the PNG carries no
software or date metadata and the rendering settings are fixed. matplotlib is imported here and
only here, when a chart is drawn (about 0.3 s).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from tokennotes.reporter.aggregate import NO_OUTPUT, NOT_LANDED, CommitRow
from tokennotes.reporter.render import compact, pct, plural, usd
from tokennotes.reporter.report import HEATMAP_DAYS, TRAILING_DAYS, Report
from tokennotes.reporter.score import DayPoint, WeekPoint

DPI = 100
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
THEMES: dict[str, dict[str, Any]] = {
    "light": {
        "figure.facecolor": "#ffffff",
        "axes.facecolor": "#ffffff",
        "axes.edgecolor": "#888888",
        "axes.labelcolor": "#222222",
        "text.color": "#222222",
        "xtick.color": "#444444",
        "ytick.color": "#444444",
        "grid.color": "#dddddd",
        "_empty": "#eeeeee",
        "_cmap": "YlOrRd",
        "_line": "#222222",
        "_budget": "#d62728",
        "_mark": "#1f77b4",
    },
    "dark": {
        "figure.facecolor": "#0d1117",
        "axes.facecolor": "#0d1117",
        "axes.edgecolor": "#8b949e",
        "axes.labelcolor": "#e6edf3",
        "text.color": "#e6edf3",
        "xtick.color": "#c9d1d9",
        "ytick.color": "#c9d1d9",
        "grid.color": "#30363d",
        "_empty": "#161b22",
        "_cmap": "plasma",
        "_line": "#e6edf3",
        "_budget": "#ff7b72",
        "_mark": "#58a6ff",
    },
}


class Chart(NamedTuple):
    """A drawn chart: PNG bytes and the data plotted."""

    png: bytes
    data: dict[str, Any]


def _theme(name: str) -> dict[str, Any]:
    from tokennotes.errors import TokennotesError

    if name not in THEMES:
        raise TokennotesError(f"report.theme: {name!r} is not a theme ({', '.join(THEMES)})")
    return THEMES[name]


@contextmanager
def _style(theme: dict[str, Any]) -> Iterator[None]:
    import matplotlib

    params: Any = {k: v for k, v in theme.items() if not k.startswith("_")}
    params.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "text.parse_math": False,  # a "$" in a model name is text, not mathtext
            "svg.hashsalt": "tokennotes",
            "axes.grid": False,
        }
    )
    with matplotlib.rc_context(params), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        yield


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _label(text: str, limit: int = 28) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the PR chart ------------------------------------------------------------------------------


def pr_chart_data(commits: Sequence[CommitRow], budget_usd: Decimal | None) -> dict[str, Any]:
    """What the PR chart plots: cost per commit and model, the running total, the budget."""
    models = sorted({m for c in commits for m in c.cost_by_model})
    stacks = {m: [float(c.cost_by_model.get(m, Decimal(0))) for c in commits] for m in models}
    running = Decimal(0)
    cumulative = []
    for c in commits:
        running += c.bucket.cost
        cumulative.append(float(running))
    return {
        "commits": [c.sha[:7] for c in commits],
        "models": models,
        "stacks": stacks,
        "cumulative": cumulative,
        "budget": None if budget_usd is None else float(budget_usd),
    }


def draw_pr_chart(
    commits: Sequence[CommitRow],
    budget_usd: Decimal | None = None,
    *,
    theme: str = "light",
    title: str = "",
) -> Chart:
    """Cost per commit stacked by model, with the cumulative cost against the budget."""
    from matplotlib.figure import Figure

    colors = _theme(theme)
    data = pr_chart_data(commits, budget_usd)
    with _style(colors):
        fig = Figure(figsize=(8, 4), dpi=DPI)
        ax = fig.add_subplot(1, 1, 1)
        xs = list(range(len(data["commits"])))
        bottom = [0.0] * len(xs)
        for i, model in enumerate(data["models"]):
            values = data["stacks"][model]
            ax.bar(
                xs,
                values,
                bottom=bottom,
                color=PALETTE[i % len(PALETTE)],
                label=_label(model),
                width=0.7,
            )
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_xticks(xs)
        ax.set_xticklabels(data["commits"], rotation=45 if len(xs) > 8 else 0, ha="right")
        ax.set_ylabel("cost per commit (USD)")
        ax.set_title(_label(title or "AI cost per commit", 80), loc="left")
        if not xs or not any(data["cumulative"]):
            ax.text(0.5, 0.5, "no priced AI spend", transform=ax.transAxes, ha="center")
        right = ax.twinx()
        right.plot(xs, data["cumulative"], color=colors["_line"], marker="o", label="cumulative")
        if data["budget"] is not None:
            right.axhline(data["budget"], color=colors["_budget"], linestyle="--", label="budget")
        top = max([*data["cumulative"], data["budget"] or 0.0, 0.01])
        right.set_ylim(0, top * 1.15)
        right.set_ylabel("cumulative (USD)")
        handles, labels = ax.get_legend_handles_labels()
        more, more_labels = right.get_legend_handles_labels()
        if handles or more:
            # below the axes, so that it never hides a bar or the cumulative line
            right.legend(
                handles + more,
                labels + more_labels,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.14 if len(xs) <= 8 else -0.3),
                ncol=min(4, len(labels) + len(more_labels)),
                fontsize=8,
                frameon=False,
            )
        fig.tight_layout()
        png = _png(fig)
    return Chart(png, data)


# --- the dashboard -----------------------------------------------------------------------------


def heatmap_data(days: Sequence[DayPoint], target: int | None) -> dict[str, Any]:
    """A calendar grid: one column per week (Monday first), one row per weekday."""
    shown = list(days[-HEATMAP_DAYS:])
    if not shown:
        return {"weeks": [], "grid": [], "over_target": [], "max": 0, "min_positive": 0}
    first = date.fromisoformat(shown[0].day)
    start = first - timedelta(days=first.weekday())
    columns = (date.fromisoformat(shown[-1].day) - start).days // 7 + 1
    grid: list[list[int | None]] = [[None] * columns for _ in range(7)]
    weeks = [(start + timedelta(weeks=w)).isoformat() for w in range(columns)]
    for d in shown:
        offset = (date.fromisoformat(d.day) - start).days
        grid[offset % 7][offset // 7] = d.total
    positives = [d.total for d in shown if d.total > 0]
    return {
        "weeks": weeks,
        "grid": grid,
        "over_target": [d.day for d in shown if target is not None and d.total > target],
        "max": max(positives, default=0),
        "min_positive": min(positives, default=0),
    }


def weekly_data(weeks: Sequence[WeekPoint]) -> dict[str, Any]:
    peak = max(weeks, key=lambda w: (w.tokens, w.week), default=None)
    return {
        "weeks": [w.week for w in weeks],
        "tokens": [w.tokens for w in weeks],
        "peak": peak.week if peak is not None and peak.tokens else None,
    }


def drivers_data(report: Report) -> list[dict[str, Any]]:
    """Cost and share by output type (what is driving the burn), costliest first."""
    total = report.agg.total
    rows = []
    for name, b in report.agg.by_type.items():
        if not (b.cost or b.total):
            continue
        share = (b.cost / total.cost) if total.cost else (Decimal(b.total) / (total.total or 1))
        label = {NOT_LANDED: "not landed", NO_OUTPUT: "no output"}.get(name, name)
        rows.append(
            {"type": label, "cost": float(b.cost), "tokens": b.total, "share": float(share)}
        )
    return rows


def table_data(days: Sequence[DayPoint]) -> list[list[str]]:
    return [
        [
            d.day,
            compact(d.total),
            compact(d.exact),
            compact(d.estimated + d.manual),
            compact(d.moving_average),
            usd(d.cost),
        ]
        for d in days[-TRAILING_DAYS:]
    ]


def equivalents_line(report: Report) -> str:
    tokens = report.agg.total.total
    parts = [f"{compact(tokens)} tokens"]
    parts += [f"≈ {compact(e.value)} {e.name} ({e.math})" for e in report.equivalents]
    return " ".join(parts) + " — rough"


def dashboard_data(report: Report) -> dict[str, Any]:
    return {
        "heatmap": heatmap_data(report.days, report.daily_target),
        "weekly": weekly_data(report.weeks),
        "drivers": drivers_data(report),
        "table": table_data(report.days),
        "equivalents": equivalents_line(report),
    }


def _compact_axis(axis: Any) -> None:
    """Tick labels as compact counts (``3.1M``), not mathtext powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: compact(Decimal(round(value)))))
    axis.set_minor_formatter(NullFormatter())


def _draw_heatmap(fig: Any, ax: Any, data: Mapping[str, Any], colors: Mapping[str, Any]) -> None:
    import matplotlib
    import numpy
    from matplotlib.colors import LogNorm

    grid = data["grid"]
    ax.set_title("Daily tokens (log colour scale)", loc="left")
    if not grid:
        ax.text(0.5, 0.5, "no days", transform=ax.transAxes, ha="center")
        ax.set_axis_off()
        return
    values = numpy.ma.masked_invalid(
        numpy.array([[numpy.nan if v in (None, 0) else v for v in row] for row in grid], float)
    )
    ax.set_facecolor(colors["_empty"])
    cmap = matplotlib.colormaps[colors["_cmap"]].with_extremes(bad=colors["_empty"])
    if data["max"]:
        vmin = data["min_positive"]
        vmax = max(data["max"], vmin * 10 if vmin == data["max"] else data["max"])
        image = ax.imshow(values, aspect="auto", cmap=cmap, norm=LogNorm(vmin=vmin, vmax=vmax))
        bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
        bar.set_label("tokens")
        _compact_axis(bar.ax.yaxis)
    else:
        ax.imshow(values, aspect="auto", cmap=cmap)
    marks = set(data["over_target"])
    start = date.fromisoformat(data["weeks"][0])
    xs, ys = [], []
    for day in sorted(marks):
        offset = (date.fromisoformat(day) - start).days
        xs.append(offset // 7)
        ys.append(offset % 7)
    if xs:
        ax.scatter(xs, ys, marker="o", s=10, color=colors["_mark"], label="over daily target")
        ax.legend(loc="upper left", fontsize=7, bbox_to_anchor=(0, -0.12), frameon=False)
    ax.set_yticks(range(7))
    ax.set_yticklabels(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], fontsize=7)
    step = max(1, len(data["weeks"]) // 8)
    ticks = list(range(0, len(data["weeks"]), step))
    ax.set_xticks(ticks)
    ax.set_xticklabels([data["weeks"][i][5:] for i in ticks], fontsize=7)


def _draw_weekly(ax: Any, data: Mapping[str, Any], colors: Mapping[str, Any]) -> None:
    ax.set_title("Weekly tokens (log scale)", loc="left")
    points = [(i, t) for i, t in enumerate(data["tokens"]) if t > 0]
    if not points:
        ax.text(0.5, 0.5, "no tokens", transform=ax.transAxes, ha="center")
        return
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=colors["_line"])
    ax.set_yscale("log")
    _compact_axis(ax.yaxis)
    peak = data["peak"]
    if peak is not None:
        i = data["weeks"].index(peak)
        ax.annotate(
            f"peak {peak}: {compact(data['tokens'][i])}",
            (i, data["tokens"][i]),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=8,
        )
    step = max(1, len(data["weeks"]) // 8)
    ticks = list(range(0, len(data["weeks"]), step))
    ax.set_xticks(ticks)
    ax.set_xticklabels([data["weeks"][i] for i in ticks], fontsize=7)
    ax.margins(y=0.25)


def _draw_drivers(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    ax.set_title("What drives the burn (cost by output type)", loc="left")
    if not rows:
        ax.text(0.5, 0.5, "no spend", transform=ax.transAxes, ha="center")
        ax.set_axis_off()
        return
    names = [_label(str(r["type"])) for r in rows][::-1]
    costs = [r["cost"] for r in rows][::-1]
    bars = ax.barh(range(len(rows)), costs, color=[PALETTE[i % 10] for i in range(len(rows))])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(names, fontsize=8)
    for bar, r in zip(bars, rows[::-1], strict=True):
        ax.annotate(
            f" {usd(Decimal(str(r['cost'])))} ({pct(Decimal(str(r['share'])))})",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=8,
        )
    ax.set_xlabel("USD")
    ax.margins(x=0.3)


def _draw_table(ax: Any, rows: Sequence[Sequence[str]], colors: Mapping[str, Any]) -> None:
    ax.set_axis_off()
    ax.set_title(f"Last {len(rows)} days (7-day moving average)", loc="left")
    if not rows:
        return
    table = ax.table(
        cellText=list(rows),
        colLabels=["day", "tokens", "exact", "est.", "7-day avg", "cost"],
        loc="upper center",
        cellLoc="right",
        colWidths=[0.24, 0.15, 0.15, 0.16, 0.15, 0.15],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.05)
    for cell in table.get_celld().values():
        cell.set_edgecolor(colors["grid.color"])
        cell.set_facecolor(colors["axes.facecolor"])
        cell.get_text().set_color(colors["text.color"])


def draw_dashboard(report: Report, *, theme: str = "light") -> Chart:
    """A window's daily burn dashboard as one PNG (see the module doc)."""
    from matplotlib.figure import Figure

    colors = _theme(theme)
    data = dashboard_data(report)
    with _style(colors):
        fig = Figure(figsize=(14, 9), dpi=DPI)
        grid = fig.add_gridspec(3, 2, width_ratios=(2.2, 1), hspace=0.55, wspace=0.15)
        _draw_heatmap(fig, fig.add_subplot(grid[0, 0]), data["heatmap"], colors)
        _draw_weekly(fig.add_subplot(grid[1, 0]), data["weekly"], colors)
        _draw_drivers(fig.add_subplot(grid[2, 0]), data["drivers"])
        _draw_table(fig.add_subplot(grid[:, 1]), data["table"], colors)
        total = report.agg.total
        fig.suptitle(
            _label(
                f"tokennotes · {report.title}: {compact(total.total)} tokens · "
                f"{usd(total.cost)} · {plural(report.score.items, 'item')} · grade "
                f"{report.score.grade or 'n/a'}",
                120,
            ),
            x=0.01,
            ha="left",
            fontsize=12,
        )
        fig.text(0.01, 0.01, _label(data["equivalents"], 200), fontsize=8)
        png = _png(fig)
    return Chart(png, data)


def draw_report_chart(
    report: Report, *, theme: str = "light", budget: Decimal | None = None
) -> Chart:
    """The chart a report gets: the PR chart for a range, the dashboard otherwise."""
    if report.scope.kind == "range":
        return draw_pr_chart(report.agg.commits, budget, theme=theme, title=report.title)
    return draw_dashboard(report, theme=theme)
