"""Attribution: which agent spend belongs to a new commit, as usage records.

The rule (DESIGN.md "Attribution"): a counted message belongs to the commit when its ``cwd`` is
the repository's work tree or one of its worktrees (or below them) and its timestamp lies after
the repository's *watermark*. The watermark is kept in the scan state's meta under the common
git dir (``<common>/tokennotes/state.sqlite``), shared by all worktrees, together with the
per-file offsets that make reading incremental.

* The window ends when the hook runs ("now"), not at the commit's own second: the hook runs
  right after the commit, and a message written in between is part of the same work. A message
  stamped later than "now" (a skewed clock) counts too, because its bytes have been read.
* The new watermark is the commit's committer time (never later than "now"), as DESIGN.md says.
  Bytes read in this run are never read again, so a message counted now cannot count twice; a
  message stamped after the commit but flushed to disk only after the hook ran goes to the next
  commit. A commit dated in the past (``GIT_COMMITTER_DATE``, the demo) keeps the spend that
  follows it.
* A message first read in this run but stamped up to ``LATE_GRACE_SECONDS`` before the watermark
  goes to this commit too: it reached the disk after the previous run had read its log (a
  Gemini response whose ``tokens`` were filled in when it ended, an OpenCode row completed
  later, a line cut mid-write, a file that could not be read then). Every collector keeps an
  index of what it emitted, so a message counted once is never emitted again and the grace
  cannot count it twice; the bound only keeps out old history in a log met for the first time
  (a resumed session's copy, an agent installed today).
* With no watermark (the first commit after install, or after the state was reset) the window
  opens at the parent commit's committer time, but never more than
  ``attribution.max_lookback_seconds`` before the commit; a root commit looks back the whole
  bound.
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
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from tokennotes.errors import TokennotesError
from tokennotes.hooks.logs import Message
from tokennotes.record import NamedTuple, Tokens, UsageRecord, make_id, short_hash

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from typing import Protocol

    from tokennotes.config import PricingConfig
    from tokennotes.pricing import PriceTable

    StrPath = str | os.PathLike[str]
else:
    Protocol = object  # ``Pricer`` is only a type: a plain base class at run time

STATE_DIR = "tokennotes"
STATE_FILE = "state.sqlite"
LOCK_FILE = "record.lock"
LEDGER_FILE = "pending.jsonl"  # the entries `tokennotes log` queued (hooks/manual.py)
WATERMARK_KEY = "watermark"
LOCK_TIMEOUT = 10.0
# How far before the watermark a message first read in this run may be stamped and still count
# (see the module doc): a response is stamped when it starts, and may be complete on disk only
# minutes later.
LATE_GRACE_SECONDS = 600
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
        from tokennotes import pricing  # not `from tokennotes.pricing import ...`: see below

        return pricing.tier_of(self.table, model, prompt)

    def cost_of(self, model: str, tokens: Tokens, tier: str) -> Decimal | None:
        from tokennotes import pricing

        return pricing.cost_of(self.table, model, tokens, tier)


def load_pricer(config: PricingConfig, root: StrPath) -> tuple[Pricer, list[str]]:
    """The price table of the config (shipped table + overrides) and its problems.

    Pricing never stops the hook: when no table loads, costs stay unknown (None).
    """
    try:
        # `from tokennotes.pricing import name` would look up the module's `__path__`, which
        # its `__getattr__` answers after importing pathlib (~3 ms of the hook)
        from tokennotes import pricing

        table = pricing.load_price_table(config, root=root)
    except Exception as exc:
        return NoPricing(), [f"prices unavailable ({type(exc).__name__}: {exc})"]
    return TablePricer(table), [str(p) for p in getattr(table, "problems", ())]


# -- git ------------------------------------------------------------------------------------


class RepoDirs(NamedTuple):
    """Where a repository's parts are: the work tree, this worktree's git dir, the common dir
    (absolute paths, as strings: the hook's path never imports ``pathlib``)."""

    toplevel: str
    git_dir: str
    common_dir: str

    @property
    def state_dir(self) -> str:
        return os.path.join(self.common_dir, STATE_DIR)


def run_git(repo: StrPath, *args: str, input: bytes | None = None) -> bytes:
    """Run git in ``repo``; return stdout, raise ``TokennotesError`` with git's message."""
    return GitCall(repo, *args, input=input).result()


class GitCall:
    """A git command running in ``repo`` while this process goes on; ``result()`` waits for it.

    The hook starts ``git log`` for HEAD this way before opening its state, so git's few
    milliseconds overlap Python's. ``result()`` returns stdout or raises ``TokennotesError``
    with git's message; ``close()`` ends a call whose answer is not needed.
    """

    def __init__(self, repo: StrPath, *args: str, input: bytes | None = None) -> None:
        self.repo = repo
        self.args = args
        self.input = input
        self.done = False
        env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
        try:
            self.process = subprocess.Popen(
                ["git", *args],
                cwd=repo,
                stdin=None if input is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: Exception) -> TokennotesError:
        return TokennotesError(
            f"git failed ({exc}). Is it installed, and is {self.repo} in a Git repository?"
        )

    def result(self, timeout: float = 60) -> bytes:
        try:
            stdout, stderr = self.process.communicate(self.input, timeout=timeout)
        except (OSError, subprocess.SubprocessError) as exc:
            self.close()
            raise self._failed(exc) from exc
        self.done = True
        if self.process.returncode != 0:
            problem = stderr.decode("utf-8", "replace").strip().splitlines()
            code = self.process.returncode
            raise TokennotesError(
                f"git {' '.join(self.args[:2])} failed: {problem[-1] if problem else code}"
            )
        return stdout

    def close(self) -> None:
        if self.done:
            return
        self.done = True
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()  # reaps it and closes the pipes


def repo_dirs(repo: StrPath) -> RepoDirs:
    """The work tree, git dir and common git dir of the repository containing ``repo``."""
    from tokennotes import notes

    where = notes.locate(repo)
    top = where.toplevel
    if top is None:  # raises: a bare repository has no work tree (named as a Path names it)
        from pathlib import Path

        top = notes.work_tree(Path(repo))
    return RepoDirs(toplevel=top, git_dir=where.git_dir, common_dir=where.common_dir)


# -- the lock ---------------------------------------------------------------------------------


@contextlib.contextmanager
def hook_lock(common_dir: StrPath, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``<common>/tokennotes/record.lock`` exclusively (state, watermark, pending ledger).

    Parallel commits in several worktrees of one repository take turns, so one spend is never
    attributed twice. Raises ``TokennotesError`` after ``timeout`` seconds of waiting.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, run unguarded
        yield
        return
    directory = os.path.join(os.fspath(common_dir), STATE_DIR)
    path = os.path.join(directory, LOCK_FILE)
    os.makedirs(directory, exist_ok=True)
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


# Timestamps are converted with ``time.gmtime`` and integer arithmetic: ``datetime.strptime``
# alone imports ``_strptime`` and ``calendar`` and compiles its patterns (~3 ms of the hook).
# This pattern accepts what ``strptime("%Y-%m-%dT%H:%M:%S")`` did (one-digit fields, a "t").
_ISO_SECONDS = r"(\d{4})-(\d\d?)-( ?\d\d?)[Tt](\d\d?):(\d\d?):(\d\d?)\Z"


def _iso_seconds(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) of whole seconds since the epoch."""
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )


def iso_from_ns(ns: int) -> str:
    """UTC ISO-8601 with microseconds and ``Z``."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{_iso_seconds(seconds)}.{rest // 1000:06d}Z"


def iso_from_seconds(seconds: int) -> str:
    return f"{_iso_seconds(seconds)}Z"


def ts_key(ts: str) -> str:
    """A sortable form of an ISO timestamp (``…:05Z`` and ``…:05.123Z`` compare right)."""
    base, _, frac = ts.rstrip("Z").partition(".")
    return f"{base[:19]}.{frac[:9]:0<9}"


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def ns_from_iso(ts: str) -> int:
    """Nanoseconds since the epoch of a UTC ISO timestamp ending in ``Z`` (or with no zone).

    Raises ``ValueError`` unless it starts with a valid ``YYYY-MM-DDTHH:MM:SS``.
    """
    base, _, frac = ts.rstrip("Z").partition(".")
    found = re.match(_ISO_SECONDS, base[:19])
    if found is None:
        raise ValueError(f"not an ISO timestamp: {ts!r}")
    year, month, day, hour, minute, second = (int(g) for g in found.groups())
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    if tuple(time.gmtime(seconds)[:6]) != (year, month, day, hour, minute, second):
        raise ValueError(f"not a valid time: {ts!r}")  # 2024-02-30, 24:00:00, a leap second
    return seconds * 1_000_000_000 + int(f"{frac[:9]:0<9}" or 0)


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
    commit_time: int | None = None,
) -> Window:
    """The window for this commit (see the module doc)."""
    end = iso_from_ns(now_ns)
    if watermark:
        return Window(start=watermark, end=end, watermarked=True)
    anchor_ns = now_ns if commit_time is None else min(now_ns, commit_time * 1_000_000_000)
    floor_ns = anchor_ns - max(0, max_lookback_seconds) * 1_000_000_000
    start_ns = floor_ns if parent_time is None else max(floor_ns, parent_time * 1_000_000_000)
    return Window(start=iso_from_ns(min(start_ns, now_ns)), end=end, watermarked=False)


# -- grouping ---------------------------------------------------------------------------------


def read_since_ns(window: Window, grace_seconds: int = LATE_GRACE_SECONDS) -> int:
    """The earliest time (ns) a message read now may be stamped and belong to the commit: the
    window's start, less the grace for late messages once a watermark exists."""
    if not window.watermarked:
        return window.start_ns
    return window.start_ns - max(0, grace_seconds) * 1_000_000_000


def select_messages(
    messages: Iterable[Message],
    window: Window,
    inside: Callable[[str], bool],
    grace_seconds: int = LATE_GRACE_SECONDS,
) -> Iterator[Message]:
    """The messages that belong to the commit: in the repository, after the window's start (a
    message read for the first time: up to ``grace_seconds`` before a watermark)."""
    start = ts_key(window.start)
    if window.watermarked and grace_seconds > 0:
        start = ts_key(iso_from_ns(read_since_ns(window, grace_seconds)))
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
        if not (_is_time(stamps[0][1]) and _is_time(stamps[-1][1])):  # a log's odd line
            stamps = [s for s in stamps if _is_time(s[1])] or [(ts_key(window.end), window.end)]
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


def _is_time(ts: str) -> bool:
    """Whether a timestamp is a real UTC time (not, say, 31 November): a record stamped with one
    would be skipped by every report, and its tokens with it."""
    try:
        ns_from_iso(ts)
    except ValueError:
        return False
    return True


def next_watermark(window: Window, commit_time: int) -> str:
    """The watermark after this commit: its committer time, never later than the window's end."""
    stamp = iso_from_ns(commit_time * 1_000_000_000)
    return stamp if ts_key(stamp) < ts_key(window.end) else window.end
