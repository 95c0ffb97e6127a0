"""`tokennotes dashboard`: one self-contained HTML page of the repository's AI spend.

The page is a single file that makes no request of any kind: the CSS and the JavaScript are
inline (``templates/dashboard.html``), a Content-Security-Policy with ``default-src 'none'`` and
the hashes of those two blocks forbids everything else, and the data is embedded as JSON in a
``<script type="application/json">`` block (every ``<``, ``>`` and ``&`` written as a ``\\u``
escape, so no string from a note can close the block). The JavaScript draws every view as inline
SVG and inserts strings from notes, commits and branches only as text, never as markup.

``build_dashboard_data`` (pure) turns the facts of every note into rows the page sums per range:

- ``usage``: tokens and cost by local day, agent, model and fidelity (cost recomputed with the
  current price table; a model without a price keeps its tokens as ``unpriced`` and no cost);
- ``output``: items, points and words by local day and output type, of commits that landed;
- ``spend_by_type``: the spend of each day by output type (a commit's spend shared among its
  types by points, as ``aggregate`` does; ``(not landed)``/``(no output)`` otherwise);
- ``commits``: the receipts of the most recent commits carrying records.

The range selector (90 days, 180 days, 1 year, all) ends every range at the day the page was
made; the page recomputes every view from these rows. ``totals`` holds the exact sums over all
rows, which the page checks its own "all" sums against.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from tokennotes.config import Config, notes_ref_arg
from tokennotes.errors import TokennotesError
from tokennotes.reporter.aggregate import (
    NO_OUTPUT,
    NOT_LANDED,
    AttoRates,
    CommitInfo,
    LocalDays,
    Pricer,
    ShallowLanded,
    atto_cost,
    atto_rates,
    money,
    settle,
    share_ints,
    spend_weights,
)
from tokennotes.reporter.facts import Output, Parsed, Usage
from tokennotes.reporter.score import (
    LOWEST_GRADE,
    WORDS_PER_MINUTE,
    WORDS_PER_NOVEL,
    WORDS_PER_TOKEN,
    grade_for,
    ratio,
)
from tokennotes.text import BIDI_CONTROLS

HELP = "write a self-contained HTML dashboard of this repository's AI spend"
DEFAULT_OUTPUT = "tokennotes-dashboard.html"
TEMPLATE = "dashboard.html"
DATA_SCHEMA = 1
RECENT_COMMITS = 50  # receipts embedded; the page shows those of the selected range
RANGES: tuple[tuple[str, str, int | None], ...] = (
    ("90d", "90 days", 90),
    ("180d", "180 days", 180),
    ("1y", "1 year", 365),
    ("all", "all", None),
)
_COST_PLACES = Decimal("1e-9")  # cost per row in the page's JSON (sums shown in cents)
_CSP_PLACEHOLDER = "__TOKENNOTES_CSP__"
_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)
# JSON inside <script>: no "<", ">" or "&" may appear raw (no "</script>", no "<!--"); U+2028/9
# are escaped for old JavaScript parsers; bidirectional controls are dropped from every string.
_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
    | dict.fromkeys(map(chr, BIDI_CONTROLS), "")
)

DashboardData = dict[str, Any]  # the JSON the page reads (see the module doc)

USAGE_COLUMNS = (
    "day",
    "agent",
    "model",
    "fidelity",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "cost",
    "unpriced",
    "records",
)
OUTPUT_COLUMNS = ("day", "type", "items", "points", "words")
SPEND_COLUMNS = ("day", "type", "tokens", "cost", "inexact", "inexact_cost")


def _usd(atto: int) -> float:
    """A cost in 10**-18 dollars for the page's JSON: a float of dollars rounded to 1e-9 (the
    page adds them up and shows cents)."""
    return float(money(atto).quantize(_COST_PLACES))


def _zone(name: str) -> tzinfo:
    if name == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TokennotesError(
            f"timezone: unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None


class _Commit:
    """The running receipt of one commit (its home commit, see ``aggregate.settle``)."""

    __slots__ = (
        "agents",
        "cost",
        "estimated",
        "last_ts",
        "manual",
        "models",
        "outputs",
        "tokens",
        "unpriced",
    )

    def __init__(self) -> None:
        self.tokens = 0
        self.estimated = 0
        self.manual = 0
        self.cost = 0  # 10**-18 dollars
        self.unpriced = 0
        self.agents: dict[str, None] = {}
        self.models: dict[str, None] = {}
        self.outputs: list[Output] = []
        self.last_ts = ""


def _commit_row(
    sha: str, acc: _Commit, info: CommitInfo | None, landed: bool, days: LocalDays
) -> dict[str, Any]:
    ts = info.ts if info is not None and info.ts else acc.last_ts
    types: dict[str, list[int]] = {}
    branch = ""
    for out in acc.outputs:
        entry = types.setdefault(out.type, [0, 0])
        entry[0] += out.items
        entry[1] += out.points
        branch = branch or out.branch
    return {
        "sha": sha,
        "ts": ts,
        "day": days.day(ts),
        "subject": info.subject if info is not None else "",
        "branch": branch,
        "landed": landed,
        "tokens": acc.tokens,
        "exact": acc.tokens - acc.estimated - acc.manual,
        "estimated": acc.estimated,
        "manual": acc.manual,
        "cost": _usd(acc.cost),
        "unpriced": acc.unpriced,
        "items": sum(v[0] for v in types.values()),
        "points": sum(v[1] for v in types.values()),
        "types": [
            [name, v[0], v[1]] for name, v in sorted(types.items(), key=lambda kv: -kv[1][1])
        ],
        "agents": list(acc.agents),
        "models": list(acc.models),
    }


def build_dashboard_data(
    parsed: Parsed,
    *,
    config: Config,
    pricer: Pricer,
    now: datetime,
    landed: Container[str] = frozenset(),
    describe: Callable[[Iterable[str]], Mapping[str, CommitInfo]] | None = None,
    since: date | None = None,
    repo_name: str = "",
    price_table: str = "",
    default_branch: str = "",
    notes: int = 0,
    approximate_models: Sequence[str] = (),
    problems: Sequence[str] = (),
) -> DashboardData:
    """The JSON the page is drawn from (see the module doc); pure apart from ``describe``.

    ``parsed``: every fact of the notes ref; ``landed``: the commits reachable from the default
    branch (only their output counts as shipped); ``describe``: looks commits up by sha (the
    subjects and times of the receipts shown); ``since``: the first local day to include;
    ``now``: when the page is made (the ranges end on its local day).
    """
    zone = _zone(config.timezone)
    days = LocalDays(zone)
    deduped = settle(parsed, landed)
    since_day = since.isoformat() if since is not None else ""
    homes, lands = deduped.homes, deduped.landed

    outputs_of: dict[str, list[Output]] = {}  # every output of a commit: the spend's weights
    for i, fact in enumerate(deduped.facts):
        if type(fact) is Output:
            outputs_of.setdefault(homes[i], []).append(fact)

    usage: dict[tuple[str, str, str, str], list[Any]] = {}
    output: dict[tuple[str, str], list[int]] = {}
    spend: dict[tuple[str, str], list[int]] = {}  # (day, home) -> tokens, cost, inexact, cost
    commits: dict[str, _Commit] = {}
    landed_of: dict[str, bool] = {}
    rate_cache: dict[tuple[str, str], AttoRates | None] = {}
    unpriced_models: dict[str, int] = {}
    total_cost = total_tokens = records = 0  # cost in 10**-18 dollars
    for i, fact in enumerate(deduped.facts):
        day = days.day(fact.ts)
        if day < since_day:
            continue
        home = homes[i]
        receipt = commits.get(home)
        if receipt is None:
            receipt = commits[home] = _Commit()
            landed_of[home] = lands[i]
        if fact.ts > receipt.last_ts:
            receipt.last_ts = fact.ts
        if type(fact) is Output:
            receipt.outputs.append(fact)
            if lands[i]:
                acc = output.setdefault((day, fact.type), [0, 0, 0])
                acc[0] += fact.items
                acc[1] += fact.points
                acc[2] += fact.words
            continue
        u: Usage = fact  # type: ignore[assignment]
        key = (u.model, u.tier)
        if key in rate_cache:
            rates = rate_cache[key]
        else:
            found = pricer(u.model, u.tier)
            rates = rate_cache[key] = None if found is None else atto_rates(found)
        tokens = u.input + u.output + u.cache_read + u.cache_write
        if rates is None:
            cost, missing = 0, tokens
            unpriced_models[u.model] = unpriced_models.get(u.model, 0) + tokens
        else:
            cost, missing = atto_cost(rates, u), 0
        row = usage.get((day, u.agent, u.model, u.fidelity))
        if row is None:
            row = usage[(day, u.agent, u.model, u.fidelity)] = [0, 0, 0, 0, 0, 0, 0, 0]
        row[0] += u.input
        row[1] += u.output
        row[2] += u.cache_read
        row[3] += u.cache_write
        row[4] += u.reasoning
        row[5] += cost
        row[6] += missing
        row[7] += 1
        inexact = tokens if u.fidelity != "exact" else 0
        part = spend.get((day, home))
        if part is None:
            part = spend[(day, home)] = [0, 0, 0, 0]
        part[0] += tokens
        part[1] += cost
        part[2] += inexact
        part[3] += cost if inexact else 0
        receipt.tokens += tokens
        receipt.cost += cost
        receipt.unpriced += missing
        if u.fidelity == "estimated":
            receipt.estimated += tokens
        elif u.fidelity == "manual":
            receipt.manual += tokens
        receipt.agents[u.agent] = None
        receipt.models[u.model] = None
        total_cost += cost
        total_tokens += tokens
        records += 1

    by_type: dict[tuple[str, str], list[int]] = {}
    for (day, home), (tokens, cost, inexact, inexact_cost) in spend.items():
        if not landed_of.get(home, False):
            shares = {NOT_LANDED: 1}
        else:
            shares = spend_weights(outputs_of.get(home, ())) or {NO_OUTPUT: 1}
        names = sorted(shares)
        weights = [shares[n] for n in names]
        for name, t, c, it, ic in zip(
            names,
            share_ints(tokens, weights),
            share_ints(cost, weights),
            share_ints(inexact, weights),
            share_ints(inexact_cost, weights),
            strict=True,
        ):
            acc = by_type.setdefault((day, name), [0, 0, 0, 0])
            acc[0] += t
            acc[1] += c
            acc[2] += it
            acc[3] += ic

    recent = sorted(commits, key=lambda sha: (commits[sha].last_ts, sha), reverse=True)
    recent = recent[:RECENT_COMMITS]
    info = dict(describe(recent)) if describe is not None and recent else {}
    commit_rows = [
        _commit_row(sha, commits[sha], info.get(sha), landed_of[sha], days) for sha in recent
    ]
    commit_rows.sort(key=lambda r: (r["ts"], r["sha"]), reverse=True)

    items = sum(v[0] for v in output.values())
    points = sum(v[1] for v in output.values())
    all_days = sorted({k[0] for k in usage} | {k[0] for k in output})
    cost_usd = money(total_cost)
    ppd = ratio(points, cost_usd) if total_cost else None
    today = now.astimezone(zone).date().isoformat()
    budget_daily = config.budget.daily
    target_tokens = config.report.daily_target_tokens or budget_daily.tokens
    notices = []
    if isinstance(landed, ShallowLanded) and (unknown := len(landed.unknown(commits))):
        from tokennotes.reporter.report import landing_notice

        notices.append(landing_notice(unknown))
    return {
        "schema": DATA_SCHEMA,
        "repo": repo_name,
        "generated_at": now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "today": today,
        "timezone": config.timezone,
        "notes_ref": config.notes_ref,
        "since": since_day or None,
        "first_day": all_days[0] if all_days else None,
        "last_day": all_days[-1] if all_days else None,
        "currency": "USD",
        "price_table": price_table,
        "default_branch": default_branch,
        "daily_target": {
            "tokens": target_tokens,
            "usd": None if budget_daily.usd is None else float(budget_daily.usd),
        },
        "grades": [[name, float(threshold)] for name, threshold in config.scoring.grades],
        "lowest_grade": LOWEST_GRADE,
        "scale": {
            "words_per_token": float(WORDS_PER_TOKEN),
            "words_per_novel": WORDS_PER_NOVEL,
            "words_per_minute": WORDS_PER_MINUTE,
        },
        "ranges": [[key, label, length] for key, label, length in RANGES],
        "usage": {
            "columns": list(USAGE_COLUMNS),
            "rows": [
                [day, agent, model, fidelity, *acc[:5], _usd(acc[5]), acc[6], acc[7]]
                for (day, agent, model, fidelity), acc in sorted(usage.items())
            ],
        },
        "output": {
            "columns": list(OUTPUT_COLUMNS),
            "rows": [[day, kind, *acc] for (day, kind), acc in sorted(output.items())],
        },
        "spend_by_type": {
            "columns": list(SPEND_COLUMNS),
            "rows": [
                [day, kind, acc[0], _usd(acc[1]), acc[2], _usd(acc[3])]
                for (day, kind), acc in sorted(by_type.items())
            ],
        },
        "commits": commit_rows,
        "totals": {
            "tokens": total_tokens,
            "cost": str(cost_usd),
            "items": items,
            "points": points,
            "records": records,
            "points_per_dollar": None if ppd is None else str(ppd),
            "grade": grade_for(ppd, config.scoring.grades),
        },
        "stats": {
            "notes": notes,
            "skipped_lines": parsed.skipped,
            "duplicates": deduped.duplicates,
            "superseded": deduped.superseded,
            "commits": len(commits),
            "commits_shown": len(commit_rows),
            "unpriced_models": sorted(unpriced_models, key=lambda m: (-unpriced_models[m], m)),
            "approximate_models": sorted(approximate_models),
            "problems": [*problems, *notices][:20],
        },
    }


# -- rendering -------------------------------------------------------------------------------


def embed_json(data: object) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.translate(_JSON_ESCAPES)


def _csp(html: str) -> str:
    """The page's policy: nothing but its own inline script and style blocks, by hash."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for match in _BLOCK.finditer(html):
        digest = hashlib.sha256(match.group(2).encode("utf-8")).digest()
        hashes[match.group(1)].append(f"'sha256-{base64.b64encode(digest).decode()}'")
    return (
        "default-src 'none'; "
        f"script-src {' '.join(hashes['script'])}; "
        f"style-src {' '.join(hashes['style'])}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def render_dashboard(data: DashboardData) -> str:
    """The self-contained HTML page for ``data``."""
    from importlib.resources import files

    import jinja2
    from markupsafe import Markup

    source = (files("tokennotes") / "templates" / TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    repo = str(data.get("repo") or "repository")
    html = env.from_string(source).render(
        title=f"tokennotes dashboard: {repo}",
        repo=repo,
        csp=_CSP_PLACEHOLDER,
        data_json=Markup(embed_json(data)),  # safe: embed_json escapes <, > and &
    )
    return html.replace(_CSP_PLACEHOLDER, _csp(html), 1)


# -- reading the repository ------------------------------------------------------------------


def _root(path: Path) -> Path:
    from tokennotes import notes

    try:
        return notes.toplevel(path)
    except notes.GitError:
        raise TokennotesError(
            f"{path} is not inside a git repository; run tokennotes dashboard in a clone "
            "(or pass -C PATH)"
        ) from None
    except TokennotesError:  # bare: no work tree, but the notes and commits are there
        return path


def read_dashboard_data(
    repo: Path,
    *,
    since: date | str | None = None,
    ref: str | None = None,
    now: datetime | None = None,
) -> DashboardData:
    """Read every note of the repository at ``repo`` and build the dashboard's data.

    ``since``: a local day, or what ``tokennotes report --since`` takes (``2026-01-31``, an ISO
    time, ``30d``, ``12w``, ``today``), of which the local day counts. Raises
    ``TokennotesError`` when there are no records (no notes ref, or nothing since ``since``).
    """
    from tokennotes import config as config_module
    from tokennotes import notes
    from tokennotes.pricing import load_price_table
    from tokennotes.reporter import read
    from tokennotes.reporter.command import parse_when
    from tokennotes.reporter.report import pricer_for

    root = _root(repo)
    config = config_module.load_config(root)
    now = now or datetime.now(timezone.utc)
    if isinstance(since, str):
        zone = _zone(config.timezone)
        since = parse_when(since, zone, now).astimezone(zone).date()
    notes_ref = ref or config.notes_ref
    if not notes.notes_ref_exists(root, notes_ref):
        raise TokennotesError(
            f"no tokennotes records here: {notes_ref} does not exist in {root.name}. "
            "Record some commits first (tokennotes init installs the hook), or fetch the notes "
            f"of a clone that has them: git fetch origin '{notes_ref}:{notes_ref}'"
        )
    # what counts as landed: as in `tokennotes report`
    branch = read.default_branch(root, config.report.default_branch)
    if branch is None and read.head_commit(root):
        branch = "HEAD"
    with read.paused_gc(), read.start_landed(root, branch) as collect_landed:
        parsed, count = read.read_all(root, notes_ref)
        landed = collect_landed()
        if not parsed.records:
            more = f" ({parsed.skipped} unreadable lines skipped)" if parsed.skipped else ""
            raise TokennotesError(f"no readable records on {notes_ref}{more}; nothing to show")
        table = load_price_table(config.pricing, root=root)
        approximate: set[str] = set()
        data = build_dashboard_data(
            parsed,
            config=config,
            pricer=pricer_for(table, approximate),
            now=now,
            landed=landed,
            describe=lambda shas: read.commit_details(root, shas),
            since=since,
            repo_name=root.name,
            price_table=table.version,
            default_branch=branch or "",
            notes=count,
            approximate_models=sorted(approximate),
            problems=table.problems,
        )
    if data["first_day"] is None:
        raise TokennotesError(
            f"no records on or after {since.isoformat() if since else 'the start'}; "
            "try an earlier --since"
        )
    data["notes_ref"] = notes_ref
    return data


# -- the command -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="only records from this local day on: YYYY-MM-DD, an ISO time (its day), "
        "or 30d / 12w / today",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=DEFAULT_OUTPUT,
        metavar="FILE",
        help=f"where to write the page (default: {DEFAULT_OUTPUT}; - for stdout)",
    )
    parser.add_argument(
        "--ref", type=notes_ref_arg, help="notes ref (default: the config's, refs/notes/ai-tokens)"
    )
    parser.add_argument("-C", "--repo", default=".", help="repository (default: .)")


def run(args: argparse.Namespace, *, stream: TextIO | None = None) -> int:
    out = sys.stdout if stream is None else stream
    data = read_dashboard_data(Path(args.repo), since=args.since, ref=args.ref)
    html = render_dashboard(data)
    if args.output == "-":
        out.write(html)
        return 0
    path = Path(args.output)
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise TokennotesError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(path, file=out)
    return 0
