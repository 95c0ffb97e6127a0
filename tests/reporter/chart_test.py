"""Charts: the plotted data, and valid PNG bytes that do not change for the same data."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from tests.reporter.history_test import NOW, make_history
from tokennotes import cli
from tokennotes.reporter.aggregate import Bucket, CommitRow
from tokennotes.reporter.chart import (
    draw_dashboard,
    draw_pr_chart,
    heatmap_data,
    pr_chart_data,
    weekly_data,
)
from tokennotes.reporter.score import DayPoint, WeekPoint

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Walk a PNG's chunks, checking each CRC; return (type, body) pairs."""
    assert data.startswith(PNG_SIGNATURE)
    chunks = []
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    return chunks


def _size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png_chunks(png)[0][1][:8])
    return width, height


def row(sha: str, **costs: str) -> CommitRow:
    by_model = {m.replace("_", "-"): Decimal(c) for m, c in costs.items()}
    return CommitRow(
        sha=sha * 40,
        bucket=Bucket(input=100, cost=sum(by_model.values(), Decimal(0))),
        cost_by_model=by_model,
    )


def test_pr_chart_data_and_png() -> None:
    commits = [row("a", acme_large="0.5"), row("b", acme_large="0.25", acme_small="1"), row("c")]
    data = pr_chart_data(commits, Decimal(2))
    assert data == {
        "commits": ["aaaaaaa", "bbbbbbb", "ccccccc"],
        "models": ["acme-large", "acme-small"],
        "stacks": {"acme-large": [0.5, 0.25, 0.0], "acme-small": [0.0, 1.0, 0.0]},
        "cumulative": [0.5, 1.75, 1.75],
        "budget": 2.0,
    }
    chart = draw_pr_chart(commits, Decimal(2), title="PR #7 $cost$ <b>")
    assert chart.data == data
    assert _size(chart.png) == (800, 400)
    kinds = {kind for kind, _ in png_chunks(chart.png)}
    assert b"tEXt" not in kinds and b"iTXt" not in kinds  # no software name, no date
    assert draw_pr_chart(commits, Decimal(2), title="PR #7 $cost$ <b>").png == chart.png
    assert draw_pr_chart(commits, None, theme="dark").png != chart.png
    empty = draw_pr_chart([], None)
    assert empty.data["commits"] == [] and empty.png.startswith(PNG_SIGNATURE)


def test_heatmap_and_weekly_data() -> None:
    days = [
        DayPoint(day=d, total=t, exact=t, estimated=0, manual=0, cost=Decimal(0), items=0,
                 moving_average=Decimal(0))
        for d, t in (("2026-11-18", 10), ("2026-11-19", 0), ("2026-11-23", 5000))
    ]  # fmt: skip
    data = heatmap_data(days, target=100)
    assert data["weeks"] == ["2026-11-16", "2026-11-23"]  # Monday-first columns
    assert data["grid"][2] == [10, None]  # Wednesday
    assert data["grid"][3] == [0, None]  # Thursday, no tokens
    assert data["grid"][0] == [None, 5000]  # Monday of the second week
    assert data["over_target"] == ["2026-11-23"]
    assert (data["min_positive"], data["max"]) == (10, 5000)
    weeks = [WeekPoint(week=w, tokens=t, cost=Decimal(0), items=0)
             for w, t in (("2026-W46", 5), ("2026-W47", 900), ("2026-W48", 0))]  # fmt: skip
    assert weekly_data(weeks) == {
        "weeks": ["2026-W46", "2026-W47", "2026-W48"],
        "tokens": [5, 900, 0],
        "peak": "2026-W47",
    }


def test_dashboard_from_a_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = make_history(tmp_path)
    Path(history["path"], ".tokennotes.yml").write_text(
        Path(history["path"], ".tokennotes.yml").read_text()
        + "report:\n  daily_target_tokens: 15000\n"
    )
    light = tmp_path / "week.png"
    args = ["report", "--repo", history["path"], "--since", "2026-11-16", "--until",
            "2026-11-22", "--now", NOW, "--format", "json"]  # fmt: skip
    assert cli.main([*args, "--chart", str(light)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert _size(light.read_bytes()) == (1400, 900)
    again = tmp_path / "again.png"
    assert cli.main([*args, "--chart", str(again)]) == 0
    assert again.read_bytes() == light.read_bytes()
    dark = tmp_path / "dark.png"
    assert cli.main([*args, "--chart", str(dark), "--theme", "dark"]) == 0
    assert dark.read_bytes() != light.read_bytes()
    capsys.readouterr()


def test_dashboard_data(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from tokennotes.config import default_config
    from tokennotes.reporter import read
    from tokennotes.reporter.aggregate import Rates, Scope
    from tokennotes.reporter.report import HEATMAP_DAYS, build_report

    history = make_history(tmp_path)
    root = Path(history["path"])
    parsed, _ = read.read_all(root, "refs/notes/ai-tokens")
    rates = Rates(*(Decimal(p) * Decimal("1e-6") for p in ("2", "10", "0.5", "4", "4")))
    report = build_report(
        parsed=parsed,
        scope=Scope(kind="window", since="2026-11-16T00:00:00", until="2026-11-23T00:00:00"),
        config=default_config(),
        pricer=lambda model, tier: rates if model.startswith("acme") else None,
        price_table="t",
        now=datetime(2026, 11, 23, 8, tzinfo=timezone.utc),
        landed=read.start_landed(root, "main")(),
        series_days=HEATMAP_DAYS,
    )
    chart = draw_dashboard(report)
    data = chart.data
    flat = [v for line in data["heatmap"]["grid"] for v in line if v]
    assert sum(flat) == 60600
    assert data["weekly"] == {"weeks": ["2026-W47"], "tokens": [60600], "peak": "2026-W47"}
    assert [d["type"] for d in data["drivers"]] == ["feature", "not landed", "fix"]
    assert data["table"][0][0] == "2026-11-16" and len(data["table"]) == 7
    assert data["equivalents"].startswith("60.6k tokens ≈ 45.4k words (tokens")
    assert chart.png.startswith(PNG_SIGNATURE)


def test_matplotlib_stays_out_of_the_rest_of_the_reporter() -> None:
    code = (
        "import sys\n"
        "import tokennotes.reporter.command, tokennotes.reporter.render, "
        "tokennotes.reporter.formats, tokennotes.reporter.report, tokennotes.reporter.read\n"
        "import tokennotes.reporter.chart\n"
        "heavy = ('matplotlib', 'numpy', 'jinja2', 'pygit2')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
