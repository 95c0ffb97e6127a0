"""Reading from git: default branch, landed commits, ranges, windows, pipeline, globs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git
from tests.reporter.history_test import O1, U1, output
from tokennotes.errors import TokennotesError
from tokennotes.globs import match_glob
from tokennotes.record import dump_record, make_id
from tokennotes.reporter import read
from tokennotes.reporter.facts import Output, parse_notes


def test_default_branch_detection(repo: Path) -> None:
    assert read.default_branch(repo) == "main"
    git(repo, "branch", "-m", "main", "master")
    assert read.default_branch(repo) == "master"
    git(repo, "branch", "-m", "master", "trunk")
    assert read.default_branch(repo) is None
    assert read.default_branch(repo, "trunk") == "trunk"
    with pytest.raises(TokennotesError, match=r"report\.default_branch"):
        read.default_branch(repo, "nope")
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    git(clone, "branch", "-q", "main")
    assert read.default_branch(clone) == "origin/trunk"  # origin/HEAD first
    # as actions/checkout leaves a pull request: HEAD detached, no origin/HEAD, no branch
    ci = repo.parent / "ci"
    git(repo, "branch", "-q", "main", "trunk")
    git(repo.parent, "clone", "-q", str(repo), str(ci))
    git(ci, "checkout", "-q", "--detach")
    git(ci, "remote", "set-head", "origin", "-d")
    git(ci, "branch", "-q", "-D", "trunk")
    assert read.default_branch(ci) == "origin/main"


def test_landed_and_branch_commits(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "side")
    git(repo, "commit", "-q", "--allow-empty", "-m", "side",
        env={"GIT_COMMITTER_DATE": "2030-01-02T00:00:00 +0000"})  # fmt: skip
    side = git(repo, "rev-parse", "HEAD").strip()
    with read.start_landed(repo, "main") as landed:
        assert landed() == frozenset({first})
    assert read.start_landed(repo, None)() == frozenset()
    read.start_landed(repo, "main").close()  # never collected: reaped anyway
    commits = read.branch_commits(repo, "side", "2030-01-01T00:00:00", "2030-01-03T00:00:00")
    assert [c.sha for c in commits] == [side]
    assert (commits[0].subject, commits[0].ts) == ("side", "2030-01-02T00:00:00Z")
    # a note may sit on any object: a blob's text or a tag's message is no commit subject
    blob = git(repo, "hash-object", "-w", "--stdin", input="author evil\n\nIGNORE: subject\n")
    git(repo, "tag", "-a", "-m", "release v1", "v1", side)
    tag = git(repo, "rev-parse", "v1").strip()
    details = read.commit_details(repo, [side, "f" * 40, blob.strip(), tag])
    assert list(details) == [side] and details[side].author == "author@example.com"
    assert details[side].parents == (first,)


def test_read_range_keeps_git_order_oldest_first(repo: Path) -> None:
    for n in (1, 2):
        git(repo, "commit", "-q", "--allow-empty", "-m", f"c{n}")
        git(repo, "notes", "--ref=refs/notes/ai-tokens", "add", "-m", "garbage", "HEAD")
    commits, parsed = read.read_range(repo, "HEAD~2..HEAD", "refs/notes/ai-tokens")
    assert [c.subject for c in commits] == ["c1", "c2"]
    assert parsed.skipped == 2 and parsed.records == []
    parsed, count = read.read_all(repo, "refs/notes/ai-tokens")
    assert count == 2 and parsed.skipped == 2
    with pytest.raises(TokennotesError, match="cannot read the commits"):
        read.read_range(repo, "HEAD..nowhere", "refs/notes/ai-tokens")


@pytest.mark.parametrize(
    ("path", "pattern", "hit"),
    [
        ("drafts/a.md", "drafts/**", True),
        ("drafts/x/y/a.md", "drafts/**", True),
        ("content/drafts/a.md", "drafts/**", False),
        ("a/b/SKILL.md", "**/SKILL.md", True),
        ("SKILL.md", "**/SKILL.md", True),
        ("x.sh", "*.sh", True),
        ("bin/x.sh", "*.sh", True),
        (".github/workflows/ci.yml", ".github/workflows/*", True),
        (".github/workflows/x/ci.yml", ".github/workflows/*", False),
        ("notes/a1.txt", "notes/a[0-9].txt", True),
        ("notes/ab.txt", "notes/a[!0-9].txt", True),
        ("a+b.md", "a+b.md", True),
    ],
)
def test_globs(path: str, pattern: str, hit: bool) -> None:
    assert match_glob(path, pattern) is hit  # the pipeline and the hook share one matcher


def test_pipeline_counts_files_and_words(repo: Path) -> None:
    (repo / "drafts").mkdir()
    (repo / "drafts" / "a.md").write_text("one two\nthree\n")
    (repo / "drafts" / "b.md").write_text("four")
    (repo / "posts").mkdir()
    (repo / "posts" / "c.md").write_text("not a draft")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "drafts")
    pipeline = read.read_pipeline(repo, "HEAD", ("drafts/**", "_drafts/**"))
    assert (pipeline.files, pipeline.words) == (2, 4)
    assert pipeline.paths == ("drafts/a.md", "drafts/b.md")
    assert read.read_pipeline(repo, "HEAD", ()).files == 0
    assert read.read_pipeline(repo, "f" * 40, ("drafts/**",)).files == 0


def test_read_all_parses_what_git_gives_as_each_note_would_be_parsed(repo: Path) -> None:
    """The reader parses each read of ``cat-file --batch`` in place; a read holding a non-ASCII
    byte gives each note its own text. Either way the facts are those of every note parsed on
    its own, from ``git notes show``."""
    u1, o1 = dump_record(U1), dump_record(O1)
    accented = dump_record(output("o-accent", O1.ts, "docs", 1, 2, author="jos\u00e9@example.com"))
    lines = [u1, o1, accented, "not json", "", u1 + "\r", '{"v":9}']
    for ref, pick in (("refs/notes/ascii", (0, 1, 3, 5, 6)), ("refs/notes/mixed", (0, 1, 2, 3, 4))):
        texts = {}
        for n in range(12):
            git(repo, "commit", "-q", "--allow-empty", "-m", f"{ref} {n}")
            sha = git(repo, "rev-parse", "HEAD").strip()
            body = "\n".join(lines[i] for i in pick[: 1 + n % len(pick)]) + "\n"
            body = body.replace(U1.id, make_id("u", ref, str(n % 5)))  # copies across commits
            git(repo, "notes", f"--ref={ref}", "add", "-F", "-", sha, input=body)
            texts[sha] = git(repo, "notes", f"--ref={ref}", "show", sha)
        parsed, count = read.read_all(repo, ref)
        assert count == len(texts)
        # git lists notes by commit id: parse them one by one in that order
        expected = parse_notes(sorted(texts.items()))
        assert parsed == expected
        assert parsed.records and parsed.skipped and parsed.duplicates
    assert any(f.author == "jos\u00e9@example.com" for f in parsed.records if isinstance(f, Output))


def test_commit_details_read_the_messages_encoding(repo: Path, tmp_path: Path) -> None:
    """`git commit` with i18n.commitEncoding stores the message in that encoding and names it
    in the header; git log shows it decoded, and so does a report."""
    (tmp_path / "msg").write_bytes("café: latin-1\n".encode("latin-1"))
    git(repo, "-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "--allow-empty",
        "-F", str(tmp_path / "msg"))  # fmt: skip
    sha = git(repo, "rev-parse", "HEAD").strip()
    assert read.commit_details(repo, [sha])[sha].subject == "café: latin-1"
