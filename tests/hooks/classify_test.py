from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git
from tokennotes.config import Rule, ScoringConfig
from tokennotes.globs import match_glob
from tokennotes.hooks.classify import (
    Change,
    Shipped,
    added_words,
    classify,
    conventional_type,
    parse_raw_numstat,
)

SCORING = ScoringConfig()


def add(path: str, ins: int = 1, dels: int = 0, words: int = 0) -> Change:
    return Change(path=path, status="A", insertions=ins, deletions=dels, words=words)


def mod(path: str, ins: int = 1, dels: int = 1, words: int = 0) -> Change:
    return Change(path=path, status="M", insertions=ins, deletions=dels, words=words)


def rm(path: str, dels: int = 1) -> Change:
    return Change(path=path, status="D", insertions=0, deletions=dels)


def types(shipped: list[Shipped]) -> dict[str, tuple[int, int]]:
    return {s.type: (s.items, s.points) for s in shipped}


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("posts/a.md", "posts/**", True),
        ("posts/2026/a.md", "posts/**", True),
        ("x/posts/a.md", "posts/**", False),
        ("SKILL.md", "**/SKILL.md", True),
        ("a/b/SKILL.md", "**/SKILL.md", True),
        ("a/b/NOTSKILL.md", "**/SKILL.md", False),
        (".github/workflows/ci.yml", ".github/workflows/*", True),
        (".github/workflows/sub/ci.yml", ".github/workflows/*", False),
        ("deep/run.sh", "*.sh", True),  # no slash: the file name anywhere
        ("run.sh", "**/*.sh", True),
        ("a/b/c/d.py", "a/**/d.py", True),
        ("a/d.py", "a/**/d.py", True),
        ("a/b/c/e.py", "a/**/d.py", False),
        ("src/x_test.py", "**/*_test.*", True),
        ("Posts/a.md", "posts/**", False),  # case-sensitive, like git
        ("a/b/c", "a/**/**/c", True),
    ],
)
def test_match_glob(path: str, pattern: str, expected: bool) -> None:
    assert match_glob(path, pattern) is expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("feat: add parser", "feat"),
        ("feat(cli): add parser", "feat"),
        ("feat(cli)!: drop flag", "feat"),
        ("fix!: crash", "fix"),
        ("Fix: crash", "fix"),
        ("docs(readme): typo\n\nbody", "docs"),
        ("Add parser", ""),
        ("feat:no space", ""),
        ("feat (cli): x", ""),
        ("", ""),
        ("Merge branch 'x'", ""),
    ],
)
def test_conventional_type(message: str, expected: str) -> None:
    assert conventional_type(message) == expected


def test_path_rules_count_per_file_and_in_order() -> None:
    # two drafts and a script: 2 x 2 + 5 points (DESIGN.md's example)
    shipped = classify(
        "wip", [add("drafts/a.md"), add("drafts/b.md"), add("scripts/run.sh")], SCORING
    )
    assert types(shipped) == {"draft": (2, 4), "script": (1, 5)}
    # first matching rule wins: a post under posts/ that is also a *.sh is a post
    assert types(classify("x", [add("posts/gen.sh")], SCORING)) == {"post": (1, 10)}


def test_every_default_path_rule() -> None:
    cases = {
        "_posts/2026-01-01-hi.md": "post",
        "content/posts/hi.md": "post",
        "blog/hi.md": "post",
        "_drafts/x.md": "draft",
        "content/drafts/x.md": "draft",
        "pkg/SKILL.md": "skill",
        ".claude/skills/x/notes.md": "skill",
        ".cursor/rules/style.mdc": "skill",
        "skills/x.md": "skill",
        ".github/workflows/ci.yml": "workflow",
        "a/review.prompt.md": "workflow",
        "prompts/x.txt": "workflow",
        "bin/tool": "script",
        "tools/x.sh": "script",
    }
    for path, expected in cases.items():
        assert [s.type for s in classify("x", [add(path)], SCORING)] == [expected], path


def test_deleted_files_never_count() -> None:
    shipped = classify("x", [rm("posts/old.md", 40), add("src/app.py", 3)], SCORING)
    assert types(shipped) == {"other": (1, 1)}
    # the deleted file's lines still add up in the commit's figures
    assert shipped[0].deletions == 40 and shipped[0].insertions == 3


def test_conventional_type_covers_the_unclaimed_files() -> None:
    shipped = classify(
        "feat(api): new endpoint", [add("src/api.py", 50), add("tests/api_test.py", 20)], SCORING
    )
    assert types(shipped) == {"feature": (1, 5)}
    assert shipped[0].rule == "conventional:feat"
    assert (shipped[0].files, shipped[0].insertions) == (2, 70)
    # a path rule and the conventional type, each for its own files
    shipped = classify("fix: escape", [add("scripts/a.sh"), mod("src/b.py")], SCORING)
    assert types(shipped) == {"script": (1, 5), "fix": (1, 3)}
    # everything claimed by a path rule: no extra conventional item
    assert types(classify("docs: new post", [add("posts/a.md")], SCORING)) == {"post": (1, 10)}
    # a deletion-only commit still gets its conventional type
    shipped = classify("refactor: drop legacy", [rm("src/old.py", 90)], SCORING)
    assert types(shipped) == {"refactor": (1, 2)}
    assert shipped[0].deletions == 90


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("perf: faster", "perf"),
        ("refactor: tidy", "refactor"),
        ("test: more", "test"),
        ("docs: more", "docs"),
        ("chore: bump", "other"),
    ],
)
def test_conventional_types(message: str, expected: str) -> None:
    assert [s.type for s in classify(message, [mod("src/a.py")], SCORING)] == [expected]


def test_tests_only_and_docs_only_fallbacks() -> None:
    shipped = classify("more cases", [add("tests/a_test.py"), mod("src/b_test.go")], SCORING)
    assert types(shipped) == {"test": (1, 2)}
    assert shipped[0].rule == "fallback:test"
    shipped = classify("typos", [mod("README.md"), mod("docs/guide.rst")], SCORING)
    assert types(shipped) == {"docs": (1, 2)}
    assert shipped[0].rule == "fallback:docs"
    # mixed: neither
    assert types(classify("misc", [mod("README.md"), mod("src/a.py")], SCORING)) == {
        "other": (1, 1)
    }


def test_a_commit_matching_nothing_is_other() -> None:
    shipped = classify("update", [mod("src/a.py", 3, 2)], SCORING)
    assert shipped == [
        Shipped(type="other", items=1, points=1, rule="other", files=1, insertions=3, deletions=2)
    ]
    assert types(classify("empty commit", [], SCORING)) == {"other": (1, 1)}


def test_a_fixup_commit_ships_no_items_of_its_own() -> None:
    """`git commit --fixup` makes "fixup! <subject>": after `rebase --autosquash` its note is
    unioned with the earlier commit's, whose items already count."""
    change = [mod("src/a.py", 3, 2)]
    assert classify("fixup! feat: add a", change, SCORING) == [
        Shipped(type="feature", items=0, points=0, rule="autosquash:conventional:feat",
                files=1, insertions=3, deletions=2)
    ]  # fmt: skip
    assert types(classify("squash! fixup! fix: b", change, SCORING)) == {"fix": (0, 0)}
    assert types(classify("amend! update", change, SCORING)) == {"other": (0, 0)}
    assert types(classify("feat: fixup! in a subject", change, SCORING)) == {"feature": (1, 5)}


def test_words_go_with_their_type() -> None:
    shipped = classify(
        "x", [add("posts/a.md", 10, words=120), add("drafts/b.md", words=7)], SCORING
    )
    assert {s.type: s.words for s in shipped} == {"post": 120, "draft": 7}


def test_config_rules_per_commit_and_custom_points() -> None:
    scoring = ScoringConfig(
        rules=(
            Rule(type="recipe", paths=("recipes/**",), count="commit"),
            Rule(type="feature", conventional=("feat", "feature"), count="commit"),
        ),
        points={"recipe": 7, "feature": 4, "other": 1},
    )
    shipped = classify("x", [add("recipes/a.md"), add("recipes/b.md")], scoring)
    assert types(shipped) == {"recipe": (1, 7)}
    assert shipped[0].files == 2
    assert types(classify("feature: y", [add("src/a.py")], scoring)) == {"feature": (1, 4)}
    # a type with no points configured scores 0
    scoring = ScoringConfig(rules=(Rule(type="misc", paths=("misc/**",)),), points={})
    assert types(classify("x", [add("misc/a")], scoring)) == {"misc": (1, 0)}


def test_parse_raw_numstat_and_added_words(repo: Path) -> None:
    (repo / "posts").mkdir()
    (repo / "posts" / "hello world.md").write_text("one two three\nfour\n")
    (repo / "img.bin").write_bytes(b"\0\1\2")
    (repo / "README.md").write_text("hello\nmore words here\n")
    git(repo, "rm", "-q", "--cached", "README.md")
    (repo / "README.md").unlink()
    (repo / "café.md").write_text("un deux\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "x")
    import subprocess

    raw = subprocess.run(
        ["git", "diff-tree", "-r", "--root", "--no-commit-id", "--raw", "--numstat", "-z", "HEAD"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    changes = {c.path: c for c in parse_raw_numstat(raw)}
    assert changes["posts/hello world.md"] == Change(
        path="posts/hello world.md", status="A", insertions=2, deletions=0
    )
    assert changes["README.md"].status == "D" and changes["README.md"].deletions == 1
    assert changes["img.bin"].insertions == 0
    assert "café.md" in changes
    patch = subprocess.run(
        ["git", "diff-tree", "-r", "--root", "--no-commit-id", "-p", "-U0", "HEAD"],
        cwd=repo,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    words = added_words(patch)
    assert words["posts/hello world.md"] == 4
    assert words["café.md"] == 2  # C-quoted path in the patch header
    assert "README.md" not in words


def test_added_words_ignores_headers_and_removed_lines() -> None:
    patch = (
        "diff --git a/a.md b/a.md\n"
        "index 1..2 100644\n"
        "--- a/a.md\n"
        "+++ b/a.md\n"
        "@@ -1 +1,2 @@\n"
        "-old words gone\n"
        "+new words\n"
        "++plus sign\n"
        "diff --git a/b.md b/b.md\n"
        "new file mode 100644\n"
        "--- /dev/null\n"
        "+++ b/b.md\n"
        "@@ -0,0 +1 @@\n"
        "+one\n"
    )
    assert added_words(patch) == {"a.md": 4, "b.md": 1}
