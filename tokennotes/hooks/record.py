"""`tokennotes record`: the post-commit hook that writes HEAD's note.

What one run does (DESIGN.md "Attribution", spec/git-notes.md §5):

1. While a rebase is in progress (``rebase-merge``/``rebase-apply`` in the git dir) it does
   nothing: git copies the notes itself when the rebase ends (``notes.rewriteRef``).
2. On a cherry-pick (``CHERRY_PICK_HEAD``) it copies the source commit's note lines onto HEAD and
   nothing else. A cherry-pick finished after a conflict (``git commit`` or ``cherry-pick
   --continue``) is one too: git removes ``CHERRY_PICK_HEAD`` before post-commit, but HEAD's
   reflog entry reads ``commit (cherry-pick)``, and the source is the commit with a note whose
   author (name, e-mail, date) and subject are HEAD's (``pick_sources``; when several such
   notes differ, the commit is recorded as a new one).
3. Otherwise, holding ``<common git dir>/tokennotes/record.lock``: it checks the per-clone git
   config, reads what the agents appended to their logs since the last run, keeps the messages
   of this repository after the watermark (``attribute``), adds the pending manual entries
   (``manual``), classifies the commit (``classify``), and writes the sorted, unique union of
   the new lines and HEAD's current note. Only after the note is written does it move the
   watermark, save the scan offsets and drop the consumed manual entries, so a failure loses
   nothing: the spend goes to the next commit.
4. On ``commit --amend`` (HEAD's reflog entry says so) the new output records supersede those of
   the commit it replaced, whose note git copies over afterwards; usage continues normally.

As a hook (``--hook`` or ``PRE_COMMIT=1`` in the environment) it always exits 0: trouble prints
one line and the details go to ``<common git dir>/tokennotes/hook.log``. ``--dry-run`` shows the
lines it would write and changes nothing; ``--json`` prints what it wrote (or would write).

Only the standard library and the package's core modules are imported: no pygit2, requests,
jinja2 or matplotlib on this path. The hook's budget is 60 ms (``benchmarks/record_bench.py``),
so modules used only sometimes (``manual``, ``gitconfig``) are imported when needed, the two git
commands that read (``rev-parse`` to find the repository, ``log`` for HEAD) run while Python
imports its modules and opens the state, and the note is written with one ``git notes add``.
Neither ``typing`` nor ``pathlib`` (with ``urllib.parse`` and ``ipaddress``, ~5 ms together) is
imported: paths are strings, records ``tokennotes.record.NamedTuple``s.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
from collections.abc import Mapping
from decimal import Decimal
from stat import S_ISDIR

from tokennotes.config import (
    CONFIG_FILE,
    Config,
    ScoringConfig,
    default_config,
    load_config_cached,
)
from tokennotes.errors import TokennotesError
from tokennotes.hooks import attribute, classify
from tokennotes.hooks.attribute import (
    GitCall,
    RepoDirs,
    Window,
    hook_lock,
    repo_dirs,
    run_git,
)
from tokennotes.hooks.hooklog import HookLog
from tokennotes.hooks.logs import Diagnostics, Message
from tokennotes.record import (
    NamedTuple,
    OutputRecord,
    Record,
    UsageRecord,
    dump_record,
    make_id,
    parse_note,
    short_hash,
)

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from typing import Any, TextIO

    from tokennotes.hooks.manual import PendingEntry
    from tokennotes.hooks.state import ScanState

    StrPath = str | os.PathLike[str]

HELP = "the post-commit hook: attribute agent spend and write HEAD's note"


# -- paths, as strings ------------------------------------------------------------------------

# what ``pathlib`` takes for "not there" when it answers ``exists()`` or ``is_dir()``
_ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)
CONFIG_HINT_FILE = "config-hint.said"  # under the state dir: the missing config was mentioned


def _stat_mode(path: str) -> int | None:
    """The mode of ``path``, None when it is not there (other errors raise, as in pathlib)."""
    try:
        return os.stat(path).st_mode
    except OSError as exc:
        if exc.errno in _ABSENT:
            return None
        raise
    except ValueError:
        return None


def _exists(path: str) -> bool:
    """``Path(path).exists()``."""
    return _stat_mode(path) is not None


def _is_dir(path: str) -> bool:
    """``Path(path).is_dir()``."""
    mode = _stat_mode(path)
    return mode is not None and S_ISDIR(mode)


def _unlink(path: str) -> None:
    """``Path(path).unlink(missing_ok=True)``."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _home() -> str:
    """``str(Path.home())``."""
    home = os.path.expanduser("~")
    if home[:1] == "~":
        raise RuntimeError("Could not determine home directory.")
    return home


# -- what HEAD is -----------------------------------------------------------------------------


class HeadCommit(NamedTuple):
    sha: str
    parents: tuple[str, ...]
    time: int  # committer time, seconds since the epoch
    author: str
    message: str
    branch: str
    changes: tuple[classify.Change, ...]  # no words counted yet

    @property
    def ts(self) -> str:
        return attribute.iso_from_seconds(self.time)


# `git log` options that keep a user's config (diff.renames, log.showSignature, diff.relative,
# external diff drivers, textconv, colour) out of what we parse.
_PLAIN_DIFF = ("--no-renames", "--no-ext-diff", "--no-textconv", "--no-color", "--no-relative")


def start_read_head(repo: StrPath) -> GitCall:
    """Start the ``git log`` that ``read_head`` parses; ``parse_head(call.result())`` ends it.

    One ``git log -1 -z --raw --numstat`` call: the header fields are NUL-separated, then the
    raw and numstat entries follow (a root commit is diffed against the empty tree; a merge
    commit shows no diff).
    """
    return GitCall(
        repo,
        "-c",
        "log.showRoot=true",
        "log",
        "-1",
        "-z",
        "--no-show-signature",
        "--format=%H%x00%P%x00%ct%x00%ae%x00%D%x00%B%x00",
        "--raw",
        "--numstat",
        *_PLAIN_DIFF,
        "HEAD",
        "--",
    )


def parse_head(out: bytes) -> HeadCommit:
    """HEAD as the ``git log`` of ``start_read_head`` describes it."""
    fields = out.split(b"\0", 6)
    if len(fields) < 7:
        raise TokennotesError("git log gave an unexpected answer for HEAD")
    sha, parents, ctime, author, refs, message = (f.decode("utf-8", "replace") for f in fields[:6])
    branch = ""
    for ref in refs.split(", "):
        if ref.startswith("HEAD -> "):
            branch = ref[len("HEAD -> ") :].strip()
    return HeadCommit(
        sha=sha.strip(),
        parents=tuple(parents.split()),
        time=int(ctime),
        author=author,
        message=message.rstrip("\n"),
        branch=branch,
        changes=tuple(classify.parse_raw_numstat(fields[6].lstrip(b"\0\n"))),
    )


def read_head(repo: StrPath) -> HeadCommit:
    """HEAD's sha, parents, committer time, author email, branch, message and changed files."""
    return parse_head(start_read_head(repo).result())


def _last_reflog(git_dir: StrPath) -> tuple[str, str, str] | None:
    """HEAD's last reflog entry: (old commit, new commit, message)."""
    path = os.path.join(git_dir, "logs", "HEAD")
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 8192))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = [line for line in tail.split("\n") if line.strip()]
    if not lines:
        return None
    fields, _, what = lines[-1].partition("\t")
    parts = fields.split(" ", 2)
    if len(parts) < 2:
        return None
    return parts[0], parts[1], what


def amended_from(last: tuple[str, str, str] | None, head: str) -> str | None:
    """The commit ``head`` replaced when HEAD's last reflog entry (``_last_reflog``) is
    ``commit (amend)``."""
    if last is None or last[1] != head or not last[2].startswith("commit (amend)"):
        return None
    return last[0]


def picked_after_conflict(last: tuple[str, str, str] | None) -> str | None:
    """The commit that finished a cherry-pick stopped by a conflict, when that is HEAD's last
    reflog entry (``commit (cherry-pick)``; git has removed ``CHERRY_PICK_HEAD`` by then)."""
    return last[1] if last is not None and last[2].startswith("commit (cherry-pick)") else None


def _note_lines(repo: StrPath, rev: str, ref: str) -> frozenset[str]:
    """The non-blank lines of ``rev``'s note."""
    from tokennotes import notes

    return frozenset(line for line in notes.read_note(repo, rev, ref).split("\n") if line.strip())


def _widest_note(repo: StrPath, shas: list[str], ref: str) -> str | None:
    """The commit of ``shas`` whose note holds every line of the others' notes, if one does.

    A commit rewritten by ``commit --amend`` or a rebase keeps its author line and subject,
    and git copies its note onto the new commit (``notes.rewriteRef``, ``cat_sort_uniq``): the
    newest note holds the older ones, and copying it copies the work once."""
    notes_of = {sha: _note_lines(repo, sha, ref) for sha in shas}
    for sha, lines in notes_of.items():
        if all(lines >= other for other in notes_of.values()):
            return sha
    return None


def _picked_from(message: bytes) -> list[str]:
    """The commits a message says it was picked from (``cherry-pick -x`` adds the line)."""
    found = []
    for line in message.split(b"\n"):
        line = line.strip()
        if line.startswith(b"(cherry picked from commit ") and line.endswith(b")"):
            found.append(line[len(b"(cherry picked from commit ") : -1].decode("ascii", "replace"))
    return found


def _author_and_subject(body: bytes) -> tuple[bytes, bytes]:
    """A commit object's ``author`` line and subject (first line of the message)."""
    header, _, message = body.partition(b"\n\n")
    author = b""
    for line in header.split(b"\n"):
        if line.startswith(b"author "):
            author = line
            break
    return author, message.split(b"\n", 1)[0].strip()


def pick_sources(repo: StrPath, head: str, ref: str) -> list[str]:
    """The commits with a note on ``ref`` that ``head`` may have been cherry-picked from: the one
    its message names (``cherry-pick -x``) and those whose author line (name, e-mail and date,
    which a cherry-pick keeps) and subject are ``head``'s. A pick whose message was edited (and
    names no source) is not recognised, and is recorded as a new commit. One ``git notes list``
    and one ``git cat-file --batch`` over the annotated objects: run only after a conflicted
    cherry-pick."""
    listing = run_git(repo, "notes", f"--ref={ref}", "list").decode("ascii", "replace")
    objects = [parts[1] for parts in map(str.split, listing.splitlines()) if len(parts) == 2]
    names = [head, *(o for o in objects if o != head)]
    named: list[str] = []
    out = run_git(repo, "cat-file", "--batch", input="".join(f"{n}\n" for n in names).encode())
    found: list[tuple[str, bytes, bytes]] = []
    pos = 0
    for name in names:
        end = out.find(b"\n", pos)
        if end < 0:
            break
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        if header[1] == b"commit":
            body = out[pos : pos + size]
            if name == head:
                named = [sha for sha in _picked_from(body) if sha in objects]
            found.append((name, *_author_and_subject(body)))
        pos += size + 1
    if not found or found[0][0] != head or not found[0][1]:
        return named[-1:]
    _, author, subject = found[0]
    alike = [sha for sha, a, s in found[1:] if a == author and s == subject]
    # the last -x line names the commit picked last; a rewrite of it (an amend after a pick
    # keeps the line) is among the alike, with a wider note (the caller picks the widest)
    return list(dict.fromkeys(named[-1:] + alike))


def count_words(repo: StrPath, head: HeadCommit, scoring: ScoringConfig) -> list[classify.Change]:
    """HEAD's changes with the words added to its prose files (one more git call, if any)."""
    changes = list(head.changes)
    prose = [c.path for c in changes if not c.deleted and classify.is_prose(c.path, scoring)]
    if not prose:
        return changes
    patch = run_git(
        repo,
        "-c",
        "core.quotePath=false",
        "-c",
        "log.showRoot=true",
        "log",
        "-1",
        "--format=",
        "-p",
        "-U0",
        *_PLAIN_DIFF,
        head.sha,
        "--",
        *prose,
    ).decode("utf-8", "replace")
    words = classify.added_words(patch)
    return [c._replace(words=words.get(c.path, 0)) for c in changes]


def output_records(
    head: HeadCommit, shipped: list[classify.Shipped], supersedes: tuple[str, ...]
) -> list[OutputRecord]:
    return [
        OutputRecord(
            id=make_id("output", head.sha, s.type),
            ts=head.ts,
            commit=head.sha,
            type=s.type,
            items=s.items,
            points=s.points,
            files=s.files,
            insertions=s.insertions,
            deletions=s.deletions,
            words=s.words,
            rule=s.rule,
            author=head.author,
            branch=head.branch,
            supersedes=supersedes,
        )
        for s in shipped
    ]


# -- the run ----------------------------------------------------------------------------------


class Outcome:
    """What a run did (or, dry, would do): ``recorded``, ``dry-run``, ``copied``, ``skipped``."""

    def __init__(
        self,
        action: str,
        *,
        commit: str = "",
        reason: str = "",
        window: Window | None = None,
        records: list[Record] | None = None,
        lines: list[str] | None = None,
    ) -> None:
        self.action = action
        self.commit = commit
        self.reason = reason
        self.window = window
        self.records: list[Record] = records or []
        self.lines: list[str] = lines or []

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "commit": self.commit,
            "reason": self.reason,
            "window": None
            if self.window is None
            else {"start": self.window.start, "end": self.window.end},
            "records": [r.to_json() for r in self.records],
            "lines": self.lines,
        }


def _host() -> str:
    try:
        name = os.uname().nodename
    except AttributeError:  # pragma: no cover - Windows
        import socket

        name = socket.gethostname()
    return short_hash(name, 8)


def load_repo_config(root: StrPath, dirs: RepoDirs, log: HookLog) -> Config:
    """The repository's config; a missing or broken file means the defaults (and one line).

    Working without the file is allowed: that is said on the first commit of the clone only.
    """
    path = os.path.join(root, CONFIG_FILE)
    if not _exists(path):
        summary = f"no {CONFIG_FILE} in {root}; using the defaults (`tokennotes init` writes one)"
        said = os.path.join(dirs.state_dir, CONFIG_HINT_FILE)
        if _exists(said):
            return default_config()
        log.problem(summary, f"{path}: missing (said once in this clone)")
        try:
            os.makedirs(dirs.state_dir, exist_ok=True)
            with open(said, "w", encoding="utf-8"):
                pass
        except OSError:
            pass  # said again next time
        return default_config()
    try:
        return load_config_cached(root, dirs.state_dir)
    except TokennotesError as exc:
        log.problem(f"{CONFIG_FILE} is invalid, using the defaults: {exc}", str(exc))
        return default_config()


def _trace() -> str:
    import traceback

    return traceback.format_exc()


def _config_stamp(dirs: RepoDirs, notes_ref: str) -> str:
    try:
        st = os.stat(os.path.join(dirs.common_dir, "config"))
    except OSError:
        return ""
    return f"{notes_ref}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}"


def ensure_clone_config(dirs: RepoDirs, notes_ref: str, log: HookLog) -> None:
    """Add the per-clone notes config (spec/git-notes.md §3) when it may be missing.

    Checked with ``gitconfig.ensure_git_config`` (one git call), and skipped while the clone's
    config file is exactly as it was after the last check (one ``stat``).
    """
    marker = os.path.join(dirs.state_dir, "gitconfig.checked")
    try:
        with open(marker, encoding="utf-8") as fh:
            if fh.read() == _config_stamp(dirs, notes_ref):
                return
    except OSError:
        pass
    from tokennotes.hooks.gitconfig import GitConfigError, ensure_git_config

    try:
        added = ensure_git_config(dirs.toplevel, notes_ref)
    except (GitConfigError, OSError) as exc:
        log.problem(f"could not check the git config: {exc}", _trace())
        return
    if added:
        log.note(f"added git config: {', '.join(added)}")
    try:
        os.makedirs(dirs.state_dir, exist_ok=True)
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write(_config_stamp(dirs, notes_ref))
    except OSError:
        pass  # only costs a check next time


def _open_state(path: str, log: HookLog) -> ScanState:
    """The scan state; an unreadable one is moved aside (and said so) and a new one begun."""
    from tokennotes.hooks.state import ScanState, StateError

    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        return ScanState(path)
    except StateError as exc:
        aside = f"{path}.corrupt-{int(time.time())}"
        try:
            os.replace(path, aside)
        except OSError:
            _unlink(path)
        for suffix in ("-wal", "-shm", "-journal"):
            _unlink(f"{path}{suffix}")
        name = os.path.basename(aside)
        log.problem(
            f"the scan state was unreadable; moved it to {name} and started afresh", str(exc)
        )
        return ScanState(path)


def _read_pending(common_dir: str) -> tuple[list[PendingEntry], list[str]]:
    """The entries ``tokennotes log`` queued (``manual`` is imported only when there are)."""
    if not _exists(os.path.join(common_dir, attribute.STATE_DIR, attribute.LEDGER_FILE)):
        return [], []
    from tokennotes.hooks.manual import read_pending

    return read_pending(common_dir)


def _save_or_take_back(
    state: ScanState,
    repo: str,
    sha: str,
    ref: str,
    lines: list[str],
    before: list[str],
    log: HookLog,
) -> None:
    """Save the staged state; when that fails (a disk that filled up as it was written), take
    this run's note back, so that the next commit counts the spend once, and raise."""
    from tokennotes import notes
    from tokennotes.hooks.state import StateError

    try:
        state.commit()
        return
    except StateError as exc:
        problem = exc
    if before:  # the note was written by this run
        try:
            notes.take_back_lines(repo, sha, before[0], lines, ref)
        except (TokennotesError, OSError) as exc:
            log.problem(
                "the note is written but the scan state could not be saved; the next "
                "commit may count this spend again",
                f"{problem}\ntaking the note back failed: {exc}",
            )
            return
    took_back = "; note taken back" if before else ""
    raise TokennotesError(f"the scan state could not be saved ({problem}){took_back}")


def _diagnostics(diags: Mapping[str, Diagnostics], log: HookLog) -> None:
    """One problem per agent whose logs could not be read. Malformed lines (skipped and counted)
    go to the hook log, each file with how many, but are not printed: the hook reads every
    project's logs, and a garbled line in another project's would warn in each repository."""
    skipped = []
    for agent, diag in diags.items():
        if diag.errors:
            log.problem(
                f"{agent}: {len(diag.errors)} problem(s) reading its logs ({diag.errors[0]})",
                "\n".join(diag.errors),
            )
        if diag.malformed_lines:
            skipped.append(f"  {agent}: {diag.malformed_lines} line(s)")
            skipped.extend(f"    {path}: {count}" for path, count in sorted(diag.per_file.items()))
    if skipped and log.common_dir is not None:
        from tokennotes.hooks.hooklog import append_log

        append_log(
            log.common_dir,
            "tokennotes record (skipped lines): malformed lines in the agents' logs"
            " (`tokennotes scan` counts them too)\n" + "\n".join(skipped),
        )


def collect_window(
    state: ScanState,
    dirs: RepoDirs,
    head: HeadCommit,
    config: Config,
    log: HookLog,
    *,
    environ: Mapping[str, str],
    home: StrPath,
    now_ns: int,
) -> tuple[Window, list[Message]]:
    """Fix the window and read this repository's messages in it (moving ``state``'s offsets)."""
    from tokennotes.hooks.collect import agent_dirs, collect_messages
    from tokennotes.hooks.repomap import RepoMatcher, repo_roots

    watermark = state.get_meta(attribute.WATERMARK_KEY)
    parent_time: int | None = None
    if not watermark and head.parents:
        parent_time = int(run_git(dirs.toplevel, "log", "-1", "--format=%ct", head.parents[0]))
    window = attribute.open_window(
        watermark,
        now_ns=now_ns,
        parent_time=parent_time,
        max_lookback_seconds=config.attribution.max_lookback_seconds,
        commit_time=head.time,
    )
    # a log file last modified before the window opened (less the grace for late messages)
    # holds nothing for it: not even opened
    state.since_ns = attribute.read_since_ns(window) - 1_000_000_000
    if _is_dir(os.path.join(dirs.common_dir, "worktrees")):
        roots: list[str] = repo_roots(dirs.toplevel)
    else:
        roots = [dirs.toplevel]
    inside = RepoMatcher(roots)
    diags: dict[str, Diagnostics] = {}
    homes = agent_dirs(config.agents, environ, home, diags)
    messages = list(
        attribute.select_messages(collect_messages(homes, state, diags), window, inside)
    )
    _diagnostics(diags, log)
    return window, messages


def _import_run_modules() -> None:
    """Import the modules a recording run needs (else imported when first used)."""
    import tokennotes.hooks.collect
    import tokennotes.hooks.state
    import tokennotes.pricing  # noqa: F401


def record_commit(
    repo: StrPath,
    *,
    log: HookLog,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    home: StrPath | None = None,
) -> Outcome:
    """Attribute, classify and write HEAD's note (see the module doc)."""
    environ = os.environ if environ is None else environ
    home = _home() if home is None else home
    from tokennotes import notes

    notes.start_locating(repo)  # git answers while the modules of the run load
    _import_run_modules()
    dirs = repo_dirs(repo)
    log.common_dir = dirs.common_dir
    if any(_exists(os.path.join(dirs.git_dir, d)) for d in ("rebase-merge", "rebase-apply")):
        return Outcome("skipped", reason="a rebase is in progress; git carries the notes")
    reading = start_read_head(dirs.toplevel)  # git runs while the config and state load
    try:
        return _record_commit(dirs, reading, log=log, dry_run=dry_run, environ=environ, home=home)
    finally:
        reading.close()


def _record_commit(
    dirs: RepoDirs,
    reading: GitCall,
    *,
    log: HookLog,
    dry_run: bool,
    environ: Mapping[str, str],
    home: StrPath,
) -> Outcome:
    config = load_repo_config(dirs.toplevel, dirs, log)
    ref = config.notes_ref
    if not dry_run:
        ensure_clone_config(dirs, ref, log)
    from tokennotes import notes

    pick = os.path.join(dirs.git_dir, "CHERRY_PICK_HEAD")
    reflog = _last_reflog(dirs.git_dir)  # read once: a pick after a conflict, an amend
    head_sha, sources = "", []
    if _exists(pick):
        with open(pick, encoding="ascii", errors="replace") as fh:
            sources = [fh.read().strip()]
        head_sha = run_git(dirs.toplevel, "rev-parse", "HEAD").decode().strip()
    else:
        picked = picked_after_conflict(reflog)
        if picked and picked == run_git(dirs.toplevel, "rev-parse", "HEAD").decode().strip():
            head_sha = picked
            sources = pick_sources(dirs.toplevel, picked, ref)
            if len(sources) > 1:  # an amended or rebased commit keeps its author and subject
                widest = _widest_note(dirs.toplevel, sources, ref)
                if widest is None:
                    log.problem(
                        "cherry-pick: its source is ambiguous, so it is recorded as a new commit",
                        f"{picked}: candidates {' '.join(sources)}",
                    )
                    head_sha = ""
                else:
                    sources = [widest]
    if head_sha:  # a cherry-pick: copy the source's lines (none when it had no note)
        source = sources[0] if sources else ""
        lines = sorted(_note_lines(dirs.toplevel, source, ref)) if source else []
        if not dry_run and lines:
            notes.copy_note(dirs.toplevel, source, head_sha, ref=ref)
        return Outcome(
            "copied" if not dry_run else "dry-run",
            commit=head_sha,
            reason=f"cherry-pick of {source or 'a commit without a note'}",
            lines=lines,
        )

    with hook_lock(dirs.common_dir):
        state = _open_state(os.path.join(dirs.state_dir, attribute.STATE_FILE), log)
        try:
            head = parse_head(reading.result())
            now_ns = time.time_ns()
            window, messages = collect_window(
                state, dirs, head, config, log, environ=environ, home=home, now_ns=now_ns
            )
            pricer, price_problems = attribute.load_pricer(config.pricing, dirs.toplevel)
            for problem in price_problems:
                log.problem(problem.split(";")[0], problem)
            host = _host()
            records: list[Record] = list(
                attribute.group_usage(
                    messages, window=window, pricer=pricer, host=host, commit=head.sha
                )
            )
            pending, problems = _read_pending(dirs.common_dir)
            for problem in problems:
                log.problem("a pending manual entry was unreadable and skipped", problem)
            if pending:
                from tokennotes.hooks.manual import pending_record

                records.extend(
                    pending_record(
                        entry,
                        commit=head.sha,
                        cost_usd=pricer.cost_of(entry.model, entry.tokens, ""),
                        price_table=pricer.version,
                        host=host,
                    )
                    for entry in pending
                )
            if len(head.parents) <= 1:  # a merge ships what its merged commits shipped
                supersedes: tuple[str, ...] = ()
                old = amended_from(reflog, head.sha)
                if old:
                    previous = parse_note(notes.read_note(dirs.toplevel, old, ref))
                    supersedes = tuple(
                        sorted(r.id for r in previous.records if isinstance(r, OutputRecord))
                    )
                changes = count_words(dirs.toplevel, head, config.scoring)
                shipped = classify.classify(head.message, changes, config.scoring)
                records.extend(output_records(head, shipped, supersedes))
            lines = sorted({dump_record(r) for r in records})
            outcome = Outcome(
                "dry-run" if dry_run else "recorded",
                commit=head.sha,
                window=window,
                records=records,
                lines=lines,
            )
            if dry_run:
                return outcome
            # the state is staged before the note is written and saved after it: a failure
            # before the note leaves both as they were (the spend goes to the next commit), and
            # a note is not written without the state that keeps its spend from counting twice
            state.set_meta(attribute.WATERMARK_KEY, attribute.next_watermark(window, head.time))
            state.stage()
            before: list[str] = []
            try:
                notes.write_note(dirs.toplevel, head.sha, lines, ref, before=before)
            except BaseException:
                state.rollback()
                raise
            _save_or_take_back(state, dirs.toplevel, head.sha, ref, lines, before, log)
            if pending:
                from tokennotes.hooks.manual import consume_pending

                consume_pending(dirs.common_dir, [e.id for e in pending])
            return outcome
        finally:
            state.close()


# -- the command ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="show the lines it would write; change nothing"
    )
    parser.add_argument("--json", action="store_true", help="print what it wrote as JSON")
    parser.add_argument(
        "--hook",
        action="store_true",
        help="run as a hook: always exit 0, trouble in one line (implied by PRE_COMMIT=1)",
    )
    parser.add_argument("-C", "--repo", default=".", help="repository (default: .)")


def _summary(outcome: Outcome) -> str:
    if outcome.action in ("skipped", "copied"):
        return f"tokennotes record: {outcome.action} ({outcome.reason})"
    usage = [r for r in outcome.records if isinstance(r, UsageRecord)]
    shipped = [r for r in outcome.records if isinstance(r, OutputRecord)]
    tokens = sum(r.tokens.total for r in usage)
    costs = [r.cost_usd for r in usage if r.cost_usd is not None]
    cost = f", ${sum(costs, Decimal(0)):.4f}" if len(costs) == len(usage) else ""
    types = ", ".join(f"{r.items} {r.type}" for r in shipped) or "nothing"
    return (
        f"tokennotes record: {outcome.commit[:12]}: {len(usage)} usage record(s), "
        f"{tokens:,} tokens{cost}; shipped {types}"
    )


def _skip_final_collection() -> None:
    """At interpreter exit, spare the final garbage collection over every object (~8 ms of a
    ~80 ms hook): the process ends and the system frees its memory anyway. Registered with
    ``atexit`` (which runs before that collection), so a caller that goes on running, such as
    a test calling ``main`` in-process, is not affected."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)  # once, however often ``run`` is called
    atexit.register(gc.freeze)


def run(args: argparse.Namespace, *, stream: TextIO | None = None) -> int:
    _skip_final_collection()
    out = sys.stdout if stream is None else stream
    hook = bool(args.hook) or os.environ.get("PRE_COMMIT") == "1"
    log = HookLog("record")
    outcome: Outcome | None = None
    try:
        outcome = record_commit(args.repo, log=log, dry_run=args.dry_run)
    except Exception as exc:
        if not hook:
            log.flush()
            raise
        summary = str(exc) if isinstance(exc, TokennotesError) else f"{type(exc).__name__}: {exc}"
        log.problem(
            f"nothing recorded ({summary}); the spend goes to the next commit",
            _trace(),
        )
    if outcome is not None:
        if args.json:
            print(json.dumps(outcome.to_json(), sort_keys=True), file=out)
        elif args.dry_run:
            out.write("".join(f"{line}\n" for line in outcome.lines))
        elif not hook:
            print(_summary(outcome), file=out)
    log.flush()
    return 0
