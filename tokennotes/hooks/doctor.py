"""`tokennotes doctor`: the quick pre-commit-stage check that recording will actually happen.

Run as the `tokennotes-doctor` hook (stage pre-commit) on every commit, so it must be fast (two
`git` calls and the cached config) and must never block: it always exits 0. It warns when the
post-commit or pre-push hook script is missing from the hooks directory (our hooks then silently
never run), when `.tokennotes.yml` is invalid, or when the clone's git config conflicts with
spec `git-notes.md` §3. Missing §3 lines it simply adds (as the record hook would), saying so.

Each warning is printed once: the set of problems last reported is remembered under the common
git dir, and the same problems stay quiet until they change or are fixed.

It also passes on what the other hooks met since the last commit. pre-commit shows a hook's
output only when it fails or is ``verbose``, and ``tokennotes record`` and ``sync`` always pass,
so their one line of trouble would go unseen: the doctor (which is verbose) reads what was
appended to ``hook.log`` since it last looked (one ``stat`` when nothing was) and prints the
first problem of the newest entry.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from tokennotes.config import NOTES_REF, ConfigError, load_config_cached
from tokennotes.hooks import gitconfig

HELP = "check that the tokennotes hooks and git config are in place (warns once; exits 0)"

STATE_DIR = "tokennotes"  # under the common git dir
WARNED_FILE = "doctor-warned"
SEEN_FILE = "doctor-log-seen"  # how much of hook.log the doctor has passed on
LOG_FILE = "hook.log"  # tokennotes.hooks.hooklog.LOG_NAME
REQUIRED_HOOKS = ("post-commit", "pre-push")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--always", action="store_true", help="print the problems even if already reported"
    )


def run(args: argparse.Namespace) -> int:
    try:
        check_repository(Path.cwd(), always=args.always, out=sys.stdout)
    except Exception as exc:  # the doctor must never block a commit
        print(f"tokennotes doctor: {type(exc).__name__}: {exc}", file=sys.stdout)
    return 0


def check_repository(cwd: Path, *, always: bool = False, out: IO[str]) -> list[str]:
    """Check, fix what is safe to fix, warn once; return the current problems."""
    paths = _git_paths(cwd)
    if paths is None:
        return []  # not in a work tree: nothing to check
    root, common, hooks = paths
    state = common / STATE_DIR
    problems = []

    for hook_type in REQUIRED_HOOKS:
        problem = _hook_problem(hooks / hook_type, hook_type)
        if problem:
            problems.append(problem)

    notes_ref = NOTES_REF
    try:
        notes_ref = load_config_cached(root, state).notes_ref
    except ConfigError as exc:
        problems.append(f"{exc} (tokennotes record uses the defaults until this is fixed)")

    values = gitconfig.read_local_config(root)
    missing = gitconfig.missing_settings(values, notes_ref)
    if missing:
        try:
            for line in gitconfig.ensure_git_config(root, notes_ref):
                print(f"tokennotes: set git config {line} (this clone)", file=out)
        except gitconfig.GitConfigError as exc:
            problems.append(
                f"could not add the git config for notes ({exc}): run `tokennotes init`"
            )
    problems.extend(gitconfig.check_git_config(values, notes_ref))

    _report(problems, state / WARNED_FILE, always=always, out=out)
    _pass_on_hook_trouble(state, out)
    return problems


def _pass_on_hook_trouble(state: Path, out: IO[str]) -> None:
    """Print the newest trouble the record and sync hooks logged since the last look."""
    log = state / LOG_FILE
    seen_file = state / SEEN_FILE
    try:
        size = log.stat().st_size
    except OSError:
        return
    try:
        seen = int(seen_file.read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        seen = 0
    if size == seen:
        return
    start = seen if seen < size else 0  # smaller: the log was rotated
    try:
        with log.open("rb") as fh:
            fh.seek(start)
            text = fh.read().decode("utf-8", "replace")
        seen_file.write_text(str(size), encoding="ascii")
    except OSError:
        return
    entries: list[tuple[str, str]] = []  # (command, first problem) per entry
    command = ""
    for line in text.splitlines():
        if line.startswith("tokennotes ") and line.endswith(":"):
            command = line[len("tokennotes ") : -1]
            entries.append((command, ""))
        elif line.startswith("- ") and entries and not entries[-1][1]:
            entries[-1] = (command, line[2:].strip())
    found = [entry for entry in entries if entry[1]]
    if not found:
        return
    command, problem = found[-1]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    print(
        f"tokennotes: warning: tokennotes {command} had trouble{more}: {problem}; details in {log}",
        file=out,
    )


def _git_paths(cwd: Path) -> tuple[Path, Path, Path] | None:
    result = subprocess.run(
        [
            "git",
            "rev-parse",
            "--path-format=absolute",
            "--show-toplevel",
            "--git-common-dir",
            "--git-path",
            "hooks",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) != 3:
        return None
    return Path(lines[0]), Path(lines[1]), Path(lines[2])


def _hook_problem(path: Path, hook_type: str) -> str:
    install = (
        f"add {hook_type} to default_install_hook_types in .pre-commit-config.yaml and run "
        f"`pre-commit install` (or `pre-commit install --hook-type {hook_type}`)"
    )
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError:
        return f"the {hook_type} hook is not installed, so tokennotes never runs there: {install}"
    if not os.access(path, os.X_OK):
        return f"{path} is not executable, so git skips it: chmod +x it"
    if b"pre-commit" not in head and b"tokennotes" not in head:
        return (
            f"{path} runs neither pre-commit nor tokennotes: call `tokennotes "
            f"{'record' if hook_type == 'post-commit' else 'sync'}` from it"
        )
    return ""


def _report(problems: list[str], warned: Path, *, always: bool, out: IO[str]) -> None:
    if not problems:
        warned.unlink(missing_ok=True)
        return
    try:
        before = set(warned.read_text(encoding="utf-8").split("\n"))
    except OSError:
        before = set()
    if not always and set(problems) <= before:
        return
    for problem in problems:
        print(f"tokennotes: warning: {problem}", file=out)
    try:
        warned.parent.mkdir(parents=True, exist_ok=True)
        warned.write_text("\n".join(sorted(problems)), encoding="utf-8")
    except OSError:
        pass  # a read-only git dir: warn again next time
