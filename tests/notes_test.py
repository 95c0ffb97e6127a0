from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import git
from tokennotes import notes
from tokennotes.config import NOTES_REF
from tokennotes.errors import TokennotesError
from tokennotes.record import merge_note_lines

REF = NOTES_REF


def line(n: int | str, kind: str = "usage") -> str:
    return f'{{"id":"{n}","kind":"{kind}","v":1}}'


def commit(repo: Path, message: str) -> str:
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def note_blob(repo: Path, rev: str) -> str:
    return git(repo, "notes", f"--ref={REF}", "list", rev).strip()


def tip(repo: Path, ref: str = REF) -> str:
    result = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", ref], cwd=repo, capture_output=True, text=True
    )
    return result.stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


def clone(remote: Path, path: Path) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(path))
    if not tip(path, "HEAD"):
        (path / "f").write_text(path.name)
        git(path, "add", "f")
        git(path, "commit", "-q", "-m", "first")
        git(path, "push", "-q", "origin", "HEAD:main")
    return path


def remote_lines(remote: Path) -> set[str]:
    return {ln for _, text in notes.read_all_notes(remote, REF) for ln in text.splitlines() if ln}


# --- where the repository is ----------------------------------------------------------------


def test_locations_in_main_tree_subdir_worktree_and_bare(repo: Path, tmp_path: Path) -> None:
    repo, tmp_path = repo.resolve(), tmp_path.resolve()  # git prints real paths
    (repo / "sub").mkdir()
    assert notes.git_dir(repo) == repo / ".git"
    assert notes.common_dir(repo / "sub") == repo / ".git"
    assert notes.toplevel(repo / "sub") == repo
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(worktree))
    assert notes.git_dir(worktree) == repo / ".git" / "worktrees" / "wt"
    assert notes.common_dir(worktree) == repo / ".git"
    assert notes.toplevel(worktree) == worktree
    assert notes.worktree_roots(worktree) == [str(repo), str(worktree)]
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    assert notes.common_dir(bare) == bare
    assert notes.worktree_roots(bare) == []
    with pytest.raises(TokennotesError, match="bare"):
        notes.toplevel(bare)


def test_outside_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(notes.GitError, match="inside a git repository"):
        notes.git_dir(plain)


def test_hook_location_variables_do_not_redirect_commands(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert notes.write_note(repo, "HEAD", [line(1)])
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert git(repo, "notes", f"--ref={REF}", "show", "HEAD") == line(1) + "\n"
    assert not notes.notes_ref_exists(other)


# --- reading and writing one note -----------------------------------------------------------


def test_taking_back_a_write_keeps_what_others_added_meanwhile(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    before: list[str] = []
    assert notes.write_note(repo, head, [line(1)], before=before)
    assert before == [""]  # there was no note
    notes.take_back_lines(repo, head, before[0], [line(1)])
    assert notes.read_note(repo, head) == ""
    notes.write_note(repo, head, [line(1)])
    before = []
    assert notes.write_note(repo, head, [line(2), line(3)], before=before)
    assert before == [f"{line(1)}\n"]
    notes.write_note(repo, head, [line(4)])  # another writer, between the write and its undo
    notes.take_back_lines(repo, head, before[0], [line(1), line(2), line(3)])
    assert notes.read_note(repo, head) == f"{line(1)}\n{line(4)}\n"


def test_write_unions_sorted_unique_and_skips_when_unchanged(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    assert notes.read_note(repo, head) == ""
    assert not notes.notes_ref_exists(repo)
    assert notes.write_note(repo, head, [line(2), line(1), line(2)])
    assert notes.read_note(repo, head) == f"{line(1)}\n{line(2)}\n"
    first_tip = tip(repo)
    assert not notes.write_note(repo, head, [line(2)])
    assert not notes.write_note(repo, head, [])
    assert tip(repo) == first_tip  # nothing written, no notes commit
    assert notes.write_note(repo, head, iter([line(0)]))
    assert notes.read_note(repo, head) == merge_note_lines([line(0), line(1), line(2)])
    assert notes.notes_ref_exists(repo)


def test_nothing_to_write_leaves_no_ref(repo: Path) -> None:
    assert not notes.write_note(repo, "HEAD", ["", "  "])
    assert not notes.notes_ref_exists(repo)


def test_same_lines_make_the_same_blob(repo: Path) -> None:
    a = git(repo, "rev-parse", "HEAD").strip()
    b = commit(repo, "second")
    notes.write_note(repo, a, [line(1), line(2), line(3)])
    notes.write_note(repo, b, [line(3)])
    notes.write_note(repo, b, [line(1), line(2)])
    assert note_blob(repo, a) == note_blob(repo, b)
    expected = git(
        repo, "hash-object", "--stdin", input=merge_note_lines([line(1), line(2), line(3)])
    )
    assert note_blob(repo, a) == expected.strip()


def test_existing_non_canonical_note_is_normalised(repo: Path) -> None:
    git(repo, "notes", f"--ref={REF}", "add", "-m", line(2), "-m", line(1), "HEAD")
    assert notes.read_note(repo, "HEAD") == f"{line(2)}\n\n{line(1)}\n"
    assert notes.write_note(repo, "HEAD", [line(1)])
    assert notes.read_note(repo, "HEAD") == f"{line(1)}\n{line(2)}\n"


def test_read_note_of_an_unknown_revision_raises(repo: Path) -> None:
    with pytest.raises(notes.GitError, match="git notes"):
        notes.read_note(repo, "no-such-rev")


def test_copy_note_unions_lines(repo: Path) -> None:
    src = git(repo, "rev-parse", "HEAD").strip()
    dst = commit(repo, "picked")
    assert not notes.copy_note(repo, src, dst)  # nothing to copy
    notes.write_note(repo, src, [line(1), line(2)])
    notes.write_note(repo, dst, [line(3)])
    assert notes.copy_note(repo, src, dst)
    assert notes.read_note(repo, dst) == merge_note_lines([line(1), line(2), line(3)])
    assert not notes.copy_note(repo, src, dst)


def test_write_retries_while_the_ref_is_locked(repo: Path) -> None:
    notes.write_note(repo, "HEAD", [line(1)])
    lock = notes.common_dir(repo) / (REF + ".lock")
    lock.write_text("")
    timer = threading.Timer(0.25, lock.unlink)
    timer.start()
    try:
        assert notes.write_note(repo, "HEAD", [line(2)])
    finally:
        timer.join()
    assert notes.read_note(repo, "HEAD") == merge_note_lines([line(1), line(2)])


def test_write_gives_up_on_a_stale_lock(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notes, "_WRITE_ATTEMPTS", 2)
    monkeypatch.setattr(notes, "_WRITE_BACKOFF", 0.01)
    notes.write_note(repo, "HEAD", [line(1)])
    (notes.common_dir(repo) / (REF + ".lock")).write_text("")
    with pytest.raises(notes.NotesLockedError, match=r"stale refs/notes/ai-tokens\.lock"):
        notes.write_note(repo, "HEAD", [line(2)])


def test_parallel_writers_in_worktrees_lose_no_note(repo: Path, tmp_path: Path) -> None:
    # plain parallel `git notes add` drops notes: its ref update does not check the old value
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(worktree))
    shas = [commit(repo, f"c{i}") for i in range(16)]
    errors: list[BaseException] = []

    def write(where: Path, part: list[str]) -> None:
        try:
            for n, sha in enumerate(part):
                notes.write_note(where, sha, [line(sha[:8] + str(n))])
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(repo if i % 2 else worktree, shas[i::4]))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(list(notes.read_all_notes(repo))) == 16


# --- reading many -------------------------------------------------------------------------


def test_read_range_with_and_without_notes(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "switch", "-q", "-c", "topic")
    one = commit(repo, "one\x1fwith a unit separator")
    two = commit(repo, "two")
    git(repo, "switch", "-q", "main")
    three = commit(repo, "three")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge topic", "topic")
    merge = git(repo, "rev-parse", "HEAD").strip()
    notes.write_note(repo, one, [line(1), line(2)])
    notes.write_note(repo, merge, [line(3)])

    commits = notes.read_range(repo, f"{base}..HEAD")
    assert commits[0].sha == merge
    assert {c.sha for c in commits} == {one, two, three, merge}
    by_sha = {c.sha: c for c in commits}
    assert by_sha[merge].parents == (three, two)
    assert by_sha[merge].note_text == line(3) + "\n"
    assert by_sha[one].note_text == f"{line(1)}\n{line(2)}\n"
    assert by_sha[one].subject == "one\x1fwith a unit separator"
    assert by_sha[two].note_text == ""
    assert by_sha[two].author_email == "author@example.com"
    ts = int(git(repo, "log", "-1", "--format=%ct", two))
    assert by_sha[two].committer_ts == ts
    assert [c.sha for c in notes.read_range(repo, ["topic", f"^{base}"])] == [two, one]
    assert notes.read_range(repo, f"{merge}..{merge}") == []
    (root,) = notes.read_range(repo, [base])
    assert root.parents == () and root.subject == "initial"


def test_read_range_keeps_every_byte_of_a_hostile_note(repo: Path, tmp_path: Path) -> None:
    """A note is text anyone who can push notes wrote: unit separators (the old single log
    format split the subject from the note at the last one) and NUL bytes (``-z``'s separator)
    must neither move the note's lines into the subject nor lose them."""
    base = git(repo, "rev-parse", "HEAD").strip()
    one = commit(repo, "one\x1fsubject")
    two = commit(repo, "two")
    hostile = f"{line(1)}\njunk\x1fline\n".encode()
    (tmp_path / "note").write_bytes(hostile)
    git(repo, "notes", f"--ref={NOTES_REF}", "add", "-F", str(tmp_path / "note"), one)
    (tmp_path / "note").write_bytes(f"{line(2)}\nthree\0four\n".encode())
    git(repo, "notes", f"--ref={NOTES_REF}", "add", "-F", str(tmp_path / "note"), two)
    by_sha = {c.sha: c for c in notes.read_range(repo, f"{base}..HEAD")}
    assert by_sha[one].subject == "one\x1fsubject"
    assert by_sha[one].note_text == hostile.decode()
    assert by_sha[two].subject == "two"
    assert by_sha[two].note_text.startswith(f"{line(2)}\nthree")  # git log shows NUL as \n
    # the fallback when a log's notes do not line up with its commits: framed by size
    found = notes._note_blobs(repo, NOTES_REF, [one, two, base])
    assert found == {one: hostile, two: f"{line(2)}\nthree\0four\n".encode()}


def test_read_range_rejects_a_bad_range(repo: Path) -> None:
    with pytest.raises(notes.GitError, match="git log"):
        notes.read_range(repo, "nope..HEAD")


def test_read_all_on_a_missing_ref_is_empty(repo: Path) -> None:
    assert list(notes.read_all_notes(repo)) == []
    assert list(notes.read_all_notes(repo, "refs/notes/other")) == []


def test_read_all_includes_notes_on_commits_the_clone_lacks(
    repo: Path, remote: Path, tmp_path: Path
) -> None:
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "switch", "-q", "-c", "local-only")
    hidden = commit(repo, "never pushed")
    notes.write_note(repo, hidden, [line("h")])
    notes.write_note(repo, "main", [line("m")])
    git(repo, "push", "-q", "origin", f"{REF}:{REF}")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "fetch", "-q", "origin", f"+{REF}:{REF}")
    with pytest.raises(AssertionError):
        git(other, "cat-file", "-e", hidden)
    got = dict(notes.read_all_notes(other))
    assert got[hidden] == line("h") + "\n"
    assert got[git(other, "rev-parse", "main").strip()] == line("m") + "\n"


def test_read_all_follows_gits_fanout(repo: Path) -> None:
    count = 300  # git splits the notes tree into ab/cdef... paths beyond ~256 notes
    marks = "".join(
        f"commit refs/heads/bulk\nmark :{i}\ncommitter T <t@e.com> {1_700_000_000 + i} +0000\n"
        f"data 2\nc\n\n"
        for i in range(1, count + 1)
    )
    body = marks + f"commit {REF}\ncommitter T <t@e.com> 1800000000 +0000\ndata 2\nn\n"
    body += "".join(
        f"N inline :{i}\ndata {len(line(i)) + 1}\n{line(i)}\n" for i in range(1, count + 1)
    )
    git(repo, "fast-import", "--quiet", input=body + "\n")
    notes.write_note(repo, "main", [line("main")])  # an ordinary write re-balances the tree
    assert "/" in git(repo, "ls-tree", "-r", "--name-only", REF).splitlines()[0]
    got = dict(notes.read_all_notes(repo))
    assert len(got) == count + 1
    shas = git(repo, "rev-list", "--reverse", "bulk").split()
    assert got[shas[0]] == line(1) + "\n"
    assert got[shas[-1]] == line(count) + "\n"


def test_read_all_stops_early_without_leaking(repo: Path) -> None:
    for i in range(5):
        notes.write_note(repo, commit(repo, f"c{i}"), [line(i)])
    stream = notes.read_all_notes(repo)
    assert next(stream)[1].startswith("{")
    stream.close()  # kills and reaps both git processes; filterwarnings=error would catch leaks


# --- sharing ------------------------------------------------------------------------------


def test_tracking_ref_names() -> None:
    assert notes.tracking_ref("origin") == "refs/notes/remotes/origin/ai-tokens"
    assert notes.tracking_ref("up/stream", "refs/notes/x") == "refs/notes/remotes/up/stream/x"
    url = notes.tracking_ref("https://example.com/a.git")
    assert url.startswith("refs/notes/remotes/url-") and url.endswith("/ai-tokens")
    git(Path.cwd(), "check-ref-format", url)
    with pytest.raises(TokennotesError, match="refs/notes/"):
        notes.tracking_ref("origin", "refs/heads/main")


def test_sync_into_an_empty_remote_and_back(remote: Path, tmp_path: Path) -> None:
    a = clone(remote, tmp_path / "a")
    assert notes.sync_notes(a).status is notes.SyncStatus.NOTHING
    notes.write_note(a, "HEAD", [line(1)])
    result = notes.sync_notes(a)
    assert result.status is notes.SyncStatus.PUSHED and result.ok and result.attempts == 1
    assert tip(remote) == tip(a)
    assert notes.sync_notes(a).status is notes.SyncStatus.UP_TO_DATE
    assert tip(a, "refs/notes/remotes/origin/ai-tokens") == tip(a)
    # a fresh clone has no local notes ref: it adopts the remote's
    b = clone(remote, tmp_path / "b")
    assert notes.sync_notes(b).status is notes.SyncStatus.UP_TO_DATE
    assert notes.read_note(b, "HEAD") == line(1) + "\n"
    # the harmful refspecs of the spec are never configured
    assert git(a, "config", "--get-all", "remote.origin.fetch").split() == [
        "+refs/heads/*:refs/remotes/origin/*"
    ]
    for where in (a, b):
        with pytest.raises(AssertionError):
            git(where, "config", "--get", "remote.origin.push")


def test_sync_merges_diverged_refs_with_cat_sort_uniq(remote: Path, tmp_path: Path) -> None:
    a = clone(remote, tmp_path / "a")
    b = clone(remote, tmp_path / "b")
    shared = git(a, "rev-parse", "HEAD").strip()
    only_b = commit(b, "b's own")
    notes.write_note(a, shared, [line(1), line(2)])
    notes.write_note(b, shared, [line(2), line(3)])  # same commit, one line in common
    notes.write_note(b, only_b, [line(4)])
    assert notes.sync_notes(a).status is notes.SyncStatus.PUSHED
    assert notes.sync_notes(b).status is notes.SyncStatus.PUSHED  # unrelated histories merge
    assert notes.sync_notes(a).status is notes.SyncStatus.UP_TO_DATE
    expected = merge_note_lines([line(1), line(2), line(3)])
    for where in (a, b, remote):
        assert notes.read_note(where, shared) == expected
    assert notes.read_note(a, only_b) == line(4) + "\n"
    assert tip(a) == tip(b) == tip(remote)


def test_sync_pushes_again_after_the_remote_ref_was_deleted(remote: Path, tmp_path: Path) -> None:
    a = clone(remote, tmp_path / "a")
    notes.write_note(a, "HEAD", [line(1)])
    notes.sync_notes(a)
    git(remote, "update-ref", "-d", REF)
    git(a, "update-ref", "refs/remotes/origin/gone", "HEAD")  # a stale remote branch
    assert notes.sync_notes(a).status is notes.SyncStatus.PUSHED  # the stale tracking ref is pruned
    assert tip(remote) == tip(a)
    assert tip(a, "refs/remotes/origin/gone")  # --prune touched only the notes refspec


def test_sync_retries_when_the_remote_moves_between_fetch_and_push(
    remote: Path, tmp_path: Path
) -> None:
    a = clone(remote, tmp_path / "a")
    b = clone(remote, tmp_path / "b")
    notes.write_note(b, "HEAD", [line("b1")])
    notes.sync_notes(b)
    notes.write_note(b, "HEAD", [line("b2")])
    git(b, "push", "-q", "origin", f"{REF}:refs/staging/next")  # the remote's next state
    notes.write_note(a, "HEAD", [line("a1")])
    flag = tmp_path / "moved"
    # the first fetch of a's sync moves the remote ref on, as another clone's push would
    hook = notes.git_dir(a) / "hooks" / "reference-transaction"
    hook.write_text(
        "#!/bin/sh\n"
        '[ "$1" = committed ] || exit 0\n'
        "grep -q refs/notes/remotes/origin/ || exit 0\n"
        f"[ -e '{flag}' ] && exit 0\n"
        f"touch '{flag}'\n"
        f"git --git-dir='{remote}' update-ref {REF} refs/staging/next\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    result = notes.sync_notes(a)
    assert flag.exists()
    assert result.status is notes.SyncStatus.PUSHED
    assert result.attempts == 2
    assert remote_lines(remote) == {line("a1"), line("b1"), line("b2")}


def test_sync_gives_up_when_the_remote_keeps_moving(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notes, "_PUSH_BACKOFF", 0.01)
    a = clone(remote, tmp_path / "a")
    b = clone(remote, tmp_path / "b")
    notes.write_note(b, "HEAD", [line("b")])
    notes.sync_notes(b)
    notes.write_note(a, "HEAD", [line("a")])
    # every fetch is followed by a new remote state that a's push cannot fast-forward
    hook = notes.git_dir(a) / "hooks" / "reference-transaction"
    script = tmp_path / "move.sh"
    script.write_text(
        f"cd '{b}' && git commit -q --allow-empty -m x && "
        f'git notes --ref={REF} add -m "$(date +%s%N)" HEAD && '
        f"git push -q --no-verify origin {REF}:{REF}\n"
    )
    hook.write_text(
        "#!/bin/sh\n"
        '[ "$1" = committed ] || exit 0\n'
        "grep -q refs/notes/remotes/origin/ || exit 0\n"
        "unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n"
        f"sh '{script}'\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    result = notes.sync_notes(a, attempts=3, max_seconds=10)
    assert result.status is notes.SyncStatus.REJECTED and not result.ok
    assert result.attempts == 3
    assert "next sync" in result.message and "rejected" in result.detail


def test_sync_reentry_guard_does_nothing(tmp_path: Path) -> None:
    nowhere = tmp_path / "not-a-repo"
    result = notes.sync_notes(nowhere, environ={notes.SYNC_ENV: "1"})
    assert result.status is notes.SyncStatus.SKIPPED and result.ok and result.attempts == 0


def test_sync_to_an_unreachable_remote_fails_with_the_reason(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", str(tmp_path / "missing.git"))
    notes.write_note(repo, "HEAD", [line(1)])
    result = notes.sync_notes(repo)
    assert result.status is notes.SyncStatus.FAILED and not result.ok
    assert result.message.startswith("could not fetch notes from origin:")
    assert "missing.git" in result.detail


def test_sync_passes_the_marker_and_skips_hooks_on_its_push(remote: Path, tmp_path: Path) -> None:
    a = clone(remote, tmp_path / "a")
    seen = tmp_path / "seen"
    hook = notes.git_dir(a) / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\necho ran >> '{seen}'\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    server_hook = remote / "hooks" / "pre-receive"
    server_hook.write_text(f"#!/bin/sh\necho \"$TOKENNOTES_SYNC\" >> '{seen}.server'\n")
    server_hook.chmod(server_hook.stat().st_mode | stat.S_IEXEC)
    notes.write_note(a, "HEAD", [line(1)])
    assert notes.sync_notes(a).status is notes.SyncStatus.PUSHED
    assert not seen.exists()  # --no-verify: the user's pre-push linters do not run
    assert (tmp_path / "seen.server").read_text() == "1\n"


def test_two_clones_syncing_concurrently_lose_nothing(remote: Path, tmp_path: Path) -> None:
    clones = [clone(remote, tmp_path / name) for name in ("a", "b")]
    shared = git(clones[0], "rev-parse", "HEAD").strip()
    per_clone = 4
    expected: set[str] = set()
    results: dict[str, list[notes.SyncResult]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(clones))

    def work(where: Path) -> None:
        try:
            shas = [commit(where, f"{where.name}{i}") for i in range(per_clone)]
            barrier.wait()
            out = results.setdefault(where.name, [])
            for i, sha in enumerate(shas):
                notes.write_note(where, sha, [line(f"{where.name}{i}")])
                notes.write_note(where, shared, [line(f"{where.name}-shared{i}")])
                out.append(notes.sync_notes(where, attempts=8, max_seconds=20))
        except BaseException as exc:
            errors.append(exc)

    for where in clones:
        expected |= {line(f"{where.name}{i}") for i in range(per_clone)}
        expected |= {line(f"{where.name}-shared{i}") for i in range(per_clone)}
    threads = [threading.Thread(target=work, args=(where,)) for where in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for name, outcomes in results.items():
        assert outcomes[-1].ok, (name, outcomes[-1])
    assert remote_lines(remote) == expected
    shared_lines = notes.read_note(remote, shared).splitlines()
    assert shared_lines == sorted(ln for ln in expected if "shared" in ln)


def test_the_lock_file_is_left_empty_and_reusable(repo: Path) -> None:
    # the lock file stays behind harmlessly; it holds no data and is never the git ref lock
    notes.write_note(repo, "HEAD", [line(1)])
    lock = notes.common_dir(repo) / notes.STATE_DIR / notes.LOCK_FILE
    assert lock.exists() and lock.stat().st_size == 0
    assert os.access(lock, os.W_OK)
    assert notes.write_note(repo, "HEAD", [line(2)])


def test_read_all_skips_a_note_whose_blob_is_missing(repo: Path) -> None:
    """A damaged repository: one note's blob is gone; the others are still read."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    notes.write_note(repo, "HEAD~1", ['{"a":1}'], NOTES_REF)
    notes.write_note(repo, "HEAD", ['{"b":2}'], NOTES_REF)
    blob = git(repo, "notes", f"--ref={NOTES_REF}", "list", "HEAD").strip()
    loose = repo / ".git" / "objects" / blob[:2] / blob[2:]
    loose.chmod(0o644)
    loose.unlink()
    assert [text for _, text in notes.read_all_notes(repo, NOTES_REF)] == ['{"a":1}\n']


class _Trickle:
    """A pipe that hands out a few bytes per read, so every note crosses a read boundary."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.pos = data, sizes, 0

    def read(self, limit: int) -> bytes:
        size = min(limit, self.sizes[self.pos % len(self.sizes)] if self.sizes else limit)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk


def _batch_output(bodies: list[bytes]) -> bytes:
    out = []
    for n, body in enumerate(bodies):
        out.append(b"%d %040x\n%s\n" % (len(body), 1000 + n, body))  # as read_all_notes asks
    return b"".join(out)


def _notes_of(stream: _Trickle) -> list[tuple[str, str]]:
    chunks = notes._batch_chunks(stream)  # type: ignore[arg-type]
    return [(obj, text[start:stop]) for text, spans in chunks for obj, start, stop in spans]


@pytest.mark.parametrize("sizes", [[], [1], [2, 7, 1, 300], [4096]])
def test_batch_output_is_parsed_across_any_read_boundaries(sizes: list[int]) -> None:
    bodies = [b"", b"{}\n", "é\n".encode() * 500, b"x 12 y\n" * 3, b"z" * 70_000 + b"\n"]
    data = _batch_output(bodies[:2]) + b"%040x missing\n" % 99 + _batch_output(bodies[2:])
    pairs = _notes_of(_Trickle(data, sizes))
    assert [body for _, body in pairs] == [b.decode() for b in bodies]
    assert [rest for rest, _ in pairs] == [f"{1000 + n:040x}" for n in (0, 1, 0, 1, 2)]


def test_the_notes_of_one_ascii_read_share_a_text_and_others_get_their_own() -> None:
    ascii_notes = _batch_output([b"{}\n", b"a\nb\n", b"c"])
    chunks = list(notes._batch_chunks(_Trickle(ascii_notes, [])))  # type: ignore[arg-type]
    assert len(chunks) == 1
    text, spans = chunks[0]
    assert [text[start:stop] for _, start, stop in spans] == ["{}\n", "a\nb\n", "c"]

    mixed = _batch_output([b"{}\n", "caf\u00e9\n".encode(), b"\xff\n"])
    chunks = list(notes._batch_chunks(_Trickle(mixed, [])))  # type: ignore[arg-type]
    assert [(text, [(obj[-1], a, b) for obj, a, b in spans]) for text, spans in chunks] == [
        ("{}\n", [("8", 0, 3)]),
        ("caf\u00e9\n", [("9", 0, 5)]),
        ("\ufffd\n", [("a", 0, 2)]),  # not UTF-8: replaced, never an exception
    ]


def test_truncated_batch_output_is_an_error_not_a_short_read() -> None:
    data = _batch_output([b"{}\n", b"0123456789\n"])
    with pytest.raises(notes.GitError, match="truncated"):
        _notes_of(_Trickle(data[:-5], [3]))
