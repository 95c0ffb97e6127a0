"""`tokennotes demo`: the whole pipeline on a generated example, with no agent and no network.

It makes a throwaway repository and Claude Code / Codex log homes, installs the hooks as plain
git hooks that call this installation of tokennotes, makes a series of commits over several days
through `git commit` (so the post-commit hook does the recording), then runs the PR report, the
weekly report and the dashboard, and leaves everything in one directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from tokennotes.demo.agentlogs import LogWriter
from tokennotes.errors import TokennotesError

HELP = "run the whole pipeline on a generated example repository (no network needed)"
DEFAULT_DIR = "tokennotes-demo"


@dataclass(frozen=True, kw_only=True)
class Step:
    """One commit of the demo story: the agents' work before it, then the commit itself."""

    day: int  # days before the end of the story
    hour: int
    message: str
    files: Mapping[str, str]
    claude_turns: int = 0
    codex_turns: int = 0
    branch: str = "main"


def _words(n: int, topic: str) -> str:
    text = (
        f"{topic} keeps the team honest about what the agents cost and what they ship. "
        "Each paragraph adds detail on the numbers, the trade-offs and the next steps. "
    )
    return (text * (n // 25 + 1)).strip() + "\n"


STORY: tuple[Step, ...] = (
    Step(
        day=12,
        hour=9,
        message="chore: project skeleton",
        claude_turns=4,
        files={"pyproject.toml": "[project]\nname = 'invoices'\n", "src/__init__.py": ""},
    ),
    Step(
        day=11,
        hour=14,
        message="feat: parse invoices from CSV",
        claude_turns=9,
        files={"src/invoice.py": "def parse(text):\n    return [l.split(',') for l in text]\n"},
    ),
    Step(
        day=10,
        hour=11,
        message="test: invoice parser edge cases",
        codex_turns=6,
        files={"tests/test_invoice.py": "def test_empty():\n    assert True\n"},
    ),
    Step(
        day=9,
        hour=16,
        message="Write the launch post",
        claude_turns=5,
        files={"posts/launch.md": "# Launch\n\n" + _words(420, "The launch post")},
    ),
    Step(
        day=8,
        hour=10,
        message="fix: rounding of invoice totals",
        codex_turns=4,
        files={
            "src/invoice.py": "def parse(text):\n    return [round(float(x), 2) for x in text]\n"
        },
    ),
    Step(
        day=7,
        hour=15,
        message="Drafts for pricing and roadmap, release script",
        claude_turns=7,
        files={
            "drafts/pricing.md": "# Pricing\n\n" + _words(260, "Pricing"),
            "drafts/roadmap.md": "# Roadmap\n\n" + _words(180, "The roadmap"),
            "scripts/release.sh": "#!/bin/sh\nset -e\necho release\n",
        },
    ),
    Step(
        day=6,
        hour=12,
        message="ci: run the tests on every push",
        files={".github/workflows/ci.yml": "on: push\njobs: {}\n"},
    ),
    Step(
        day=4,
        hour=10,
        message="feat: export invoices to CSV",
        claude_turns=8,
        codex_turns=5,
        branch="topic",
        files={"src/export.py": "def export(rows):\n    return '\\n'.join(rows)\n"},
    ),
    Step(
        day=3,
        hour=17,
        message="Add the invoice-review skill",
        claude_turns=3,
        branch="topic",
        files={
            ".claude/skills/invoice-review/SKILL.md": "# Invoice review\n\n"
            + _words(150, "The review skill")
        },
    ),
    Step(
        day=2,
        hour=11,
        message="docs: usage guide",
        codex_turns=3,
        branch="topic",
        files={"docs/usage.md": "# Usage\n\n" + _words(300, "The usage guide")},
    ),
    Step(
        day=1,
        hour=15,
        message="perf: cache parsed invoices",
        claude_turns=6,
        branch="topic",
        files={
            "src/invoice.py": "import functools\n\n@functools.cache\ndef parse(text):\n"
            "    return tuple(text)\n"
        },
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir",
        nargs="?",
        default=DEFAULT_DIR,
        help=f"where to put the demo (default: ./{DEFAULT_DIR})",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace the directory if it already holds a demo"
    )


def _run(cmd: list[str], cwd: Path, env: Mapping[str, str], *, stdin: str | None = None) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env=dict(env), input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise TokennotesError(
            f"demo step failed: {shlex.join(cmd)}\n{result.stdout}{result.stderr}".rstrip()
        )
    return result.stdout


def _install_hooks(repo: Path, env: Mapping[str, str]) -> None:
    """Plain git hooks calling this very installation (pre-commit would need the network),
    in the demo repository's own hooks directory, named by its local config so that no other
    ``core.hooksPath`` applies."""
    hooks = (repo / ".git" / "hooks").resolve()
    hooks.mkdir(parents=True, exist_ok=True)
    _run(["git", "config", "core.hooksPath", str(hooks)], repo, env)
    python = shlex.quote(sys.executable)
    for name, command in (("post-commit", "record --hook"), ("pre-push", "sync --hook")):
        script = hooks / name
        script.write_text(f"#!/bin/sh\nexec {python} -m tokennotes {command}\n")
        script.chmod(0o755)


def _prepare(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise TokennotesError(f"{target} exists and is not a directory")
    if target.exists() and any(target.iterdir()):
        if not (target / "repo" / ".git").exists() or not force:
            hint = " (use --force to replace it)" if (target / "repo").exists() else ""
            raise TokennotesError(f"{target} exists and is not empty{hint}")
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)


def build_demo(target: Path, *, end: datetime | None = None) -> dict[str, object]:
    """Create the repository, the logs and the commits; return what the logs contain."""
    end = end or datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    repo = target / "repo"
    homes = target / "agent-homes"
    claude, codex, empty = homes / "claude", homes / "codex", homes / "none"
    for path in (repo, claude, codex, empty):
        path.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CLAUDE_CONFIG_DIR": str(claude),
        "CODEX_HOME": str(codex),
        "GEMINI_CLI_HOME": str(empty),
        "XDG_DATA_HOME": str(empty),
        "GIT_AUTHOR_NAME": "Demo Developer",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Demo Developer",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    env.pop("PRE_COMMIT", None)
    # a throwaway repository: none of the user's git config applies (a global core.hooksPath
    # would take the demo's hooks, commit.gpgsign would ask for a key)
    env.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    _run(["git", "init", "-q", "-b", "main"], repo, env)
    for key, value in (("commit.gpgsign", "false"), ("tag.gpgsign", "false")):
        _run(["git", "config", key, value], repo, env)  # for a git before 2.32 too
    (repo / ".tokennotes.yml").write_text(
        "# tokennotes demo configuration: read only the demo's own agent logs\n"
        "agents:\n"
        "  enabled: [claude, codex]\n"
        f"  claude: [{json.dumps(str(claude))}]\n"
        f"  codex: [{json.dumps(str(codex))}]\n"
        "budget:\n"
        "  pr:\n"
        "    usd: 5\n"
        "  weekly:\n"
        "    usd: 20\n"
    )
    _install_hooks(repo, env)
    writer = LogWriter(claude, codex)
    cwd = str(repo.resolve())
    for step in STORY:
        when = (end - timedelta(days=step.day)).replace(hour=step.hour)
        if step.branch != "main":
            _run(["git", "checkout", "-q", "-B", step.branch], repo, env)
        start = when - timedelta(minutes=50)
        if step.claude_turns:
            start = writer.claude_session(cwd, start, step.claude_turns)
        if step.codex_turns:
            writer.codex_session(cwd, start + timedelta(minutes=1), step.codex_turns)
        for name, content in step.files.items():
            path = repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        _run(["git", "add", "-A"], repo, env)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        _run(
            ["git", "commit", "-q", "-m", step.message],
            repo,
            {**env, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
        )
    return {
        "repo": str(repo),
        "end": end.isoformat(),
        "truth": {agent: vars(t) | {"total": t.total} for agent, t in writer.truth.items()},
    }


def _reports(target: Path, repo: Path) -> dict[str, Path]:
    """The PR report, the weekly report, their charts and JSON, and the dashboard."""
    env = {k: v for k, v in os.environ.items() if k != "PRE_COMMIT"}
    tn = [sys.executable, "-m", "tokennotes"]
    files = {
        "PR comment (markdown)": target / "pr-report.md",
        "PR chart": target / "pr-chart.png",
        "PR report (JSON)": target / "pr-report.json",
        "weekly report (markdown)": target / "weekly-report.md",
        "weekly chart": target / "weekly-chart.png",
        "weekly report (JSON)": target / "weekly-report.json",
        "dashboard": target / "dashboard.html",
    }
    pr, week = ["report", "main..topic"], ["report", "--since", "7d"]
    for argv in (
        [
            *pr,
            "--format",
            "markdown",
            "--template",
            "comment",
            "--chart",
            str(files["PR chart"]),
            "--chart-url",
            "pr-chart.png",
            "--output",
            str(files["PR comment (markdown)"]),
        ],
        [*pr, "--format", "json", "--output", str(files["PR report (JSON)"])],
        [
            *week,
            "--format",
            "markdown",
            "--template",
            "weekly",
            "--chart",
            str(files["weekly chart"]),
            "--chart-url",
            "weekly-chart.png",
            "--output",
            str(files["weekly report (markdown)"]),
        ],
        [*week, "--format", "json", "--output", str(files["weekly report (JSON)"])],
        ["dashboard", "-o", str(files["dashboard"])],
    ):
        _run([*tn, *argv], repo, env)
    return files


def headline(report: Mapping[str, object]) -> str:
    """One line a person reads first: tokens, cost, items, points, points per dollar, grade."""
    tokens = report["tokens"]
    assert isinstance(tokens, Mapping)
    ppd = report.get("points_per_dollar")
    ppd_text = "n/a" if ppd is None else f"{float(str(ppd)):.1f}"
    budget = report.get("budget")
    state = budget.get("state", "") if isinstance(budget, Mapping) else ""
    items, points = int(str(report["items"])), int(str(report["points"]))
    return (
        f"{int(tokens['total']):,} tokens, ${Decimal(str(report['cost_usd'])):.2f}, "
        f"{items} item{'' if items == 1 else 's'}, {points} point{'' if points == 1 else 's'}, "
        f"{ppd_text} points/$, "
        f"grade {report['grade']}, budget {state}"
    )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    target = Path(args.dir).resolve()
    _prepare(target, args.force)
    facts = build_demo(target)
    repo = Path(str(facts["repo"]))
    (target / "logs-truth.json").write_text(json.dumps(facts, indent=2) + "\n")
    files = _reports(target, repo)
    pr = json.loads(files["PR report (JSON)"].read_text())
    week = json.loads(files["weekly report (JSON)"].read_text())
    truth = facts["truth"]
    assert isinstance(truth, dict)
    logged = sum(int(t["total"]) for t in truth.values())
    print(f"tokennotes demo: {len(STORY)} commits recorded by the post-commit hook in {repo}")
    print(f"  PR (main..topic): {headline(pr)}")
    print(f"  last 7 days:      {headline(week)}")
    print(
        f"  the agents' logs hold {logged:,} tokens; the notes of all commits record "
        f"{_all_tokens(repo):,}"
    )
    for label, path in files.items():
        print(f"  {label + ':':<27}{path}")
    print(f"done in {time.monotonic() - started:.1f}s")
    return 0


def _all_tokens(repo: Path) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PRE_COMMIT"}
    out = _run([sys.executable, "-m", "tokennotes", "report", "--format", "json"], repo, env)
    tokens = json.loads(out)["tokens"]
    return int(tokens["total"])
