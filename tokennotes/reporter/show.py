"""`tokennotes show [REV]`: one commit's receipt.

Reads the note on one commit (``refs/notes/ai-tokens`` or the config's ``notes_ref``), dedupes
its records by id (dropping superseded ones) and prints what was spent, by agent, model and
fidelity, in the four token buckets with the cost recorded at commit time, and what the commit
shipped: output types, items and points. ``--json`` prints the same as one JSON object.

Costs are those written in the records (with the price table version they name); a record
without a price makes the total cost unknown, and its model is listed as unpriced. This command
reads one note through the git CLI and imports nothing heavy (no matplotlib).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from tokennotes.errors import TokennotesError
from tokennotes.record import OutputRecord, Tokens, UsageRecord, dedupe, parse_note
from tokennotes.text import clip, plain

HELP = "one commit's receipt: tokens, cost, what it shipped, points"


@dataclass
class UsageRow:
    """Usage summed over the records of one agent, model and fidelity."""

    agent: str
    model: str
    fidelity: str
    tokens: Tokens = field(default_factory=Tokens)
    messages: int = 0
    records: int = 0
    cost_usd: Decimal | None = Decimal(0)

    def add(self, record: UsageRecord) -> None:
        self.tokens = self.tokens + record.tokens
        self.messages += record.messages
        self.records += 1
        if self.cost_usd is not None and record.cost_usd is not None:
            self.cost_usd += record.cost_usd
        elif record.tokens.total or record.cost_usd is None:
            self.cost_usd = None

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "model": self.model,
            "fidelity": self.fidelity,
            "tokens": {**self.tokens.to_json(), "total": self.tokens.total},
            "messages": self.messages,
            "records": self.records,
            "cost_usd": None if self.cost_usd is None else str(self.cost_usd),
        }


@dataclass(frozen=True, kw_only=True)
class Receipt:
    commit: str
    subject: str
    ts: str
    author: str
    usage: list[UsageRow]
    output: list[OutputRecord]
    skipped: int
    errors: list[str]
    price_tables: tuple[str, ...]

    @property
    def tokens(self) -> Tokens:
        total = Tokens()
        for row in self.usage:
            total = total + row.tokens
        return total

    @property
    def cost_usd(self) -> Decimal | None:
        total = Decimal(0)
        for row in self.usage:
            if row.cost_usd is None:
                return None
            total += row.cost_usd
        return total

    @property
    def priced_usd(self) -> Decimal:
        return sum((r.cost_usd for r in self.usage if r.cost_usd is not None), Decimal(0))

    @property
    def unpriced_models(self) -> list[str]:
        return sorted({r.model for r in self.usage if r.cost_usd is None})

    @property
    def items(self) -> int:
        return sum(r.items for r in self.output)

    @property
    def points(self) -> int:
        return sum(r.points for r in self.output)

    @property
    def fidelity(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.usage:
            counts[row.fidelity] = counts.get(row.fidelity, 0) + row.records
        return dict(sorted(counts.items()))

    @property
    def points_per_usd(self) -> Decimal | None:
        cost = self.cost_usd
        if cost is None or cost <= 0:
            return None
        return Decimal(self.points) / cost

    def to_json(self) -> dict[str, Any]:
        cost = self.cost_usd
        ppd = self.points_per_usd
        return {
            "commit": self.commit,
            "subject": self.subject,
            "ts": self.ts,
            "author": self.author,
            "usage": [row.to_json() for row in self.usage],
            "tokens": {**self.tokens.to_json(), "total": self.tokens.total},
            "cost_usd": None if cost is None else str(cost),
            "priced_usd": str(self.priced_usd),
            "unpriced_models": self.unpriced_models,
            "price_tables": list(self.price_tables),
            "fidelity": self.fidelity,
            "output": [
                {
                    "type": r.type,
                    "items": r.items,
                    "points": r.points,
                    "files": r.files,
                    "insertions": r.insertions,
                    "deletions": r.deletions,
                    "words": r.words,
                    "rule": r.rule,
                }
                for r in self.output
            ],
            "items": self.items,
            "points": self.points,
            "points_per_usd": None if ppd is None else f"{ppd:.2f}",
            "skipped_lines": self.skipped,
        }


def build_receipt(
    note: str, *, commit: str, subject: str = "", ts: str = "", author: str = ""
) -> Receipt:
    """The receipt of one note's text (pure: no git)."""
    parsed = parse_note(note, where=commit[:12])
    records, _ = dedupe(parsed.records)
    rows: dict[tuple[str, str, str], UsageRow] = {}
    output: list[OutputRecord] = []
    tables: set[str] = set()
    for record in records:
        if isinstance(record, UsageRecord):
            key = (record.agent, record.model, record.fidelity)
            if key not in rows:
                rows[key] = UsageRow(*key)
            rows[key].add(record)
            if record.price_table:
                tables.add(record.price_table)
        else:
            output.append(record)
    output.sort(key=lambda r: (-r.points, r.type))
    return Receipt(
        commit=commit,
        subject=subject,
        ts=ts,
        author=author,
        usage=sorted(rows.values(), key=lambda r: (r.agent, r.model, r.fidelity)),
        output=output,
        skipped=parsed.skipped,
        errors=parsed.errors,
        price_tables=tuple(sorted(tables)),
    )


def _usd(value: Decimal | None) -> str:
    if value is None:
        return "unpriced"
    return f"${value:,.4f}"


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)
) -> list[str]:
    """Columns padded to their widths; the ``left`` ones left-aligned, the rest right."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = []
    for row in (header, *rows):
        cells = [
            str(c).ljust(w) if i in left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def render_receipt(receipt: Receipt) -> str:
    """The receipt as a plain-text table, safe for a terminal."""
    out = [f"commit  {receipt.commit}  {clip(receipt.subject)}".rstrip()]
    meta = [receipt.ts.replace("T", " ").replace("Z", " UTC") if receipt.ts else ""]
    if receipt.author:
        meta.append(f"author {clip(receipt.author)}")
    out.append(f"        {'   '.join(m for m in meta if m)}".rstrip())
    out.append("")
    if receipt.usage:
        header = [
            "agent / model",
            "fidelity",
            "input",
            "output",
            "cache read",
            "cache write",
            "total",
            "cost",
        ]
        rows = [
            [
                clip(f"{r.agent} / {r.model}"),
                r.fidelity,
                f"{r.tokens.input:,}",
                f"{r.tokens.output:,}",
                f"{r.tokens.cache_read:,}",
                f"{r.tokens.cache_write:,}",
                f"{r.tokens.total:,}",
                _usd(r.cost_usd),
            ]
            for r in receipt.usage
        ]
        t = receipt.tokens
        rows.append(
            [
                "total",
                "",
                f"{t.input:,}",
                f"{t.output:,}",
                f"{t.cache_read:,}",
                f"{t.cache_write:,}",
                f"{t.total:,}",
                _usd(receipt.cost_usd),
            ]
        )
        out.extend(_table(header, rows, left=(0, 1)))
        if receipt.unpriced_models:
            out.append(
                f"unpriced: {', '.join(map(clip, receipt.unpriced_models))} "
                f"(priced part {_usd(receipt.priced_usd)})"
            )
        if receipt.price_tables:
            out.append(f"prices as recorded (table {', '.join(map(clip, receipt.price_tables))})")
    else:
        out.append("no agent usage recorded on this commit")
    out.append("")
    if receipt.output:
        header = ["shipped", "items", "points", "files", "+lines", "-lines", "words", "rule"]
        rows = [
            [
                clip(r.type),
                str(r.items),
                str(r.points),
                str(r.files),
                f"{r.insertions:,}",
                f"{r.deletions:,}",
                f"{r.words:,}",
                clip(r.rule),
            ]
            for r in receipt.output
        ]
        out.extend(_table(header, rows, left=(0, 7)))
    else:
        out.append("no output record on this commit")
    fidelity = ", ".join(f"{k} {v}" for k, v in receipt.fidelity.items()) or "none"
    ppd = receipt.points_per_usd
    summary = f"points {receipt.points}, items {receipt.items}; fidelity: {fidelity}"
    if ppd is not None:
        summary += f"; {ppd:.1f} points per dollar"
    out.extend(["", summary])
    if receipt.skipped:
        out.append(f"skipped {receipt.skipped} unreadable line(s): {'; '.join(receipt.errors[:3])}")
    # every line through ``plain``: a note's strings may hold escape sequences and line breaks
    return "\n".join(map(plain, out)) + "\n"


# -- the command ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tokennotes.config import notes_ref_arg

    parser.add_argument("rev", nargs="?", default="HEAD", help="commit (default: HEAD)")
    parser.add_argument("--json", action="store_true", help="print the receipt as JSON")
    parser.add_argument(
        "--ref", type=notes_ref_arg, help="notes ref (default: the config's, refs/notes/ai-tokens)"
    )
    parser.add_argument("-C", "--repo", default=".", help="repository (default: .)")


def _notes_ref(repo: Path) -> str:
    from tokennotes import config, notes

    try:
        root = notes.toplevel(repo)
    except TokennotesError:
        return config.NOTES_REF
    if not (root / config.CONFIG_FILE).exists():
        return config.NOTES_REF
    return config.load_config(root).notes_ref


def read_receipt(repo: Path, rev: str, ref: str | None = None) -> Receipt:
    """The receipt of commit ``rev`` in ``repo`` (raises ``TokennotesError`` if it is unknown)."""
    from tokennotes import notes

    args = ["log", "-1", "--no-show-signature", "--format=%H%x00%ct%x00%ae%x00%s"]
    result = subprocess.run(
        ["git", *args, "--end-of-options", rev, "--"],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        problem = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TokennotesError(
            f"{rev}: not a commit here ({problem[-1] if problem else 'git log failed'})"
        )
    ref = ref or _notes_ref(repo)
    if not notes.notes_ref_exists(repo, ref):
        raise TokennotesError(
            f"no tokennotes records here: {ref} does not exist. Record some commits first "
            "(tokennotes init installs the hook), or fetch the notes of a clone that has them: "
            f"git fetch origin '{ref}:{ref}'"
        )
    fields = result.stdout.decode("utf-8", "replace").rstrip("\n").split("\0", 3)
    if len(fields) != 4:  # a blob or a tree (git log shows nothing): notes may sit on them too
        sha, kind = _object(repo, rev)
        return build_receipt(notes.read_note(repo, sha, ref), commit=sha, subject=f"({kind})")
    sha, ctime, author, subject = fields
    ts = datetime.fromtimestamp(int(ctime), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = notes.read_note(repo, sha, ref)
    return build_receipt(note, commit=sha, subject=subject, ts=ts, author=author)


def _object(repo: Path, rev: str) -> tuple[str, str]:
    """The id and type of the object ``rev`` names."""
    out = subprocess.run(
        ["git", "cat-file", "--batch-check"],
        input=f"{rev}\n".encode(),
        cwd=repo,
        capture_output=True,
        check=False,
    ).stdout.split()
    if len(out) < 2 or out[1] == b"missing":
        raise TokennotesError(f"{rev}: not an object here")
    return out[0].decode(), out[1].decode()


def run(args: argparse.Namespace, *, stream: TextIO | None = None) -> int:
    out = sys.stdout if stream is None else stream
    receipt = read_receipt(Path(args.repo), args.rev, args.ref)
    if args.json:
        print(json.dumps(receipt.to_json(), sort_keys=True), file=out)
    else:
        out.write(render_receipt(receipt))
    return 0
