"""`tokennotes init`: set a repository up for recording.

1. Write a commented `.tokennotes.yml` that lists every setting with its default (it loads back to
   exactly ``default_config()``); an existing file is kept unless ``--force``.
2. Print the `.pre-commit-config.yaml` lines for our hooks, or with ``--write`` merge them into
   the file (round-trip: the user's comments stay; running it again changes nothing).
3. Set this clone's git config for notes (spec `git-notes.md` §3) unless ``--no-git-config``.
4. Explain what to do when ``core.hooksPath`` is set (``pre-commit install`` refuses to run).
5. Print the next steps.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from tokennotes import __version__
from tokennotes.config import (
    CONFIG_FILE,
    Config,
    ConfigError,
    Rule,
    default_config,
    dump_yaml,
    format_duration,
    load_config,
    make_yaml,
)
from tokennotes.errors import TokennotesError
from tokennotes.hooks import gitconfig

HELP = "set up a repository: .tokennotes.yml, the pre-commit hooks and the git config for notes"

HOOKS_REPO_URL = "https://github.com/tokennotes/tokennotes"  # placeholder until published
HOOKS_REV = f"v{__version__}"
HOOK_IDS = ("tokennotes-record", "tokennotes-sync", "tokennotes-doctor")
INSTALL_HOOK_TYPES = ("pre-commit", "post-commit", "pre-push")
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"add the hooks to {PRE_COMMIT_CONFIG} (created if missing) instead of printing them",
    )
    parser.add_argument(
        "--force", action="store_true", help=f"overwrite an existing {CONFIG_FILE} with defaults"
    )
    parser.add_argument(
        "--no-git-config",
        dest="git_config",
        action="store_false",
        help="do not touch this clone's git config (notes.rewriteRef, fetch refspec, …)",
    )


def run(args: argparse.Namespace) -> int:
    return init_repository(
        _toplevel(Path.cwd()),
        write=args.write,
        force=args.force,
        git_config=args.git_config,
        out=sys.stdout,
    )


def init_repository(
    root: Path, *, write: bool = False, force: bool = False, git_config: bool = True, out: IO[str]
) -> int:
    """Everything `tokennotes init` does, in the repository whose work tree is ``root``."""
    config = _write_config_file(root, force=force, out=out)

    precommit = root / PRE_COMMIT_CONFIG
    original = precommit.read_text(encoding="utf-8") if precommit.exists() else None
    try:
        merged = merge_precommit_config(original)
    except TokennotesError:
        if write:
            raise
        merged = None  # not ours to judge without --write: just print the lines
    done = merged == original
    if done:
        print(f"{PRE_COMMIT_CONFIG}: already has the tokennotes hooks", file=out)
    elif write and merged is not None:
        precommit.write_text(merged, encoding="utf-8")
        print(f"{PRE_COMMIT_CONFIG}: {'updated' if original else 'written'}", file=out)
    else:
        print(f"\nAdd to {PRE_COMMIT_CONFIG} (or run `tokennotes init --write`):\n", file=out)
        print(precommit_snippet(), file=out)

    if git_config:
        try:
            changed = gitconfig.ensure_git_config(root, config.notes_ref)
            problems = gitconfig.check_git_config(
                gitconfig.read_local_config(root), config.notes_ref
            )
        except gitconfig.GitConfigError as exc:
            raise TokennotesError(f"git config failed: {exc}") from exc
        if changed:
            print("\ngit config (this clone):", file=out)
            for line in changed:
                print(f"  set {line}", file=out)
        else:
            print("\ngit config (this clone): already set up", file=out)
        for problem in problems:
            print(f"  warning: {problem}", file=out)

    hooks_path = _hooks_path(root)
    if hooks_path:
        print("\n" + hooks_path_message(hooks_path), file=out)

    print("\nNext steps:", file=out)
    step = 1
    if not write and not done:
        print(f"  {step}. add the lines above to {PRE_COMMIT_CONFIG}", file=out)
        step += 1
    if hooks_path:
        print(f"  {step}. unset core.hooksPath (see above), then: pre-commit install", file=out)
    else:
        print(
            f"  {step}. pre-commit install    # installs the {', '.join(INSTALL_HOOK_TYPES)} hooks",
            file=out,
        )
    print(
        f"  {step + 1}. commit {CONFIG_FILE} and {PRE_COMMIT_CONFIG}; other clones only need\n"
        "     `pre-commit install` (the hooks set up their git config on the first commit)",
        file=out,
    )
    return 0


# --------------------------------------------------------------------------- .tokennotes.yml


def _write_config_file(root: Path, *, force: bool, out: IO[str]) -> Config:
    path = root / CONFIG_FILE
    if path.exists() and not force:
        try:
            config = load_config(root)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (fix it, or rerun with --force to start over)") from exc
        print(f"{CONFIG_FILE}: kept (it exists; --force replaces it with the defaults)", file=out)
        return config
    path.write_text(render_config_template(), encoding="utf-8")
    print(f"{CONFIG_FILE}: written (every setting, at its default)", file=out)
    return load_config(root)


def render_config_template(config: Config | None = None) -> str:
    """The commented `.tokennotes.yml` that ``init`` writes; it loads back to ``config``
    (the defaults unless given) for every key it sets, and shows the rest commented out."""
    c = config or default_config()
    s = c.scoring
    lines = [
        "# tokennotes settings. Every key is optional: delete one (or set it to null) to get",
        "# its default. The values below are the defaults. Reference: docs/config.md",
        "",
        "# The git notes ref that holds the records (must start with refs/notes/).",
        f"notes_ref: {_scalar(c.notes_ref)}",
        "# IANA time zone of daily buckets and weekly reports.",
        f"timezone: {_scalar(c.timezone)}",
        "",
        "attribution:",
        "  # How far back the first commit after install (or a long pause) looks for agent usage.",
        f"  max_lookback: {format_duration(c.attribution.max_lookback_seconds)}",
        "",
        "agents:",
        "  # The agents whose local logs are read.",
        f"  enabled: {_flow(c.agents.enabled)}",
        "  # An agent's data dirs when not in the usual place (a path or a list; ~ works):",
        "  # claude: ~/.claude",
        "  # codex: ~/.codex",
        "  # gemini: ~/.gemini",
        "  # opencode: ~/.local/share/opencode",
        "",
        "scoring:",
        "  # Points per shipped item of each output type (merged with these defaults; a new",
        "  # type can be given points here and used in rules).",
        "  points:",
        *(f"    {_scalar(name)}: {points}" for name, points in s.points.items()),
        "  # Grades by points per dollar: the first threshold reached wins; below all, D.",
        "  grades:",
        *(f"    {_scalar(grade)}: {_number(limit)}" for grade, limit in s.grades),
        "  # Rules map a commit to output types by changed paths (globs, counted per file) or by",
        "  # its Conventional Commit type (counted per commit). Rules given here replace these:",
        "  # rules:",
        *(f"  #   - {_rule(rule)}" for rule in s.rules),
        "  # A commit whose files all match test_globs (or docs_globs) ships test (docs);",
        "  # prose_globs count words; pipeline_globs are the drafts waiting to ship.",
        f"  # test_globs: {_flow(s.test_globs)}",
        f"  # docs_globs: {_flow(s.docs_globs)}",
        f"  # prose_globs: {_flow(s.prose_globs)}",
        f"  # pipeline_globs: {_flow(s.pipeline_globs)}",
        "",
        "budget:",
        "  # Limits per pull request, per day and per week, in USD and/or tokens (null: none).",
        *_limit_lines("pr", c.budget.pr.usd, c.budget.pr.tokens),
        *_limit_lines("daily", c.budget.daily.usd, c.budget.daily.tokens),
        *_limit_lines("weekly", c.budget.weekly.usd, c.budget.weekly.tokens),
        "  # fail: the check fails when a limit is exceeded; warn: it only warns.",
        f"  mode: {c.budget.mode}",
        "  # Share of a limit from which the status is 'warn'.",
        f"  warn_at: {_number(c.budget.warn_at)}",
        "  # A pull request with this label passes the check even over budget.",
        f"  override_label: {_scalar(c.budget.override_label)}",
        "",
        "alerts:",
        "  # Flag a commit that spent more than this many tokens or dollars (null: never).",
        f"  commit_tokens: {_scalar(c.alerts.commit_tokens)}",
        f"  commit_usd: {_scalar(c.alerts.commit_usd)}",
        "  # Flag a week whose spend grew by more than this percentage over the week before.",
        f"  week_over_week_pct: {_scalar(c.alerts.week_over_week_pct)}",
        "",
        "pricing:",
        "  # A price table file replacing the shipped one (null: the shipped table).",
        f"  table: {_scalar(c.pricing.table)}",
        "  # USD per million tokens for models the table lacks, or prices you negotiated:",
        "  # models:",
        "  #   my-provider/my-model: {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75}",
        "  # Model names as an agent logs them, mapped to a name the table knows:",
        "  # aliases:",
        "  #   my-proxy-sonnet: claude-sonnet-4-5",
        "",
        "report:",
        "  # A directory whose *.md.j2 files replace the shipped templates (null: shipped).",
        f"  templates: {_scalar(c.report.templates)}",
        "  # Chart colours: light or dark.",
        f"  theme: {c.report.theme}",
        "  # Mark the days over this many tokens in the heatmap (null: no target).",
        f"  daily_target_tokens: {_scalar(c.report.daily_target_tokens)}",
        "  # How many of the most expensive commits a report lists.",
        f"  top_commits: {c.report.top_commits}",
        "  # The branch a weekly report counts as landed (null: origin/HEAD, else main/master).",
        f"  default_branch: {_scalar(c.report.default_branch)}",
    ]
    return "\n".join(lines) + "\n"


_PLAIN = re.compile(r"[A-Za-z_/](?:[A-Za-z0-9_./+:-]*[A-Za-z0-9_./+-])?\Z")
_RESERVED = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _number(value: Decimal) -> str:
    return str(value) if value != value.to_integral_value() else str(int(value))


def _flow(items: Iterable[str]) -> str:
    return "[" + ", ".join(_scalar(i) for i in items) + "]"


def _rule(rule: Rule) -> str:
    match = (
        f"paths: {_flow(rule.paths)}" if rule.paths else f"conventional: {_flow(rule.conventional)}"
    )
    default_count = "file" if rule.paths else "commit"
    count = "" if rule.count == default_count else f", count: {rule.count}"
    return f"{{type: {_scalar(rule.type)}, {match}{count}}}"


def _limit_lines(name: str, usd: Decimal | None, tokens: int | None) -> list[str]:
    return [f"  {name}:", f"    usd: {_scalar(usd)}", f"    tokens: {_scalar(tokens)}"]


# --------------------------------------------------------------------------- pre-commit


def precommit_snippet() -> str:
    """The `.pre-commit-config.yaml` lines that install our hooks."""
    hooks = "\n".join(f"      - id: {hook}" for hook in HOOK_IDS)
    return (
        f"default_install_hook_types: [{', '.join(INSTALL_HOOK_TYPES)}]\n"
        "default_stages: [pre-commit]\n"
        "repos:\n"
        f"  - repo: {HOOKS_REPO_URL}\n"
        f"    rev: {HOOKS_REV}\n"
        "    hooks:\n"
        f"{hooks}\n"
    )


def merge_precommit_config(text: str | None) -> str:
    """``text`` (a `.pre-commit-config.yaml`, or None) with our hook types and hooks added.

    Keeps comments and order; adds only what is missing, so merging twice changes nothing. A
    repository entry that already lists one of our hooks gets the others added (unless it is a
    ``local``/``meta`` entry, which is the user's own business).
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    original = text or ""
    try:
        doc = make_yaml().load(original)
    except YAMLError as exc:
        raise TokennotesError(f"{PRE_COMMIT_CONFIG}: invalid YAML: {exc}") from exc
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise TokennotesError(f"{PRE_COMMIT_CONFIG}: must be a mapping")
    changed = False

    types = doc.get("default_install_hook_types")
    # what was installed before: the user's hooks without `stages` ran at those stages only
    before = ["pre-commit"] if types is None else list(types) if isinstance(types, list) else []
    if types is None:
        seq = CommentedSeq(INSTALL_HOOK_TYPES)
        seq.fa.set_flow_style()
        doc.insert(0, "default_install_hook_types", seq)
        changed = True
    elif isinstance(types, list):
        for hook_type in INSTALL_HOOK_TYPES:
            if hook_type not in types:
                types.append(hook_type)
                changed = True
    else:
        raise TokennotesError(f"{PRE_COMMIT_CONFIG}: default_install_hook_types must be a list")
    if changed and "default_stages" not in doc:
        # a hook without `stages` runs at every installed hook type: keep the user's own hooks
        # (a test suite, a linter) at the stages they ran at, not also after each commit and
        # before each push (pre-commit >= 3.2 names stages as the hook types)
        stages = CommentedSeq(before)
        stages.fa.set_flow_style()
        doc.insert(1, "default_stages", stages)

    repos = doc.get("repos")
    if repos is None:
        repos = doc["repos"] = CommentedSeq()
    if not isinstance(repos, list):
        raise TokennotesError(f"{PRE_COMMIT_CONFIG}: repos must be a list")
    entry = _our_entry(repos)
    if entry is None:
        entry = CommentedMap()
        entry["repo"] = HOOKS_REPO_URL
        entry["rev"] = HOOKS_REV
        entry["hooks"] = CommentedSeq()
        repos.append(entry)
    if entry.get("repo") not in ("local", "meta"):
        hooks = entry.get("hooks")
        if not isinstance(hooks, list):
            hooks = entry["hooks"] = CommentedSeq()
        present = {h.get("id") for h in hooks if isinstance(h, dict)}
        for hook_id in HOOK_IDS:
            if hook_id not in present:
                hooks.append(CommentedMap(id=hook_id))
                changed = True
    if not changed:
        return original
    return dump_yaml(doc, original)


def _our_entry(repos: list[Any]) -> Any:
    for entry in repos:
        if isinstance(entry, dict):
            if entry.get("repo") == HOOKS_REPO_URL:
                return entry
            hooks = entry.get("hooks")
            if isinstance(hooks, list) and any(
                isinstance(h, dict) and h.get("id") in HOOK_IDS for h in hooks
            ):
                return entry
    return None


# --------------------------------------------------------------------------- git


def hooks_path_message(hooks_path: str) -> str:
    return (
        f"Note: core.hooksPath is set ({hooks_path}), so `pre-commit install` refuses to run\n"
        '("Cowardly refusing to install hooks with `core.hooksPath` set"). Either:\n'
        "  - unset it (`git config --unset-all core.hooksPath`; add --global if it is set\n"
        "    there) and run `pre-commit install`; or\n"
        "  - keep the tool that owns that directory (husky, lefthook, …) and call our hooks\n"
        "    from it: `tokennotes record --hook` in its post-commit hook and\n"
        "    `tokennotes sync --hook` in its pre-push hook (or\n"
        "    `pre-commit run --hook-stage post-commit` / `pre-push`)."
    )


def _toplevel(cwd: Path) -> Path:
    result = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise TokennotesError(
            "not inside a git work tree: run `tokennotes init` in the repository to set up"
        )
    return Path(result.stdout.strip())


def _hooks_path(root: Path) -> str:
    result = subprocess.run(
        ["git", "config", "--get", "core.hooksPath"], cwd=root, capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else ""
