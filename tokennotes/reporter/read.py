"""What a report reads from the repository: notes, commits, the default branch, the pipeline.

Notes come through ``tokennotes.notes`` (one ``git log`` for a range; ``git notes list`` piped
into one ``git cat-file --batch`` for every note), parsed as they stream in. Which commits
landed is one ``git rev-list <default branch>``, started before the notes are read so that the
two run side by side: on 50k commits it takes about 0.2 s, against 0.3 s for a pygit2 walk
(import included) that would also hold the interpreter (``benchmarks/report_bench.py``).

The default branch is ``report.default_branch`` from the config, else what ``origin/HEAD``
points at, else ``main``, else ``master``, else ``origin/main`` or ``origin/master`` (a CI
checkout of a pull request has no local branch); without one, nothing counts as landed. In a
shallow clone (CI's default checkout) the commits past its depth are missing, and whether they
landed is unknown: a second ``git rev-list --all`` (notes refs left out) lists what the clone
has, and a commit it lacks counts as landed (``aggregate.ShallowLanded``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from tokennotes import notes
from tokennotes.errors import TokennotesError
from tokennotes.globs import match_glob
from tokennotes.reporter.aggregate import CommitInfo, ShallowLanded
from tokennotes.reporter.facts import FactReader, Parsed
from tokennotes.reporter.score import Pipeline

_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report builds its many small objects.

    Reading 50k notes makes some 10^6 tracked objects and none of them cycles; the collector's
    full passes over them took about 40 % of the run. It is switched back on afterwards, with
    those objects moved to the oldest generation (``freeze`` + ``unfreeze``): left young, the
    first collection would scan them all (a tenth of a 50k-note run).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env["LC_ALL"] = "C"
    return env


def _git(repo: Path, *args: str, check: bool = True, input: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["git", *args], cwd=repo, input=input, capture_output=True, env=_env(), check=False
    )
    if check and result.returncode != 0:
        raise notes.GitError(
            list(args), result.returncode, result.stderr.decode("utf-8", "replace")
        )
    return result.stdout if result.returncode == 0 else b""


def iso_utc(epoch: int) -> str:
    """Seconds since the epoch as a canonical UTC time ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def repo_root(path: Path) -> Path:
    """The work tree root containing ``path`` (or the git dir of a bare repository)."""
    try:
        return notes.toplevel(path)
    except notes.GitError:
        raise TokennotesError(
            f"{path} is not inside a git repository; run tokennotes report from a clone "
            "(or pass --repo PATH)"
        ) from None
    except TokennotesError:  # bare: no work tree, but notes and commits are there
        return path


def _exists(repo: Path, rev: str) -> bool:
    out = _git(
        repo,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{rev}^{{commit}}",
        check=False,
    )
    return bool(out.strip())


def default_branch(repo: Path, configured: str | None = None) -> str | None:
    """The branch whose history counts as landed (see the module doc)."""
    if configured:
        if not _exists(repo, configured):
            raise TokennotesError(
                f"report.default_branch: {configured!r} is not a branch or commit here; "
                "fetch it or fix .tokennotes.yml"
            )
        return configured
    origin = _git(repo, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD", check=False)
    name = origin.decode().strip()
    if name and _exists(repo, name):
        return name
    for candidate in ("main", "master"):
        if _exists(repo, f"refs/heads/{candidate}"):
            return candidate
    # a CI checkout of a pull request: HEAD detached, no origin/HEAD, no local branch
    for candidate in ("origin/main", "origin/master"):
        if _exists(repo, f"refs/remotes/{candidate}"):
            return candidate
    return None


class _RevList:
    """A ``git rev-list`` writing to a temporary file while the notes are read (a file, not a
    pipe: nobody reads until the notes are parsed, and a full pipe, 64 KiB or 1,600 commits,
    would stall git until then)."""

    def __init__(self, repo: Path, *args: str) -> None:
        self._out = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            ["git", "rev-list", *args],
            cwd=repo,
            stdout=self._out,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )

    def result(self) -> frozenset[str] | None:
        """The commits listed; None when git failed."""
        ok = self._proc.wait() == 0
        self._out.seek(0)
        listed = frozenset(self._out.read().decode().split()) if ok else None
        self._out.close()
        return listed

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._out.close()


def is_shallow(repo: Path) -> bool:
    """Whether the clone is shallow (git keeps its cut-off commits in ``shallow``)."""
    return os.path.exists(os.path.join(notes.locate(repo).common_dir, "shallow"))


class Landed:
    """The commits reachable from a branch, listed by a ``git rev-list`` running meanwhile
    (in a shallow clone, with every commit the clone has: see the module doc).

    Call it to collect the set; use it as a context manager so that the processes are reaped
    even when the report fails before collecting.
    """

    def __init__(self, repo: Path, branch: str | None) -> None:
        self._lists: list[_RevList] = []
        self._result: frozenset[str] | None = None if branch else frozenset()
        if branch:
            self._lists.append(_RevList(repo, "--end-of-options", branch, "--"))
            if is_shallow(repo):
                # the notes refs' own history (a commit per note written) is no commit of ours
                self._lists.append(_RevList(repo, "--exclude=refs/notes/*", "--all"))

    def __call__(self) -> frozenset[str]:
        if self._result is None:
            reachable, *present = [listed.result() for listed in self._lists]
            self._lists = []
            if reachable is None:
                self._result = frozenset()
            elif present and present[0] is not None:
                self._result = ShallowLanded(reachable, present[0] | reachable)
            else:
                self._result = reachable
        return self._result

    def close(self) -> None:
        for listed in self._lists:
            listed.close()
        self._lists = []
        if self._result is None:
            self._result = frozenset()

    def __enter__(self) -> Landed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_landed(repo: Path, branch: str | None) -> Landed:
    """Start listing the commits reachable from ``branch``; call the result to collect them."""
    return Landed(repo, branch)


def read_range(repo: Path, spec: str, ref: str) -> tuple[list[CommitInfo], Parsed]:
    """The commits of ``spec`` (oldest first) and the facts of their notes."""
    try:
        found = notes.read_range(repo, spec, ref)
    except notes.GitError as exc:
        said = exc.stderr.strip().splitlines()
        raise TokennotesError(
            f"cannot read the commits of {spec!r}: {said[-1] if said else exc}"
            " (is the range right, and are both ends fetched?)"
        ) from None
    reader = FactReader()
    commits: list[CommitInfo] = []
    for c in reversed(found):
        commits.append(
            CommitInfo(
                sha=c.sha,
                parents=c.parents,
                author=c.author_email,
                ts=iso_utc(c.committer_ts),
                subject=c.subject,
            )
        )
        if c.note_text:
            reader.add(c.sha, c.note_text)
    return commits, reader.result()


def read_all(repo: Path, ref: str) -> tuple[Parsed, int]:
    """The facts of every note on ``ref`` and how many notes there were."""
    reader = FactReader()
    count = 0
    add = reader.add_spans
    for text, spans in notes.read_all_note_chunks(repo, ref):
        add(text, spans)
        count += len(spans)
    return reader.result(), count


def _git_date(stamp: str) -> str:
    return f"{stamp[:10]} {stamp[11:19]} +0000"


def branch_commits(
    repo: Path, branch: str, since: str | None, until: str | None
) -> list[CommitInfo]:
    """The commits of ``branch`` committed in ``[since, until)`` (UTC), oldest first."""
    args = ["log", "-z", "--no-show-signature", "--format=%H%x1f%P%x1f%ct%x1f%ae%x1f%s"]
    if since:
        args.append(f"--since={_git_date(since)}")
    if until:
        args.append(f"--until={_git_date(until)}")
    out = _git(repo, *args, "--end-of-options", branch, "--", check=False)
    commits = []
    for chunk in out.split(b"\0"):
        if not chunk:
            continue
        sha, parents, ts, email, subject = chunk.decode("utf-8", "replace").split("\x1f", 4)
        stamp = iso_utc(int(ts))
        if (since and stamp[:19] < since) or (until and stamp[:19] >= until):
            continue
        commits.append(
            CommitInfo(
                sha=sha, parents=tuple(parents.split()), author=email, ts=stamp, subject=subject
            )
        )
    commits.reverse()
    return commits


def _batch(repo: Path, names: Sequence[str], kind: bytes) -> dict[str, bytes]:
    """The bodies of the objects of ``names`` that are of type ``kind`` (``b"commit"``,
    ``b"blob"``), from one ``git cat-file --batch``; missing ones and others left out."""
    objects = notes.read_objects(repo, names)
    return {name: body for name, (type_, body) in objects.items() if type_ == kind}


def commit_details(repo: Path, shas: Iterable[str]) -> dict[str, CommitInfo]:
    """Subject, author e-mail and committer time of the commits this clone has."""
    wanted = sorted(set(shas))
    details = {}
    # a note may sit on a blob, a tree or a tag: its text is no commit message
    for sha, body in _batch(repo, wanted, b"commit").items():
        raw_head, _, raw_message = body.partition(b"\n\n")
        head = raw_head.decode("utf-8", "replace")
        message = _message_text(head, raw_message)
        author, ts, parents = "", "", []
        for line in head.split("\n"):
            key, _, value = line.partition(" ")
            if key == "parent":
                parents.append(value)
            elif key == "author":
                author = value[value.find("<") + 1 : value.rfind(">")]
            elif key == "committer":
                parts = value.rsplit(" ", 2)
                if len(parts) == 3 and parts[1].lstrip("-").isdigit():
                    ts = iso_utc(int(parts[1]))
        details[sha] = CommitInfo(
            sha=sha,
            parents=tuple(parents),
            author=author,
            ts=ts,
            subject=message.split("\n", 1)[0].strip(),
        )
    return details


def _message_text(head: str, message: bytes) -> str:
    """A commit message as text: in the ``encoding`` its header names (``git commit`` with
    ``i18n.commitEncoding``, as ``git log`` shows it), else UTF-8."""
    import codecs

    encoding = "utf-8"
    for line in head.split("\n"):
        if line.startswith("encoding "):
            try:
                encoding = codecs.lookup(line[len("encoding ") :].strip()).name
            except LookupError:
                pass
    return message.decode(encoding, "replace")


@lru_cache(maxsize=256)
def read_pipeline(repo: Path, rev: str, globs: Sequence[str]) -> Pipeline:
    """Files matching the pipeline globs at ``rev`` and the words they hold."""
    if not globs or not _exists(repo, rev):
        return Pipeline()
    out = _git(repo, "ls-tree", "-r", "-z", "--end-of-options", rev, check=False)
    blobs: list[tuple[str, str]] = []
    for entry in out.split(b"\0"):
        meta, _, raw_path = entry.partition(b"\t")
        parts = meta.split()
        if len(parts) != 3 or parts[1] != b"blob":
            continue
        path = raw_path.decode("utf-8", "surrogateescape")
        if any(match_glob(path, g) for g in globs):
            blobs.append((path, parts[2].decode()))
    bodies = _batch(repo, [sha for _, sha in blobs], b"blob")
    words = sum(len(bodies.get(sha, b"").decode("utf-8", "replace").split()) for _, sha in blobs)
    return Pipeline(files=len(blobs), words=words, paths=tuple(p for p, _ in blobs))


def head_commit(repo: Path) -> str:
    """HEAD's sha, "" on an unborn branch."""
    return (
        _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        .decode()
        .strip()
    )
