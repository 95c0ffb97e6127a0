"""Git notes and repository access: the one module that knows git.

Everything here talks to git through the ``git`` command: importing pygit2 costs about 60 ms,
the whole commit hook has a budget of 60 ms, and one ``git notes add`` takes about 3 ms. The
reads that the reporter does in bulk use the fastest way measured in
``benchmarks/notes_read_bench.py`` (``git notes list`` piped into one ``git cat-file --batch``).

Rules kept here (``spec/git-notes.md``): notes are written only through ``git notes`` (never by
building fanout paths), a note is the sorted unique set of its lines, and the shared ref is moved
only by a ``cat_sort_uniq`` merge and a non-forced push.

``repo`` is always a path inside the repository: its work tree, a subdirectory, a linked
worktree, or a bare repository's directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from enum import Enum

from tokennotes.config import NOTES_REF
from tokennotes.errors import TokennotesError
from tokennotes.record import NamedTuple, merge_note_lines

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import IO, TypeAlias

RepoPath: TypeAlias = "str | os.PathLike[str]"

SYNC_ENV = "TOKENNOTES_SYNC"  # set for the git commands a sync runs; our hook returns at once
STATE_DIR = "tokennotes"  # under the common git dir: lock file, hook log
LOCK_FILE = "notes.lock"
# Variables git exports to hooks that would point our commands at another repository than
# ``repo`` (e.g. GIT_INDEX_FILE during post-commit, GIT_DIR in worktrees and submodules).
_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")
_LOCK_TIMEOUT = 10.0  # seconds to wait for another tokennotes process writing the notes ref
_WRITE_ATTEMPTS = 6  # git's own ref lock: retries with jitter, about 1.6 s in all
_WRITE_BACKOFF = 0.05  # seconds, doubled per retry, times a jitter of 0.5-1
_PUSH_BACKOFF = 0.2  # seconds before the second sync attempt, doubled per attempt, jittered
_NETWORK_SLACK = 30.0  # seconds a fetch or push may exceed the sync's time bound
_BATCH_CHUNK = 1 << 20  # bytes asked for per read of `cat-file --batch` output
_BATCH_PIPE = 1 << 20  # bytes of that output the pipe holds on Linux (the default pipe-max-size)
# compiled when first used (``re`` caches it), not on the commit hook's path
_SIMPLE_REMOTE = r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*"


class GitError(TokennotesError):
    """A git command failed; the message names the command and git's own last words."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str, hint: str = "") -> None:
        self.command = list(args)
        self.returncode = returncode
        self.stderr = stderr
        last = _last_line(stderr) or f"exit status {returncode}"
        message = f"git {' '.join(self.command[:2])} failed: {last}"
        super().__init__(f"{message}. {hint}" if hint else message)


class NotesLockedError(GitError):
    """The notes ref stayed locked by another process for longer than the retries allow."""


class CommitNotes(NamedTuple):
    """One commit of a range with its note on the notes ref ("" when it has none)."""

    sha: str
    parents: tuple[str, ...]
    author_email: str
    committer_ts: int  # seconds since the epoch
    subject: str
    note_text: str


class SyncStatus(Enum):
    PUSHED = "pushed"
    UP_TO_DATE = "up to date"
    NOTHING = "nothing to share"  # neither this clone nor the remote has notes
    SKIPPED = "skipped"  # re-entered from a sync's own push
    REJECTED = "rejected"  # the remote kept moving; gave up after the attempts or time bound
    FAILED = "failed"  # fetch, merge or push failed (unreachable remote, no permission, ...)


class SyncResult(NamedTuple):
    """What one run of the fetch → merge → push loop did."""

    status: SyncStatus
    attempts: int
    message: str  # one line for people
    detail: str = ""  # git's own output, for the hook log

    @property
    def ok(self) -> bool:
        """Whether the remote now has every note this clone had (or nothing had to be done)."""
        return self.status not in (SyncStatus.REJECTED, SyncStatus.FAILED)


class Location(NamedTuple):
    """Where a repository is: its absolute directories, as strings (the commit hook's path
    never imports ``pathlib``; ``git_dir``, ``common_dir`` and ``toplevel`` give ``Path``)."""

    git_dir: str
    common_dir: str
    toplevel: str | None  # None in a bare repository


# --- running git -------------------------------------------------------------------------


def _last_line(text: str) -> str:
    """git's reason in one line: its first ``fatal:``/``error:`` line, else its last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in lines:
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line[len(prefix) :]
    return lines[-1] if lines else ""


def _env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in (os.environ if base is None else base).items() if k not in _LOCATION_VARS
    }
    env["LC_ALL"] = "C"  # stable messages to match ("cannot lock ref", "no note found")
    env.pop("LANGUAGE", None)
    return env


def _run(
    repo: RepoPath,
    args: Sequence[str],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    command = ["git", *args]
    try:
        result = subprocess.run(
            command,
            cwd=repo,
            input=input,
            capture_output=True,
            env=_env(env),
            check=False,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        from pathlib import Path  # only when something is wrong

        if exc.filename == "git" or not Path(repo).is_dir():
            what = "git was not found; is it installed?" if exc.filename == "git" else ""
            raise GitError(args, 127, what or f"no such directory: {repo}") from None
        raise
    except subprocess.TimeoutExpired:
        raise GitError(args, -1, f"timed out after {timeout:.0f} s") from None
    if check and result.returncode != 0:
        raise GitError(args, result.returncode, _decode(result.stderr))
    return result


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _jitter(low: float, high: float) -> float:
    """A random factor for retry delays (``random`` is imported only when a retry waits)."""
    import random

    return random.uniform(low, high)


# --- where the repository is ----------------------------------------------------------------


_LOCATE_ARGS = ("rev-parse", "--absolute-git-dir", "--git-common-dir", "--show-toplevel")
_LOCATIONS: dict[str, Location] = {}  # absolute path -> where its repository is
_LOCATING: dict[str, subprocess.Popen[bytes]] = {}  # started by ``start_locating``


def start_locating(repo: RepoPath) -> None:
    """Start the ``git rev-parse`` that locates ``repo`` and return at once.

    The next ``git_dir``, ``common_dir`` or ``toplevel`` of ``repo`` waits for its answer
    instead of running git then, so the caller can do other work meanwhile (the commit hook
    imports its modules). Every path that starts locating must then ask one of them.
    """
    path = os.path.abspath(os.fspath(repo))
    if path in _LOCATIONS or path in _LOCATING:
        return
    try:
        _LOCATING[path] = subprocess.Popen(
            ["git", *_LOCATE_ARGS],
            cwd=path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
        )
    except OSError:
        pass  # asked again when needed, which says what is wrong


def _locate(path: str) -> Location:
    found = _LOCATIONS.get(path)
    if found is not None:
        return found
    started = _LOCATING.pop(path, None)
    if started is not None:
        stdout, stderr = started.communicate()
        returncode = started.returncode
    else:
        result = _run(path, _LOCATE_ARGS, check=False)
        stdout, stderr, returncode = result.stdout, result.stderr, result.returncode
    lines = os.fsdecode(stdout).splitlines()
    if len(lines) < 2:
        raise GitError(
            _LOCATE_ARGS,
            returncode,
            _decode(stderr),
            hint=f"Is {path} inside a git repository?",
        )
    common = lines[1]
    if not os.path.isabs(common):
        common = os.path.normpath(os.path.join(path, common))
    toplevel = lines[2] if returncode == 0 and len(lines) > 2 else None
    if len(_LOCATIONS) >= 64:
        _LOCATIONS.clear()
    found = _LOCATIONS[path] = Location(lines[0], common, toplevel)
    return found


def locate(repo: RepoPath) -> Location:
    """The git dir, common git dir and work tree (None when bare) of ``repo``, as strings."""
    return _locate(os.path.abspath(os.fspath(repo)))


def git_dir(repo: RepoPath) -> Path:
    """The repository's git dir (a linked worktree's own one, under ``.git/worktrees/``)."""
    from pathlib import Path

    return Path(locate(repo).git_dir)


def common_dir(repo: RepoPath) -> Path:
    """The git dir shared by all worktrees (refs, objects, our state and logs live here)."""
    from pathlib import Path

    return Path(locate(repo).common_dir)


def toplevel(repo: RepoPath) -> Path:
    """The root of the work tree that contains ``repo``; a bare repository has none."""
    from pathlib import Path

    return Path(work_tree(repo))


def work_tree(repo: RepoPath) -> str:
    """``toplevel`` as a string; raises ``TokennotesError`` for a bare repository."""
    top = locate(repo).toplevel
    if top is None:
        raise TokennotesError(f"{repo} is a bare repository: it has no work tree")
    return top


def worktree_roots(repo: RepoPath) -> list[str]:
    """The work tree roots of the repository: the main one first, then linked worktrees."""
    out = _run(repo, ["worktree", "list", "--porcelain"]).stdout
    roots: list[str] = []
    for block in os.fsdecode(out).split("\n\n"):
        lines = block.splitlines()
        if not lines or not lines[0].startswith("worktree ") or "bare" in lines[1:]:
            continue
        roots.append(lines[0][len("worktree ") :])
    return roots


def notes_ref_exists(repo: RepoPath, ref: str = NOTES_REF) -> bool:
    """Whether ``ref`` exists in the repository."""
    return _tips(repo, ref)[ref] is not None


def _tips(repo: RepoPath, *refs: str) -> dict[str, str | None]:
    """The commit each of ``refs`` points at (None when it does not exist), in one git call."""
    out = _run(repo, ["for-each-ref", "--format=%(objectname) %(refname)", *refs]).stdout
    found: dict[str, str | None] = dict.fromkeys(refs)
    for line in os.fsdecode(out).splitlines():
        sha, _, name = line.partition(" ")
        if name in found:
            found[name] = sha
    return found


# --- reading ------------------------------------------------------------------------------


def read_note(repo: RepoPath, rev: str, ref: str = NOTES_REF) -> str:
    """The note on ``rev`` ("" when it has none or the ref does not exist yet)."""
    args = ["notes", f"--ref={ref}", "show", "--end-of-options", rev]
    result = _run(repo, args, check=False)
    if result.returncode == 0:
        return _decode(result.stdout)
    if b"no note found" in result.stderr:
        return ""
    raise GitError(args, result.returncode, _decode(result.stderr))


_META_FORMAT = "%H%x1f%P%x1f%ct%x1f%ae%x1f%s"  # the subject last: it may hold a \x1f
_NOTE_FORMAT = "%H%x1f%N"


def read_range(
    repo: RepoPath, range_spec: str | Sequence[str], ref: str = NOTES_REF
) -> list[CommitNotes]:
    """Every commit of a range (``git log`` order) with its note.

    ``range_spec`` is what ``git log`` takes: ``"base..head"``, ``"HEAD"``, ``"a b ^c"`` (a
    string is split on whitespace) or a list of revisions.

    Two ``git log`` calls: the commits, then their notes. A note is text that anyone who can
    push notes wrote, and may hold any byte: each note must follow its commit's id, one per
    commit, or the notes are read again through ``git cat-file``, whose framing is by size.
    """
    revs = range_spec.split() if isinstance(range_spec, str) else list(range_spec)

    def log(fmt: str, *notes: str) -> list[bytes]:
        args = ["log", "-z", "--no-show-signature", "--no-notes", *notes, f"--format={fmt}",
                "--end-of-options", *revs, "--"]  # fmt: skip
        parts = _run(repo, args).stdout.split(b"\0")
        if parts and not parts[-1]:
            parts.pop()
        return parts

    meta = [chunk.split(b"\x1f", 4) for chunk in log(_META_FORMAT)]
    texts = log(_NOTE_FORMAT, f"--notes={ref}")
    shas = [fields[0] for fields in meta]
    if len(texts) == len(shas) and all(
        text.startswith(sha) and text[len(sha) : len(sha) + 1] == b"\x1f"
        for sha, text in zip(shas, texts, strict=True)
    ):
        notes = [text[len(sha) + 1 :] for sha, text in zip(shas, texts, strict=True)]
    else:  # a note holding a NUL byte
        found = _note_blobs(repo, ref, [sha.decode() for sha in shas])
        notes = [found.get(sha.decode(), b"") for sha in shas]
    commits: list[CommitNotes] = []
    for (sha, parents, ts, email, subject), note in zip(meta, notes, strict=True):
        commits.append(
            CommitNotes(
                sha=sha.decode(),
                parents=tuple(parents.decode().split()),
                author_email=_decode(email),
                committer_ts=int(ts),
                subject=_decode(subject),
                note_text=_decode(note),
            )
        )
    return commits


def _note_blobs(repo: RepoPath, ref: str, shas: Sequence[str]) -> dict[str, bytes]:
    """The notes of ``shas`` on ``ref`` as bytes, from ``git notes list`` and one
    ``git cat-file --batch`` (commits without a note are left out)."""
    listed = _run(repo, ["notes", f"--ref={ref}", "list"], check=False).stdout
    wanted = set(shas)
    blobs: dict[str, str] = {}
    for line in listed.decode("ascii", "replace").splitlines():
        blob, _, annotated = line.partition(" ")
        if annotated in wanted:
            blobs[annotated] = blob
    bodies = read_objects(repo, list(blobs.values()))
    return {sha: bodies[blob][1] for sha, blob in blobs.items() if blob in bodies}


def read_objects(repo: RepoPath, names: Sequence[str]) -> dict[str, tuple[bytes, bytes]]:
    """The type and body of each object ``names`` names, from one ``git cat-file --batch``,
    framed by the sizes git gives; missing ones are left out."""
    if not names:
        return {}
    out = _run(repo, ["cat-file", "--batch"], input="".join(f"{n}\n" for n in names).encode())
    found: dict[str, tuple[bytes, bytes]] = {}
    pos = 0
    for name in names:
        end = out.stdout.index(b"\n", pos)
        header = out.stdout[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        found[name] = (header[1], out.stdout[pos : pos + size])
        pos += size + 1
    return found


NoteSpan: TypeAlias = "tuple[str, int, int]"  # (annotated object, start, stop) in a text


def read_all_notes(repo: RepoPath, ref: str = NOTES_REF) -> Generator[tuple[str, str], None, None]:
    """Every (annotated object, note text) pair on ``ref``; nothing when the ref is missing."""
    chunks = read_all_note_chunks(repo, ref)
    try:
        for text, spans in chunks:
            for obj, start, stop in spans:
                yield obj, text[start:stop]
    finally:
        chunks.close()


def read_all_note_chunks(
    repo: RepoPath, ref: str = NOTES_REF
) -> Generator[tuple[str, list[NoteSpan]], None, None]:
    """Every note on ``ref`` as ``(text, spans)``: the notes are ``text[start:stop]`` for each
    ``(annotated object, start, stop)`` of ``spans`` (nothing when the ref is missing).

    ``git notes list`` (which knows git's fanout) is piped straight into one
    ``git cat-file --batch``; Python only parses the batch output as it streams in, and a report
    parses each text in place (see ``_batch_chunks``). Notes on objects this clone lacks are
    returned too: they are valid records.
    """
    env = _env()
    lister = subprocess.Popen(
        ["git", "notes", f"--ref={ref}", "list"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    batch = subprocess.Popen(
        ["git", "cat-file", "--buffer", "--batch=%(objectsize) %(rest)"],
        cwd=repo,
        stdin=lister.stdout,
        stdout=subprocess.PIPE,
        bufsize=0,  # see _batch_chunks
        env=env,
    )
    assert lister.stdout is not None and batch.stdout is not None
    lister.stdout.close()  # cat-file holds the read end now
    if sys.platform == "linux":  # let git run up to a megabyte ahead of the parser
        with contextlib.suppress(OSError):  # EPERM past the user's pipe quota: keep 64 KiB
            fcntl.fcntl(batch.stdout.fileno(), fcntl.F_SETPIPE_SZ, _BATCH_PIPE)
    try:
        yield from _batch_chunks(batch.stdout)
        batch.stdout.close()
        if batch.wait() != 0:
            raise GitError(["cat-file", "--batch"], batch.returncode, "")
        stderr = lister.stderr.read() if lister.stderr is not None else b""
        if lister.wait() != 0:
            raise GitError(["notes", "list"], lister.returncode, _decode(stderr))
    finally:
        for proc in (lister, batch):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def _batch_chunks(stream: IO[bytes]) -> Iterator[tuple[str, list[NoteSpan]]]:
    """The notes of ``cat-file --batch`` output, a text per read with the notes it completes.

    ``stream`` is unbuffered (a pipe's raw end): each ``read`` is one system call returning
    what the pipe holds, up to ``_BATCH_CHUNK``. A buffered reader's 8 KiB buffer cost a
    system call and a copy of the pending bytes for every other note.

    The notes a read completes are decoded at once, and a report parses them in place: slicing
    and decoding each note, then splitting it into lines, cost 6-8 % of reading 10k notes. A
    read holding any non-ASCII byte gives each of its notes a text of its own instead (decoded
    with replacement characters), since its character offsets are no longer byte offsets.
    """
    read = stream.read
    buf = b""
    while True:
        spans: list[NoteSpan] = []
        pos = want = 0
        size_of = len(buf)
        while True:
            end = buf.find(b"\n", pos)
            if end < 0:
                break
            size, _, obj = buf[pos:end].partition(b" ")  # "<size> <annotated object>"
            if obj == b"missing":  # "<blob> missing": a broken or partial clone
                pos = end + 1
                continue
            stop = end + 1 + int(size)
            if stop >= size_of:  # the body or its newline is still to come
                want = stop + 1 - size_of
                break
            spans.append((obj.decode(), end + 1, stop))
            pos = stop + 1
        if spans:
            done = buf[:pos]
            if done.isascii():
                yield done.decode("ascii"), spans
            else:
                for name, start, stop in spans:
                    text = _decode(buf[start:stop])
                    yield text, [(name, 0, len(text))]
        buf = buf[pos:]
        more = read(max(want, _BATCH_CHUNK))
        if not more:
            if buf:
                raise GitError(["cat-file", "--batch"], 0, "truncated output")
            return
        buf += more


# --- writing ------------------------------------------------------------------------------


@contextlib.contextmanager
def _write_lock(repo: RepoPath, timeout: float = _LOCK_TIMEOUT) -> Iterator[None]:
    """Serialise tokennotes' own writers of the notes ref across processes and worktrees.

    ``git notes add`` reads the notes tree, builds the new one and then moves the ref without
    checking that it still points where it did: two writers a few milliseconds apart silently
    drop one note (40 parallel ``git notes add`` kept 14 notes here). An advisory lock on a file
    under the common git dir closes that window for every tokennotes process.
    """
    directory = os.path.join(locate(repo).common_dir, STATE_DIR)
    lock = os.path.join(directory, LOCK_FILE)
    try:
        os.mkdir(directory)
    except OSError:
        if not os.path.isdir(directory):
            raise
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise NotesLockedError(
                    ["notes"],
                    1,
                    f"another tokennotes process held {lock} for {timeout:.0f} s",
                )
            time.sleep(_jitter(0.002, 0.02))
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


if sys.platform == "win32":  # pragma: no cover (the tests run on POSIX)
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def _is_ref_lock_error(stderr: bytes) -> bool:
    return b"cannot lock ref" in stderr or (b".lock'" in stderr and b"File exists" in stderr)


def write_note(
    repo: RepoPath,
    rev: str,
    lines: Iterable[str],
    ref: str = NOTES_REF,
    *,
    before: list[str] | None = None,
) -> bool:
    """Add ``lines`` to the note on ``rev``: the sorted unique union with what is there.

    Returns False (and writes nothing) when the note would not change. When it writes and
    ``before`` is given, the note's text as it was ("" for none) is appended to ``before``, so
    that the caller can take its lines back (``take_back_lines``). The body goes to
    ``git notes add -F -`` on stdin, so the same set of lines always makes the same blob.
    Pass a full SHA for ``rev`` when a name like HEAD may move meanwhile. tokennotes' own
    writers wait for each other (``_write_lock``); when git itself holds the ref's lock (say an
    amend in another worktree copying notes), retries a few times with jitter, then raises
    ``NotesLockedError``.

    One git call in the common case, a commit without a note yet: ``git notes add`` without
    ``-f`` writes it. When it refuses (there is a note already, or something is wrong), the note
    is read, merged and replaced with ``-f`` (two more calls, which report what is wrong).
    """
    new_lines = list(lines)
    body = merge_note_lines(new_lines)
    if not body:
        return False  # nothing to add: the union is what is there
    with _write_lock(repo):
        if _add_note(repo, ref, rev, body, force=False)[1].returncode == 0:
            if before is not None:
                before.append("")  # git refuses to add over a note: there was none
            return True
        existing = read_note(repo, rev, ref)
        body = merge_note_lines(existing, new_lines)
        if body == existing:
            return False
        args, result = _add_note(repo, ref, rev, body, force=True)
        if result.returncode != 0:
            raise GitError(args, result.returncode, _decode(result.stderr))
        if before is not None:
            before.append(existing)
        return True


def take_back_lines(
    repo: RepoPath, rev: str, before: str, lines: Iterable[str], ref: str = NOTES_REF
) -> None:
    """Remove from ``rev``'s note the ``lines`` that were not in it ``before`` (``write_note``'s
    ``before``), keeping whatever another writer added meanwhile; no line left: no note."""
    added = set(lines) - set(before.split("\n"))
    with _write_lock(repo):
        current = read_note(repo, rev, ref)
        keep = [line for line in current.split("\n") if line.strip() and line not in added]
        if keep:
            body = merge_note_lines(keep)
            args = ["notes", f"--ref={ref}", "add", "-f", "-F", "-", "--end-of-options", rev]
            result = _run(repo, args, input=body.encode("utf-8"), check=False)
        else:
            args = ["notes", f"--ref={ref}", "remove", "--ignore-missing", "--end-of-options", rev]
            result = _run(repo, args, check=False)
    if result.returncode != 0:
        raise GitError(args, result.returncode, _decode(result.stderr))


def _add_note(
    repo: RepoPath, ref: str, rev: str, body: str, *, force: bool
) -> tuple[list[str], subprocess.CompletedProcess[bytes]]:
    """``git notes add [-f] -F -`` of ``body``, retried while the notes ref is locked."""
    args = ["notes", f"--ref={ref}", "add", *(["-f"] if force else []), "-F", "-"]
    args += ["--end-of-options", rev]
    data = body.encode("utf-8")
    for attempt in range(_WRITE_ATTEMPTS):
        result = _run(repo, args, input=data, check=False)
        if result.returncode == 0 or not _is_ref_lock_error(result.stderr):
            return args, result
        if attempt + 1 < _WRITE_ATTEMPTS:
            time.sleep(_jitter(0.5, 1.0) * _WRITE_BACKOFF * 2**attempt)
    where = locate(repo).common_dir
    raise NotesLockedError(
        args,
        result.returncode,
        _decode(result.stderr),
        hint=f"If no git process is running, remove the stale {ref}.lock under {where}.",
    )


def copy_note(repo: RepoPath, src_rev: str, dst_rev: str, ref: str = NOTES_REF) -> bool:
    """Union the lines of ``src_rev``'s note into ``dst_rev``'s (cherry-picks, landings).

    Lines are copied byte for byte; returns whether ``dst_rev``'s note changed.
    """
    text = read_note(repo, src_rev, ref)
    return write_note(repo, dst_rev, text.split("\n"), ref) if text else False


# --- sharing: the fetch → merge → push loop -------------------------------------------------


def tracking_ref(remote: str, ref: str = NOTES_REF) -> str:
    """The local ref that mirrors ``ref`` of ``remote``: ``refs/notes/remotes/<remote>/<name>``.

    A remote given as a URL (``git push <url>``) gets a stable name derived from the URL.
    """
    if not ref.startswith("refs/notes/"):
        raise TokennotesError(f"{ref}: a notes ref must start with refs/notes/")
    name = ref[len("refs/notes/") :]
    if not re.fullmatch(_SIMPLE_REMOTE, remote) or ".." in remote or remote.endswith(".lock"):
        import hashlib

        remote = "url-" + hashlib.sha256(remote.encode()).hexdigest()[:12]
    return f"refs/notes/remotes/{remote}/{name}"


def _push_outcome(stdout: bytes) -> tuple[str, str]:
    """(flag, summary) of the pushed ref from ``git push --porcelain``."""
    for line in _decode(stdout).splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1:
            return parts[0], parts[2]
    return "", ""


def _retryable(summary: str) -> bool:
    """Whether a push was refused only because the remote moved (or was busy) meanwhile."""
    if summary.startswith("[rejected]"):
        return True
    busy = ("failed to update ref", "cannot lock ref", "incorrect old value", "failed to lock")
    return summary.startswith("[remote rejected]") and any(b in summary for b in busy)


def _merge(repo: RepoPath, ref: str, tracking: str) -> tuple[str, str]:
    """Fold the tracking ref into ``ref`` (or adopt it).

    Returns the commits ``ref`` and the tracking ref then point at ("" for a missing ref).
    """
    with _write_lock(repo):
        tips = _tips(repo, ref, tracking)
        local, theirs = tips[ref] or "", tips[tracking] or ""
        if not theirs or local == theirs:
            return local, theirs
        if not local:
            message = "tokennotes sync: start from the remote's notes"
            _run(repo, ["update-ref", "-m", message, ref, theirs, ""])
            return theirs, theirs
        _run(repo, ["notes", f"--ref={ref}", "merge", "-q", "-s", "cat_sort_uniq", tracking])
        return _tips(repo, ref)[ref] or "", theirs


def sync_notes(
    repo: RepoPath,
    remote: str = "origin",
    ref: str = NOTES_REF,
    *,
    attempts: int = 5,
    max_seconds: float = 10.0,
    environ: Mapping[str, str] = os.environ,
) -> SyncResult:
    """Share the notes ref with ``remote``: fetch, merge with ``cat_sort_uniq``, push; retry.

    1. Fetch ``+<ref>*`` (forced, ``--no-tags``, ``--prune``) into the tracking ref
       ``refs/notes/remotes/<remote>/<name>``; the glob makes a missing remote ref no error.
    2. Without a local ref, point it at the tracking ref; else merge the tracking ref into it
       with ``cat_sort_uniq`` (the exact union of lines; works on unrelated histories too).
    3. Push ``<ref>:<ref>`` without force and with ``--no-verify``; every git command gets
       ``TOKENNOTES_SYNC=1`` so our own pre-push hook returns at once if it is re-entered.
    4. When the push is rejected because the remote moved, sleep with jitter and start over,
       at most ``attempts`` times and ``max_seconds`` in all.

    Never raises for git trouble: the result says what happened. Called with
    ``TOKENNOTES_SYNC`` set in ``environ`` it does nothing (``SyncStatus.SKIPPED``).
    """
    if environ.get(SYNC_ENV):
        return SyncResult(SyncStatus.SKIPPED, 0, "already inside a tokennotes sync")
    try:
        tracking = tracking_ref(remote, ref)
    except TokennotesError as exc:
        return SyncResult(SyncStatus.FAILED, 0, str(exc))
    env = {**environ, SYNC_ENV: "1"}
    refspec = f"+{ref}*:{tracking}*"
    start = time.monotonic()
    deadline = start + max_seconds
    attempt = 0
    while True:
        attempt += 1
        network_timeout = max(deadline - time.monotonic(), 0.0) + _NETWORK_SLACK
        fetch_args = ["fetch", "--quiet", "--no-tags", "--prune", "--no-write-fetch-head"]
        fetch_args += ["--no-recurse-submodules", remote, refspec]
        try:
            fetched = _run(repo, fetch_args, env=env, check=False, timeout=network_timeout)
            if fetched.returncode != 0:
                stderr = _decode(fetched.stderr)
                return SyncResult(
                    SyncStatus.FAILED,
                    attempt,
                    f"could not fetch notes from {remote}: {_last_line(stderr)}",
                    stderr,
                )
            local, theirs = _merge(repo, ref, tracking)
            if not local:
                return SyncResult(SyncStatus.NOTHING, attempt, f"no notes here or on {remote}")
            if local == theirs:
                return SyncResult(SyncStatus.UP_TO_DATE, attempt, f"notes up to date with {remote}")
            push_args = ["push", "--porcelain", "--no-verify", remote, f"{ref}:{ref}"]
            pushed = _run(repo, push_args, env=env, check=False, timeout=network_timeout)
        except GitError as exc:
            return SyncResult(SyncStatus.FAILED, attempt, str(exc), exc.stderr)
        flag, summary = _push_outcome(pushed.stdout)
        detail = _decode(pushed.stdout + pushed.stderr)
        if pushed.returncode == 0:
            if flag == "=":
                return SyncResult(SyncStatus.UP_TO_DATE, attempt, f"notes up to date with {remote}")
            return SyncResult(SyncStatus.PUSHED, attempt, f"notes pushed to {remote}")
        if not _retryable(summary):
            reason = summary or _last_line(_decode(pushed.stderr))
            return SyncResult(
                SyncStatus.FAILED, attempt, f"could not push notes to {remote}: {reason}", detail
            )
        delay = _jitter(0.5, 1.0) * _PUSH_BACKOFF * 2 ** (attempt - 1)
        if attempt >= attempts or time.monotonic() + delay > deadline:
            spent = time.monotonic() - start
            return SyncResult(
                SyncStatus.REJECTED,
                attempt,
                f"{remote} kept moving: notes push rejected {attempt} times in {spent:.1f} s "
                f"({summary}); they go with the next sync",
                detail,
            )
        time.sleep(delay)
