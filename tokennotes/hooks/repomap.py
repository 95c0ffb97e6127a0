"""Which repository a session's working directory belongs to.

Agents record the directory a session ran in as a raw string. To attribute it to a repository
we compare it, normalised, with the repository's work tree and all its linked worktrees, on
path-component boundaries: ``/home/dev/repo-a/pkg`` is inside ``/home/dev/repo-a``,
``/home/dev/repo-a-old`` is not, and neither is ``/home/dev`` (a parent of several
repositories is never split by guess).

Normalising (for comparison only; records keep the raw string):

* POSIX paths: NFC, ``.``/``..`` resolved, no trailing ``/``, symlinks resolved for the part of
  the path that exists on this machine (a deleted directory keeps its lexical form).
* Windows-looking paths (``C:\\…``, ``\\\\?\\…``, ``\\\\server\\share``): ``\\`` and ``/`` are
  the same separator and the comparison ignores case.

The commit hook asks about every message, so normalised paths and answers are cached per
process. Only the standard library is imported here, and not ``pathlib`` (~3 ms) until a
``Path`` is asked for: this is on the commit hook's path.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable

from tokennotes.errors import TokennotesError

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

# compiled on first use (``re`` caches it); a scan of every session never needs it
_WINDOWS = r"^(?:[A-Za-z]:[\\/]|\\\\|//\?/|[A-Za-z]:$)"


def is_windows_path(path: str) -> bool:
    """A drive-letter, UNC or ``\\\\?\\`` path, written on (or for) Windows."""
    return bool(re.match(_WINDOWS, path))


def normalize_path(path: str) -> str:
    """The form of ``path`` used to compare it with repository roots (see the module doc)."""
    import unicodedata  # here: a scan of every session never needs it

    path = unicodedata.normalize("NFC", path)
    if is_windows_path(path):
        return _normalize_windows(path)
    if not path:
        return path
    # realpath resolves `.`/`..` and the symlinks of every component that exists, and keeps
    # the missing tail as written: a deleted directory compares lexically.
    return unicodedata.normalize("NFC", os.path.realpath(path))


def _normalize_windows(path: str) -> str:
    path = path.replace("/", "\\")
    if path.startswith("\\\\?\\UNC\\"):
        path = "\\\\" + path[8:]
    elif path.startswith("\\\\?\\"):
        path = path[4:]
    import ntpath  # here: only Windows-looking paths need it

    path = ntpath.normpath(path)
    drive, rest = ntpath.splitdrive(path)
    rest = rest.rstrip("\\") or ("\\" if rest else "")
    return (drive + rest).replace("\\", "/").casefold()


@functools.lru_cache(maxsize=16384)
def _normalized(path: str) -> str:
    return normalize_path(path)


def _inside(path: str, root: str) -> bool:
    if path == root:
        return True
    if root.endswith("/"):  # "/" or "c:/"
        return path.startswith(root)
    return path.startswith(root) and path[len(root)] == "/"


def in_roots(cwd: str, roots: Iterable[str]) -> bool:
    """True when ``cwd`` is one of ``roots`` or a directory below one (roots: normalised)."""
    path = _normalized(cwd)
    return any(_inside(path, root) for root in roots)


def _in_nested_repo(path: str, root: str) -> bool:
    """Whether ``path``, below ``root``, lies in another repository nested in it: a directory
    from ``path`` up to (not including) ``root`` holds its own ``.git`` (an ignored clone, a
    submodule). That repository's own hook records its spend."""
    while len(path) > len(root):
        if os.path.lexists(path + "/.git"):
            return True
        parent = path.rpartition("/")[0]
        if parent == path or not parent:
            break
        path = parent
    return False


class RepoMatcher:
    """``matcher(cwd)``: is this cwd inside the repository (and not inside a repository nested
    in it)? Answers cached per cwd string."""

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = tuple(dict.fromkeys(_normalized(r) for r in roots))
        self._answers: dict[str, bool] = {}

    def __call__(self, cwd: str) -> bool:
        answer = self._answers.get(cwd)
        if answer is None:
            path = _normalized(cwd)
            # the deepest root: a linked worktree may live inside the main work tree
            root = max((r for r in self.roots if _inside(path, r)), key=len, default=None)
            answer = root is not None and not _in_nested_repo(path, root)
            self._answers[cwd] = answer
        return answer


def _git(cwd: str | os.PathLike[str], *args: str) -> subprocess.CompletedProcess[bytes]:
    import subprocess  # here: the commit hook's path may never need it

    cwd = os.fspath(cwd)
    try:
        return subprocess.run(
            ["git", "-C", cwd, *args], capture_output=True, check=False, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TokennotesError(
            f"git failed ({exc}). Is it installed, and is {cwd} in a Git repository?"
        ) from exc


@functools.lru_cache(maxsize=64)
def _repo_roots(repo: str) -> tuple[str, ...]:
    result = _git(repo, "worktree", "list", "--porcelain", "-z")
    if result.returncode != 0 and b"-z" in result.stderr:  # git < 2.36
        result = _git(repo, "worktree", "list", "--porcelain")
        fields = result.stdout.split(b"\n")
    else:
        fields = result.stdout.split(b"\0")
    if result.returncode != 0:
        problem = result.stderr.decode(errors="replace").strip() or "git worktree list failed"
        raise TokennotesError(f"{repo}: not in a Git repository ({problem})")
    roots: list[str] = []
    current: str | None = None
    for raw in [*fields, b""]:
        field = raw.decode("utf-8", "surrogateescape")
        if field.startswith("worktree "):
            current = field[len("worktree ") :]
        elif field == "bare":
            current = None  # a bare repository has no work tree of its own
        elif field == "" and current is not None:
            roots.append(normalize_path(current))
            current = None
    return tuple(dict.fromkeys(roots))


def repo_roots(repo: str | os.PathLike[str]) -> list[str]:
    """The normalised work tree and linked worktrees of the repository containing ``repo``.

    ``repo`` may be any directory inside a work tree (or a bare repository's git dir, which
    gives its linked worktrees only). Raises ``TokennotesError`` when it is not in a repository.
    Cached per process: the worktree list does not change during one scan or one hook run.
    """
    return list(_repo_roots(os.path.abspath(repo)))


def repo_toplevel(path: str | os.PathLike[str]) -> Path | None:
    """The top of the work tree containing ``path`` (None outside a work tree)."""
    from pathlib import Path

    result = _git(path, "rev-parse", "--show-toplevel")
    top = result.stdout.decode("utf-8", "surrogateescape").strip()
    return Path(top) if result.returncode == 0 and top else None


def find_worktree_dir(path: str | os.PathLike[str]) -> str | None:
    """``find_worktree`` as a string (the absolute, normalised path), without pathlib."""
    current = os.path.abspath(path)
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def find_worktree(path: str | os.PathLike[str]) -> Path | None:
    """The nearest directory at or above ``path`` holding ``.git``, without running git."""
    top = find_worktree_dir(path)
    if top is None:
        return None
    from pathlib import Path

    return Path(top)


def clear_caches() -> None:
    """Forget cached paths and worktree lists (tests, or a long-lived process)."""
    _normalized.cache_clear()
    _repo_roots.cache_clear()
