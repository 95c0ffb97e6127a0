"""Collect the agents' messages and fold them into token totals.

* ``agent_homes`` finds each agent's data directories (the config's overrides win over the
  agents' own variables and defaults); ``agent_dirs`` gives them as strings, without importing
  ``pathlib`` (~3 ms) when there are no overrides.
* ``collect_messages`` runs the collectors (``tokennotes.hooks.<agent>``, imported lazily: a
  missing or broken collector becomes a diagnostic, never a crash) over one ``ScanState``.
* ``fold_messages`` sums messages into *cells*, one per (agent, model, price tier, UTC day,
  cwd); ``summarize`` turns cells into ``Totals`` by agent, model, day and cwd, with costs.
* ``scan_cells`` is the whole read for ``tokennotes scan``: a big stateless (or first) scan runs
  the agents in parallel worker processes, which send back their cells (a few thousand sums)
  rather than their messages; a small or incremental one runs in this process.

Cost is linear in the tokens, so pricing each cell's summed tokens gives exactly the sum of the
per-message costs (``Decimal``, no rounding), and a cell holds one model and one price tier.
An unknown model is never priced at 0: the totals it is part of have no cost (``None``) and
the model is listed as unpriced.

Only the standard library and the package's core modules are imported here.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from types import ModuleType

from tokennotes.hooks.logs import AGENTS, Diagnostics, Message
from tokennotes.hooks.repomap import RepoMatcher
from tokennotes.hooks.state import ScanState
from tokennotes.record import NamedTuple

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:  # importing config costs more than a whole incremental scan
    from datetime import datetime, timedelta
    from pathlib import Path
    from typing import Any

    from tokennotes.config import AgentsConfig, PricingConfig

# agent -> module implementing its collector (AGENT, homes(environ, home), collect(...))
COLLECTORS: dict[str, str] = {agent: f"tokennotes.hooks.{agent}" for agent in AGENTS}

# Below this many bytes to read, forking workers costs more than it saves.
PARALLEL_MIN_BYTES = 32 << 20

# A prompt above every price tier's threshold: a model with no tier for it has no tiers at all.
_HUGE_PROMPT = 1 << 62

StrPath = str | os.PathLike[str]  # paths are strings on the hook's path (see agent_dirs)

# A cell: (agent, model, price tier, UTC day, cwd) -> [input, output, cache_read,
# cache_write_5m, cache_write_1h, reasoning, messages]
CellKey = tuple[str, str, str, str, str]
Cells = dict[CellKey, list[int]]
TierOf = Callable[[str, int], str]
CostOf = Callable[[str, "Totals", str], "Decimal | None"]


# -- collectors and homes ---------------------------------------------------------------------


def load_collector(agent: str, diag: Diagnostics | None = None) -> ModuleType | None:
    """The collector module of ``agent``, or None (with a diagnostic) when it cannot load."""
    name = COLLECTORS.get(agent)
    if name is None:
        if diag is not None:
            diag.error(agent, "no collector for this agent")
        return None
    try:
        return importlib.import_module(name)
    except Exception as exc:  # a broken collector must not stop the others
        if diag is not None:
            diag.error(agent, f"collector unavailable ({type(exc).__name__}: {exc})")
        return None


# How a configured home reaches an agent's own ``homes()``: through the variable that names one,
# so that the agent's rules apply (a Claude config dir means its ``projects/``). Gemini's
# configured dir is its ``.gemini`` dir itself.
_HOME_VARIABLE = {
    "claude": "CLAUDE_CONFIG_DIR",
    "codex": "CODEX_HOME",
    "opencode": "OPENCODE_DATA_DIR",
}


def _expand(entry: str, home: StrPath) -> Path:
    from pathlib import Path  # a config file was read: pathlib is imported already

    if entry == "~" or entry.startswith(("~/", "~\\")):
        return Path(home) / entry[2:]
    return Path(entry)


def _configured(agent: str, module: ModuleType, dirs: Sequence[Path], home: StrPath) -> list[str]:
    variable = _HOME_VARIABLE.get(agent)
    found: list[Path] = []
    for path in dirs:
        if variable is None:
            found += [path] if path.is_dir() else []
        else:
            found += module.homes({variable: str(path)}, home)
    return [str(path) for path in dict.fromkeys(found)]


def agent_homes(
    config: AgentsConfig | None,
    environ: Mapping[str, str],
    home: Path,
    diag_by_agent: MutableMapping[str, Diagnostics] | None = None,
    agents: Iterable[str] | None = None,
) -> dict[str, list[Path]]:
    """Each enabled agent's (or each of ``agents``') existing data directories, in order.

    A non-empty override in the config (``agents.claude: [...]``) replaces what the agent's
    own variables and defaults give; ``~`` in it means ``home``. ``config=None`` means the
    defaults: every agent, no overrides.
    """
    from pathlib import Path

    found = agent_dirs(config, environ, home, diag_by_agent, agents)
    return {agent: [Path(path) for path in paths] for agent, paths in found.items()}


def agent_dirs(
    config: AgentsConfig | None,
    environ: Mapping[str, str],
    home: StrPath,
    diag_by_agent: MutableMapping[str, Diagnostics] | None = None,
    agents: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """``agent_homes``, as the strings of those paths (a collector's ``home_dirs``)."""
    homes: dict[str, list[str]] = {}
    if agents is None:
        agents = AGENTS if config is None else config.enabled
    for agent in agents:
        diag = None if diag_by_agent is None else diag_by_agent.setdefault(agent, Diagnostics())
        override: tuple[str, ...] = () if config is None else getattr(config, agent, ())
        module = load_collector(agent, diag)
        if module is None:
            homes[agent] = []
            continue
        try:
            if override:
                dirs = [_expand(entry, home) for entry in override]
                homes[agent] = _configured(agent, module, dirs, home)
            elif hasattr(module, "home_dirs"):
                homes[agent] = list(module.home_dirs(environ, home))
            else:  # a collector with homes() only
                homes[agent] = [str(path) for path in module.homes(environ, home)]
        except Exception as exc:
            if diag is not None:
                diag.error(agent, f"cannot locate its logs ({type(exc).__name__}: {exc})")
            homes[agent] = []
    return homes


def accepts_roots(module: ModuleType) -> bool:
    """Does the collector take ``roots=`` (candidate project roots, e.g. Gemini's hash dirs)?"""
    code = getattr(getattr(module, "collect", None), "__code__", None)
    if code is None:
        return False
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return "roots" in names


def collect_messages(
    homes_by_agent: Mapping[str, Sequence[StrPath]],
    state: ScanState,
    diag_by_agent: MutableMapping[str, Diagnostics],
    agents: Iterable[str] | None = None,
    *,
    roots: Iterable[str] = (),
) -> Iterator[Message]:
    """The messages of every agent with a home (or of ``agents``), one agent after another.

    ``roots`` are candidate project roots for collectors that take them (Gemini's old
    SHA-256-named project dirs name no path); the cwds of the agents read before such a
    collector are added to them. A collector that cannot be imported or that raises is
    reported in its agent's diagnostics and the scan goes on with the next agent.
    """
    order = [a for a in (homes_by_agent if agents is None else agents) if homes_by_agent.get(a)]
    modules: dict[str, ModuleType | None] = {}
    for agent in order:
        modules[agent] = load_collector(agent, diag_by_agent.setdefault(agent, Diagnostics()))
    wants_roots = [a for a, m in modules.items() if m is not None and accepts_roots(m)]
    # read the agents that take roots last, learning cwds from the others
    order = [a for a in order if a not in wants_roots] + wants_roots
    known = dict.fromkeys(roots)
    for agent in order:
        module = modules[agent]
        if module is None:
            continue
        diag = diag_by_agent[agent]
        learn = bool(wants_roots) and agent not in wants_roots
        try:
            if agent in wants_roots:
                messages = module.collect(homes_by_agent[agent], state, diag, roots=list(known))
            else:
                messages = module.collect(homes_by_agent[agent], state, diag)
            if learn:
                for message in messages:
                    known[message.cwd] = None
                    yield message
            else:
                yield from messages
        except Exception as exc:
            import traceback

            where = traceback.extract_tb(exc.__traceback__)[-1]
            diag.error(
                agent,
                f"collector failed ({type(exc).__name__}: {exc} at "
                f"{os.path.basename(where.filename)}:{where.lineno})",
            )


# -- selection --------------------------------------------------------------------------------


def _ts_key(ts: str) -> tuple[str, int]:
    """``YYYY-MM-DDTHH:MM:SS[.fff…]Z`` -> (seconds part, microseconds) for exact comparison."""
    head = ts[:19]
    if len(ts) > 20 and ts[19] == ".":
        digits = ts[20:].rstrip("Z")[:6]
        return head, int(digits.ljust(6, "0")) if digits.isascii() and digits.isdigit() else 0
    return head, 0


def utc_bound(moment: datetime) -> tuple[str, int]:
    """A bound for ``Selection`` from an aware (or UTC-naive) datetime."""
    from datetime import timezone  # here: an incremental scan has no bounds

    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S"), moment.microsecond


class Selection(NamedTuple):
    """Which messages to keep: ``since <= ts < until`` (UTC) and cwd inside ``roots``.

    Bounds are ``utc_bound`` pairs; ``roots`` are normalised repository roots (None: any cwd).
    """

    since: tuple[str, int] | None = None
    until: tuple[str, int] | None = None
    roots: tuple[str, ...] | None = None

    def predicate(self) -> Callable[[Message], bool] | None:
        """A test for one message, or None when everything is kept."""
        since, until = self.since, self.until
        matcher = None if self.roots is None else RepoMatcher(self.roots)
        if since is None and until is None and matcher is None:
            return None

        def keep(message: Message) -> bool:
            ts = message.ts
            if since is not None:
                head = ts[:19]
                if head < since[0] or (head == since[0] and _ts_key(ts) < since):
                    return False
            if until is not None:
                head = ts[:19]
                if head > until[0] or (head == until[0] and _ts_key(ts) >= until):
                    return False
            return matcher is None or matcher(message.cwd)

        return keep

    def since_ns(self, margin: timedelta | None = None) -> int | None:
        """Files last modified ``margin`` (default: one day) before ``since`` hold nothing
        selected."""
        if self.since is None:
            return None
        from datetime import datetime, timedelta, timezone

        if margin is None:
            margin = timedelta(days=1)
        moment = datetime.strptime(self.since[0], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        return int((moment - margin).timestamp()) * 1_000_000_000


# -- folding ----------------------------------------------------------------------------------


def fold_messages(
    messages: Iterable[Message],
    cells: Cells | None = None,
    *,
    keep: Callable[[Message], bool] | None = None,
    tier_of: TierOf | None = None,
) -> Cells:
    """Add ``messages`` (those ``keep`` accepts) into ``cells`` and return them."""
    if cells is None:
        cells = {}
    get = cells.get
    tiered: dict[str, bool] = {}  # model -> has any price tier (most have none)
    for message in messages:
        if keep is not None and not keep(message):
            continue
        agent, ts, _, cwd, model, inp, out, cr, cw5, cw1, rsn, new, _, _, prompt = message
        tier = ""
        if tier_of is not None and prompt:
            has_tiers = tiered.get(model)
            if has_tiers is None:
                has_tiers = tiered[model] = tier_of(model, _HUGE_PROMPT) != ""
            if has_tiers:
                tier = tier_of(model, prompt)
        key = (agent, model, tier, ts[:10], cwd)
        cell = get(key)
        if cell is None:
            cells[key] = [inp, out, cr, cw5, cw1, rsn, new]
        else:
            cell[0] += inp
            cell[1] += out
            cell[2] += cr
            cell[3] += cw5
            cell[4] += cw1
            cell[5] += rsn
            cell[6] += new
    return cells


def merge_cells(into: Cells, other: Cells) -> Cells:
    for key, values in other.items():
        cell = into.get(key)
        if cell is None:
            into[key] = list(values)
        else:
            for i, value in enumerate(values):
                cell[i] += value
    return into


class Totals(NamedTuple):
    """Summed tokens of some messages; ``cost_usd`` is None when any of them is unpriced.

    ``priced_usd`` is the cost of the priced part (equal to ``cost_usd`` when complete).
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    reasoning: int = 0
    messages: int = 0
    priced_usd: Decimal = Decimal(0)
    unpriced: int = 0  # token-carrying cells without a price

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    @property
    def cost_usd(self) -> Decimal | None:
        return None if self.unpriced else self.priced_usd

    def to_json(self) -> dict[str, Any]:
        cost = self.cost_usd
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "cache_write_5m": self.cache_write_5m,
            "cache_write_1h": self.cache_write_1h,
            "reasoning": self.reasoning,
            "messages": self.messages,
            "total": self.total,
            "cost_usd": None if cost is None else format_usd(cost),
        }


def format_usd(amount: Decimal) -> str:
    """Dollars to the micro-dollar, as a plain decimal string (``"0.120971"``)."""
    return f"{amount.quantize(Decimal('0.000001'), rounding=ROUND_HALF_UP):f}"


class AgentTotals(NamedTuple):
    totals: Totals
    by_model: dict[str, Totals]
    by_day: dict[str, Totals]
    by_cwd: dict[str, Totals]
    unpriced_models: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "totals": self.totals.to_json(),
            "by_model": {k: v.to_json() for k, v in self.by_model.items()},
            "by_day": {k: v.to_json() for k, v in self.by_day.items()},
            "by_cwd": {k: v.to_json() for k, v in self.by_cwd.items()},
        }


class Summary(NamedTuple):
    agents: dict[str, AgentTotals]
    totals: Totals
    unpriced_models: dict[str, tuple[str, ...]]


def _add(acc: dict[str, list[Any]], key: str, values: Sequence[int], cost: Decimal | None) -> None:
    row = acc.get(key)
    if row is None:
        row = acc[key] = [0, 0, 0, 0, 0, 0, 0, Decimal(0), 0]
    for i in range(7):
        row[i] += values[i]
    if cost is None:
        row[8] += 1
    else:
        row[7] += cost


def _totals(row: Sequence[Any]) -> Totals:
    return Totals(*row)


def summarize(cells: Cells, cost_of: CostOf | None, agents: Iterable[str] = ()) -> Summary:
    """Totals per agent (and by model, UTC day and cwd) and overall, with costs.

    ``cost_of(model, tokens, tier)`` prices a cell (None: unknown model); without it nothing
    is priced. ``agents`` lists agents to include even when they have no cells.
    """
    views: dict[str, dict[str, dict[str, list[Any]]]] = {}
    for agent in agents:
        views.setdefault(agent, {"": {}, "model": {}, "day": {}, "cwd": {}})
    unpriced: dict[str, set[str]] = {}
    overall: dict[str, list[Any]] = {}
    for (agent, model, tier, day, cwd), values in sorted(cells.items()):
        tokens = Totals(values[0], values[1], values[2], values[3], values[4], values[5])
        cost: Decimal | None = None
        if cost_of is not None:
            cost = cost_of(model, tokens, tier)
        if cost is None and tokens.total == 0:
            cost = Decimal(0)  # nothing to price: an unknown model with no tokens costs 0
        if cost is None:
            unpriced.setdefault(agent, set()).add(model)
        view = views.setdefault(agent, {"": {}, "model": {}, "day": {}, "cwd": {}})
        _add(view[""], "", values, cost)
        _add(view["model"], model, values, cost)
        _add(view["day"], day, values, cost)
        _add(view["cwd"], cwd, values, cost)
        _add(overall, "", values, cost)
    result: dict[str, AgentTotals] = {}
    for agent, view in views.items():
        result[agent] = AgentTotals(
            totals=_totals(view[""].get("", [0] * 7 + [Decimal(0), 0])),
            by_model={k: _totals(v) for k, v in sorted(view["model"].items())},
            by_day={k: _totals(v) for k, v in sorted(view["day"].items())},
            by_cwd={k: _totals(v) for k, v in sorted(view["cwd"].items())},
            unpriced_models=tuple(sorted(unpriced.get(agent, ()))),
        )
    return Summary(
        agents=result,
        totals=_totals(overall.get("", [0] * 7 + [Decimal(0), 0])),
        unpriced_models={a: tuple(sorted(m)) for a, m in unpriced.items()},
    )


# -- pricing (optional) -----------------------------------------------------------------------


class Pricing(NamedTuple):
    """The price table's functions, bound to one loaded table."""

    version: str
    tier_of: TierOf
    cost_of: CostOf


def load_pricing(
    config: PricingConfig | None = None, root: StrPath | None = None
) -> tuple[Pricing | None, list[str]]:
    """The price table, or (None, [why]) when pricing is unavailable: costs are then unknown.

    The second item lists the table's problems (a broken override, say), never fatal.
    """
    try:
        module: Any = importlib.import_module("tokennotes.pricing")
        table = module.load_price_table(config, root=root)
    except Exception as exc:
        return None, [f"pricing unavailable ({type(exc).__name__}: {exc})"]
    cost = module.cost_of
    tier_of: TierOf = functools.partial(module.tier_of, table)

    def cost_of(model: str, tokens: Totals, tier_name: str) -> Decimal | None:
        # pricing reads the token attributes only (input, output, cache_read, cache_write,
        # cache_write_1h), which Totals has: no need to import record.Tokens for it
        value = cost(table, model, tokens, tier_name)
        return None if value is None else Decimal(value)

    problems = [str(p) for p in getattr(table, "problems", ())]
    return Pricing(str(getattr(table, "version", "")), tier_of, cost_of), problems


# -- the whole read, possibly in parallel -----------------------------------------------------


class ScanResult(NamedTuple):
    cells: Cells
    diagnostics: dict[str, Diagnostics]
    workers: int  # processes that read logs (1: all in this process)


def _read(
    agents: Sequence[str],
    homes_by_agent: Mapping[str, Sequence[StrPath]],
    selection: Selection,
    tier_of: TierOf | None,
    state_path: StrPath | None,
    since_ns: int | None,
    state: ScanState | None = None,
) -> tuple[Cells, dict[str, Diagnostics]]:
    """Collect and fold ``agents``; open the state (unless given), save it and close it."""
    diags: dict[str, Diagnostics] = {agent: Diagnostics() for agent in agents}
    if state is None:
        state = ScanState(state_path, since_ns=since_ns)
    try:
        messages = collect_messages(
            homes_by_agent, state, diags, agents, roots=selection.roots or ()
        )
        cells = fold_messages(messages, keep=selection.predicate(), tier_of=tier_of)
        state.save()
    finally:
        state.close()
    return cells, diags


def _child(conn: Any, args: tuple[Any, ...]) -> None:  # pragma: no cover - runs in a child
    import pickle

    try:
        payload: tuple[str, Any] = ("ok", _read(*args))
    except BaseException as exc:
        payload = ("error", f"{type(exc).__name__}: {exc}")
    try:
        conn.send_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        conn.close()


def estimate_bytes(homes: Iterable[StrPath], limit: int | None = None) -> int:
    """Bytes of the files under ``homes`` (stops counting past ``limit``)."""
    total = 0
    stack = [os.fspath(h) for h in homes]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file():
                            total += entry.stat().st_size
                    except OSError:
                        continue
        except OSError:
            continue
        if limit is not None and total > limit:
            break
    return total


def plan_groups(sizes: Mapping[str, int], workers: int) -> list[list[str]]:
    """Split agents into at most ``workers`` groups of similar size, biggest group first."""
    groups: list[tuple[int, list[str]]] = []
    for agent in sorted(sizes, key=lambda a: -sizes[a]):
        if len(groups) < workers:
            groups.append((sizes[agent], [agent]))
        else:
            smallest = min(range(len(groups)), key=lambda i: groups[i][0])
            size, members = groups[smallest]
            groups[smallest] = (size + sizes[agent], [*members, agent])
    groups.sort(key=lambda g: -g[0])
    return [members for _, members in groups]


def _fork_context() -> Any:
    """A start method that needs no re-import, when one is safe here; else None."""
    import multiprocessing
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        if "fork" in multiprocessing.get_all_start_methods():
            return multiprocessing.get_context("fork")
    return None


def scan_cells(
    homes_by_agent: Mapping[str, Sequence[StrPath]],
    *,
    selection: Selection | None = None,
    tier_of: TierOf | None = None,
    state_path: StrPath | None = None,
    since_ns: int | None = None,
    parallel: bool | None = None,
) -> ScanResult:
    """Read every agent's logs (per ``state_path``'s offsets, if given) into cells.

    ``parallel=None`` decides: a first or stateless scan with more than ``PARALLEL_MIN_BYTES``
    to read, spread over at least two agents, runs each group of agents in its own process (on
    Linux, forked), each with its own handle on the state file; an incremental one (the state
    has offsets), a small one or one agent's runs here. Raises ``StateError`` for a state file
    that cannot be used.
    """
    selection = selection or Selection()
    agents = [agent for agent, homes in homes_by_agent.items() if homes]
    state = ScanState(state_path, since_ns=since_ns)  # opened once: loading it is not free
    groups = [agents]
    if parallel is not False and len(agents) > 1 and (parallel or not state.files):
        groups = _plan(homes_by_agent, agents, force=parallel is True)
    context = _fork_context() if len(groups) > 1 else None
    if context is None:
        cells, diags = _read(agents, homes_by_agent, selection, tier_of, None, None, state)
        return ScanResult(cells, diags, 1)
    state.close()  # each process opens its own handle

    import pickle

    children = []
    for group in groups[1:]:
        receive, send = context.Pipe(duplex=False)
        args = (group, homes_by_agent, selection, tier_of, state_path, since_ns)
        process = context.Process(target=_child, args=(send, args), daemon=True)
        process.start()
        send.close()
        children.append((group, process, receive))
    cells, diags = _read(groups[0], homes_by_agent, selection, tier_of, state_path, since_ns)
    for group, process, receive in children:
        try:
            status, payload = pickle.loads(receive.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            status, payload = "error", f"worker died ({type(exc).__name__})"
        finally:
            receive.close()
            process.join()
        if status != "ok":  # read this group here instead
            problem = payload
            payload = _read(group, homes_by_agent, selection, tier_of, state_path, since_ns)
            payload[1][group[0]].error("worker", f"{problem}; read in the main process instead")
        merge_cells(cells, payload[0])
        diags.update(payload[1])
    return ScanResult(cells, diags, len(groups))


def _plan(
    homes_by_agent: Mapping[str, Sequence[StrPath]], agents: Sequence[str], *, force: bool
) -> list[list[str]]:
    cpus = os.cpu_count() or 1
    workers = min(max(cpus, 2) if force else cpus, len(agents))
    if workers < 2:
        return [list(agents)]
    sizes = {agent: estimate_bytes(homes_by_agent[agent]) for agent in agents}
    if not force:
        busy = [a for a in agents if sizes[a] > 0]
        if sum(sizes.values()) < PARALLEL_MIN_BYTES or len(busy) < 2:
            return [list(agents)]
    return plan_groups(sizes, workers)
