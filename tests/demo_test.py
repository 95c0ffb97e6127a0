"""`tokennotes demo` end to end: real git hooks, real commits, reports that reconcile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git
from tokennotes.cli import main
from tokennotes.demo import STORY

USER_HOOK = "#!/bin/sh\necho the user's own global hook\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("demo")
    target = base / "out"
    with pytest.MonkeyPatch.context() as mp:
        home = base / "home"
        (home / "hooks").mkdir(parents=True)
        (home / "hooks" / "post-commit").write_text(USER_HOOK)
        # a user's global hooks and commit signing (failing here: no key) must not touch it
        (home / ".gitconfig").write_text(
            f"[core]\n\thooksPath = {home / 'hooks'}\n"
            "[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = false\n"
        )
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        assert main(["demo", str(target)]) == 0
    return target


def test_demo_leaves_every_artifact(demo: Path) -> None:
    for name in (
        "pr-report.md",
        "weekly-report.md",
        "pr-report.json",
        "weekly-report.json",
        "dashboard.html",
        "logs-truth.json",
    ):
        assert (demo / name).stat().st_size > 0, name
    for name in ("pr-chart.png", "weekly-chart.png"):
        assert (demo / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "<!-- tokennotes:pr-comment -->" in (demo / "pr-report.md").read_text()


def test_every_commit_was_recorded_by_the_hook(demo: Path) -> None:
    repo = demo / "repo"
    commits = git(repo, "rev-list", "--branches").split()
    noted = git(repo, "notes", "--ref=refs/notes/ai-tokens", "list").splitlines()
    assert len(commits) == len(STORY)
    assert {line.split()[1] for line in noted} == set(commits)


def test_reports_reconcile_with_the_generated_logs(
    demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = json.loads((demo / "logs-truth.json").read_text())["truth"]
    logged = sum(t["total"] for t in truth.values())
    monkeypatch.chdir(demo / "repo")
    assert main(["report", "--format", "json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert everything["tokens"]["total"] == logged > 0
    for agent, expected in truth.items():
        got = everything["by_agent"][agent]["tokens"]
        for bucket in ("input", "output", "cache_read", "cache_write", "reasoning"):
            assert got[bucket] == expected[bucket], (agent, bucket)
    pr = json.loads((demo / "pr-report.json").read_text())
    assert pr["commits"] == sum(1 for step in STORY if step.branch == "topic")
    assert 0 < pr["tokens"]["total"] < logged
    assert pr["items"] > 0 and pr["points"] > 0 and float(pr["cost_usd"]) > 0
    weekly = json.loads((demo / "weekly-report.json").read_text())
    assert weekly["tokens"]["total"] > 0 and weekly["by_fidelity"]["exact"]["tokens"]["total"] > 0


def test_demo_leaves_the_users_global_hooks_alone(demo: Path) -> None:
    assert (demo.parent / "home" / "hooks" / "post-commit").read_text() == USER_HOOK
    assert not (demo.parent / "home" / "hooks" / "pre-push").exists()
    assert (demo / "repo" / ".git" / "hooks" / "post-commit").exists()


def test_demo_refuses_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("")
    assert main(["demo", str(tmp_path / "afile")]) == 1
    assert "exists and is not a directory" in capsys.readouterr().err


def test_demo_refuses_to_overwrite(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", str(demo)]) == 1
    assert "--force" in capsys.readouterr().err


def test_headline_counts_in_words() -> None:
    from tokennotes.demo import headline

    report = {"tokens": {"total": 1200}, "cost_usd": "0.5", "items": 1, "points": 1,
              "points_per_dollar": "2", "grade": "B", "budget": {"state": "ok"}}  # fmt: skip
    assert headline(report) == (
        "1,200 tokens, $0.50, 1 item, 1 point, 2.0 points/$, grade B, budget ok"
    )
    report |= {"items": 2, "points": 0}
    assert ", 2 items, 0 points, " in headline(report)
