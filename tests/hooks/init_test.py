from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import git
from tokennotes import cli
from tokennotes.config import CONFIG_FILE, default_config, load_config, parse_config
from tokennotes.hooks.init import (
    HOOK_IDS,
    HOOKS_REPO_URL,
    HOOKS_REV,
    INSTALL_HOOK_TYPES,
    merge_precommit_config,
    precommit_snippet,
    render_config_template,
)

ROOT = Path(__file__).resolve().parents[2]
OUR_REFSPEC = "+refs/notes/ai-tokens*:refs/notes/remotes/origin/ai-tokens*"


def init(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.chdir(repo)
    code = cli.main(["init", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def safe_load(text: str) -> object:
    return YAML(typ="safe").load(text)


def pre_commit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert exe is not None
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, check=False)


# --------------------------------------------------------------------------- the template


def test_template_loads_to_exactly_the_defaults(tmp_path: Path) -> None:
    config = parse_config(render_config_template(), path=tmp_path / CONFIG_FILE)
    assert config == default_config()


def test_template_sets_every_section() -> None:
    data = safe_load(render_config_template())
    assert isinstance(data, dict)
    assert list(data) == [
        "notes_ref",
        "timezone",
        "attribution",
        "agents",
        "scoring",
        "budget",
        "alerts",
        "pricing",
        "report",
    ]


def test_template_commented_examples_are_the_defaults_too(tmp_path: Path) -> None:
    """Uncommenting the rules and globs gives the same config (they show the defaults)."""
    lines = []
    for line in render_config_template().splitlines():
        match = re.match(r"  # ((?:rules|\w+_globs):.*|  - \{.*)$", line)
        lines.append(f"  {match.group(1)}" if match else line)
    text = "\n".join(lines) + "\n"
    assert "\n  rules:\n    - {type: post" in text
    assert "\n  test_globs: [" in text
    assert parse_config(text, path=tmp_path / CONFIG_FILE) == default_config()


def test_template_examples_for_agents_and_pricing_load(tmp_path: Path) -> None:
    lines = []
    for line in render_config_template().splitlines():
        match = re.match(
            r"  # ((?:claude|codex|gemini|opencode|models|aliases):.*|  \S+: .*)$", line
        )
        lines.append(f"  {match.group(1)}" if match else line)
    config = parse_config("\n".join(lines) + "\n", path=tmp_path / CONFIG_FILE)
    assert config.agents.opencode and config.agents.claude
    assert "my-provider/my-model" in config.pricing.models
    assert config.pricing.aliases == {"my-proxy-sonnet": "claude-sonnet-4-5"}


# --------------------------------------------------------------------------- init


def test_init_writes_the_config_and_sets_git_config(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    code, out, err = init(repo, monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert load_config(repo) == default_config()
    assert f"{CONFIG_FILE}: written" in out
    assert "default_install_hook_types: [pre-commit, post-commit, pre-push]" in out
    assert "set notes.rewriteRef=refs/notes/ai-tokens" in out
    assert "pre-commit install" in out
    assert not (repo / ".pre-commit-config.yaml").exists()
    assert git(repo, "config", "notes.rewriteRef") == "refs/notes/ai-tokens\n"
    assert git(repo, "config", "notes.rewriteMode") == "cat_sort_uniq\n"
    assert git(repo, "config", "notes.ai-tokens.mergeStrategy") == "cat_sort_uniq\n"

    # twice: nothing new, no duplicate refspec, the config kept
    (repo / CONFIG_FILE).write_text("budget: {mode: warn}\n")
    code, out, _ = init(repo, monkeypatch, capsys)
    assert code == 0
    assert f"{CONFIG_FILE}: kept" in out
    assert "already set up" in out
    assert (repo / CONFIG_FILE).read_text() == "budget: {mode: warn}\n"
    fetch = git(repo, "config", "--get-all", "remote.origin.fetch").splitlines()
    assert fetch == ["+refs/heads/*:refs/remotes/origin/*", OUR_REFSPEC]

    # a fetch with the glob refspec works before the remote has any notes (spec §3)
    git(repo, "fetch", "-q", "origin")


def test_init_uses_the_configured_notes_ref(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CONFIG_FILE).write_text("notes_ref: refs/notes/team-spend\n")
    code, _, _ = init(repo, monkeypatch, capsys)
    assert code == 0
    assert git(repo, "config", "notes.rewriteRef") == "refs/notes/team-spend\n"
    assert git(repo, "config", "notes.team-spend.mergeStrategy") == "cat_sort_uniq\n"


def test_init_force_replaces_the_config(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CONFIG_FILE).write_text("budget: {mode: warn}\n")
    code, out, _ = init(repo, monkeypatch, capsys, "--force", "--no-git-config")
    assert code == 0
    assert f"{CONFIG_FILE}: written" in out
    assert (repo / CONFIG_FILE).read_text() == render_config_template()


def test_init_refuses_a_broken_config_without_force(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CONFIG_FILE).write_text("budget:\n  mode: block\n")
    code, _, err = init(repo, monkeypatch, capsys)
    assert code == 1
    assert err.startswith("tokennotes: .tokennotes.yml:2: budget.mode: must be one of fail, warn")
    assert "--force" in err
    assert git(repo, "config", "--local", "--list").count("notes.") == 0
    code, _, _ = init(repo, monkeypatch, capsys, "--force")
    assert code == 0
    assert load_config(repo) == default_config()


def test_init_no_git_config(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = init(repo, monkeypatch, capsys, "--no-git-config")
    assert code == 0
    assert "git config" not in out.split("Next steps")[0].split(".pre-commit-config.yaml")[-1]
    assert "notes." not in git(repo, "config", "--local", "--list")


def test_init_from_a_subdirectory(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    code, _, _ = init(sub, monkeypatch, capsys, "--write")
    assert code == 0
    assert (repo / CONFIG_FILE).exists()
    assert (repo / ".pre-commit-config.yaml").exists()
    assert not (sub / CONFIG_FILE).exists()


def test_init_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = init(tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "not inside a git work tree" in err
    assert not (tmp_path / CONFIG_FILE).exists()


def test_init_explains_core_hooks_path(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "config", "--local", "core.hooksPath", ".husky")
    code, out, _ = init(repo, monkeypatch, capsys, "--write")
    assert code == 0
    assert "core.hooksPath is set (.husky)" in out
    assert "`pre-commit install` refuses to run" in out
    assert "git config --unset-all core.hooksPath" in out
    assert "`tokennotes record --hook` in its post-commit hook" in out
    # and pre-commit really does refuse
    result = pre_commit("install", cwd=repo)
    assert result.returncode != 0
    assert "core.hooksPath" in result.stdout + result.stderr


def test_no_hooks_path_message_normally(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = init(repo, monkeypatch, capsys)
    assert "hooksPath" not in out


# --------------------------------------------------------------------------- .pre-commit-config


def test_snippet_is_valid_pre_commit_config(tmp_path: Path) -> None:
    data = safe_load(precommit_snippet())
    assert data == {
        "default_install_hook_types": list(INSTALL_HOOK_TYPES),
        "default_stages": ["pre-commit"],
        "repos": [
            {
                "repo": HOOKS_REPO_URL,
                "rev": HOOKS_REV,
                "hooks": [{"id": hook} for hook in HOOK_IDS],
            }
        ],
    }
    (tmp_path / "c.yaml").write_text(precommit_snippet())
    result = pre_commit("validate-config", "c.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_write_creates_the_pre_commit_config(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = init(repo, monkeypatch, capsys, "--write")
    assert code == 0
    assert ".pre-commit-config.yaml: written" in out
    assert (repo / ".pre-commit-config.yaml").read_text() == precommit_snippet()
    code, out, _ = init(repo, monkeypatch, capsys, "--write")
    assert ".pre-commit-config.yaml: already has the tokennotes hooks" in out
    code, out, _ = init(repo, monkeypatch, capsys)
    assert ".pre-commit-config.yaml: already has the tokennotes hooks" in out
    assert "default_install_hook_types" not in out
    assert "add the lines above" not in out


EXISTING = """\
# Our hooks. Keep ruff first!
default_install_hook_types: [pre-commit, commit-msg]  # commit-msg for commitizen
repos:
-   repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.6.0
    hooks:
    -   id: ruff   # lint
        args: [--fix]
# local checks
-   repo: local
    hooks:
    -   id: no-todo
        name: no TODO
        entry: "TODO"
        language: pygrep
"""


def test_write_merges_into_an_existing_config(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / ".pre-commit-config.yaml"
    path.write_text(EXISTING)
    code, out, _ = init(repo, monkeypatch, capsys, "--write")
    assert code == 0
    assert ".pre-commit-config.yaml: updated" in out
    text = path.read_text()
    for comment in ("# Our hooks. Keep ruff first!", "# commit-msg for commitizen", "# lint"):
        assert comment in text
    assert "# local checks" in text
    assert text.startswith(
        "# Our hooks. Keep ruff first!\n"
        "default_install_hook_types: [pre-commit, commit-msg, post-commit, pre-push]"
    )
    # the user's hooks without `stages` keep running where they ran (not after each commit and
    # before each push too)
    assert "\ndefault_stages: [pre-commit, commit-msg]\n" in text
    assert (
        f"-   repo: {HOOKS_REPO_URL}\n"
        f"    rev: {HOOKS_REV}\n"
        "    hooks:\n"
        "    -   id: tokennotes-record\n"
        "    -   id: tokennotes-sync\n"
        "    -   id: tokennotes-doctor\n"
    ) in text
    data = safe_load(text)
    assert isinstance(data, dict)
    assert [r["repo"] for r in data["repos"]] == [
        "https://github.com/astral-sh/ruff-pre-commit",
        "local",
        HOOKS_REPO_URL,
    ]
    assert data["repos"][0]["hooks"] == [{"id": "ruff", "args": ["--fix"]}]
    assert pre_commit("validate-config", str(path), cwd=repo).returncode == 0

    # idempotent
    code, out, _ = init(repo, monkeypatch, capsys, "--write")
    assert "already has the tokennotes hooks" in out
    assert path.read_text() == text


def test_a_broken_pre_commit_config(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".pre-commit-config.yaml").write_text("repos: [\n")
    code, out, _ = init(repo, monkeypatch, capsys)
    assert code == 0
    assert "default_install_hook_types" in out  # printed, the file left alone
    code, _, err = init(repo, monkeypatch, capsys, "--write")
    assert code == 1
    assert "tokennotes: .pre-commit-config.yaml: invalid YAML" in err
    assert (repo / ".pre-commit-config.yaml").read_text() == "repos: [\n"


def test_merge_completes_a_partial_entry() -> None:
    text = (
        "repos:\n"
        "  - repo: https://github.com/me/tokennotes-fork  # my fork\n"
        "    rev: v9\n"
        "    hooks:\n"
        "      - id: tokennotes-record\n"
    )
    merged = merge_precommit_config(text)
    data = safe_load(merged)
    assert isinstance(data, dict)
    assert data["default_install_hook_types"] == list(INSTALL_HOOK_TYPES)
    assert len(data["repos"]) == 1
    assert [h["id"] for h in data["repos"][0]["hooks"]] == list(HOOK_IDS)
    assert "# my fork" in merged
    assert merge_precommit_config(merged) == merged


def test_merge_keeps_the_users_default_stages() -> None:
    text = "default_stages: [pre-commit, pre-push]\nrepos: []\n"
    data = safe_load(merge_precommit_config(text))
    assert isinstance(data, dict) and data["default_stages"] == ["pre-commit", "pre-push"]
    data = safe_load(merge_precommit_config("repos: []\n"))
    assert isinstance(data, dict) and data["default_stages"] == ["pre-commit"]


def test_merge_leaves_local_entries_alone() -> None:
    text = (
        "default_install_hook_types: [pre-commit, post-commit, pre-push]\n"
        "repos:\n"
        "  - repo: local\n"
        "    hooks:\n"
        "      - id: tokennotes-record\n"
        "        name: record\n"
        "        entry: tokennotes record\n"
        "        language: system\n"
        "        stages: [post-commit]\n"
    )
    assert merge_precommit_config(text) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "must be a mapping"),
        ("repos: {}\n", "repos must be a list"),
        ("default_install_hook_types: pre-push\n", "default_install_hook_types must be a list"),
        ("repos: [\n", "invalid YAML"),
    ],
)
def test_merge_rejects_what_it_cannot_edit(text: str, message: str) -> None:
    from tokennotes.errors import TokennotesError

    with pytest.raises(TokennotesError, match=message):
        merge_precommit_config(text)


def test_merge_of_nothing_is_the_snippet() -> None:
    assert merge_precommit_config(None) == precommit_snippet()
    assert merge_precommit_config("") == precommit_snippet()
    assert merge_precommit_config("# hooks\n") == "# hooks\n" + precommit_snippet()


# --------------------------------------------------------------------------- manifest


def test_hook_manifest_is_valid() -> None:
    manifest = ROOT / ".pre-commit-hooks.yaml"
    result = pre_commit("validate-manifest", str(manifest), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = safe_load(manifest.read_text())
    assert isinstance(hooks, list)
    assert [h["id"] for h in hooks] == list(HOOK_IDS)
    assert {h["id"]: (h["entry"], h["stages"]) for h in hooks} == {
        "tokennotes-record": ("tokennotes record", ["post-commit"]),
        "tokennotes-sync": ("tokennotes sync", ["pre-push"]),
        "tokennotes-doctor": ("tokennotes doctor", ["pre-commit"]),
    }
    for hook in hooks:
        assert hook["language"] == "python"
        assert hook["always_run"] is True
        assert hook["pass_filenames"] is False
        assert hook["minimum_pre_commit_version"] == "3.2.0"
    # every hook type our hooks need is in what init tells users to install
    assert {h["stages"][0] for h in hooks} == set(INSTALL_HOOK_TYPES)


def test_hook_entries_are_commands() -> None:
    hooks = safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list)
    for hook in hooks:
        assert hook["entry"].split()[1] in cli.COMMANDS
