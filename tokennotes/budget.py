"""`tokennotes budget`: show or set the budget limits in `.tokennotes.yml`.

Edits go through ``config.set_config_values``, which keeps the file's comments and key order and
never writes a file that would not load.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from tokennotes.config import CONFIG_FILE, Limit, load_config, set_config_values
from tokennotes.errors import TokennotesError

HELP = "show or set the PR, daily and weekly budgets in .tokennotes.yml"
PERIODS = ("pr", "daily", "weekly")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-C",
        dest="repo",
        default=".",
        metavar="REPO",
        help="the repository (default: the current directory)",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    show = sub.add_parser("show", help="print the budgets in force")
    show.set_defaults(action="show")
    set_ = sub.add_parser("set", help="set a budget (USD and/or tokens); 'none' removes it")
    set_.add_argument("usd", help="limit in US dollars, or 'none'")
    set_.add_argument(
        "--period", choices=PERIODS, default="weekly", help="which budget (default: weekly)"
    )
    set_.add_argument("--tokens", help="also limit tokens (a whole number, or 'none')")
    set_.add_argument(
        "--mode", choices=("fail", "warn"), help="fail the check when exceeded, or only warn"
    )


def _root(repo: str) -> Path:
    result = subprocess.run(
        ["git", "-C", repo, "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TokennotesError(f"{repo}: not inside a git repository")
    return Path(result.stdout.strip())


def parse_usd(text: str) -> Decimal | None:
    if text.lower() in ("none", "off", "null"):
        return None
    try:
        value = Decimal(text.lstrip("$"))
    except InvalidOperation:
        raise TokennotesError(
            f"{text!r} is not an amount in dollars (say 5, 12.50 or none)"
        ) from None
    if not value.is_finite() or value <= 0:
        raise TokennotesError(f"{text!r}: a budget must be a positive amount (or none)")
    if value >= MAX_USD:
        raise TokennotesError(f"{text!r}: a budget must be below ${MAX_USD:,}")
    return value


MAX_USD = 10**12  # a limit anyone means; a larger number is a typo (and 1e999999 has no YAML)
MAX_TOKENS = 10**15  # what a record can count (record.COUNT_LIMIT)


def parse_tokens(text: str) -> int | None:
    if text.lower() in ("none", "off", "null"):
        return None
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise TokennotesError(f"{text!r} is not a whole number of tokens (or none)") from None
    if value <= 0:
        raise TokennotesError(f"{text!r}: a token budget must be positive (or none)")
    if value >= MAX_TOKENS:
        raise TokennotesError(f"{text!r}: a token budget must be below {MAX_TOKENS:,}")
    return value


def describe(limit: Limit) -> str:
    parts = []
    if limit.usd is not None:
        parts.append(f"${limit.usd:,.2f}")
    if limit.tokens is not None:
        parts.append(f"{limit.tokens:,} tokens")
    return " and ".join(parts) if parts else "none"


def show_budgets(root: Path, out: TextIO) -> None:
    budget = load_config(root).budget
    for period in PERIODS:
        print(f"{period:<7} {describe(getattr(budget, period))}", file=out)
    print(f"mode    {budget.mode} (override label: {budget.override_label})", file=out)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    root = _root(args.repo)
    if getattr(args, "action", None) == "set":
        values: dict[str, object] = {f"budget.{args.period}.usd": parse_usd(args.usd)}
        if args.tokens is not None:
            values[f"budget.{args.period}.tokens"] = parse_tokens(args.tokens)
        if args.mode is not None:
            values["budget.mode"] = args.mode
        set_config_values(root, values)  # all or nothing
        print(f"{CONFIG_FILE}: {args.period} budget set", file=out)
    show_budgets(root, out)
    return 0
