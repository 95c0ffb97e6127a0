"""`tokennotes report`: aggregate and score the records of a range, a time window or all history.

    tokennotes report                      # all history
    tokennotes report main..HEAD           # the commits of a branch (a PR)
    tokennotes report --since 7d           # the last 7 days (today included), by record time
    tokennotes report --since 2026-11-16 --until 2026-11-22 --format markdown --chart week.png

See ``docs/report.md`` for the options, the JSON contract and how the numbers are computed.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tokennotes.errors import GateFailed, TokennotesError

if TYPE_CHECKING:
    from tokennotes.config import Config
    from tokennotes.reporter.report import Report

HELP = "aggregate and score the records of a commit range or a time window"
FORMATS = ("table", "markdown", "json", "csv")
_RELATIVE = re.compile(r"(\d+)([hdw])")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tokennotes.config import notes_ref_arg

    parser.add_argument(
        "range",
        nargs="?",
        metavar="RANGE",
        help="a commit range as git log takes it (main..HEAD, a PR's base..head); "
        "without it and without --since/--until: all history",
    )
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="start of a time window, by record time: YYYY-MM-DD (local midnight), an ISO "
        "time, or 7d / 2w / 12h (7d = today and the 6 days before)",
    )
    parser.add_argument(
        "--until",
        metavar="WHEN",
        help="end of the window (exclusive for a time; a YYYY-MM-DD day is included); "
        "default: no end",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    parser.add_argument(
        "--template",
        choices=("summary", "comment", "weekly"),
        help="markdown template (default: summary for a range, weekly for a window)",
    )
    parser.add_argument("--chart", metavar="PATH", help="also draw the chart as a PNG here")
    parser.add_argument(
        "--chart-url", metavar="URL", help="embed this image URL in the markdown (repeatable)",
        action="append", default=[],
    )  # fmt: skip
    parser.add_argument("--theme", choices=("light", "dark"), help="chart theme (config)")
    parser.add_argument("--title", help="the report's title (default: the range or the dates)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report here")
    parser.add_argument("--repo", metavar="PATH", default=".", help="the repository (default .)")
    parser.add_argument(
        "--ref", metavar="REF", type=notes_ref_arg, help="notes ref (default: the config's)"
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="exit 1 when a budget is exceeded (budget.mode: fail) and not overridden",
    )
    parser.add_argument(
        "--override", action="store_true", help="the budget override is set (e.g. PR label)"
    )
    parser.add_argument(
        "--no-compare",
        dest="compare",
        action="store_false",
        help="skip the comparison with the trailing 30 days (a range then reads only its "
        "own notes)",
    )
    parser.add_argument(
        "--now",
        metavar="TIME",
        help="pretend it is this ISO time (reproducible reports)",
    )


# the times a report takes: UTC stamps are compared as text (four-digit years) and series
# reach weeks before and after them
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9998, 12, 31, tzinfo=timezone.utc)


def _in_range(moment: datetime, flag: str, text: str) -> datetime:
    try:
        inside = EARLIEST <= moment <= LATEST
    except OverflowError:  # an offset that moves the time past the calendar
        inside = False
    if not inside:
        raise TokennotesError(f"{flag}: {text!r} is out of range; use a time from 1970 to 9998")
    return moment


def parse_when(text: str, zone: tzinfo, now: datetime, *, end: bool = False) -> datetime:
    """A ``--since``/``--until`` value as an aware datetime (see ``add_arguments``), from 1970
    to 9998 (TokennotesError else)."""
    flag = "--until" if end else "--since"
    try:
        moment = _parse_when(text, zone, now, end=end)
    except (OverflowError, ValueError):  # 99999999d, a day past 9999-12-31
        moment = EARLIEST - timedelta(days=1)
    return _in_range(moment, flag, text)


def _parse_when(text: str, zone: tzinfo, now: datetime, *, end: bool) -> datetime:
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        count, unit = int(relative.group(1)), relative.group(2)
        if unit == "h":
            return now - timedelta(hours=count)
        days = count * (7 if unit == "w" else 1)
        today = now.astimezone(zone).date()
        start = today - timedelta(days=max(days - 1, 0))
        return datetime.combine(start + timedelta(days=1 if end else 0), time(), zone)
    if value in ("today", "yesterday"):
        day = now.astimezone(zone).date() - timedelta(days=1 if value == "yesterday" else 0)
        return datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
    text_ = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.fromisoformat(text_)
    except ValueError:
        flag = "--until" if end else "--since"
        raise TokennotesError(
            f"{flag}: cannot read {text!r}; use YYYY-MM-DD, an ISO time like "
            "2026-11-16T09:00+01:00, or 7d / 2w / 12h"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _now(args: argparse.Namespace) -> datetime:
    if not args.now:
        return datetime.now(timezone.utc)
    text = args.now[:-1] + "+00:00" if args.now.endswith(("Z", "z")) else args.now
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TokennotesError(f"--now: cannot read {args.now!r}; use an ISO time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return _in_range(moment, "--now", args.now)


def _no_notes(ref: str, root: Path) -> TokennotesError:
    return TokennotesError(
        f"no tokennotes records in {root.name}: {ref} does not exist. Record some commits "
        "first (tokennotes init installs the hook), or fetch the notes of a clone that has "
        f"them: git fetch origin '{ref}:{ref}'"
    )


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    out = stdout if stdout is not None else sys.stdout
    from tokennotes import notes
    from tokennotes.config import load_config
    from tokennotes.pricing import format_usd_against, load_price_table
    from tokennotes.reporter import read
    from tokennotes.reporter.aggregate import CommitInfo, Scope
    from tokennotes.reporter.gate import gate_fails
    from tokennotes.reporter.report import (
        HEATMAP_DAYS,
        NO_PIPELINE,
        SERIES_DAYS,
        build_report,
        pricer_for,
        utc_stamp,
        zone_days,
    )

    root = read.repo_root(Path(args.repo))
    config = load_config(root)
    ref = args.ref or config.notes_ref
    if args.range and (args.since or args.until):
        raise TokennotesError("give a RANGE or --since/--until, not both")
    if not notes.notes_ref_exists(root, ref):
        raise _no_notes(ref, root)
    days = zone_days(config)
    zone = days.zone
    now = _now(args)
    table = load_price_table(config.pricing, root=root)
    for problem in table.problems:
        print(f"tokennotes: {problem}", file=sys.stderr)
    approximate: set[str] = set()
    pricer = pricer_for(table, approximate)

    def describe(shas: Iterable[str]) -> Mapping[str, CommitInfo]:
        return read.commit_details(root, shas)

    with read.paused_gc(), contextlib.ExitStack() as stack:
        branch = read.default_branch(root, config.report.default_branch)
        if branch is None and read.head_commit(root):
            branch = "HEAD"
        head = read.head_commit(root)
        history = None
        count = 0
        also_count: frozenset[str] = frozenset()
        if args.range:
            scope = Scope(kind="range", spec=args.range)
            # which commits landed: the rows say so, and the comparison counts landed output
            collect = stack.enter_context(read.start_landed(root, branch))
            commits, parsed = read.read_range(root, args.range, ref)
            annotated = set(parsed.homes)
            count = sum(1 for c in commits if c.sha in annotated)
            if args.compare:
                history, count = read.read_all(root, ref)
            landed = collect()
            head = commits[-1].sha if commits else head
            title = f"commits {args.range}"
        else:
            collect = stack.enter_context(read.start_landed(root, branch))
            since = parse_when(args.since, zone, now) if args.since else None
            until = parse_when(args.until, zone, now, end=True) if args.until else None
            if since is not None and until is not None and until <= since:
                raise TokennotesError("--until must be after --since")
            if since is None and until is None:
                scope = Scope(kind="all")
                title = "all history"
            else:
                scope = Scope(
                    kind="window",
                    since=utc_stamp(since) if since else None,
                    until=utc_stamp(until) if until else None,
                )
                first = since.astimezone(zone).date().isoformat() if since else "the start"
                last_moment = (until or now) - timedelta(seconds=1)
                title = f"{first} to {last_moment.astimezone(zone).date().isoformat()}"
                scope = replace(scope, spec=title)
            parsed, count = read.read_all(root, ref)
            landed = collect()
            commits = []
            if branch is not None and scope.kind == "window":
                commits = read.branch_commits(root, branch, scope.since, scope.until)
            elif scope.kind == "all":
                also_count = landed
        pipeline = (
            read.read_pipeline(root, head, config.scoring.pipeline_globs) if head else NO_PIPELINE
        )
        report = build_report(
            parsed=parsed,
            scope=scope,
            config=config,
            pricer=pricer,
            price_table=table.version,
            now=now,
            commits=commits,
            landed=landed,
            history=history,
            default_branch=branch or "",
            head=head,
            notes=count,
            overridden=args.override,
            title=args.title or title,
            describe=describe,
            series_days=HEATMAP_DAYS if args.chart else SERIES_DAYS,
            also_count=also_count,
            pipeline=pipeline,
        )
    report = replace(report, approximate_models=tuple(sorted(approximate)))
    if args.chart:
        _write_chart(report, Path(args.chart), args.theme or config.report.theme, config)
    text = _format(report, args, config)
    if args.output:
        _write(Path(args.output), text.encode("utf-8"))
    else:
        out.write(text)
    for problem in report.errors[:5]:
        print(f"tokennotes: skipped {problem}", file=sys.stderr)
    if report.landing_unknown and (args.format != "table" or args.output):  # not twice on screen
        print(f"tokennotes: {report.landing_notice}", file=sys.stderr)
    if args.gate and gate_fails(report.budget, config.budget.mode):
        spent, limit = report.budget.spent_usd, report.budget.limit_usd
        raise GateFailed(
            f"{report.budget.kind} budget exceeded: spent "
            + format_usd_against(spent, limit)
            + (f" of {format_usd_against(limit, spent)}" if limit else "")
            + (f" ({report.budget.period})" if report.budget.period else "")
        )
    return 0


def _format(report: Report, args: argparse.Namespace, config: Config) -> str:
    if args.format == "json":
        from tokennotes.reporter.formats import render_json

        return render_json(report)
    if args.format == "csv":
        from tokennotes.reporter.formats import render_csv

        return render_csv(report)
    if args.format == "table":
        from tokennotes.reporter.formats import render_table

        return render_table(report)
    from tokennotes.reporter.render import render_markdown

    template = args.template or ("summary" if report.scope.kind == "range" else "weekly")
    templates_dir = None
    if config.report.templates:
        templates_dir = Path(config.report.templates)
        if not templates_dir.is_absolute() and config.source is not None:
            templates_dir = config.source.parent / templates_dir
    charts = [("tokennotes chart", url) for url in args.chart_url]
    return render_markdown(report, template, templates_dir=templates_dir, charts=charts)


def _write_chart(report: Report, path: Path, theme: str, config: Config) -> None:
    try:
        from tokennotes.reporter.chart import draw_report_chart

        chart = draw_report_chart(report, theme=theme, budget=config.budget.pr.usd)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("matplotlib", "numpy"):
            raise TokennotesError(
                "charts need matplotlib: pip install 'tokennotes[charts]'"
            ) from None
        raise
    _write(path, chart.png)


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``; TokennotesError (one line) when that fails."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise TokennotesError(f"cannot write {path}: {exc.strerror or exc}") from None
