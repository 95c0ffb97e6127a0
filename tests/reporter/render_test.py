"""Markdown rendering: filters, escaping, templates, and golden files of the three reports.

Regenerate the golden files with ``TOKENNOTES_UPDATE_SNAPSHOTS=1 pytest tests/reporter``.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from tests.reporter.history_test import CONFIG, NOW, make_history
from tokennotes import cli
from tokennotes.reporter.render import (
    FILTERS,
    MARKER,
    compact,
    compact_against,
    decimal,
    md,
    num,
    pct,
    signed,
    usd,
)

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"
BUDGETS = """\
budget:
  pr: {usd: 0.06}
  daily: {usd: 0.04}
alerts:
  commit_usd: 0.04
"""


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("TOKENNOTES_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with TOKENNOTES_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8")


def test_filters_are_registered_in_one_place() -> None:
    assert {"md", "usd", "pct", "signed"} <= set(FILTERS)


def test_usd() -> None:
    assert usd(Decimal("1234.5")) == "$1,234.50"
    assert usd(Decimal("0.004")) == "<$0.01"
    assert usd(Decimal("0.1162"), 4) == "$0.1162"
    assert usd(None) == "n/a"
    assert usd(Decimal(0)) == "$0.00"


def test_a_budget_exceeded_never_reads_as_equal() -> None:
    against = FILTERS["usd_against"]
    assert against(Decimal("5.000001"), Decimal(5)) == "$5.000001"
    assert against(Decimal("5.004"), Decimal(5)) == "$5.0040"
    assert against(Decimal("5.01"), Decimal(5)) == "$5.01"
    assert against(Decimal(5), Decimal(5)) == "$5.00"  # at the limit: equal is right
    assert against(Decimal("4.999"), None) == "$5.00"
    assert compact_against(1_000_001, 1_000_000) == "1,000,001"
    assert compact_against(1_200_000, 1_000_000) == "1.2M"
    assert compact_against(1_000_000, 1_000_000) == "1M"
    assert compact_against(1_000_000, 1_000_001) == "1,000,000"  # the limit, beside 1,000,001
    assert against(Decimal(5), Decimal("5.000001")) == "$5.000000"


def test_pct_signed_num_compact_decimal() -> None:
    assert pct(Decimal("0.256")) == "26%"
    assert pct(Decimal("0.2565"), 1) == "25.6%"  # half even
    assert pct(None) == "n/a"
    assert signed(Decimal("0.12")) == "+12%"
    assert signed(Decimal("-0.05")) == "-5%"
    assert signed(Decimal("0.001")) == "±0%"
    assert signed(None) == "n/a"
    assert num(1234567) == "1,234,567"
    assert compact(3_123_456) == "3.1M"
    assert compact(15_300) == "15.3k"
    assert compact(2_000_000_000) == "2B"
    assert compact(950) == "950"
    assert compact(Decimal("25.8")) == "25.8"
    assert decimal(Decimal("19.0968")) == "19.10"
    assert decimal(None) == "n/a"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"),
        ("a|b", "a\\|b"),
        ("**bold** _it_ `code`", "\\*\\*bold\\*\\* \\_it\\_ \\`code\\`"),
        ("[x](javascript:y)", "\\[x\\]\\(javascript:y\\)"),
        ("ping @team", "ping @&#8203;team"),
        ("line\nbreak\r\ttab", "line break  tab"),
        ("# head & <b>", "\\# head &amp; &lt;b&gt;"),
        ("quote \" '", "quote &quot; &#39;"),
        ("back\\slash", "back\\\\slash"),
        ("![img](x)", "\\!\\[img\\]\\(x\\)"),
        # bidirectional controls ("Trojan Source": text that reads other than it is) dropped
        ("fix \u202eexe.txt\u202c \u2066a\u2069 \u200fb\u061c", "fix exe\\.txt a b"),
    ],
)
def test_md_escapes_markdown_and_html(raw: str, escaped: str) -> None:
    assert md(raw) == escaped


@pytest.fixture
def history(tmp_path: Path) -> dict[str, str]:
    shas = make_history(tmp_path)
    Path(shas["path"], ".tokennotes.yml").write_text(CONFIG + BUDGETS)
    return shas


def _markdown(history: dict[str, str], capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = cli.main(
        ["report", "--repo", history["path"], "--format", "markdown", "--now", NOW, *args]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_pr_comment_golden(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    text = _markdown(
        history, capsys, f"{history['C4']}..topic", "--template", "comment",
        "--chart-url", "https://example.com/chart.png",
    )  # fmt: skip
    assert text.startswith(MARKER + "\n")
    assert "&lt;script&gt;" in text and "<script>" not in text
    check_snapshot("report_comment.md", text)


def test_config_strings_and_chart_urls_cannot_break_out(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A grade is named in the config and a chart URL comes from the command line (often
    built from a branch name): neither may open an HTML comment, mention someone, end the
    image link early, or write terminal escapes."""
    grade = "<!-- @octocat \x1b[2J"
    Path(history["path"], ".tokennotes.yml").write_text(
        CONFIG + f'scoring:\n  grades: {{"{grade}": 0}}\n'.replace("\x1b", "\\e")
    )
    url = "https://img.example/x)<!--@octocat.png"
    text = _markdown(history, capsys, f"{history['C0']}..main", "--chart-url", url)
    assert "<!--" not in text and "\x1b" not in text
    assert "· grade &lt;\\!\\-\\- @&#8203;octocat  \\[2J · budget" in text
    assert "![tokennotes chart](https://img.example/x%29%3C!--@octocat.png)" in text
    assert cli.main(["report", "--repo", history["path"], f"{history['C0']}..main"]) == 0
    table = capsys.readouterr().out
    assert "\x1b" not in table and "grade <!-- @octocat ?[2J" in table


def test_summary_golden(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    text = _markdown(history, capsys, f"{history['C0']}..main")
    assert MARKER not in text
    check_snapshot("report_summary.md", text)


def test_weekly_golden(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    text = _markdown(history, capsys, "--since", "2026-11-16", "--until", "2026-11-22")
    assert "≈" in text and "✍" in text  # estimates and manual entries are labelled
    check_snapshot("report_weekly.md", text)


def test_empty_range_renders(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    text = _markdown(history, capsys, "main..main", "--template", "comment")
    assert "No AI usage or output was recorded in these commits" in text
    assert "budget no data" in text
    text = _markdown(history, capsys, "main~1..main", "--template", "comment")  # C6: no note
    assert "recorded in these commits (1 commit)." in text


def test_templates_can_be_overridden(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(history["path"])
    (root / "tpl").mkdir()
    (root / "tpl" / "summary.md.j2").write_text(
        "{% block title %}# {{ v.r.title|md }}{% endblock +%}\n"
        "cost {{ v.r.agg.total.cost|usd(4) }}\n"
    )
    (root / ".tokennotes.yml").write_text(CONFIG + "report:\n  templates: tpl\n")
    text = _markdown(history, capsys, f"{history['C0']}..main")
    assert text == f"# commits {md(history['C0'])}\\.\\.main\ncost $0.0662\n"
    # the comment still extends the (overridden) summary and keeps its marker
    text = _markdown(history, capsys, f"{history['C0']}..main", "--template", "comment")
    assert text.startswith(MARKER)
    (root / "tpl" / "summary.md.j2").write_text("{{ v.nothing }}\n")
    code = cli.main(["report", "--repo", history["path"], "--format", "markdown", "main~1..main"])
    assert code == 1
    assert "template summary.md.j2" in capsys.readouterr().err
    # an overriding template's own errors, met while rendering or loading, are messages too
    for body, message in (
        (b"ok\n{{ 1/0 }}\n", "tpl), line 2: ZeroDivisionError: division by zero"),
        (b"{{ v.r.title|usd }}\n", "line 1: AttributeError"),
        (b"caf\xe9 {{ v.r.title }}\n", "UnicodeDecodeError"),
    ):
        (root / "tpl" / "summary.md.j2").write_bytes(body)
        args = ["report", "--repo", history["path"], "--format", "markdown", "main~1..main"]
        assert cli.main(args) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_one_item_is_not_items(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The headline counts in words: C1 shipped one feature, one item of 5 points."""
    text = _markdown(history, capsys, f"{history['C0']}..{history['C1']}")
    assert " · 1 item · 5 points · " in text
    code = cli.main(
        ["report", "--repo", history["path"], "--format", "table", "--now", NOW,
         f"{history['C0']}..{history['C1']}"]
    )  # fmt: skip
    assert code == 0
    assert " · 1 item · 5 points · " in capsys.readouterr().out


def test_the_burn_line_says_which_days_it_counts(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Over more than 7 days, the peak and the active days are those of the whole series, and
    the line says so (a peak outside the last 7 days read as one of them)."""
    text = _markdown(history, capsys, "--since", "2026-11-12", "--until", "2026-11-22")
    line = next(x for x in text.splitlines() if x.startswith("Last 7 days "))
    assert line.endswith(" · last 11 days: 5 active days, peak 2026-11-17 (27k)"), line


def test_a_huge_name_is_cut_where_it_is_shown(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """One 100,000-character model name padded every table row to its width and made the PR
    comment larger than GitHub takes; machine formats keep it whole."""
    from tests.reporter.history_test import add_note, usage
    from tokennotes.record import Tokens, dump_record
    from tokennotes.text import SHOWN_LIMIT

    huge = "m" * 100_000
    add_note(
        Path(history["path"]), history["C6"],
        dump_record(usage("huge", "2026-11-21T08:00:00Z", huge, Tokens(input=5))),
    )  # fmt: skip
    pr = f"{history['C0']}..main"
    text = _markdown(history, capsys, pr, "--template", "comment")
    assert len(text) < 10_000 and "m" * (SHOWN_LIMIT - 1) + "…" in text
    assert huge not in text
    base = ["--repo", history["path"], "--now", NOW]
    assert cli.main(["report", *base, pr]) == 0
    table = capsys.readouterr().out
    assert max(map(len, table.splitlines())) < 400 and huge not in table
    assert cli.main(["show", "-C", history["path"], history["C6"]]) == 0
    receipt = capsys.readouterr().out
    assert max(map(len, receipt.splitlines())) < 400 and huge not in receipt
    assert cli.main(["report", *base, pr, "--format", "json"]) == 0
    assert huge in capsys.readouterr().out  # JSON keeps the whole name


def test_spend_without_a_price_is_never_shown_as_zero(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """With no model priced, cost per item is unknown (null, n/a) and every cost cell says
    "unpriced", not $0.00."""
    import json

    root = Path(history["path"])
    (root / "none.json").write_text(
        json.dumps({"version": "empty-1", "updated": "2026-11-01", "models": {}})
    )
    (root / ".tokennotes.yml").write_text("pricing:\n  table: none.json\n")
    pr = f"{history['C0']}..main"
    assert (
        cli.main(["report", "--repo", history["path"], "--now", NOW, pr, "--format", "json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (data["cost_usd"], data["cost_per_item_usd"], data["cost_per_point_usd"]) == (
        "0",
        None,
        None,
    )
    assert data["unpriced_tokens"] == data["tokens"]["total"] > 0
    by_type = {k: (v["cost_usd"], v["cost_per_item_usd"]) for k, v in data["by_type"].items()}
    # docs (C2) had no AI spend at all: that is $0 indeed
    assert by_type == {"feature": (None, None), "fix": (None, None), "docs": ("0", "0")}
    text = _markdown(history, capsys, pr)
    assert "**47.6k tokens · unpriced · 5 items" in text
    assert "| feature ≈ | 3 | 15 | unpriced | n/a |" in text
    assert "| fix ✍ | 1 | 3 | unpriced | n/a |" in text
    assert "fix: off by one | dev@&#8203;example\\.com | 27k ≈ | unpriced |" in text
    assert cli.main(["report", "--repo", history["path"], "--now", NOW, pr]) == 0
    table = capsys.readouterr().out
    assert "47.6k tokens · unpriced · 5 items" in table and "cost per item n/a" in table
