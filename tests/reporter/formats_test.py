"""JSON contract, CSV and terminal table, from the hand-computed history."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.reporter.history_test import NOW, make_history
from tokennotes import cli
from tokennotes.reporter.formats import money_str, plain

CONTRACT = {
    "commits", "commits_with_records", "records", "tokens", "cost_usd", "items", "points",
    "points_per_dollar", "cost_per_item_usd", "grade", "by_model", "by_agent", "by_type",
    "by_day", "by_fidelity", "unpriced_models", "budget",
}  # fmt: skip


@pytest.fixture
def history(tmp_path: Path) -> dict[str, str]:
    return make_history(tmp_path)


def _run(history: dict[str, str], capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = cli.main(["report", "--repo", history["path"], "--now", NOW, *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_json_contract(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(_run(history, capsys, "--format", "json", "--since", "2026-11-16"))
    assert CONTRACT <= set(data)
    assert set(data["records"]) >= {"usage", "output", "skipped_lines", "duplicates"}
    assert set(data["tokens"]) == {"input", "output", "cache_read", "cache_write", "reasoning",
                                   "total"}  # fmt: skip
    assert isinstance(data["cost_usd"], str) and isinstance(data["points_per_dollar"], float)
    assert set(data["budget"]) >= {"state", "limit_usd", "spent_usd"}
    for table in ("by_model", "by_agent", "by_type", "by_day", "by_fidelity"):
        for entry in data[table].values():
            assert set(entry) >= {"tokens", "cost_usd"}
    for table in ("by_type", "by_day"):
        for entry in data[table].values():
            assert {"items", "points"} <= set(entry)
    empty = json.loads(_run(history, capsys, "--format", "json", "main..main"))
    assert (empty["points_per_dollar"], empty["cost_per_item_usd"], empty["grade"]) == (
        None,
        None,
        None,
    )
    assert empty["budget"]["state"] == "disabled" and empty["cost_usd"] == "0"


def test_csv_reconciles(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(_run(history, capsys, "--format", "csv"))))
    total = rows[0]
    assert (total["dimension"], total["total"], total["cost_usd"]) == ("total", "60600", "0.1162")
    for dimension in ("model", "agent", "type", "fidelity", "author", "host", "day"):
        part = [r for r in rows if r["dimension"] == dimension]
        assert sum(int(r["total"]) for r in part) == 60600, dimension
    assert {r["name"] for r in rows if r["dimension"] == "fidelity"} == {
        "exact",
        "estimated",
        "manual",
    }


def test_table_output(
    history: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "report.txt"
    assert _run(history, capsys, "--output", str(out), "--title", "week \x1b[31m47") == ""
    text = out.read_text()
    assert text.startswith("tokennotes · week ?[31m47\n60.6k tokens · $0.12 + unpriced · 5 items")
    assert "unpriced: mystery-model" in text
    assert "acme-large ≈" in text


def test_helpers() -> None:
    from decimal import Decimal

    assert money_str(Decimal("7.750")) == "7.75"
    assert money_str(Decimal("1E+2")) == "100" and money_str(Decimal("0.000")) == "0"
    long = "999999999999999.999999999999999999"  # 33 digits: normalize() would round them
    assert money_str(Decimal(long)) == long
    assert money_str(Decimal("1E+1")) == "10"
    assert money_str(Decimal(0)) == "0"
    assert money_str(None) is None
    assert plain("a\x1b]0;x\x07b\u009b") == "a?]0;x?b?"
    assert plain("fix \u202eexe.txt\u202c \u2067x\u2069\u061c") == "fix ?exe.txt? ?x??"


def test_csv_names_never_run_as_formulas() -> None:
    from tokennotes.reporter.formats import csv_text

    assert csv_text('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    for name in ("+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert csv_text(name) == "'" + name
    for name in ("claude-sonnet-4-5", "dev@example.com", "2026-11-16", ""):
        assert csv_text(name) == name
    from tokennotes.reporter.aggregate import Bucket
    from tokennotes.reporter.formats import _csv_row

    assert _csv_row("model", "=cmd|' /C calc'!A0", Bucket())[1] == "'=cmd|' /C calc'!A0"
