from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git
from tokennotes.hooks.gitconfig import (
    GitConfigError,
    check_git_config,
    ensure_git_config,
    normalize_key,
    read_local_config,
)

REF = "refs/notes/ai-tokens"
OUR_REFSPEC = "+refs/notes/ai-tokens*:refs/notes/remotes/origin/ai-tokens*"


def get_all(repo: Path, key: str) -> list[str]:
    return git(repo, "config", "--local", "--get-all", key).splitlines()


def add_origin(repo: Path, tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def test_sets_everything_once(repo: Path, tmp_path: Path) -> None:
    add_origin(repo, tmp_path)
    changed = ensure_git_config(repo, REF)
    assert changed == [
        f"notes.rewriteRef={REF}",
        "notes.rewriteMode=cat_sort_uniq",
        "notes.ai-tokens.mergeStrategy=cat_sort_uniq",
        f"remote.origin.fetch={OUR_REFSPEC}",
    ]
    assert ensure_git_config(repo, REF) == []
    assert ensure_git_config(repo, REF) == []
    assert get_all(repo, "remote.origin.fetch") == [
        "+refs/heads/*:refs/remotes/origin/*",
        OUR_REFSPEC,
    ]
    assert get_all(repo, "notes.rewriteRef") == [REF]
    assert get_all(repo, "notes.ai-tokens.mergeStrategy") == ["cat_sort_uniq"]
    assert check_git_config(read_local_config(repo), REF) == []


def test_no_fetch_refspec_without_origin(repo: Path) -> None:
    changed = ensure_git_config(repo, REF)
    assert [c.partition("=")[0] for c in changed] == [
        "notes.rewriteRef",
        "notes.rewriteMode",
        "notes.ai-tokens.mergeStrategy",
    ]
    assert "remote.origin.fetch" not in read_local_config(repo)


def test_custom_notes_ref(repo: Path, tmp_path: Path) -> None:
    add_origin(repo, tmp_path)
    ensure_git_config(repo, "refs/notes/team/tokens")
    assert get_all(repo, "notes.team/tokens.mergeStrategy") == ["cat_sort_uniq"]
    assert get_all(repo, "remote.origin.fetch")[-1] == (
        "+refs/notes/team/tokens*:refs/notes/remotes/origin/team/tokens*"
    )


def test_keeps_other_rewrite_refs_and_user_choices(repo: Path) -> None:
    git(repo, "config", "--local", "notes.rewriteRef", "refs/notes/commits")
    git(repo, "config", "--local", "notes.rewriteMode", "concatenate")
    changed = ensure_git_config(repo, REF)
    assert f"notes.rewriteRef={REF}" in changed
    assert not any(c.startswith("notes.rewriteMode") for c in changed)
    assert get_all(repo, "notes.rewriteRef") == ["refs/notes/commits", REF]
    assert get_all(repo, "notes.rewriteMode") == ["concatenate"]
    (problem,) = check_git_config(read_local_config(repo), REF)
    assert problem.startswith("notes.rewriteMode is 'concatenate', not 'cat_sort_uniq'")


def test_reports_harmful_refspecs(repo: Path, tmp_path: Path) -> None:
    add_origin(repo, tmp_path)
    git(repo, "config", "--local", "--add", "remote.origin.fetch", "+refs/notes/*:refs/notes/*")
    git(repo, "config", "--local", "--add", "remote.origin.push", "refs/notes/ai-tokens")
    ensure_git_config(repo, REF)
    problems = check_git_config(read_local_config(repo), REF)
    assert len(problems) == 2
    assert problems[0].startswith("remote.origin.fetch '+refs/notes/*:refs/notes/*' fetches")
    assert problems[1].startswith("remote.origin.push 'refs/notes/ai-tokens' makes")


def test_amend_keeps_the_note_once_configured(repo: Path) -> None:
    """The point of notes.rewriteRef (spec §3): amend copies our note to the new commit."""
    ensure_git_config(repo, REF)
    git(repo, "notes", f"--ref={REF}", "add", "-m", '{"id":"a"}', "HEAD")
    git(repo, "commit", "-q", "--amend", "-m", "amended")
    assert git(repo, "notes", f"--ref={REF}", "show", "HEAD") == '{"id":"a"}\n'


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitConfigError):
        ensure_git_config(tmp_path, REF)


@pytest.mark.parametrize(
    ("key", "normal"),
    [
        ("notes.rewriteRef", "notes.rewriteref"),
        ("notes.ai-Tokens.mergeStrategy", "notes.ai-Tokens.mergestrategy"),
        ("Remote.origin.Fetch", "remote.origin.fetch"),
        ("notes.team.x.mergeStrategy", "notes.team.x.mergestrategy"),
    ],
)
def test_normalize_key(key: str, normal: str) -> None:
    assert normalize_key(key) == normal
