"""`tokennotes scan`: read the agents' logs and print what they spent, writing nothing.

``--all`` counts every session; ``--repo PATH`` (the default: the repository of the current
directory) only sessions whose working directory lies in that repository's work tree or one
of its worktrees. ``--since``/``--until`` select by the response's UTC timestamp. With
``--state PATH`` the scan is incremental: the file keeps each log's read offset and the
de-duplication index, and the scan prints only what was logged since the last run with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal

from tokennotes.errors import TokennotesError
from tokennotes.hooks.collect import (
    AgentTotals,
    Selection,
    StrPath,
    Summary,
    Totals,
    agent_dirs,
    load_pricing,
    scan_cells,
    summarize,
    utc_bound,
)
from tokennotes.hooks.logs import AGENTS, Diagnostics
from tokennotes.hooks.repomap import find_worktree_dir, repo_roots, repo_toplevel
from tokennotes.hooks.state import StateError
from tokennotes.text import plain, plain_name

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from typing import IO, Any

    from tokennotes.config import Config

# Paths are strings here, handled with os.path: importing pathlib (~3 ms) would cost a scan with
# no config and no --repo more than its whole walk. What is shown is what pathlib would show.

CONFIG_FILE = ".tokennotes.yml"  # = tokennotes.config.CONFIG_FILE (imported only when present)

HELP = "read the agents' logs and print their token totals and cost (writes nothing)"

# Where each agent keeps its logs, for the "no agent logs found" hint.
WHERE = {
    "claude": "$CLAUDE_CONFIG_DIR/projects, else ~/.config/claude/projects and ~/.claude/projects",
    "codex": "$CODEX_HOME/sessions, else ~/.codex/sessions",
    "gemini": "$GEMINI_CLI_HOME/.gemini/tmp, else ~/.gemini/tmp",
    "opencode": "$OPENCODE_DATA_DIR, else $XDG_DATA_HOME/opencode or ~/.local/share/opencode",
}


def _moment(text: str, *, end: bool) -> tuple[str, int]:
    """A ``--since``/``--until`` value as an inclusive-start / exclusive-end UTC bound."""
    from datetime import date, datetime, timedelta, timezone  # here: most scans have no bounds

    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day) + timedelta(days=1 if end else 0)
            return utc_bound(moment)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or an ISO date-time"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return utc_bound(moment + (timedelta(microseconds=1) if end else timedelta(0)))


def _since(text: str) -> tuple[str, int]:
    return _moment(text, end=False)


def _until(text: str) -> tuple[str, int]:
    return _moment(text, end=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--all", action="store_true", help="count every session, in any directory")
    scope.add_argument(
        "--repo",
        metavar="PATH",
        help="count sessions run in this repository's work tree or worktrees "
        "(default: the repository of the current directory)",
    )
    parser.add_argument(
        "--since",
        type=_since,
        metavar="DATE",
        help="only responses at or after this UTC date (YYYY-MM-DD) or ISO date-time",
    )
    parser.add_argument(
        "--until",
        type=_until,
        metavar="DATE",
        help="only responses up to this UTC date (the whole day) or ISO date-time (inclusive)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--state",
        metavar="PATH",
        help="incremental: keep read offsets in this file and print only what is new "
        "since the last scan with it",
    )
    parser.add_argument(
        "--agent",
        action="extend",
        nargs="+",
        choices=AGENTS,
        metavar="NAME",
        help=f"only these agents ({', '.join(AGENTS)}); default: those enabled in the config",
    )


def _plain(text: str) -> bool:
    """True when ``str(Path(text)) == text`` surely (False: not known; ask pathlib)."""
    if os.sep != "/" or not text or text.startswith("//"):
        return False
    body = text[1:] if text.startswith("/") else text
    return all(part not in ("", ".") for part in body.split("/"))


def _path_text(text: str) -> str:
    """``str(Path(text))``."""
    if _plain(text):
        return text
    from pathlib import Path

    return str(Path(text))


def _expanded(text: str) -> str:
    """``str(Path(text).expanduser())``."""
    if not _plain(text):
        from pathlib import Path

        return str(Path(text).expanduser())
    if text[:1] != "~":
        return text
    expanded = os.path.expanduser(text)
    if expanded[:1] == "~":
        raise RuntimeError("Could not determine home directory.")
    return _path_text(expanded)


def _config(top: str | None, notes: list[str]) -> Config | None:
    """The repository's config, or None for the defaults (also when it is broken: noted)."""
    if top is None or not os.path.isfile(os.path.join(top, CONFIG_FILE)):
        return None  # no file: the defaults, without paying for importing the config module
    from pathlib import Path

    from tokennotes.config import ConfigError, load_config

    try:
        return load_config(Path(top))
    except ConfigError as exc:
        notes.append(f"config ignored, using defaults: {exc}")
        return None


def run(args: argparse.Namespace) -> int:
    return scan(args)


def scan(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    home: StrPath | None = None,
    cwd: StrPath | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the scan ``args`` ask for; the keywords default to the real environment."""
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    home_dir = _expanded("~") if home is None else os.fspath(home)  # = Path.home()
    cwd_dir = os.getcwd() if cwd is None else os.fspath(cwd)
    notes: list[str] = []
    roots: list[str] | None = None
    if args.all:
        top = find_worktree_dir(cwd_dir)
    else:
        from pathlib import Path  # git runs: a scan of one repository is not this fast anyway

        repo = None if args.repo is None else Path(args.repo)
        toplevel = repo_toplevel(cwd_dir if repo is None else repo)
        if toplevel is None:
            if repo is not None:
                raise TokennotesError(f"{repo}: not in a Git repository")
            raise TokennotesError(
                "the current directory is not in a Git repository: "
                "pass --all to scan every session, or --repo PATH for one repository"
            )
        roots = repo_roots(toplevel)
        top = str(toplevel)
    config = _config(top, notes)
    diags: dict[str, Diagnostics] = {}
    agents = tuple(dict.fromkeys(args.agent)) if args.agent else None
    homes = agent_dirs(None if config is None else config.agents, environ, home_dir, diags, agents)
    pricing, problems = load_pricing(None if config is None else config.pricing, top)
    notes.extend(problems)
    selection = Selection(
        since=args.since, until=args.until, roots=None if roots is None else tuple(roots)
    )
    state_path: str | None = None
    if args.state is not None:
        state_path = _expanded(os.fspath(args.state))
        os.makedirs(os.path.dirname(state_path) or os.curdir, exist_ok=True)
    try:
        result = scan_cells(
            homes,
            selection=selection,
            tier_of=None if pricing is None else pricing.tier_of,
            state_path=state_path,
            since_ns=selection.since_ns() if state_path is None else None,
        )
    except StateError as exc:
        raise TokennotesError(f"{exc}; delete it to start over") from exc
    for agent, diag in result.diagnostics.items():
        mine = diags.setdefault(agent, Diagnostics())
        _merge_diag(mine, diag)
    found = [agent for agent, paths in homes.items() if paths]
    summary = summarize(result.cells, None if pricing is None else pricing.cost_of, found)
    scope = {
        "repo": roots,
        "since": _bound_text(args.since),
        "until": _bound_text(args.until),
        "until_exclusive": True,
        "agents": list(homes),
        "state": None if state_path is None else str(state_path),
        "workers": result.workers,
    }
    if args.format == "json":
        doc = summary_json(summary, homes=homes, diags=diags, scope=scope, notes=notes)
        doc["price_table"] = None if pricing is None else pricing.version
        stdout.write(json.dumps(doc, indent=2) + "\n")  # one write, not one per token
    else:
        stdout.write(
            render_table(summary, homes=homes, diags=diags, notes=notes, priced=pricing is not None)
        )
    if not found:
        print(no_logs_hint(homes), file=stderr)
    return 0


def _merge_diag(into: Diagnostics, other: Diagnostics) -> None:
    if other is into:
        return
    into.malformed_lines += other.malformed_lines
    into.files_read += other.files_read
    into.bytes_read += other.bytes_read
    into.errors.extend(other.errors)
    for path, count in other.per_file.items():
        into.per_file[path] = into.per_file.get(path, 0) + count


def _bound_text(bound: tuple[str, int] | None) -> str | None:
    if bound is None:
        return None
    return f"{bound[0]}.{bound[1]:06d}Z"


def no_logs_hint(homes: Mapping[str, Sequence[StrPath]]) -> str:
    lines = ["tokennotes: no agent logs found. Looked for:"]
    lines += [f"  {agent}: {WHERE.get(agent, '?')}" for agent in homes]
    lines.append("Set the agent's variable, or `agents:` in .tokennotes.yml, to point elsewhere.")
    return "\n".join(lines)


def summary_json(
    summary: Summary,
    *,
    homes: Mapping[str, Sequence[StrPath]],
    diags: Mapping[str, Diagnostics],
    scope: Mapping[str, Any],
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The scan's JSON document (see docs/scan.md)."""
    return {
        "agents": {agent: totals.to_json() for agent, totals in summary.agents.items()},
        "totals": summary.totals.to_json(),
        "unpriced_models": {a: list(m) for a, m in summary.unpriced_models.items()},
        "homes": {agent: [str(p) for p in paths] for agent, paths in homes.items()},
        "diagnostics": {
            agent: {
                "malformed_lines": diag.malformed_lines,
                "malformed_files": len(diag.per_file),
                "files_read": diag.files_read,
                "bytes_read": diag.bytes_read,
                "errors": list(diag.errors),
            }
            for agent, diag in diags.items()
        },
        "scope": dict(scope),
        "notes": list(notes),
    }


# -- the table, for people ------------------------------------------------------------------

_COLUMNS = (
    ("messages", "messages"),
    ("input", "input"),
    ("output", "output"),
    ("cache_read", "cache read"),
    ("cache_write", "cache write"),
    ("total", "total"),
)


_CENTS = Decimal("0.0001")


def _cost_cell(totals: Totals) -> str:
    if totals.unpriced and totals.priced_usd == 0:
        return "?"
    text = f"{totals.priced_usd.quantize(_CENTS)}"
    return f"{text}+" if totals.unpriced else text


def _row(label: str, model: str, totals: Totals) -> list[str]:
    cells = [label, model]
    cells += [f"{getattr(totals, name):,}" for name, _ in _COLUMNS]
    cells.append(_cost_cell(totals))
    return cells


def render_table(
    summary: Summary,
    *,
    homes: Mapping[str, Sequence[StrPath]],
    diags: Mapping[str, Diagnostics],
    notes: Sequence[str] = (),
    priced: bool = True,
) -> str:
    """Rows per agent and model, aligned, with a total row and a diagnostics line."""
    header = ["agent", "model", *(title for _, title in _COLUMNS), "cost USD"]
    rows: list[list[str]] = []
    for agent, totals in summary.agents.items():
        rows.extend(_agent_rows(agent, totals))
    rows.append(_row("total", "", summary.totals))
    rows = [[plain_name(cell) for cell in row] for row in rows]  # model names come from the logs
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for i, row in enumerate([header, *rows]):
        if i == len(rows):  # the total row
            lines.append("  ".join("-" * w for w in widths))
        left = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        right = [cell.rjust(widths[j + 2]) for j, cell in enumerate(row[2:])]
        lines.append("  ".join(left + right).rstrip())
    footer = footer_lines(summary, homes=homes, diags=diags, notes=notes, priced=priced)
    lines.extend(map(plain, footer))
    return "\n".join(lines) + "\n"


def _agent_rows(agent: str, totals: AgentTotals) -> list[list[str]]:
    rows = []
    for i, (model, model_totals) in enumerate(sorted(totals.by_model.items())):
        rows.append(_row(agent if i == 0 else "", model, model_totals))
    if len(totals.by_model) != 1:
        rows.append(_row("" if totals.by_model else agent, "(all models)", totals.totals))
    return rows


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover - the loop always returns


def footer_lines(
    summary: Summary,
    *,
    homes: Mapping[str, Sequence[StrPath]],
    diags: Mapping[str, Diagnostics],
    notes: Sequence[str] = (),
    priced: bool = True,
) -> list[str]:
    """The lines under the table: what was read and skipped, what is missing, errors, notes."""
    malformed = sum(d.malformed_lines for d in diags.values())
    bad_files = sum(len(d.per_file) for d in diags.values())
    files = sum(d.files_read for d in diags.values())
    size = sum(d.bytes_read for d in diags.values())
    line = f"read {files:,} files ({_size(size)})"
    if malformed:
        plural = "s" if malformed != 1 else ""
        line += f"; skipped {malformed:,} malformed line{plural} in {bad_files:,} file"
        line += "s" if bad_files != 1 else ""
    lines = [line]
    missing = [agent for agent, paths in homes.items() if not paths]
    if missing:
        lines.append(f"no logs found for: {', '.join(missing)}")
    unpriced = [f"{m} ({a})" for a, ms in summary.unpriced_models.items() for m in ms]
    if unpriced and priced:
        lines.append("no price for: " + ", ".join(unpriced) + " ('+': cost without them)")
    errors = [e for d in diags.values() for e in d.errors]
    for error in errors[:5]:
        lines.append(f"error: {error}")
    if len(errors) > 5:
        lines.append(f"... and {len(errors) - 5} more errors (see --format json)")
    lines.extend(notes)
    return lines
