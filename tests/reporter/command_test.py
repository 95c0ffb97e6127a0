"""`tokennotes report`: options, time windows, the budget gate and exit codes."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.reporter.history_test import CONFIG, NOW, make_history
from tokennotes import cli
from tokennotes.errors import TokennotesError
from tokennotes.reporter import command

BERLIN = ZoneInfo("Europe/Berlin")
NOON = datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)  # 12:00 in Berlin


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2026-11-16", False, datetime(2026, 11, 16, tzinfo=BERLIN)),
        ("2026-11-22", True, datetime(2026, 11, 23, tzinfo=BERLIN)),
        ("7d", False, datetime(2026, 11, 17, tzinfo=BERLIN)),
        ("1d", False, datetime(2026, 11, 23, tzinfo=BERLIN)),
        ("2w", False, datetime(2026, 11, 10, tzinfo=BERLIN)),
        ("12h", False, datetime(2026, 11, 22, 23, 0, tzinfo=timezone.utc)),
        ("today", True, datetime(2026, 11, 24, tzinfo=BERLIN)),
        ("yesterday", False, datetime(2026, 11, 22, tzinfo=BERLIN)),
        ("2026-11-16T09:00:00Z", False, datetime(2026, 11, 16, 9, tzinfo=timezone.utc)),
        ("2026-11-16T09:00", False, datetime(2026, 11, 16, 9, tzinfo=BERLIN)),
    ],
)
def test_parse_when(text: str, end: bool, expected: datetime) -> None:
    assert command.parse_when(text, BERLIN, NOON, end=end) == expected


def test_parse_when_rejects_nonsense() -> None:
    with pytest.raises(TokennotesError, match="--until: cannot read"):
        command.parse_when("next week", BERLIN, NOON, end=True)


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("9999-12-31", True),  # its end is past the calendar
        ("99999999d", False),
        ("99999999999999999999d", False),  # too large for a timedelta
        ("9999999999h", False),
        ("0999-01-01", False),  # would print as "999-01-01..." and sort after "2026-..."
        ("0001-01-01T00:00+05:00", False),  # before the calendar in UTC
        ("1969-12-31", False),
    ],
)
def test_times_out_of_range_are_messages(text: str, end: bool) -> None:
    flag = "--until" if end else "--since"
    with pytest.raises(TokennotesError, match=f"^{flag}: .* is out of range; use a time from"):
        command.parse_when(text, BERLIN, NOON, end=end)


def test_now_out_of_range_is_a_message(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["report", "--repo", history["path"], "--now", "0001-01-01T00:00", "--since", "1d"]
    assert cli.main(args) == 1
    assert "--now: '0001-01-01T00:00' is out of range" in capsys.readouterr().err


def test_arguments_parse() -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["a..b", "--format", "json", "--gate", "--no-compare"])
    assert (args.range, args.format, args.gate, args.compare) == ("a..b", "json", True, False)
    assert command.HELP


@pytest.fixture
def history(tmp_path: Path) -> dict[str, str]:
    return make_history(tmp_path)


def _budget(history: dict[str, str], text: str) -> None:
    Path(history["path"], ".tokennotes.yml").write_text(CONFIG + text)


def test_gate_fails_only_when_exceeded_in_fail_mode(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    pr = f"{history['C0']}..main"  # $0.0662
    base = ["report", "--repo", history["path"], pr, "--gate", "--format", "json", "--now", NOW]
    _budget(history, "budget:\n  pr: {usd: 0.05}\n")
    assert cli.main(base) == 1
    captured = capsys.readouterr()
    assert '"state": "exceeded"' in captured.out  # the report is still written
    assert "pr budget exceeded: spent $0.07 of $0.05" in captured.err
    assert cli.main([*base, "--override"]) == 0
    assert '"state": "overridden"' in capsys.readouterr().out
    _budget(history, "budget:\n  pr: {usd: 0.05}\n  mode: warn\n")
    assert cli.main(base) == 0
    _budget(history, "budget:\n  pr: {tokens: 100000}\n")
    assert cli.main(base) == 0
    assert '"state": "ok"' in capsys.readouterr().out
    _budget(history, "budget:\n  pr: {usd: 0.05}\n")
    assert cli.main(["report", "--repo", history["path"], pr, "--no-compare"]) == 0  # no --gate
    capsys.readouterr()
    _budget(history, "budget:\n  pr: {usd: 0.0661}\n")  # over by a hundredth of a cent
    assert cli.main(base) == 1
    assert "pr budget exceeded: spent $0.0662 of $0.0661" in capsys.readouterr().err


def test_window_budgets_judge_each_day_and_week(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _budget(history, "budget:\n  daily: {usd: 0.045}\n  weekly: {tokens: 100000}\n")
    args = ["report", "--repo", history["path"], "--since", "2026-11-16", "--until",
            "2026-11-22", "--format", "json", "--now", NOW, "--gate"]  # fmt: skip
    assert cli.main(args) == 1  # 11-20 spent $0.05
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["budget"] == {
        "kind": "daily",
        "state": "exceeded",
        "period": "2026-11-20",
        "limit_usd": "0.045",
        "limit_tokens": None,
        "spent_usd": "0.05",
        "spent_tokens": 13000,
    }
    assert [b["kind"] for b in data["budgets"]] == ["daily", "weekly"]
    assert data["budgets"][1]["state"] == "ok"
    assert cli.main([*args, "--override"]) == 0  # a window's budgets can be overridden too
    data = json.loads(capsys.readouterr().out)
    assert (data["budget"]["kind"], data["budget"]["state"]) == ("daily", "overridden")


def test_budgets_judge_every_day_of_the_scope(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The days a budget judges are the scope's, not the charts' series: a window without a
    start reaches back to the first record, and an open end takes records after ``--now``."""
    import json

    _budget(history, "budget:\n  daily: {usd: 0.045}\n")
    repo = ["report", "--repo", history["path"], "--format", "json", "--gate"]
    # ends two months after the records: the series (37 days) does not reach them
    assert cli.main([*repo, "--until", "2027-01-31", "--now", "2027-02-01T00:00:00Z"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["cost_usd"] == "0.1162"
    assert (data["budget"]["state"], data["budget"]["period"]) == ("exceeded", "2026-11-20")
    # U8 ($0.05) at 14:00 is after --now, and the open window counts it: so does its budget
    assert cli.main([*repo, "--since", "2026-11-20", "--now", "2026-11-20T12:00:00Z"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["by_day"]["2026-11-20"]["cost_usd"] == "0.05"
    assert (data["budget"]["state"], data["budget"]["spent_usd"]) == ("exceeded", "0.05")


def test_week_over_week_alert_with_under_two_weeks_of_history(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The records start on 11-16: the week before the last 7 days has only two days with
    data, and the days before them count as nothing spent."""
    import json

    from tests.reporter.history_test import add_note, usage
    from tokennotes.record import Tokens, dump_record

    big = usage("u9", "2026-11-24T10:00:00Z", "acme-large", Tokens(input=100_000))  # $0.20
    add_note(Path(history["path"]), history["C6"], dump_record(big))
    _budget(history, "alerts:\n  week_over_week_pct: 50\n")
    args = ["report", "--repo", history["path"], "--format", "json", "--since", "7d",
            "--now", "2026-11-24T12:00:00Z"]  # fmt: skip
    assert cli.main(args) == 0
    (alert,) = json.loads(capsys.readouterr().out)["alerts"]
    # 11-18..11-24: U5 0.006 + U6 0.0012 + U7 0.004 + U8 0.05 + U9 0.2; before: U1 + U3
    assert alert["subject"] == "2026-11-18..2026-11-24"
    assert alert["message"] == (
        "2026-11-18..2026-11-24 cost $0.26, 375% more than 2026-11-11..2026-11-17 ($0.06; "
        "alert above 50%)"
    )
    assert str(alert["value"]) == "374.9"  # (0.2612 - 0.055) / 0.055


def test_a_window_judges_the_whole_week_it_touches(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A weekly budget is per ISO week: a window starting on Thursday still judges the week
    from Monday (up to the window's end), not only the days it holds."""
    import json

    _budget(history, "budget:\n  weekly: {tokens: 50000}\n")
    args = ["report", "--repo", history["path"], "--until", "2026-11-22", "--format", "json",
            "--now", NOW, "--gate"]  # fmt: skip
    assert cli.main([*args, "--since", "2026-11-19"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"]["total"] == 15400  # U7 and U8, on 11-19 and 11-20
    assert (data["budget"]["state"], data["budget"]["period"]) == ("exceeded", "2026-W47")
    assert data["budget"]["spent_tokens"] == 60600  # the whole week, from Monday 11-16
    assert cli.main([*args, "--since", "2026-11-23", "--until", "2026-11-29"]) == 0
    assert json.loads(capsys.readouterr().out)["budget"]["state"] == "no_data"


def test_relative_window_and_time_zone(
    history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    Path(history["path"], ".tokennotes.yml").write_text(CONFIG + "timezone: America/New_York\n")
    code = cli.main(["report", "--repo", history["path"], "--since", "7d", "--format", "json",
                     "--now", "2026-11-20T12:00:00Z"])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scope"]["since"] == "2026-11-14T05:00:00Z"  # New York midnight, 7 days
    assert data["scope"]["until"] is None
    # U8 at 14:00 UTC on 11-20 is after --now, but an open window takes every later record
    assert data["tokens"]["total"] == 60600
    assert "2026-11-16" in data["by_day"]


def test_usage_errors(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    repo = ["report", "--repo", history["path"]]
    assert cli.main([*repo, "a..b", "--since", "7d"]) == 1
    assert "not both" in capsys.readouterr().err
    assert cli.main([*repo, "--since", "2026-11-20", "--until", "2026-11-10"]) == 1
    assert "--until must be after --since" in capsys.readouterr().err
    assert cli.main([*repo, "--format", "yaml"]) == 2
    capsys.readouterr()
    Path(history["path"], ".tokennotes.yml").write_text(CONFIG + "timezone: Mars/Olympus\n")
    assert cli.main(repo) == 1
    assert "unknown time zone" in capsys.readouterr().err


def test_unwritable_output_and_chart_are_messages(
    history: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo = ["report", "--repo", history["path"], "--now", NOW, "--gate"]
    assert cli.main([*repo, "--output", str(tmp_path)]) == 1
    assert f"tokennotes: cannot write {tmp_path}: Is a directory" in capsys.readouterr().err
    missing = tmp_path / "no" / "chart.png"
    assert cli.main([*repo, "--chart", str(missing)]) == 1
    assert f"cannot write {missing}: No such file or directory" in capsys.readouterr().err
