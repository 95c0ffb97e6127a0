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
import calendar
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
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


def _pass_on_hook_trouble(state: Path, out: IO[str], now: float | None = None) -> None:
    """Print the newest trouble the record and sync hooks logged since the last look, unless a
    later run of the same hook went well (a sync to the same remote that pushed)."""
    log = state / LOG_FILE
    seen_file = state / SEEN_FILE
    try:
        st = log.stat()
    except OSError:
        return
    try:
        ino, offset = (int(v) for v in seen_file.read_text(encoding="ascii").split())
        first_look = False
    except (OSError, ValueError):
        ino, offset, first_look = st.st_ino, 0, True
    chunks = []
    if ino != st.st_ino:  # rotated: the rest of the old file is hook.log.1 now
        rotated = state / (LOG_FILE + ".1")
        try:
            if rotated.stat().st_ino == ino:
                with rotated.open("rb") as fh:
                    fh.seek(offset)
                    chunks.append(fh.read())
        except OSError:
            pass
        offset = 0
    elif offset > st.st_size:  # cut short: read it whole
        offset = 0
    if offset == st.st_size and not chunks:
        return
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            chunks.append(fh.read())
        seen_file.write_text(f"{st.st_ino} {offset + len(chunks[-1])}", encoding="ascii")
    except OSError:
        return
    # entries from before the first look (an upgrade) only count when they are recent
    since = (time.time() if now is None else now) - 86400
    trouble: dict[str, list[str]] = {}  # hook (and remote) -> its problems since it went well
    newest = ""
    for chunk in chunks:
        for stamp, key, problem in _entries(chunk.decode("utf-8", "replace")):
            if first_look and stamp < since:
                continue
            if problem:
                trouble.setdefault(key, []).append(problem)
                newest = key
            else:
                trouble.pop(key, None)
    if newest not in trouble:
        newest = next(reversed(trouble), "")
    if not newest:
        return
    count = sum(len(problems) for problems in trouble.values())
    more = f" (and {count - 1} more)" if count > 1 else ""
    problem = trouble[newest][-1]
    hook = newest.split()[0]
    print(
        f"tokennotes: warning: tokennotes {hook} had trouble{more}: {problem}; details in {log}",
        file=out,
    )


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) pid \d+\Z")
_NOT_SHARED = "notes not shared with "  # tokennotes.hooks.sync._trouble


def _entries(text: str) -> Iterator[tuple[float, str, str]]:
    """The entries of hook.log text as (time, key, first problem, or "" for a run that went
    well).

    ``hooklog.append_log`` starts each entry with a ``<UTC time> pid <n>`` line. Trouble follows
    as ``tokennotes <hook>:`` and one ``- <problem>`` line per problem; a sync that went well is
    ``tokennotes sync <remote>: <what it did>``. The key is the hook, with the remote for sync
    (a push to one remote does not mend another). Other lines without a problem (the record
    hook's ``tokennotes record (skipped lines): …``) are not a run that went well, and neither
    is text before the first timestamp line (a cut entry)."""
    stamp: float | None = None
    header = problem = ""
    for line in text.splitlines():
        found = _STAMP.match(line)
        if found:
            if stamp is not None:
                yield from _entry(stamp, header, problem)
            stamp = calendar.timegm(time.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ"))
            header = problem = ""
        elif stamp is None:
            continue
        elif not header and line.startswith("tokennotes "):
            header = line[len("tokennotes ") :]
        elif header and not problem and line.startswith("- "):
            problem = line[2:].strip()
    if stamp is not None:
        yield from _entry(stamp, header, problem)


def _entry(stamp: float, header: str, problem: str) -> Iterator[tuple[float, str, str]]:
    name, colon, said = header.partition(":")
    words = name.split()
    if not words or not colon:
        return
    if problem:
        key = words[0]
        if key == "sync" and problem.startswith(_NOT_SHARED):
            key = f"sync {problem[len(_NOT_SHARED) :].split(':', 1)[0]}"
        yield stamp, key, problem
    elif words[0] == "sync" and len(words) == 2 and said.strip():
        yield stamp, name, ""  # `sync <remote>: pushed (attempt 1)`


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
