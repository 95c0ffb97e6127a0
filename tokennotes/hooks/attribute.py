"""Attribution: which agent spend belongs to a new commit, as usage records.

The rule (DESIGN.md "Attribution"): a counted message belongs to the commit when its ``cwd`` is
the repository's work tree or one of its worktrees (or below them) and its timestamp lies after
the repository's *watermark*. The watermark is kept in the scan state's meta under the common
git dir (``<common>/tokennotes/state.sqlite``), shared by all worktrees, together with the
per-file offsets that make reading incremental.

* The window ends when the hook runs ("now"), not at the commit's own second: the hook runs
  right after the commit, and a message written in between is part of the same work. A message
  stamped later than "now" (a skewed clock) counts too, because its bytes have been read; the
  new watermark is the later of "now" and the newest message counted.
* With no watermark (the first commit after install, or after the state was reset) the window
  opens at the parent commit's committer time, but never more than
  ``attribution.max_lookback_seconds`` ago; a root commit looks back the whole bound.
* A response that grew after an earlier run counted it (a streamed Claude message, counted as a
  *growth* with ``new == 0``) belongs to the commit whose run reads the growth, whatever the
  response's timestamp, once a watermark exists.
* Messages of other repositories are read and skipped: each repository keeps its own state, so
  their own hooks read them again.

Messages are grouped by (agent, model, session, price tier) into ``UsageRecord`` values. Their
ids are deterministic (a digest of agent, session, model, tier, window start and the messages'
de-dup keys and token counts), so running ``record`` again over the same spend makes the same
id, which readers dedupe.

Only the standard library and the package's core modules are imported here: this is on the
commit hook's path.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from tokennotes.config import PricingConfig
from tokennotes.errors import TokennotesError
from tokennotes.hooks.logs import Message
from tokennotes.record import Tokens, UsageRecord, make_id, short_hash

if TYPE_CHECKING:
    from tokennotes.pricing import PriceTable

STATE_DIR = "tokennotes"
STATE_FILE = "state.sqlite"
LOCK_FILE = "record.lock"
WATERMARK_KEY = "watermark"
LOCK_TIMEOUT = 10.0
# Variables git exports to hooks (GIT_INDEX_FILE in post-commit, GIT_DIR in worktrees) that
# would point our git commands elsewhere than the repository they are run in.
_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")


class Pricer(Protocol):
    """Prices at record time: the price table's version, tiers and costs."""

    @property
    def version(self) -> str: ...

    def tier_of(self, model: str, prompt: int) -> str: ...

    def cost_of(self, model: str, tokens: Tokens, tier: str) -> Decimal | None: ...


class NoPricing(NamedTuple):
    """Prices when no table could be loaded: every cost unknown, no tiers."""

    version: str = ""

    def tier_of(self, model: str, prompt: int) -> str:
        return ""

    def cost_of(self, model: str, tokens: Tokens, tier: str) -> Decimal | None:
        return None


class TablePricer(NamedTuple):
    """A loaded ``tokennotes.pricing.PriceTable`` behind the ``Pricer`` interface."""

    table: PriceTable

    @property
    def version(self) -> str:
        return self.table.version

    def tier_of(self, model: str, prompt: int) -> str:
        from tokennotes.pricing import tier_of

        return tier_of(self.table, model, prompt)

    def cost_of(self, model: str, tokens: Tokens, tier: str) -> Decimal | None:
        from tokennotes.pricing import cost_of

        return cost_of(self.table, model, tokens, tier)


def load_pricer(config: PricingConfig, root: Path) -> tuple[Pricer, list[str]]:
    """The price table of the config (shipped table + overrides) and its problems.

    Pricing never stops the hook: when no table loads, costs stay unknown (None).
    """
    try:
        from tokennotes.pricing import load_price_table

        table = load_price_table(config, root=root)
    except Exception as exc:
        return NoPricing(), [f"prices unavailable ({type(exc).__name__}: {exc})"]
    return TablePricer(table), [str(p) for p in getattr(table, "problems", ())]


# -- git ------------------------------------------------------------------------------------


class RepoDirs(NamedTuple):
    """Where a repository's parts are: the work tree, this worktree's git dir, the common dir."""

    toplevel: Path
    git_dir: Path
    common_dir: Path

    @property
    def state_dir(self) -> Path:
        return self.common_dir / STATE_DIR


def run_git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run git in ``repo``; return stdout, raise ``TokennotesError`` with git's message."""
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=repo,
            input=input,
            capture_output=True,
            check=False,
            timeout=60,
            env=env,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TokennotesError(
            f"git failed ({exc}). Is it installed, and is {repo} in a Git repository?"
        ) from exc
    if result.returncode != 0:
        problem = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TokennotesError(
            f"git {' '.join(args[:2])} failed: {problem[-1] if problem else result.returncode}"
        )
    return result.stdout


def repo_dirs(repo: Path) -> RepoDirs:
    """The work tree, git dir and common git dir of the repository containing ``repo``."""
    from tokennotes import notes

    return RepoDirs(
        toplevel=notes.toplevel(repo),
        git_dir=notes.git_dir(repo),
        common_dir=notes.common_dir(repo),
    )


# -- the lock ---------------------------------------------------------------------------------


@contextlib.contextmanager
def hook_lock(common_dir: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``<common>/tokennotes/record.lock`` exclusively (state, watermark, pending ledger).

    Parallel commits in several worktrees of one repository take turns, so one spend is never
    attributed twice. Raises ``TokennotesError`` after ``timeout`` seconds of waiting.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, run unguarded
        yield
        return
    path = common_dir / STATE_DIR / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TokennotesError(
                        f"{path} is held by another tokennotes process; try again"
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# -- time -------------------------------------------------------------------------------------


def iso_from_ns(ns: int) -> str:
    """UTC ISO-8601 with microseconds and ``Z``."""
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest // 1000:06d}Z"


def iso_from_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ts_key(ts: str) -> str:
    """A sortable form of an ISO timestamp (``…:05Z`` and ``…:05.123Z`` compare right)."""
    base, _, frac = ts.rstrip("Z").partition(".")
    return f"{base[:19]}.{frac[:9]:0<9}"


def ns_from_iso(ts: str) -> int:
    """Nanoseconds since the epoch of a UTC ISO timestamp ending in ``Z`` (or with no zone)."""
    base, _, frac = ts.rstrip("Z").partition(".")
    moment = datetime.strptime(base[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1_000_000_000 + int(f"{frac[:9]:0<9}" or 0)


class Window(NamedTuple):
    """The attribution window ``(start, end]``; ``watermarked`` when ``start`` is a watermark."""

    start: str
    end: str
    watermarked: bool

    @property
    def start_ns(self) -> int:
        return ns_from_iso(self.start)


def open_window(
    watermark: str | None,
    *,
    now_ns: int,
    parent_time: int | None,
    max_lookback_seconds: int,
) -> Window:
    """The window for this commit (see the module doc)."""
    end = iso_from_ns(now_ns)
    if watermark:
        return Window(start=watermark, end=end, watermarked=True)
    floor_ns = now_ns - max(0, max_lookback_seconds) * 1_000_000_000
    start_ns = floor_ns if parent_time is None else max(floor_ns, parent_time * 1_000_000_000)
    return Window(start=iso_from_ns(min(start_ns, now_ns)), end=end, watermarked=False)


# -- grouping ---------------------------------------------------------------------------------


def select_messages(
    messages: Iterable[Message], window: Window, inside: Callable[[str], bool]
) -> Iterator[Message]:
    """The messages that belong to the commit: in the repository, after the window's start."""
    start = ts_key(window.start)
    for message in messages:
        if not message.cwd or not inside(message.cwd):
            continue
        if ts_key(message.ts) > start or (message.new == 0 and window.watermarked):
            yield message


def _tokens(message: Message) -> Tokens:
    return Tokens(
        input=message.input,
        output=message.output,
        cache_read=message.cache_read,
        cache_write=message.cache_write_5m + message.cache_write_1h,
        reasoning=message.reasoning,
        cache_write_1h=message.cache_write_1h,
    )


def group_usage(
    messages: Iterable[Message],
    *,
    window: Window,
    pricer: Pricer,
    host: str,
    commit: str,
) -> list[UsageRecord]:
    """One usage record per (agent, model, session, tier), sorted by id."""
    groups: dict[tuple[str, str, str, str], list[Message]] = {}
    for message in messages:
        tier = pricer.tier_of(message.model, message.prompt) if message.prompt else ""
        groups.setdefault((message.agent, message.model, message.session, tier), []).append(message)
    records: list[UsageRecord] = []
    for (agent, model, session, tier), group in groups.items():
        tokens = Tokens()
        for message in group:
            tokens = tokens + _tokens(message)
        stamps = sorted((ts_key(m.ts), m.ts) for m in group)
        session_hash = short_hash(session, 16)
        digest_parts = sorted(
            f"{m.key}|{m.new}|{m.input}|{m.output}|{m.cache_read}|{m.cache_write}" for m in group
        )
        record_id = make_id("usage", agent, session_hash, model, tier, window.start, *digest_parts)
        records.append(
            UsageRecord(
                id=record_id,
                ts=stamps[-1][1],
                agent=agent,
                model=model,
                session=session_hash,
                first=stamps[0][1],
                last=stamps[-1][1],
                messages=sum(m.new for m in group),
                tokens=tokens,
                fidelity="exact",
                cost_usd=pricer.cost_of(model, tokens, tier),
                price_table=pricer.version,
                host=host,
                tier=tier,
                commit=commit,
            )
        )
    records.sort(key=lambda r: r.id)
    return records


def next_watermark(window: Window, counted: Iterable[Message]) -> str:
    """The watermark after this commit: the window's end, or a later message's stamp."""
    best = window.end
    for message in counted:
        if ts_key(message.ts) > ts_key(best):
            best = message.ts
    return best
