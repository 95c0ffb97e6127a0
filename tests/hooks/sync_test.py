from __future__ import annotations

import io
import shlex
import stat
import sys
from pathlib import Path

import pytest

from tests.conftest import git
from tokennotes import notes
from tokennotes.cli import main
from tokennotes.hooks import hooklog, sync

REF = "refs/notes/ai-tokens"
LINE = '{"id":"1","kind":"usage","v":1}'


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


@pytest.fixture
def work(repo: Path, remote: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``repo`` with ``origin`` = the bare remote, the branch pushed, a note on HEAD, cwd there."""
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    notes.write_note(repo, "HEAD", [LINE])
    monkeypatch.chdir(repo)
    for key in ("PRE_COMMIT", "PRE_COMMIT_REMOTE_NAME", notes.SYNC_ENV):
        monkeypatch.delenv(key, raising=False)
    return repo


def log_file(repo: Path) -> Path:
    return hooklog.log_path(notes.common_dir(repo))


def remote_note(remote: Path) -> str:
    return notes.read_note(remote, git(remote, "rev-parse", "main").strip())


def break_origin(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))


def test_person_mode_pushes_and_says_so(
    work: Path, remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync"]) == 0
    assert capsys.readouterr().out == "tokennotes: notes pushed to origin\n"
    assert remote_note(remote) == LINE + "\n"
    assert main(["sync"]) == 0
    assert capsys.readouterr().out == "tokennotes: notes up to date with origin\n"


def test_person_mode_exits_1_with_the_reason(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    break_origin(work, tmp_path)
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tokennotes: could not fetch notes from origin: ")
    assert not log_file(work).exists()  # people see the reason; the log is for hooks


def test_person_mode_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sync"]) == 1
    assert "inside a git repository" in capsys.readouterr().err


def test_hook_mode_on_an_unreachable_remote_exits_0_with_one_line(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    break_origin(work, tmp_path)
    assert main(["sync", "--hook"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tokennotes sync: notes not shared with origin: could not fetch")
    assert lines[0].endswith(f"details in {log_file(work)}")
    log = log_file(work).read_text()
    assert "notes not shared with origin: could not fetch notes from origin" in log
    assert "gone.git" in log  # git's own words, indented below the entry
    assert log.startswith(tuple("0123456789"))  # a timestamp first


def test_pre_commit_environment_means_hook_mode_and_names_the_remote(
    work: Path,
    remote: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    git(work, "remote", "add", "upstream", str(remote))
    break_origin(work, tmp_path)
    monkeypatch.setenv("PRE_COMMIT", "1")
    monkeypatch.setenv("PRE_COMMIT_REMOTE_NAME", "upstream")
    assert main(["sync"]) == 0
    assert capsys.readouterr().err == ""
    assert remote_note(remote) == LINE + "\n"
    assert "tokennotes sync upstream: pushed (attempt 1)" in log_file(work).read_text()
    monkeypatch.setenv("PRE_COMMIT_REMOTE_NAME", "origin")  # the broken one: still exit 0
    assert main(["sync"]) == 0
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_reentry_returns_at_once(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    break_origin(work, tmp_path)
    monkeypatch.setenv(notes.SYNC_ENV, "1")
    assert main(["sync", "--hook"]) == 0
    assert main(["sync"]) == 0
    assert capsys.readouterr() == ("", "")
    assert not log_file(work).exists()


def test_hook_mode_survives_unexpected_errors(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> notes.SyncResult:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(notes, "sync_notes", explode)
    err = io.StringIO()
    assert sync.sync_command(hook=True, repo=work, err=err) == 0
    assert err.getvalue().count("\n") == 1
    assert "RuntimeError: boom second line" in err.getvalue()
    log = log_file(work).read_text()
    assert "Traceback" in log and "RuntimeError" in log


def test_git_pre_push_hook_arguments_name_the_remote(
    work: Path, remote: Path, tmp_path: Path
) -> None:
    git(work, "remote", "add", "other", str(remote))
    break_origin(work, tmp_path)
    # installed as a plain git hook: `tokennotes sync --hook "$@"` gets "<remote> <url>"
    assert main(["sync", "--hook", "other", str(remote)]) == 0
    assert remote_note(remote) == LINE + "\n"


def test_a_real_push_shares_the_notes_through_the_hook(work: Path, remote: Path) -> None:
    hook = notes.git_dir(work) / "hooks" / "pre-push"
    command = shlex.join([sys.executable, "-m", "tokennotes", "sync", "--hook"])
    hook.write_text(f'#!/bin/sh\n{command} "$@"\n')
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    git(work, "commit", "-q", "--allow-empty", "-m", "second")
    notes.write_note(work, "HEAD", [LINE.replace('"1"', '"2"')])
    git(work, "push", "-q", "origin", "main")  # the nested notes push must not re-run the hook
    assert git(remote, "rev-parse", "main") == git(work, "rev-parse", "main")
    assert git(remote, "rev-parse", REF) == git(work, "rev-parse", REF)
    assert "tokennotes sync origin: pushed (attempt 1)" in log_file(work).read_text()


def test_an_explicit_ref(work: Path, remote: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes.write_note(work, "HEAD", [LINE], ref="refs/notes/other")
    assert main(["sync", "--ref", "refs/notes/other"]) == 0
    assert "pushed" in capsys.readouterr().out
    assert notes.notes_ref_exists(remote, "refs/notes/other")
    assert not notes.notes_ref_exists(remote, REF)
