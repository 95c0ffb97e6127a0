"""`tokennotes sync`: share the notes ref with a remote (the pre-push hook).

As a hook (``--hook``, or run by pre-commit, which sets ``PRE_COMMIT=1``) it always exits 0:
the user's branch push must never fail because of notes. On trouble it prints one line and
appends the details to ``<common git dir>/tokennotes/hook.log``. Run by a person it prints what
happened and exits 1 with the reason when the notes could not be pushed.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from tokennotes import notes
from tokennotes.errors import TokennotesError
from tokennotes.hooks.hooklog import HookLog, append_log

HELP = "Share the notes: fetch, merge (cat_sort_uniq) and push the notes ref (pre-push hook)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tokennotes.config import notes_ref_arg

    parser.add_argument(
        "--remote",
        metavar="NAME",
        help="remote to sync with (default: $PRE_COMMIT_REMOTE_NAME when pre-commit runs the "
        "hook, else origin)",
    )
    parser.add_argument(
        "--ref",
        metavar="REF",
        type=notes_ref_arg,
        help="notes ref (default: notes_ref of .tokennotes.yml, refs/notes/ai-tokens)",
    )
    parser.add_argument(
        "--hook",
        action="store_true",
        help="hook mode: always exit 0, print at most one line, log details under the git dir "
        "(implied when pre-commit runs it)",
    )
    # git passes "<remote> <url>" to a pre-push hook installed without pre-commit
    parser.add_argument("hook_args", nargs="*", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    return sync_command(
        remote=args.remote or (args.hook_args[0] if args.hook_args else None),
        ref=args.ref,
        hook=args.hook,
    )


def sync_command(
    *,
    remote: str | None = None,
    ref: str | None = None,
    hook: bool = False,
    repo: str | os.PathLike[str] = ".",
    environ: Mapping[str, str] = os.environ,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one sync as a hook (``hook`` or ``PRE_COMMIT=1``) or for a person; return the code."""
    out = sys.stdout if out is None else out
    if environ.get(notes.SYNC_ENV):  # our own push of the notes ref: nothing to do
        return 0
    hook = hook or environ.get("PRE_COMMIT") == "1"
    remote = remote or environ.get("PRE_COMMIT_REMOTE_NAME") or "origin"
    if not hook:
        result = notes.sync_notes(repo, remote, ref or _configured_ref(repo))
        if not result.ok:
            raise TokennotesError(result.message)
        print(f"tokennotes: {result.message}", file=out)
        return 0
    log = HookLog("sync", _common_dir_or_none(repo))
    try:
        # no password prompt from inside a hook: a missing credential is logged instead
        env = {**environ, "GIT_TERMINAL_PROMPT": "0"}
        result = notes.sync_notes(repo, remote, ref or _configured_ref(repo), environ=env)
    except Exception as exc:  # a hook never fails the push; the log keeps the traceback
        reason = str(exc) if isinstance(exc, TokennotesError) else f"{type(exc).__name__}: {exc}"
        log.problem(_trouble(remote, reason), traceback.format_exc())
    else:
        if result.ok:
            if log.common_dir is not None:
                append_log(
                    log.common_dir,
                    f"tokennotes sync {remote}: {result.status.value} (attempt {result.attempts})",
                )
            return 0
        log.problem(_trouble(remote, result.message), result.detail)
    log.flush(err)
    return 0


def _trouble(remote: str, reason: str) -> str:
    return f"notes not shared with {remote}: " + " ".join(reason.split()).rstrip(".")


def _configured_ref(repo: str | os.PathLike[str]) -> str:
    from tokennotes.config import load_config

    return load_config(notes.toplevel(repo)).notes_ref


def _common_dir_or_none(repo: str | os.PathLike[str]) -> Path | None:
    try:
        return notes.common_dir(repo)
    except TokennotesError:
        return None
