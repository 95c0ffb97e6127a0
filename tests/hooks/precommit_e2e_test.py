"""End to end through the real `pre-commit` framework.

A fresh repository's `.pre-commit-config.yaml` uses this checkout as its hook repository:
pre-commit clones it at a `rev` and builds the hook's environment with `pip install .`. So that
uncommitted work is what gets tested, a session fixture copies the working tree (tracked and
untracked files that are not ignored) into a temporary git repository and commits it; `rev` is
that commit. The environments are cached in a session-scoped PRE_COMMIT_HOME. When the install
cannot reach a package index, the tests skip and say so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import git
from tests.hooks.record_test import REF, ClaudeLog, output_on, total, usage_on
from tokennotes.notes import read_note
from tokennotes.record import Tokens, UsageRecord, dedupe, parse_note

ROOT = Path(__file__).resolve().parents[2]
HOOK_TYPES = "[pre-commit, post-commit, pre-push]"


def _plain_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "PRE_COMMIT"}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="e2e",
        GIT_AUTHOR_EMAIL="e2e@example.com",
        GIT_COMMITTER_NAME="e2e",
        GIT_COMMITTER_EMAIL="e2e@example.com",
    )
    return env


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout's working tree, copied into a fresh repository and committed."""
    if not (ROOT / ".pre-commit-hooks.yaml").is_file() or not (ROOT / ".git").exists():
        pytest.skip("not a tokennotes checkout with .pre-commit-hooks.yaml")
    env = _plain_env()
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        env=env,
    ).stdout
    dest = tmp_path_factory.mktemp("hook-repo")
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        source = ROOT / name
        if not source.is_file():  # deleted in the work tree
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=dest, check=True, env=env, capture_output=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=dest,
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return dest, sha


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def pc_env(
    monkeypatch: pytest.MonkeyPatch, pre_commit_home: Path, isolated_env: Path
) -> Iterator[Path]:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(pre_commit_home))
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    monkeypatch.delenv("TOKENNOTES_SYNC", raising=False)
    monkeypatch.setenv("PRE_COMMIT_COLOR", "never")
    yield isolated_env


def has_sync(hook_repo: tuple[Path, str]) -> bool:
    return (hook_repo[0] / "tokennotes" / "hooks" / "sync.py").is_file()


def pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )


def setup_repo(
    path: Path,
    hook_repo: tuple[Path, str],
    *,
    config: bool = True,
    verbose: bool = False,
    origin: Path | None = None,
) -> Path:
    """A repository using the hooks: config, `pre-commit install`, environments built."""
    if origin is not None:
        git(path.parent, "clone", "-q", str(origin), path.name)
    else:
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
    repo_path, sha = hook_repo
    hooks = ["tokennotes-record"] + (["tokennotes-sync"] if has_sync(hook_repo) else [])
    extra = "\n        verbose: true" if verbose else ""
    lines = [
        f"default_install_hook_types: {HOOK_TYPES}",
        "repos:",
        f"  - repo: {repo_path}",
        f"    rev: {sha}",
        "    hooks:",
        *(f"      - id: {hook}{extra}" for hook in hooks),
    ]
    (path / ".pre-commit-config.yaml").write_text("\n".join(lines) + "\n")
    if config:
        (path / ".tokennotes.yml").write_text("# defaults\n")
    installed = pre_commit(path, "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    for hook_type in ("pre-commit", "post-commit", "pre-push"):
        assert (path / ".git" / "hooks" / hook_type).is_file(), hook_type
    built = pre_commit(path, "install-hooks")
    if built.returncode != 0:
        text = built.stdout + built.stderr
        network = (
            "Could not find a version",
            "No matching distribution",
            "connection",
            "Network is unreachable",
            "Temporary failure in name resolution",
        )
        if any(word.lower() in text.lower() for word in network):
            pytest.skip(
                f"pre-commit could not build the hook environment (no index?): {text[-300:]}"
            )
        raise AssertionError(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "chore: use tokennotes hooks")
    return path


def commit(repo: Path, message: str, path: str = "src/app.py") -> subprocess.CompletedProcess[str]:
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "a") as fh:
        fh.write(f"# {message}\n")
    git(repo, "add", "-A")
    # git sends a hook's output to stderr; keep one stream, in order
    return subprocess.run(
        ["git", "commit", "-m", message],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The hook passed and printed exactly one line of its own (shown with `verbose: true`)."""
    assert done.returncode == 0, done.stdout
    assert "tokennotes record" in done.stdout and "Passed" in done.stdout, done.stdout
    ours = [line for line in done.stdout.splitlines() if line.startswith("tokennotes record:")]
    assert len(ours) == 1, done.stdout
    return ours[0]


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def unique_usage(repo: Path, revs: list[str]) -> list[UsageRecord]:
    """Usage records on ``revs``, deduped by id the way every reader does."""
    records = [r for sha in revs for r in parse_note(read_note(repo, sha, REF)).records]
    live, _ = dedupe(records)
    return [r for r in live if isinstance(r, UsageRecord)]


def test_commits_amend_squash_and_cherry_pick(
    pc_env: Path, tmp_path: Path, hook_repo: tuple[Path, str]
) -> None:
    repo = setup_repo(tmp_path / "work", hook_repo)
    log = ClaudeLog(pc_env / ".claude" / "projects", repo)
    base = head(repo)

    log.respond(input=20, output=400, cache_read=12000, cache_write=900)
    done = commit(repo, "feat(parser): first cut")
    assert done.returncode == 0, done.stdout + done.stderr
    first = head(repo)
    spent_a = log.spent
    assert total(usage_on(repo, first)) == spent_a
    assert [(r.type, r.points) for r in output_on(repo, first)] == [("feature", 5)]
    assert git(repo, "config", "notes.rewriteRef").strip() == REF

    log.respond(input=5, output=70, cache_read=3000, cache_write=100)
    assert commit(repo, "fix: edge case", path="src/edge.py").returncode == 0
    second = head(repo)
    assert total(usage_on(repo, second)) == Tokens(
        input=5, output=70, cache_read=3000, cache_write=100
    )

    # amend: the new spend is added, the old records come over, output is superseded
    log.respond(input=1, output=30, cache_read=500, cache_write=0)
    (repo / "src" / "edge.py").write_text("# better\n")
    git(repo, "add", "-A")
    amended = subprocess.run(
        ["git", "commit", "--amend", "-m", "fix: edge case, properly"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert amended.returncode == 0, amended.stderr
    third = head(repo)
    assert total(unique_usage(repo, [third])) == Tokens(
        input=6, output=100, cache_read=3500, cache_write=100
    )
    assert [(r.type, r.commit) for r in output_on(repo, third)] == [("fix", third)]

    # rebase -i: squash the amended commit into the first; every id survives once
    before = sorted(r.id for r in unique_usage(repo, [first, third]))
    script = tmp_path / "squash.sed"
    script.write_text("2,$ s/^pick/squash/\n")
    env = {"GIT_SEQUENCE_EDITOR": f"sed -i -f {script}", "GIT_EDITOR": "true"}
    git(repo, "rebase", "-q", "-i", base, env=env)
    squashed = head(repo)
    assert git(repo, "rev-list", "--count", f"{base}..HEAD").strip() == "1"
    assert sorted(r.id for r in unique_usage(repo, [squashed])) == before
    assert total(unique_usage(repo, [squashed])) == log.spent
    note = read_note(repo, squashed, REF)
    assert note.splitlines() == sorted(set(note.splitlines())) and "\n\n" not in note

    # cherry-pick onto another branch: the lines are copied, nothing new is added
    git(repo, "checkout", "-q", "-b", "release", base)
    git(repo, "cherry-pick", squashed)
    picked = head(repo)
    assert read_note(repo, picked, REF) == note
    everything = git(repo, "rev-list", "--all").split()
    assert total(unique_usage(repo, everything)) == log.spent  # no double count anywhere


def test_faults_never_block_a_commit(
    pc_env: Path, tmp_path: Path, hook_repo: tuple[Path, str]
) -> None:
    repo = setup_repo(tmp_path / "work", hook_repo, config=False, verbose=True)
    log = ClaudeLog(pc_env / ".claude" / "projects", repo)
    hook_log = repo / ".git" / "tokennotes" / "hook.log"

    # a missing config: defaults; one line on the clone's first commit (the setup's), details
    # in the log, then nothing
    assert "missing (said once in this clone)" in hook_log.read_text()
    log.respond(output=10)
    done = commit(repo, "feat: no config")
    assert done.returncode == 0 and "Passed" in done.stdout, done.stdout
    assert "tokennotes record:" not in done.stdout
    assert total(usage_on(repo)).output == 10

    # an unreadable log home
    loop = log.projects / "-loop" / "loop.jsonl"
    loop.parent.mkdir(parents=True)
    loop.symlink_to(loop)
    (repo / ".tokennotes.yml").write_text("# defaults\n")
    log.respond(output=20)
    done = commit(repo, "fix: unreadable logs")
    assert done.returncode == 0
    assert "reading its logs" in one_line(done)
    assert total(usage_on(repo)).output == 20
    loop.unlink()

    # a corrupt state file
    (repo / ".git" / "tokennotes" / "state.sqlite").write_bytes(b"garbage" * 500)
    log.respond(output=40)
    done = commit(repo, "fix: corrupt state")
    assert done.returncode == 0 and "scan state was unreadable" in one_line(done)
    assert total(usage_on(repo)).output >= 40

    # a locked notes ref: the commit is made, the spend waits for the next commit
    lock = repo / ".git" / "refs" / "notes" / "ai-tokens.lock"
    lock.write_text("")
    log.respond(output=80)
    before = head(repo)
    done = commit(repo, "fix: locked ref")
    assert done.returncode == 0
    assert head(repo) != before
    assert "nothing recorded" in one_line(done)
    assert read_note(repo, "HEAD", REF) == ""
    lock.unlink()
    assert commit(repo, "fix: unlocked").returncode == 0
    assert total(usage_on(repo)).output == 80
    text = hook_log.read_text()
    for needle in ("missing", "loop.jsonl", "unreadable scan state", "ai-tokens.lock"):
        assert needle in text


def test_two_clones_push_concurrently(
    pc_env: Path, tmp_path: Path, hook_repo: tuple[Path, str]
) -> None:
    if not has_sync(hook_repo):
        pytest.skip("`tokennotes sync` (the pre-push hook) is not in this checkout yet")
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "README.md").write_text("shared\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "initial")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))

    clones = [setup_repo(tmp_path / name, hook_repo, origin=remote) for name in ("one", "two")]
    expected: set[str] = set()
    for n, clone in enumerate(clones):
        log = ClaudeLog(pc_env / ".claude" / "projects", clone, session=f"session-{n}")
        git(clone, "checkout", "-q", "-b", f"topic-{n}")
        for k in range(3):
            log.respond(output=10 * (k + 1))
            assert commit(clone, f"feat: {n}-{k}", path=f"f{n}{k}.py").returncode == 0
            assert total(usage_on(clone)).output == 10 * (k + 1)
            expected.update(r.id for r in usage_on(clone))
            expected.update(r.id for r in output_on(clone))

    results: list[subprocess.CompletedProcess[str]] = []
    start = threading.Barrier(len(clones))

    def push(clone: Path, branch: str) -> None:
        start.wait(timeout=60)  # both pre-push hooks sync at the same moment
        results.append(
            subprocess.run(
                ["git", "push", "-q", "origin", branch],
                cwd=clone,
                capture_output=True,
                text=True,
                check=False,
            )
        )

    threads = [
        threading.Thread(target=push, args=(clone, f"topic-{n}")) for n, clone in enumerate(clones)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    on_remote: set[str] = set()
    listing = git(remote, "notes", f"--ref={REF}", "list").split()
    for annotated in listing[1::2]:
        note = git(remote, "notes", f"--ref={REF}", "show", annotated)
        on_remote.update(r.id for r in parse_note(note).records)
    assert expected <= on_remote
    assert len(expected) == 2 * 3 * 2  # per clone and commit: one usage, one output record
