"""The per-clone git configuration that keeps notes through rewrites and fetches.

git config is not versioned, so every clone needs these lines (spec `git-notes.md` §3):
``notes.rewriteRef`` (amend and rebase copy our notes), ``notes.rewriteMode = cat_sort_uniq``,
``notes.<name>.mergeStrategy = cat_sort_uniq`` and, when there is an ``origin``, a glob fetch
refspec into a tracking ref. ``ensure_git_config`` reads the local config with one ``git config
--local --list`` and writes only what is missing, so the commit hook can call it on every run.

Values a user set differently (another ``notes.rewriteMode``, say) are left alone and reported by
``check_git_config``; so are harmful lines we never write ourselves (a forced
``refs/notes/*:refs/notes/*`` fetch, a ``remote.origin.push`` of the notes ref).
"""

from __future__ import annotations

import subprocess

from tokennotes.errors import TokennotesError
from tokennotes.record import NamedTuple

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    import os

    StrPath = str | os.PathLike[str]

CAT_SORT_UNIQ = "cat_sort_uniq"


class Setting(NamedTuple):
    """One line of git config to have: ``add`` for multi-valued keys (append if absent)."""

    key: str  # as `git config` spells it (section and name are case-insensitive)
    value: str
    add: bool


class GitConfigError(TokennotesError):
    """`git config` failed (not a repository, a locked config file, …)."""


def wanted_settings(notes_ref: str, *, has_origin: bool) -> list[Setting]:
    """The §3 lines for ``notes_ref`` (the fetch refspec only when there is an origin)."""
    name = notes_ref.removeprefix("refs/notes/")
    settings = [
        Setting("notes.rewriteRef", notes_ref, add=True),
        Setting("notes.rewriteMode", CAT_SORT_UNIQ, add=False),
        Setting(f"notes.{name}.mergeStrategy", CAT_SORT_UNIQ, add=False),
    ]
    if has_origin:
        refspec = f"+{notes_ref}*:refs/notes/remotes/origin/{name}*"
        settings.append(Setting("remote.origin.fetch", refspec, add=True))
    return settings


def read_local_config(repo_root: StrPath) -> dict[str, list[str]]:
    """All local config values by normalised key (section and name lower-cased)."""
    result = subprocess.run(
        ["git", "config", "--local", "--list", "-z"],
        cwd=repo_root,
        capture_output=True,
        check=False,
    )
    if result.returncode not in (0, 1):  # 1: no config file entries at all
        raise GitConfigError(_stderr(result))
    values: dict[str, list[str]] = {}
    for entry in result.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if not entry:
            continue
        key, _, value = entry.partition("\n")
        values.setdefault(key, []).append(value)
    return values


def normalize_key(key: str) -> str:
    """git's spelling in `--list`: section and variable lower-cased, the subsection kept."""
    section, _, rest = key.partition(".")
    subsection, _, name = rest.rpartition(".")
    if subsection:
        return f"{section.lower()}.{subsection}.{name.lower()}"
    return f"{section.lower()}.{name.lower()}"


def has_origin(values: dict[str, list[str]]) -> bool:
    return any(key.startswith("remote.origin.") for key in values)


def missing_settings(values: dict[str, list[str]], notes_ref: str) -> list[Setting]:
    """The wanted lines not yet present; single-valued keys set to another value count as
    present (the user's choice; see ``check_git_config``)."""
    missing = []
    for setting in wanted_settings(notes_ref, has_origin=has_origin(values)):
        current = values.get(normalize_key(setting.key), [])
        if setting.add and setting.value not in current:
            missing.append(setting)
        elif not setting.add and not current:
            missing.append(setting)
    return missing


def check_git_config(values: dict[str, list[str]], notes_ref: str) -> list[str]:
    """Problems that ``ensure_git_config`` will not fix by itself, one sentence each."""
    problems = []
    for setting in wanted_settings(notes_ref, has_origin=has_origin(values)):
        current = values.get(normalize_key(setting.key), [])
        if not setting.add and current and current[-1] != setting.value:
            problems.append(
                f"{setting.key} is {current[-1]!r}, not {setting.value!r}: notes copied or merged "
                f"on this clone may get blank lines or conflicts; "
                f"run `git config --local {setting.key} {setting.value}`"
            )
    for refspec in values.get("remote.origin.fetch", []):
        dst = refspec.lstrip("+").partition(":")[2]
        if dst == notes_ref or (dst.endswith("*") and notes_ref.startswith(dst[:-1])):
            if not dst.startswith("refs/notes/remotes/"):
                problems.append(
                    f"remote.origin.fetch {refspec!r} fetches straight into {notes_ref}: it can "
                    f"overwrite unpushed notes or break `git pull`; remove it with "
                    f"`git config --local --fixed-value --unset remote.origin.fetch '{refspec}'`"
                )
    for refspec in values.get("remote.origin.push", []):
        if refspec.lstrip("+").startswith("refs/notes/"):
            problems.append(
                f"remote.origin.push {refspec!r} makes a plain `git push` stop pushing your "
                f"branch; remove it (tokennotes pushes notes in its pre-push hook)"
            )
    return problems


def ensure_git_config(repo_root: StrPath, notes_ref: str) -> list[str]:
    """Add the missing §3 lines to the local config; return them as ``key=value`` strings.

    Idempotent and cheap: one ``git config --local --list``, then one write per missing line
    (none once configured). Raises ``GitConfigError`` when git fails.
    """
    changed = []
    for setting in missing_settings(read_local_config(repo_root), notes_ref):
        args = ["git", "config", "--local"]
        if setting.add:
            args.append("--add")
        result = subprocess.run(
            [*args, setting.key, setting.value], cwd=repo_root, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise GitConfigError(_stderr(result))
        changed.append(f"{setting.key}={setting.value}")
    return changed


def _stderr(result: subprocess.CompletedProcess[bytes]) -> str:
    text = result.stderr.decode("utf-8", "replace").strip()
    return text or f"git config exited with {result.returncode}"
