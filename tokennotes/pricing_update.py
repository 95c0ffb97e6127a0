"""`tokennotes pricing update`: rebuild the price table from LiteLLM's published price list.

It downloads ``model_prices_and_context_window.json`` (or reads ``--from FILE``), keeps the chat
and responses models of the providers whose logs tokennotes reads (Anthropic, OpenAI, Gemini on
AI Studio and Vertex, Claude on Bedrock and Vertex), converts USD per token to USD per million
tokens as decimal strings, and writes a table in the shipped ``prices.json`` format with a new
version, the date, the source and the sha256 of the downloaded bytes. By default it writes
`user_table_path()` (``$XDG_CONFIG_HOME/tokennotes/prices.json``), which `load_price_table`
prefers to the shipped table while it is not older.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tokennotes.errors import TokennotesError
from tokennotes.pricing import PRICE_FIELDS, SHIPPED_TABLE, normalize_model, user_table_path

if TYPE_CHECKING:
    import requests

HELP = "Refresh the model price table from LiteLLM's published prices (`pricing update`)."
DEFAULT_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)
TIMEOUT = (10, 60)  # seconds: connect, read
UNIT = "USD per 1,000,000 tokens"
META_FIELDS = ("version", "source", "source_sha256", "updated", "unit")
ROW_FIELDS = ("provider", *PRICE_FIELDS, "tiers", "note")
MODES = ("chat", "responses")
# LiteLLM provider -> the family whose cost rules apply (Anthropic's cache multipliers)
FAMILIES = {
    "anthropic": "anthropic",
    "bedrock": "anthropic",
    "bedrock_converse": "anthropic",
    "vertex_ai-anthropic_models": "anthropic",
    "openai": "openai",
    "gemini": "gemini",
    "vertex_ai-language-models": "gemini",
}
_FAMILY_ORDER = {"anthropic": 0, "openai": 1, "gemini": 2}
_LITELLM_FIELDS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
}
_TIER_FIELD = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost"
    r"|cache_creation_input_token_cost(?:_above_1hr)?)_above_(\d+)k_tokens$"
)
_MILLION = Decimal(10) ** 6

Row = dict[str, Any]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    update = sub.add_parser(
        "update",
        help="download LiteLLM's price list and write a new price table",
        description="Download LiteLLM's model_prices_and_context_window.json (or read a copy), "
        "convert the Anthropic, OpenAI and Gemini chat models to USD per million tokens and "
        "write a price table that tokennotes then uses.",
    )
    update.add_argument(
        "--from",
        dest="source",
        metavar="URL|FILE",
        default=DEFAULT_URL,
        help="where to read LiteLLM's JSON (default: BerriAI/litellm main on GitHub)",
    )
    update.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="where to write the table (default: $XDG_CONFIG_HOME/tokennotes/prices.json, "
        "which tokennotes reads while it is not older than the shipped table)",
    )
    update.add_argument(
        "--dry-run", action="store_true", help="show what would change, write nothing"
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "update":
        return update_prices(args.source, output=args.output, dry_run=args.dry_run)
    raise TokennotesError(f"unknown pricing action {args.action!r}")  # pragma: no cover


def update_prices(
    source: str = DEFAULT_URL,
    *,
    output: Path | None = None,
    dry_run: bool = False,
    stream: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> int:
    out = sys.stdout if stream is None else stream
    raw, origin = fetch_source(source, session=session)
    sha = hashlib.sha256(raw).hexdigest()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise TokennotesError(
            f"{origin}: not JSON ({exc}); expected LiteLLM's model_prices_and_context_window.json"
        ) from exc
    rows, skipped = convert_litellm(data, origin)
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    meta = {
        "version": f"litellm-{sha[:8]}+{today}",
        "source": f"{origin} (LiteLLM model_prices_and_context_window.json)",
        "source_sha256": sha,
        "updated": today,
        "unit": UNIT,
    }
    target = output if output is not None else user_table_path(environ)
    old_rows, old_version = _current_rows(target)
    added, removed, changed = diff_rows(old_rows, rows)
    print(
        f"read {origin}: {len(raw):,} bytes, sha256 {sha}; {len(rows)} models kept, "
        f"{skipped} entries of other providers or modes skipped",
        file=out,
    )
    print(
        f"compared with {old_version}: {len(added)} added, {len(removed)} removed, "
        f"{len(changed)} changed",
        file=out,
    )
    for label, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            shown = ", ".join(names[:10]) + (f", … (+{len(names) - 10})" if len(names) > 10 else "")
            print(f"  {label}: {shown}", file=out)
    if dry_run:
        print(f"dry run: {target} not written", file=out)
        return 0
    _write_atomic(target, render_price_table(meta, rows))
    print(f"wrote {target} (version {meta['version']})", file=out)
    if output is not None and output != user_table_path(environ):
        print(f"to use it, set `pricing: {{table: {target}}}` in .tokennotes.yml", file=out)
    return 0


def fetch_source(source: str, session: requests.Session | None = None) -> tuple[bytes, str]:
    """The bytes at a URL (http/https) or in a file, and how to name where they came from."""
    if re.match(r"^https?://", source, re.IGNORECASE):
        import requests

        own = session is None
        sess = requests.Session() if session is None else session
        try:
            response = sess.get(source, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise TokennotesError(
                f"could not download {source}: {exc}; check the network, or download the file "
                f"and pass --from FILE"
            ) from exc
        finally:
            if own:
                sess.close()
        if response.status_code != 200:
            raise TokennotesError(
                f"{source}: HTTP {response.status_code} {response.reason}; check the URL, or "
                f"download the file and pass --from FILE"
            )
        return response.content, source
    path = Path(source.removeprefix("file://")).expanduser()
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise TokennotesError(
            f"{path}: cannot read it ({exc.strerror}); pass a URL or a LiteLLM price JSON file"
        ) from exc


def convert_litellm(data: object, origin: str = "LiteLLM JSON") -> tuple[dict[str, Row], int]:
    """``(rows, skipped)``: our table rows by LiteLLM key, and how many entries were left out.

    Kept: entries whose ``mode`` is chat or responses from providers anthropic, openai, gemini,
    vertex_ai-language-models (Gemini keys), vertex_ai-anthropic_models, and bedrock /
    bedrock_converse keys starting ``anthropic.claude`` (no regional copies). A Bedrock Claude
    model with no first-party entry also gets its bare name (``claude-opus-4``) priced like it.
    """
    if not isinstance(data, Mapping):
        raise TokennotesError(
            f"{origin}: expected a JSON object of model entries (LiteLLM's "
            f"model_prices_and_context_window.json), got {type(data).__name__}"
        )
    rows: dict[str, Row] = {}
    skipped = 0
    first_party: set[str] = set()
    for key, entry in data.items():
        family = _family_of(key, entry)
        row = _convert_entry(entry, family) if family else None
        if row is None:
            skipped += 1
            continue
        rows[key] = row
        if isinstance(entry, Mapping) and entry.get("litellm_provider") == "anthropic":
            first_party.add(normalize_model(key))
    bare: dict[str, str] = {}
    for key in sorted(rows):
        if key.startswith("anthropic.claude"):
            name = normalize_model(key)
            if name not in first_party and name not in rows:
                bare[name] = key  # sorted: the newest dated entry wins
    for name, key in bare.items():
        rows[name] = {**rows[key], "note": f"priced like {key} (no first-party entry)"}
    if not rows:
        raise TokennotesError(
            f"{origin}: no Anthropic, OpenAI or Gemini chat models with input and output "
            f"prices; is this LiteLLM's model_prices_and_context_window.json?"
        )
    return rows, skipped


def _family_of(key: str, entry: object) -> str | None:
    if not isinstance(entry, Mapping) or entry.get("mode") not in MODES:
        return None
    provider = entry.get("litellm_provider")
    family = FAMILIES.get(provider) if isinstance(provider, str) else None
    if family is None:
        return None
    if provider in ("bedrock", "bedrock_converse") and not key.startswith("anthropic.claude"):
        return None
    if family == "anthropic" and "claude" not in key:
        return None
    if family == "gemini" and "gemini" not in key:
        return None
    return family


def _convert_entry(entry: Mapping[str, Any], family: str) -> Row | None:
    row: Row = {"provider": family}
    for src, dst in _LITELLM_FIELDS.items():
        if src in entry:
            value = _per_million(entry[src])
            if value is None:
                return None
            row[dst] = value
    if "input" not in row or "output" not in row:
        return None
    tiers: dict[int, dict[str, str]] = {}
    for name, raw in entry.items():
        match = _TIER_FIELD.match(name)
        if match is None:
            continue
        field = _LITELLM_FIELDS[match.group(1)]
        if field.startswith("cache_write") and "cache_write" not in row:
            continue  # a tier-only cache-write rate (Gemini) has no base to be a tier of
        value = _per_million(raw)
        if value is None:
            return None
        tiers.setdefault(int(match.group(2)) * 1000, {})[field] = value
    if tiers:
        row["tiers"] = {
            str(at): {f: rates[f] for f in PRICE_FIELDS if f in rates}
            for at, rates in sorted(tiers.items())
        }
    return row


def _per_million(value: object) -> str | None:
    """USD per token (a JSON number) → USD per million tokens as a plain decimal string."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    price = Decimal(str(value)) * _MILLION
    if not price.is_finite() or price < 0:
        return None
    return format(price.normalize(), "f")


def render_price_table(meta: Mapping[str, str], rows: Mapping[str, Row]) -> str:
    """The table as JSON text: metadata first, then one model per line, grouped by family."""
    lines = ["{"]
    lines += [
        f"  {json.dumps(f)}: {json.dumps(meta[f], ensure_ascii=False)},"
        for f in META_FIELDS
        if f in meta
    ]
    lines.append('  "models": {')
    ordered = sorted(
        rows.items(), key=lambda kv: (_FAMILY_ORDER.get(str(kv[1].get("provider")), 9), kv[0])
    )
    lines.append(
        ",\n".join(
            f"    {json.dumps(key)}: {json.dumps(_ordered(row), ensure_ascii=False)}"
            for key, row in ordered
        )
    )
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def _ordered(row: Row) -> Row:
    known = {f: row[f] for f in ROW_FIELDS if f in row}
    return {**known, **{k: row[k] for k in sorted(row) if k not in known}}


def diff_rows(
    old: Mapping[str, Row], new: Mapping[str, Row]
) -> tuple[list[str], list[str], list[str]]:
    """Model keys ``(added, removed, changed)``; notes are not a change."""
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(old) & set(new) if _prices_of(old[k]) != _prices_of(new[k]))
    return added, removed, changed


def _prices_of(row: Row) -> Row:
    return {k: v for k, v in row.items() if k != "note"}


def _current_rows(target: Path) -> tuple[dict[str, Row], str]:
    """The rows and version of the table an update replaces: ``target`` if it is a readable
    table, else the shipped one."""
    for path in (target, SHIPPED_TABLE):
        try:
            obj = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(obj, Mapping) and isinstance(obj.get("models"), Mapping):
            label = f"{obj.get('version', '?')} ({'shipped' if path == SHIPPED_TABLE else path})"
            return dict(obj["models"]), label
    return {}, "no table"  # pragma: no cover - the shipped table is always readable


def _write_atomic(target: Path, text: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".prices-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise TokennotesError(f"{target}: cannot write the price table ({exc.strerror})") from exc
