from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import git
from tokennotes.errors import TokennotesError
from tokennotes.hooks.repomap import (
    RepoMatcher,
    clear_caches,
    in_roots,
    is_windows_path,
    normalize_path,
    repo_roots,
)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/home/dev/repo-a/", "/home/dev/repo-a"),
        ("/home/dev/repo-a/./pkg/../src", "/home/dev/repo-a/src"),
        ("/home/dev//repo-a", "/home/dev/repo-a"),
        ("/", "/"),
    ],
)
def test_normalize_posix_paths_that_do_not_exist(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


def test_normalize_resolves_symlinks_of_existing_parts(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    resolved = os.path.realpath(real)
    assert normalize_path(str(link)) == resolved
    assert normalize_path(f"{link}/sub/") == f"{resolved}/sub"
    # a deleted directory below an existing symlink keeps its tail as written
    assert normalize_path(f"{link}/gone/x") == f"{resolved}/gone/x"


def test_normalize_is_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "/home/dev/café")
    assert nfd != "/home/dev/café"
    assert normalize_path(nfd) == "/home/dev/café"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C:\\Users\\Dev\\Repo\\", "c:/users/dev/repo"),
        ("c:/users/dev/repo", "c:/users/dev/repo"),
        ("C:\\Users\\Dev\\Repo\\..\\Other", "c:/users/dev/other"),
        ("\\\\?\\C:\\Users\\Dev", "c:/users/dev"),
        ("\\\\server\\share\\x", "//server/share/x"),
        ("C:\\", "c:/"),
    ],
)
def test_normalize_windows_paths(raw: str, expected: str) -> None:
    assert is_windows_path(raw)
    assert normalize_path(raw) == expected


def test_posix_paths_are_not_windows() -> None:
    assert not is_windows_path("/home/dev/repo")
    assert not is_windows_path("relative/path")


def test_in_roots_on_component_boundaries() -> None:
    roots = ["/home/dev/repo-a"]
    assert in_roots("/home/dev/repo-a", roots)
    assert in_roots("/home/dev/repo-a/", roots)
    assert in_roots("/home/dev/repo-a/packages/api", roots)
    assert not in_roots("/home/dev/repo-a-old", roots)
    assert not in_roots("/home/dev/repo-ab/x", roots)
    assert not in_roots("/home/dev", roots)  # a parent of the repository is not in it
    assert not in_roots("/home", roots)
    assert not in_roots("", roots)
    assert in_roots("/anything", ["/"])


def test_in_roots_windows_ignores_case_and_separators() -> None:
    roots = [normalize_path("C:\\Users\\Dev\\Repo")]
    assert in_roots("c:/users/dev/repo/src", roots)
    assert in_roots("C:\\USERS\\dev\\Repo", roots)
    assert not in_roots("C:\\Users\\Dev\\Repo2", roots)
    assert in_roots("D:\\x", [normalize_path("D:\\")])


def test_matcher_caches_answers(tmp_path: Path) -> None:
    matcher = RepoMatcher(["/home/dev/repo-a/", "/home/dev/repo-a"])
    assert matcher.roots == ("/home/dev/repo-a",)
    assert matcher("/home/dev/repo-a/x")
    assert not matcher("/home/dev/repo-b")
    assert matcher("/home/dev/repo-a/x")  # from the cache


def test_a_repository_nested_in_the_work_tree_is_not_this_one(tmp_path: Path) -> None:
    """Spend in an ignored inner clone or a submodule is that repository's: its own hook
    records it, and counting it here too would count it twice."""
    outer = tmp_path / "outer"
    (outer / "inner" / ".git").mkdir(parents=True)  # a nested clone
    (outer / "sub").mkdir()
    (outer / "sub" / ".git").write_text("gitdir: ../.git/modules/sub\n")  # a submodule
    (outer / "pkg").mkdir()
    wt = outer / ".worktrees" / "feature"  # a linked worktree inside the main work tree
    wt.mkdir(parents=True)
    (wt / ".git").write_text("gitdir: ../../.git/worktrees/feature\n")
    matcher = RepoMatcher([str(outer), str(wt)])
    assert matcher(str(outer)) and matcher(str(outer / "pkg")) and matcher(str(outer / "gone"))
    assert not matcher(str(outer / "inner")) and not matcher(str(outer / "inner" / "src"))
    assert not matcher(str(outer / "sub" / "x"))
    assert matcher(str(wt)) and matcher(str(wt / "src"))
    assert not RepoMatcher([str(outer)])(str(wt / "src"))  # without it: another repository


def test_repo_roots_lists_the_work_tree_and_worktrees(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt-feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    roots = repo_roots(repo)
    assert roots == [normalize_path(str(repo)), normalize_path(str(wt))]
    clear_caches()
    # from inside a linked worktree or a subdirectory, the same list
    (repo / "sub").mkdir()
    assert repo_roots(wt) == roots
    assert repo_roots(repo / "sub") == roots
    assert in_roots(str(wt / "src"), roots)
    assert not in_roots(str(tmp_path), roots)


def test_repo_roots_of_a_directory_outside_git(tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(TokennotesError, match="not in a Git repository"):
        repo_roots(outside)


def test_repo_roots_through_a_symlink(repo: Path, tmp_path: Path) -> None:
    link = tmp_path / "link-to-repo"
    link.symlink_to(repo)
    roots = repo_roots(link)
    assert in_roots(str(link / "pkg"), roots)
    assert in_roots(str(repo / "pkg"), roots)


def test_bare_repository_has_no_work_tree_of_its_own(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert repo_roots(bare) == []
    wt = tmp_path / "wt"
    git(bare, "worktree", "add", "-q", str(wt), "main")
    clear_caches()
    assert repo_roots(bare) == [normalize_path(str(wt))]
