"""`tokennotes dashboard`: the data built from real notes, the page around it, the command."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git
from tokennotes import cli
from tokennotes.config import default_config
from tokennotes.pricing import cost_of, load_price_table
from tokennotes.record import OutputRecord, Record, Tokens, UsageRecord, dump_record, make_id
from tokennotes.reporter import dashboard, read
from tokennotes.reporter.aggregate import LocalDays, Scope, aggregate, settle
from tokennotes.reporter.dashboard import (
    build_dashboard_data,
    read_dashboard_data,
    render_dashboard,
)
from tokennotes.reporter.report import pricer_for

REF = "refs/notes/ai-tokens"
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)
TODAY = NOW.date()
SONNET = "claude-sonnet-4-5-20250929"
OPUS = "claude-opus-4-1-20250805"
UNPRICED = "in-house-model-x"
HOSTILE_SUBJECT = (
    'feat: </script><script>alert("subject")</script> <img src=x onerror=alert(1)> '
    "**bold** [link](javascript:alert(2)) <!-- &amp; &lt;"
)
HOSTILE_BRANCH = "<b>topic</b>\u2028</SCRIPT >"
HOSTILE_MODEL = "<svg onload=alert(3)>"
HOSTILE_AGENT = "</script><script>alert(4)</script>"


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_usage(
    key: str,
    ts: str,
    *,
    agent: str = "claude",
    model: str = SONNET,
    fidelity: str = "exact",
    tokens: Tokens | None = None,
    supersedes: Sequence[str] = (),
) -> UsageRecord:
    return UsageRecord(
        id=make_id("usage", key),
        ts=ts,
        agent=agent,
        model=model,
        session=make_id("session", key)[:16],
        first=ts,
        last=ts,
        messages=3,
        tokens=tokens or Tokens(input=1000, output=2000, cache_read=50_000, cache_write=4000),
        fidelity=fidelity,  # type: ignore[arg-type]
        cost_usd=Decimal("0.1"),
        price_table="test",
        host="0badc0de",
        supersedes=tuple(supersedes),
    )


def make_output(
    key: str,
    ts: str,
    commit: str,
    *,
    type: str = "feature",
    items: int = 1,
    points: int = 5,
    branch: str = "main",
    supersedes: Sequence[str] = (),
) -> OutputRecord:
    return OutputRecord(
        id=make_id("output", key),
        ts=ts,
        commit=commit,
        type=type,
        items=items,
        points=points,
        files=1,
        insertions=10,
        deletions=2,
        words=7,
        rule="test",
        author="author@example.com",
        branch=branch,
        supersedes=tuple(supersedes),
    )


def commit_at(repo: Path, when: datetime, subject: str) -> str:
    moment = stamp(when)
    env = {"GIT_AUTHOR_DATE": moment, "GIT_COMMITTER_DATE": moment}
    git(repo, "commit", "-q", "--allow-empty", "-m", subject, env=env)
    return git(repo, "rev-parse", "HEAD").strip()


def attach(repo: Path, sha: str, records: Sequence[Record]) -> None:
    body = "".join(sorted(dump_record(r) + "\n" for r in records))
    git(repo, "notes", f"--ref={REF}", "add", "-f", "-F", "-", sha, input=body)


@dataclass
class History:
    """What was written into a repository's notes, for computing the expected numbers."""

    usage: list[UsageRecord] = field(default_factory=list)
    outputs: list[OutputRecord] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    landed: set[str] = field(default_factory=set)
    notes: dict[str, list[Record]] = field(default_factory=dict)

    def add(self, repo: Path, sha: str, records: Sequence[Record], *, landed: bool = True) -> None:
        attach(repo, sha, records)
        self.commits.append(sha)
        self.notes[sha] = list(records)
        if landed:
            self.landed.add(sha)
        for record in records:
            if isinstance(record, UsageRecord):
                self.usage.append(record)
            else:
                self.outputs.append(record)

    def expected(self, days: int | None, today: date = TODAY) -> dict[str, Any]:
        """Sums over the local (UTC) days of the last ``days`` days (None: all)."""
        start = "" if days is None else (today - timedelta(days=days - 1)).isoformat()
        table = load_price_table()
        tokens = estimated = manual = unpriced = 0
        cost = Decimal(0)
        for u in self.usage:
            if u.ts[:10] < start:
                continue
            tokens += u.tokens.total
            estimated += u.tokens.total if u.fidelity == "estimated" else 0
            manual += u.tokens.total if u.fidelity == "manual" else 0
            price = cost_of(table, u.model, u.tokens)
            if price is None:
                unpriced += u.tokens.total
            else:
                cost += price
        shipped = [o for o in self.outputs if o.ts[:10] >= start and o.commit in self.landed]
        return {
            "tokens": tokens,
            "estimated": estimated,
            "manual": manual,
            "unpriced": unpriced,
            "cost": cost,
            "items": sum(o.items for o in shipped),
            "points": sum(o.points for o in shipped),
        }


# Days back from TODAY of the commits of the long history: more than a year, denser lately.
SPREAD = tuple(
    int(n)
    for n in "419 400 371 330 300 251 200 181 179 150 120 95 89 85 60 45 30 29 "
    "20 14 10 7 5 3 2 1 0".split()
)
AGENTS = (
    ("claude", SONNET),
    ("codex", "gpt-5-codex"),
    ("gemini", "gemini-2.5-pro"),
    ("opencode", UNPRICED),
)
TYPES = (("feature", 5), ("fix", 3), ("docs", 2))


def build_history(repo: Path, *, hostile: bool = True) -> History:
    """Commits over 420 days with exact, estimated and manual usage, four agents (one model
    without a price), three output types, a record copied onto two commits, a superseded
    record, an unlanded branch commit and (``hostile``) markup in every string it can."""
    history = History()
    for n, back in enumerate(SPREAD):
        when = NOW - timedelta(days=back, hours=n % 5)
        ts = stamp(when)
        kind, points = TYPES[n % len(TYPES)]
        subject = HOSTILE_SUBJECT if hostile and back == 2 else f"{kind}: change {n}"
        sha = commit_at(repo, when, subject)
        agent, model = AGENTS[n % len(AGENTS)]
        scale = 1 + (n * 7) % 11
        records: list[Record] = [
            make_usage(
                f"u{n}",
                ts,
                agent=agent,
                model=model,
                tokens=Tokens(
                    input=900 * scale,
                    output=2100 * scale,
                    cache_read=48_000 * scale,
                    cache_write=3500 * scale,
                    reasoning=300 * scale,
                ),
            ),
            make_output(
                f"o{n}",
                ts,
                sha,
                type=kind,
                points=points,
                branch=HOSTILE_BRANCH if hostile and back == 2 else "main",
            ),
        ]
        if n % 5 == 0:
            records.append(make_usage(f"e{n}", ts, fidelity="estimated"))
        if n % 7 == 3:
            records.append(make_usage(f"m{n}", ts, agent="manual", model=SONNET, fidelity="manual"))
        if hostile and back == 1:
            records.append(make_usage(f"h{n}", ts, agent=HOSTILE_AGENT, model=HOSTILE_MODEL))
        history.add(repo, sha, records)
    # the same record copied onto another commit counts once; a correction replaces a record
    newest, before = history.commits[-1], history.commits[-2]
    copied = history.notes[newest][0]
    wrong = make_usage("wrong", copied.ts, tokens=Tokens(input=10**9))
    fixed = make_usage("fixed", copied.ts, tokens=Tokens(input=123), supersedes=[wrong.id])
    attach(repo, before, [*history.notes[before], copied, wrong, fixed])
    history.usage.append(fixed)
    # a branch commit that never landed: its spend counts, its output does not
    git(repo, "checkout", "-q", "-b", "topic")
    when = NOW - timedelta(days=4)
    sha = commit_at(repo, when, "feat: not landed yet")
    history.add(
        repo,
        sha,
        [
            make_usage("topic", stamp(when), tokens=Tokens(input=500, output=500)),
            make_output("topic", stamp(when), sha, branch="topic"),
        ],
        landed=False,
    )
    git(repo, "checkout", "-q", "main")
    return history


_BUILT: dict[bool, tuple[Path, History]] = {}


def history_in(repo: Path, factory: pytest.TempPathFactory, *, hostile: bool = True) -> History:
    """``build_history`` in ``repo``: built once per session, then copied (git is slow)."""
    built = _BUILT.get(hostile)
    if built is None:
        history = build_history(repo, hostile=hostile)
        keep = factory.mktemp("history") / "repo"
        shutil.copytree(repo, keep, symlinks=True)
        git(keep, "gc", "--quiet")  # one pack file: copies take milliseconds
        _BUILT[hostile] = (keep, history)
        return history
    shutil.rmtree(repo)
    shutil.copytree(built[0], repo, symlinks=True)
    return built[1]


@pytest.fixture
def history(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    """The long history, with markup in every string it can hold."""
    return history_in(repo, tmp_path_factory)


@pytest.fixture
def plain(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    """The long history without hostile strings."""
    return history_in(repo, tmp_path_factory, hostile=False)


def sum_rows(data: dict[str, Any], table: str, column: str, **where: Any) -> Any:
    cols = data[table]["columns"]
    i = cols.index(column)
    conditions = [(cols.index(k), v) for k, v in where.items()]
    return sum(r[i] for r in data[table]["rows"] if all(r[j] == v for j, v in conditions))


def usage_tokens(data: dict[str, Any], **where: Any) -> int:
    return sum(
        sum_rows(data, "usage", name, **where)
        for name in ("input", "output", "cache_read", "cache_write")
    )


# --------------------------------------------------------------------------- the data


def test_data_sums_every_record_once(repo: Path, history: History) -> None:
    data = read_dashboard_data(repo, now=NOW)
    everything = history.expected(None)
    assert data["totals"]["tokens"] == everything["tokens"] == usage_tokens(data)
    assert Decimal(data["totals"]["cost"]) == everything["cost"]
    assert data["totals"]["items"] == everything["items"] == sum_rows(data, "output", "items")
    assert data["totals"]["points"] == everything["points"]
    stats = data["stats"]
    assert stats["duplicates"] == 1 and stats["superseded"] == 1 and stats["skipped_lines"] == 0
    assert stats["unpriced_models"] == [UNPRICED, HOSTILE_MODEL]
    assert data["today"] == TODAY.isoformat()
    assert data["first_day"] == (TODAY - timedelta(days=419)).isoformat()
    assert data["default_branch"] == "main"
    # the exact cost of every row adds up to the total (rows are rounded to 1e-9 dollars)
    assert abs(Decimal(str(sum_rows(data, "usage", "cost"))) - everything["cost"]) < Decimal("1e-6")
    assert sum_rows(data, "usage", "unpriced") == everything["unpriced"]


def test_a_shallow_clone_says_what_it_cannot_tell(
    repo: Path, plain: History, tmp_path: Path
) -> None:
    """Past a shallow clone's depth, whether a commit landed is unknown: it counts as landed
    (as in `tokennotes report`), and the page says so."""
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "main", f"file://{repo}", str(clone))
    git(clone, "fetch", "-q", "origin", f"+{REF}:{REF}")
    full, shallow = read_dashboard_data(repo, now=NOW), read_dashboard_data(clone, now=NOW)
    assert shallow["totals"]["tokens"] == full["totals"]["tokens"]
    assert shallow["totals"]["items"] >= full["totals"]["items"]
    assert not any("shallow" in problem for problem in full["stats"]["problems"])
    (notice,) = [problem for problem in shallow["stats"]["problems"] if "shallow" in problem]
    assert notice.startswith("This clone is shallow: ") and "count as landed" in notice


def test_data_per_day_and_fidelity(repo: Path, plain: History) -> None:
    history = plain
    data = read_dashboard_data(repo, now=NOW)
    by_day: dict[str, int] = {}
    for u in history.usage:
        by_day[u.ts[:10]] = by_day.get(u.ts[:10], 0) + u.tokens.total
    for day, tokens in by_day.items():
        assert usage_tokens(data, day=day) == tokens, day
    # two records on one day: an exact one and an estimated one, apart
    day = history.usage[0].ts[:10]
    assert (
        usage_tokens(data, day=day, fidelity="estimated")
        == Tokens(input=1000, output=2000, cache_read=50_000, cache_write=4000).total
    )
    for fidelity in ("exact", "estimated", "manual"):
        expected = sum(u.tokens.total for u in history.usage if u.fidelity == fidelity)
        assert usage_tokens(data, fidelity=fidelity) == expected, fidelity
    assert usage_tokens(data, fidelity="manual") > 0


def test_data_matches_the_aggregate(repo: Path, plain: History) -> None:
    """The rows split by output type add up to what `aggregate` reports over all history."""
    data = read_dashboard_data(repo, now=NOW)
    parsed, _ = read.read_all(repo, REF)
    landed = read.start_landed(repo, "main")()
    pricer = pricer_for(load_price_table())
    agg = aggregate(
        settle(parsed, landed),
        scope=Scope(kind="all"),
        pricer=pricer,
        days=LocalDays(timezone.utc),
        landed=landed,
    )
    assert data["totals"]["tokens"] == agg.total.total
    assert Decimal(data["totals"]["cost"]) == agg.total.cost
    totals = data["totals"]
    assert (totals["items"], totals["points"]) == (agg.total.items, agg.total.points)
    spend = data["spend_by_type"]
    assert {r[1] for r in spend["rows"]} <= set(agg.by_type)
    for name, bucket in agg.by_type.items():
        assert sum_rows(data, "spend_by_type", "tokens", type=name) == bucket.total, name
        cost = Decimal(str(sum_rows(data, "spend_by_type", "cost", type=name)))
        assert abs(cost - bucket.cost) < Decimal("1e-6"), name
        assert sum_rows(data, "output", "items", type=name) == bucket.items, name
    assert "(not landed)" in agg.by_type
    for name, bucket in agg.by_model.items():
        assert usage_tokens(data, model=name) == bucket.total


def test_data_receipts_of_recent_commits(repo: Path, history: History) -> None:
    data = read_dashboard_data(repo, now=NOW)
    rows = data["commits"]
    assert len(rows) == len(set(history.commits)) == data["stats"]["commits"]
    assert [r["ts"] for r in rows] == sorted((r["ts"] for r in rows), reverse=True)
    by_sha = {r["sha"]: r for r in rows}
    topic = by_sha[history.commits[-1]]
    assert topic["landed"] is False and topic["branch"] == "topic"
    assert topic["subject"] == "feat: not landed yet"
    assert topic["tokens"] == 1000 and topic["types"] == [["feature", 1, 5]]
    hostile = next(r for r in rows if r["subject"] == HOSTILE_SUBJECT)
    assert hostile["branch"] == HOSTILE_BRANCH
    assert hostile["manual"] and hostile["exact"] + hostile["manual"] == hostile["tokens"]
    estimated = next(r for r in rows if r["estimated"])
    assert estimated["exact"] + estimated["estimated"] + estimated["manual"] == estimated["tokens"]
    manual = next(r for r in rows if r["manual"])
    assert "manual" in manual["agents"]
    with_unpriced = next(r for r in rows if HOSTILE_MODEL in r["models"])
    assert with_unpriced["unpriced"] > 0


def test_data_since_and_time_zone(repo: Path, plain: History) -> None:
    history = plain
    since = TODAY - timedelta(days=30)
    data = read_dashboard_data(repo, now=NOW, since=since)
    expected = history.expected(31)
    assert data["since"] == since.isoformat() == data["first_day"]
    assert data["totals"]["tokens"] == expected["tokens"]
    assert data["totals"]["items"] == expected["items"]
    assert all(r["day"] >= since.isoformat() for r in data["commits"])
    # what `tokennotes report --since` takes: 7d is today and the six days before
    week = read_dashboard_data(repo, now=NOW, since="7d")
    assert week["since"] == (TODAY - timedelta(days=6)).isoformat() <= week["first_day"]
    assert week["totals"]["tokens"] == history.expected(7)["tokens"]
    moment = read_dashboard_data(repo, now=NOW, since=f"{since.isoformat()}T23:00:00Z")
    assert moment["since"] == since.isoformat()

    # days are local days of the configured zone (Pago Pago: UTC-11, no daylight saving)
    (repo / ".tokennotes.yml").write_text("timezone: Pacific/Pago_Pago\n")
    early = datetime(TODAY.year, TODAY.month, TODAY.day, 5, tzinfo=timezone.utc)
    sha = commit_at(repo, early, "fix: early")
    attach(repo, sha, [make_usage("early", stamp(early), model=OPUS, tokens=Tokens(input=777))])
    local = read_dashboard_data(repo, now=NOW)
    assert local["today"] == TODAY.isoformat()  # 04:30 in Pago Pago
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    assert usage_tokens(local, day=yesterday, model=OPUS) == 777
    assert usage_tokens(local, day=TODAY.isoformat(), model=OPUS) == 0
    recent = read_dashboard_data(repo, now=NOW, since=TODAY)
    assert recent["timezone"] == "Pacific/Pago_Pago" and recent["first_day"] == TODAY.isoformat()
    (repo / ".tokennotes.yml").unlink()
    utc = read_dashboard_data(repo, now=NOW)
    assert usage_tokens(utc, day=TODAY.isoformat(), model=OPUS) == 777


def test_data_daily_target_from_config(repo: Path, plain: History) -> None:
    (repo / ".tokennotes.yml").write_text(
        "report:\n  daily_target_tokens: 250000\nbudget:\n  daily:\n    usd: 2.5\n"
    )
    data = read_dashboard_data(repo, now=NOW)
    assert data["daily_target"] == {"tokens": 250000, "usd": 2.5}
    assert data["grades"][0] == ["A+", 15.0]


def test_build_is_pure_and_deterministic(repo: Path, history: History) -> None:
    parsed, count = read.read_all(repo, REF)
    landed = read.start_landed(repo, "main")()

    def build() -> dict[str, Any]:
        return build_dashboard_data(
            parsed,
            config=default_config(),
            pricer=pricer_for(load_price_table()),
            now=NOW,
            landed=landed,
            describe=lambda shas: read.commit_details(repo, shas),
            repo_name="demo",
            notes=count,
        )

    first, second = build(), build()
    assert first == second
    assert render_dashboard(first) == render_dashboard(second)
    no_describe = build_dashboard_data(
        parsed, config=default_config(), pricer=pricer_for(load_price_table()), now=NOW
    )
    assert all(r["subject"] == "" for r in no_describe["commits"])
    # nothing landed: all spend is "(not landed)" and nothing counts as shipped
    assert no_describe["totals"]["items"] == 0
    assert {r[1] for r in no_describe["spend_by_type"]["rows"]} == {"(not landed)"}


# --------------------------------------------------------------------------- the page


def data_block(page: str) -> str:
    match = re.search(
        r'<script type="application/json" id="tokennotes-data">(.*?)</script>', page, re.DOTALL
    )
    assert match is not None
    return match.group(1)


def test_page_embeds_data_that_parses_back(repo: Path, history: History) -> None:
    data = read_dashboard_data(repo, now=NOW)
    page = render_dashboard(data)
    assert json.loads(data_block(page)) == data
    assert page.startswith("<!doctype html>")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "prefers-color-scheme: dark" in page


def test_page_escapes_hostile_strings(repo: Path, history: History) -> None:
    data = read_dashboard_data(repo, now=NOW)
    data["repo"] = '<script>alert("repo")</script>'
    page = render_dashboard(data)
    block = data_block(page)
    for raw in ("<", ">", "&", "\u2028"):
        assert raw not in block
    # exactly the page's own three script blocks; every hostile string stays inside the data
    assert page.count("<script") == 3
    assert len(re.findall(r"</script", page, re.IGNORECASE)) == 3
    assert "<img" not in page and "<svg onload" not in page and "<b>" not in page
    assert "<!--" not in page
    assert "<title>tokennotes dashboard: &lt;script&gt;alert(&#34;repo&#34;)&lt;/script&gt;" in page
    parsed = json.loads(block)
    assert parsed["repo"] == data["repo"]
    subjects = {c["subject"] for c in parsed["commits"]}
    assert HOSTILE_SUBJECT in subjects
    assert HOSTILE_BRANCH in {c["branch"] for c in parsed["commits"]}
    assert HOSTILE_MODEL in {r[2] for r in parsed["usage"]["rows"]}
    assert HOSTILE_AGENT in {r[1] for r in parsed["usage"]["rows"]}
    # the script never builds markup from strings
    code = page[page.index('id="tokennotes-data"') :]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in code


def test_page_makes_no_external_requests(repo: Path, plain: History) -> None:
    page = render_dashboard(read_dashboard_data(repo, now=NOW))
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert re.findall(r"\ssrc=", page) == []
    assert re.findall(r'\shref="([^"]*)"', page) == ["data:,"]
    assert "@import" not in page and "url(" not in page
    for api in ("fetch(", "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon", "import("):
        assert api not in page
    # the policy allows nothing but the page's own blocks (by hash) and data: images
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert found is not None
    csp = html.unescape(found.group(1))
    assert csp.startswith("default-src 'none'; ")
    for kind in ("script", "style"):
        bodies = re.findall(rf"<{kind}>(.*?)</{kind}>", page, re.DOTALL)
        assert bodies
        for body in bodies:
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_embed_json_escapes_what_could_end_the_block() -> None:
    value = {"s": "</script><!-- <script> & \u2028\u2029 ünïcödé"}
    text = dashboard.embed_json(value)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == value


def test_embed_json_drops_bidirectional_controls() -> None:
    text = dashboard.embed_json({"subject": "fix \u202eexe.txt\u202c \u2066a\u2069"})
    assert json.loads(text) == {"subject": "fix exe.txt a"}


# --------------------------------------------------------------------------- the command


def test_command_writes_the_page(
    repo: Path,
    plain: History,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(repo)
    assert cli.main(["dashboard"]) == 0
    written = repo / dashboard.DEFAULT_OUTPUT
    assert capsys.readouterr().out.strip() == dashboard.DEFAULT_OUTPUT
    assert json.loads(data_block(written.read_text(encoding="utf-8")))["repo"] == "repo"

    out = tmp_path / "out" / "page.html"
    out.parent.mkdir()
    since = (TODAY - timedelta(days=10)).isoformat()
    assert cli.main(["dashboard", "-C", str(repo), "--since", since, "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert json.loads(data_block(out.read_text(encoding="utf-8")))["since"] == since

    assert cli.main(["dashboard", "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("<!doctype html>")


def test_command_without_notes_says_so(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert cli.main(["dashboard"]) == 1
    err = capsys.readouterr().err
    assert "no tokennotes records here: refs/notes/ai-tokens does not exist" in err
    assert "Traceback" not in err
    assert not (repo / dashboard.DEFAULT_OUTPUT).exists()


def test_command_errors_are_messages(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    attach(repo, "HEAD", [make_usage("one", "2020-01-01T00:00:00Z")])
    monkeypatch.chdir(repo)
    assert cli.main(["dashboard", "--since", "2021-01-01"]) == 1
    assert "no records on or after 2021-01-01" in capsys.readouterr().err
    assert cli.main(["dashboard", "--since", "last tuesday"]) == 1
    assert "--since: cannot read 'last tuesday'" in capsys.readouterr().err
    assert cli.main(["dashboard", "-o", str(tmp_path / "missing" / "x.html")]) == 1
    assert "cannot write" in capsys.readouterr().err
    git(repo, "notes", f"--ref={REF}", "add", "-f", "-m", "not json", "HEAD")
    assert cli.main(["dashboard"]) == 1
    assert "no readable records" in capsys.readouterr().err
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert cli.main(["dashboard"]) == 1
    assert "not inside a git repository" in capsys.readouterr().err
