"""Benchmark: ways to read every note of a notes ref (the reporter's weekly read).

Builds throwaway repositories holding 10k and 50k notes with ``git fast-import`` (bulk setup
only) and times, per option, reading every (annotated object, note text) pair into Python:

- ``notes.read_all_notes``: the package's reader (``notes list | cat-file``), one text per
  note (a report parses ``read_all_note_chunks`` in place instead, without slicing the notes);
- ``ls-tree | cat-file (thread)``: ``git ls-tree -r`` read by a Python thread that feeds the
  blob ids to one ``git cat-file --batch --buffer`` while the main thread parses its output;
- ``ls-tree --format | cat-file (OS pipe)``: ``ls-tree`` prints ``<blob> <path>`` straight into
  ``cat-file --batch='%(objectname) %(objectsize) %(rest)'`` (git >= 2.36), no Python feeder;
- ``notes list | cat-file (OS pipe)``: the same with ``git notes list`` as the lister;
- ``ls-tree, then cat-file (not streamed)``: list first, then one batch read;
- ``pygit2 tree walk``: a raw recursive tree walk (with and without the import of pygit2);
- ``cat-file --batch alone (floor)``: the blob ids known in advance, only the batch read.

Run: ``python benchmarks/notes_read_bench.py [--sizes 10000,50000] [--repeat 5]``. Times are
medians in ms; the ratio column is against the floor measured in the same run.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from tokennotes import notes

REF = "refs/notes/ai-tokens"
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
}


def _record(rng: random.Random, commit_no: int) -> str:
    tokens = (
        f'{{"cache_read":{rng.randrange(10**6)},"cache_write":{rng.randrange(10**5)},'
        f'"input":{rng.randrange(10**4)},"output":{rng.randrange(10**4)},"reasoning":0}}'
    )
    return (
        f'{{"agent":"claude","cost_usd":"0.{rng.randrange(10**4):04d}","fidelity":"exact",'
        f'"first":"2026-01-01T00:00:00Z","host":"{rng.getrandbits(32):08x}",'
        f'"id":"{uuid.UUID(int=rng.getrandbits(128)).hex}","kind":"usage","last":'
        f'"2026-01-01T00:10:00Z","messages":{rng.randrange(1, 60)},"model":"claude-sonnet-4-5",'
        f'"price_table":"2026-01-01","session":"{rng.getrandbits(64):016x}","tokens":{tokens},'
        f'"ts":"2026-01-01T00:{commit_no % 60:02d}:00Z","v":1}}'
    )


def build_repo(path: Path, count: int) -> None:
    """A repository with ``count`` commits, each annotated by a 1-3 record note."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=ENV)
    rng = random.Random(count)
    chunks: list[str] = []
    for i in range(1, count + 1):
        message = f"commit {i}\n"
        chunks.append(
            f"commit refs/heads/main\nmark :{i}\n"
            f"committer bench <bench@example.com> {1_700_000_000 + i} +0000\n"
            f"data {len(message)}\n{message}\n"
        )
    message = "notes\n"
    chunks.append(
        f"commit {REF}\ncommitter bench <bench@example.com> 1800000000 +0000\n"
        f"data {len(message)}\n{message}"
    )
    for i in range(1, count + 1):
        body = "".join(sorted(f"{_record(rng, i)}\n" for _ in range(rng.randrange(1, 4))))
        size = len(body.encode())
        chunks.append(f"N inline :{i}\ndata {size}\n{body}")
    chunks.append("\n")
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=path,
        input="".join(chunks).encode(),
        check=True,
        env=ENV,
    )
    # one ordinary write so git normalises the notes tree fanout as it would in real life
    head = subprocess.run(
        ["git", "rev-parse", "main"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        ["git", "notes", f"--ref={REF}", "add", "-f", "-m", _record(rng, 0), head],
        cwd=path,
        check=True,
        env=ENV,
        stderr=subprocess.DEVNULL,
    )
    # fast-import's pack has long ad-hoc delta chains; a clone gets a pack made by pack-objects
    subprocess.run(["git", "repack", "-adfq"], cwd=path, check=True, env=ENV)


def _parse_batch(stream: IO[bytes], names: Callable[[bytes], str]) -> Iterator[tuple[str, str]]:
    """Parse ``<name> <size> <rest>`` headers + bodies; ``names`` maps the header to the object."""
    readline, read = stream.readline, stream.read
    while True:
        header = readline()
        if not header:
            return
        parts = header.split()
        if parts[-1] == b"missing":
            continue
        size = int(parts[1])
        body = read(size + 1)
        yield names(header), body[:size].decode("utf-8", "replace")


def read_thread(repo: Path) -> list[tuple[str, str]]:
    lister = subprocess.Popen(["git", "ls-tree", "-r", REF], cwd=repo, stdout=subprocess.PIPE)
    batch = subprocess.Popen(
        ["git", "cat-file", "--buffer", "--batch=%(objectname) %(objectsize)"],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    order: deque[str] = deque()
    assert lister.stdout is not None and batch.stdin is not None and batch.stdout is not None

    def feed() -> None:
        assert lister.stdout is not None and batch.stdin is not None
        try:
            for line in lister.stdout:
                meta, _, path = line.rstrip(b"\n").partition(b"\t")
                blob = meta.split(b" ")[2]
                order.append(path.replace(b"/", b"").decode())
                batch.stdin.write(blob + b"\n")
        finally:
            batch.stdin.close()

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    out = list(_parse_batch(batch.stdout, lambda _h: order.popleft()))
    thread.join()
    lister.wait()
    batch.wait()
    return out


def _read_pipe(repo: Path, lister_args: list[str], strip: bool) -> list[tuple[str, str]]:
    lister = subprocess.Popen(lister_args, cwd=repo, stdout=subprocess.PIPE)
    batch = subprocess.Popen(
        ["git", "cat-file", "--buffer", "--batch=%(objectname) %(objectsize) %(rest)"],
        cwd=repo,
        stdin=lister.stdout,
        stdout=subprocess.PIPE,
    )
    assert lister.stdout is not None and batch.stdout is not None
    lister.stdout.close()

    def name(header: bytes) -> str:
        rest = header.rstrip(b"\n").split(b" ", 2)[2]
        return (rest.replace(b"/", b"") if strip else rest).decode()

    out = list(_parse_batch(batch.stdout, name))
    lister.wait()
    batch.wait()
    return out


def read_lstree_pipe(repo: Path) -> list[tuple[str, str]]:
    args = ["git", "ls-tree", "-r", "--format=%(objectname) %(path)", REF]
    return _read_pipe(repo, args, strip=True)


def read_notes_list_pipe(repo: Path) -> list[tuple[str, str]]:
    return _read_pipe(repo, ["git", "notes", f"--ref={REF}", "list"], strip=False)


def read_not_streamed(repo: Path) -> list[tuple[str, str]]:
    listing = subprocess.run(
        ["git", "ls-tree", "-r", REF], cwd=repo, capture_output=True, check=True
    ).stdout
    names: list[str] = []
    blobs: list[bytes] = []
    for line in listing.splitlines():
        meta, _, path = line.partition(b"\t")
        blobs.append(meta.split(b" ")[2])
        names.append(path.replace(b"/", b"").decode())
    batch = subprocess.Popen(
        ["git", "cat-file", "--buffer", "--batch=%(objectname) %(objectsize)"],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert batch.stdout is not None and batch.stdin is not None
    stdin = batch.stdin

    def feed() -> None:
        stdin.write(b"\n".join(blobs) + b"\n")
        stdin.close()

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    it = iter(names)
    out = list(_parse_batch(batch.stdout, lambda _h: next(it)))
    thread.join()
    batch.wait()
    return out


def read_pygit2(repo: Path) -> list[tuple[str, str]]:
    import pygit2

    git_repo: Any = pygit2.Repository(str(repo))
    tree = git_repo.revparse_single(REF).peel(pygit2.Tree)
    out: list[tuple[str, str]] = []

    def walk(node: Any, prefix: str) -> None:
        for entry in node:
            if entry.type_str == "tree":
                walk(git_repo[entry.id], prefix + entry.name)
            else:
                out.append(
                    (prefix + entry.name, git_repo[entry.id].data.decode("utf-8", "replace"))
                )

    walk(tree, "")
    return out


def read_pygit2_cold(repo: Path) -> list[tuple[str, str]]:
    """pygit2 including its import, in a fresh interpreter minus the interpreter's start."""
    code = (
        "import sys,time;t=time.perf_counter();"
        "sys.path.insert(0, sys.argv[2]);import notes_read_bench as b;"
        "n=len(b.read_pygit2(__import__('pathlib').Path(sys.argv[1])));"
        "print((time.perf_counter()-t)*1000, n)"
    )
    here = str(Path(__file__).resolve().parent)
    result = subprocess.run(
        [sys.executable, "-c", code, str(repo), here], capture_output=True, text=True, check=True
    )
    ms, count = result.stdout.split()
    _COLD.append(float(ms))
    return [("", "")] * int(count)


_COLD: list[float] = []


def read_shipped(repo: Path) -> list[tuple[str, str]]:
    return list(notes.read_all_notes(repo, REF))


def floor_input(repo: Path) -> bytes:
    listing = subprocess.run(
        ["git", "ls-tree", "-r", REF], cwd=repo, capture_output=True, check=True
    ).stdout
    return b"".join(
        line.partition(b"\t")[0].split(b" ")[2] + b"\n" for line in listing.splitlines()
    )


def time_floor(repo: Path, stdin: bytes) -> int:
    result = subprocess.run(
        ["git", "cat-file", "--buffer", "--batch=%(objectname) %(objectsize)"],
        cwd=repo,
        input=stdin,
        capture_output=True,
        check=True,
    )
    return len(result.stdout)


def measure(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median ms of each function, run round-robin so that load elsewhere hits all alike."""
    for fn in fns.values():
        fn()  # warm the page cache and the object lookups
    times: dict[str, list[float]] = {label: [] for label in fns}
    for _ in range(repeat):
        for label, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[label].append((time.perf_counter() - start) * 1000)
    return {label: statistics.median(values) for label, values in times.items()}


FLOOR = "cat-file --batch alone (floor)"
COLD = "pygit2 tree walk (+ import pygit2)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    options: list[tuple[str, Callable[[Path], object]]] = [
        ("notes.read_all_notes (shipped)", read_shipped),
        ("ls-tree | cat-file (thread)", read_thread),
        ("ls-tree --format | cat-file (OS pipe)", read_lstree_pipe),
        ("notes list | cat-file (OS pipe)", read_notes_list_pipe),
        ("ls-tree, then cat-file (not streamed)", read_not_streamed),
        ("pygit2 tree walk (imported)", read_pygit2),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            repo = Path(tmp) / f"r{size}"
            start = time.perf_counter()
            build_repo(repo, size)
            built = (time.perf_counter() - start) * 1000
            expected = {name: text for name, text in read_not_streamed(repo)}
            print(f"\n{size} notes ({len(expected)} read; built in {built:.0f} ms)")
            stdin = floor_input(repo)
            for label, fn in options:
                got = fn(repo)
                assert isinstance(got, list) and dict(got) == expected, label
            fns: dict[str, Callable[[], object]] = {
                FLOOR: functools.partial(time_floor, repo, stdin)
            }
            fns.update({label: functools.partial(fn, repo) for label, fn in options})
            fns[COLD] = functools.partial(read_pygit2_cold, repo)
            _COLD.clear()
            results = measure(fns, args.repeat)
            results[COLD] = statistics.median(_COLD)
            floor = results[FLOOR]
            for label, ms in results.items():
                print(f"  {label:40} {ms:8.1f} ms  {ms / floor:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
