from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tokennotes.config import AgentsConfig
from tokennotes.hooks import collect
from tokennotes.hooks.collect import (
    Selection,
    Totals,
    agent_homes,
    collect_messages,
    estimate_bytes,
    fold_messages,
    format_usd,
    load_pricing,
    merge_cells,
    plan_groups,
    scan_cells,
    summarize,
    utc_bound,
)
from tokennotes.hooks.logs import Diagnostics, Message, iter_lines
from tokennotes.hooks.state import ScanState
from tokennotes.record import Tokens

# -- a minimal collector in the contract's shape, for the orchestrator's own behaviour ---------
# (one JSON object per line: {"ts", "cwd", "model", "input", "output", ...}; the real
# collectors are exercised by scan_test.py)


def _fake_collector(
    agent: str, variable: str, *, fail_after: int | None = None
) -> types.ModuleType:
    module = types.ModuleType(f"fake_collector_{agent}")

    def homes(environ: Mapping[str, str], home: Path) -> list[Path]:
        path = environ.get(variable)
        return [Path(path)] if path and Path(path).is_dir() else []

    def collect(homes: Sequence[Path], state: ScanState, diag: Diagnostics) -> Iterator[Message]:
        emitted = 0
        for home in homes:
            for path in sorted(home.glob("*.jsonl")):
                chunk = state.read(str(path), diag)
                if chunk is None:
                    continue
                for line in iter_lines(chunk.data):
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        diag.malformed(str(path))
                        continue
                    if fail_after is not None and emitted >= fail_after:
                        raise RuntimeError("collector bug")
                    emitted += 1
                    yield Message(
                        agent=agent,
                        ts=obj["ts"],
                        session="s",
                        cwd=obj.get("cwd", "/r"),
                        model=obj.get("model", "m"),
                        input=obj.get("input", 0),
                        output=obj.get("output", 0),
                        cache_read=obj.get("cache_read", 0),
                        cache_write_5m=obj.get("cw5", 0),
                        cache_write_1h=obj.get("cw1", 0),
                        reasoning=obj.get("reasoning", 0),
                        prompt=obj.get("prompt", 0),
                    )

    module.AGENT = agent  # type: ignore[attr-defined]
    module.homes = homes  # type: ignore[attr-defined]
    module.collect = collect  # type: ignore[attr-defined]
    return module


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """claude and codex served by fake collectors reading $FAKE_CLAUDE / $FAKE_CODEX."""
    names = {}
    for agent in ("claude", "codex"):
        name = f"fake_collector_{agent}"
        monkeypatch.setitem(sys.modules, name, _fake_collector(agent, f"FAKE_{agent.upper()}"))
        monkeypatch.setitem(collect.COLLECTORS, agent, name)
        names[agent] = name
    monkeypatch.setitem(collect.COLLECTORS, "gemini", "no_such_module_for_tests")
    return names


def _write(path: Path, *rows: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def _msg(**fields: object) -> Message:
    base: dict[str, object] = {
        "agent": "claude",
        "ts": "2026-11-19T10:00:00Z",
        "session": "s",
        "cwd": "/home/dev/repo-a",
        "model": "m",
        "input": 0,
        "output": 0,
        "cache_read": 0,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "reasoning": 0,
    }
    base.update(fields)
    return Message(**base)  # type: ignore[arg-type]


# -- homes ------------------------------------------------------------------------------------


def test_agent_homes_from_the_agents_own_variables(tmp_path: Path) -> None:
    (tmp_path / "claude-cfg" / "projects").mkdir(parents=True)
    (tmp_path / ".codex").mkdir()
    diags: dict[str, Diagnostics] = {}
    homes = agent_homes(
        AgentsConfig(enabled=("claude", "codex", "gemini")),
        {"CLAUDE_CONFIG_DIR": str(tmp_path / "claude-cfg")},
        tmp_path,
        diags,
    )
    assert homes == {
        "claude": [(tmp_path / "claude-cfg" / "projects").resolve()],
        "codex": [(tmp_path / ".codex").resolve()],
        "gemini": [],
    }
    assert agent_homes(None, {}, tmp_path, agents=["codex"]) == {"codex": homes["codex"]}
    assert list(agent_homes(None, {}, tmp_path)) == ["claude", "codex", "gemini", "opencode"]


def test_config_overrides_win_over_variables(tmp_path: Path) -> None:
    for name in ("env/projects", "cfg/projects", "rel/projects", "codex-a", "g", "oc"):
        (tmp_path / name).mkdir(parents=True)
    config = AgentsConfig(
        claude=(str(tmp_path / "cfg"), "~/rel/projects", str(tmp_path / "nope")),
        codex=(str(tmp_path / "codex-a"), str(tmp_path / "codex-a")),
        gemini=(str(tmp_path / "g"),),
        opencode=(str(tmp_path / "oc"),),
    )
    environ = {"CLAUDE_CONFIG_DIR": str(tmp_path / "env"), "CODEX_HOME": str(tmp_path / "x")}
    homes = agent_homes(config, environ, tmp_path)
    assert homes == {
        "claude": [(tmp_path / "cfg/projects").resolve(), (tmp_path / "rel/projects").resolve()],
        "codex": [(tmp_path / "codex-a").resolve()],
        "gemini": [tmp_path / "g"],
        "opencode": [tmp_path / "oc"],
    }


def test_a_missing_collector_is_a_diagnostic(fakes: dict[str, str], tmp_path: Path) -> None:
    diags: dict[str, Diagnostics] = {}
    assert agent_homes(None, {}, tmp_path, diags, agents=["gemini"]) == {"gemini": []}
    assert "collector unavailable" in diags["gemini"].errors[0]


def test_a_collector_whose_homes_raises_is_a_diagnostic(
    fakes: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(environ: Mapping[str, str], home: Path) -> list[Path]:
        raise KeyError("HOME")

    monkeypatch.setattr(sys.modules[fakes["codex"]], "homes", broken)
    diags: dict[str, Diagnostics] = {}
    homes = agent_homes(AgentsConfig(enabled=("codex",)), {}, tmp_path, diags)
    assert homes == {"codex": []}
    assert "cannot locate its logs" in diags["codex"].errors[0]


# -- collecting -------------------------------------------------------------------------------


def test_collect_messages_goes_on_past_missing_and_failing_collectors(
    fakes: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, fakes["claude"], _fake_collector("claude", "X", fail_after=1))
    for agent in ("claude", "codex"):
        _write(
            tmp_path / agent / "a.jsonl",
            {"ts": "2026-11-19T10:00:00Z", "input": 1},
            {"ts": "2026-11-19T10:00:01Z", "input": 2},
        )
    homes = {"gemini": [tmp_path], "claude": [tmp_path / "claude"], "codex": [tmp_path / "codex"]}
    diags: dict[str, Diagnostics] = {}
    messages = list(collect_messages(homes, ScanState(None), diags))
    assert [(m.agent, m.input) for m in messages] == [("claude", 1), ("codex", 1), ("codex", 2)]
    assert "collector unavailable" in diags["gemini"].errors[0]
    assert "collector failed (RuntimeError: collector bug" in diags["claude"].errors[0]
    assert diags["codex"].errors == []


def test_collectors_taking_roots_come_last_and_learn_the_others_cwds(
    fakes: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    got: list[list[str]] = []
    rooted = types.ModuleType("fake_rooted")

    def collect_rooted(
        homes: Sequence[Path], state: ScanState, diag: Diagnostics, *, roots: Sequence[str] = ()
    ) -> Iterator[Message]:
        got.append(list(roots))
        yield _msg(agent="gemini")

    rooted.collect = collect_rooted  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_rooted", rooted)
    monkeypatch.setitem(collect.COLLECTORS, "gemini", "fake_rooted")
    _write(tmp_path / "c" / "a.jsonl", {"ts": "2026-11-19T10:00:00Z", "cwd": "/home/dev/b"})
    homes = {"gemini": [tmp_path], "claude": [tmp_path / "c"]}
    messages = list(collect_messages(homes, ScanState(None), {}, roots=["/given"]))
    assert [m.agent for m in messages] == ["claude", "gemini"]
    assert got == [["/given", "/home/dev/b"]]


# -- selection --------------------------------------------------------------------------------


def test_selection_bounds_are_exact_to_the_microsecond() -> None:
    since = utc_bound(datetime(2026, 11, 19, 23, 59, 58, 500000, tzinfo=timezone.utc))
    until = utc_bound(datetime(2026, 11, 20, 0, 0, 3))
    keep = Selection(since=since, until=until).predicate()
    assert keep is not None
    ts = [
        "2026-11-19T23:59:58Z",
        "2026-11-19T23:59:58.4Z",
        "2026-11-19T23:59:58.5Z",
        "2026-11-19T23:59:58.900Z",
        "2026-11-20T00:00:02.999999Z",
        "2026-11-20T00:00:03Z",
        "2026-11-20T00:00:03.001Z",
    ]
    assert [keep(_msg(ts=t)) for t in ts] == [False, False, True, True, True, False, False]


def test_odd_digits_in_a_time_never_raise() -> None:
    """str.isdigit() takes "²", which int() refuses: such a fraction on the bound's second is
    no fraction, and the collectors' time reader does not let such a time through."""
    from tokennotes.hooks.logs import utc_timestamp

    since = utc_bound(datetime(2026, 11, 19, 23, 59, 58, 500000, tzinfo=timezone.utc))
    keep = Selection(since=since).predicate()
    assert keep is not None
    assert keep(_msg(ts="2026-11-19T23:59:58.\u00b2\u00b2\u00b2Z")) is False
    assert utc_timestamp("2026-11-19T23:59:58.\u00b2\u00b2\u00b2Z") is None
    assert utc_timestamp("2026-11-19T23:59:58.\u0663\u0663\u0663Z") is None
    assert utc_timestamp("2026-11-19T23:59:58.333Z") == "2026-11-19T23:59:58.333Z"


def test_selection_by_repository_roots() -> None:
    keep = Selection(roots=("/home/dev/repo-a",)).predicate()
    assert keep is not None
    assert keep(_msg(cwd="/home/dev/repo-a/sub"))
    assert not keep(_msg(cwd="/home/dev/repo-a-old"))
    assert not keep(_msg(cwd="/home/dev"))
    assert Selection().predicate() is None


def test_utc_bound_converts_offsets() -> None:
    from datetime import timedelta

    moment = datetime(2026, 11, 20, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert utc_bound(moment) == ("2026-11-19T23:30:00", 0)


def test_since_ns_leaves_a_day_of_margin() -> None:
    selection = Selection(since=("2026-11-20T00:00:00", 0))
    expected = datetime(2026, 11, 19, tzinfo=timezone.utc).timestamp()
    assert selection.since_ns() == int(expected) * 10**9
    assert Selection().since_ns() is None


# -- folding and totals ----------------------------------------------------------------------


def test_fold_and_summarize_by_agent_model_day_and_cwd() -> None:
    messages = [
        _msg(model="a", input=10, output=5, cache_read=100, cache_write_5m=7, cache_write_1h=3),
        _msg(model="a", ts="2026-11-20T00:00:01Z", input=1, output=2, reasoning=1),
        _msg(model="0", ts="2026-11-20T00:00:01Z"),
        _msg(model="b", cwd="/home/dev/repo-b", output=4, new=0),  # growth of a counted one
        _msg(agent="codex", model="a", input=1000),
    ]
    cells = fold_messages(messages)
    summary = summarize(cells, None)
    claude = summary.agents["claude"]
    assert claude.totals[:7] == (11, 11, 100, 7, 3, 1, 3)
    assert claude.totals.cache_write == 10
    assert claude.totals.total == 132
    assert claude.by_model["b"].messages == 0
    assert claude.by_model["b"].output == 4
    assert list(claude.by_day) == ["2026-11-19", "2026-11-20"]  # sorted, whatever the models
    assert claude.by_cwd["/home/dev/repo-b"].total == 4
    assert summary.totals.input == 1011
    assert summary.totals.messages == 4
    # no pricing: nothing has a cost, and every model with tokens is listed as unpriced
    assert summary.totals.cost_usd is None
    assert summary.unpriced_models == {"claude": ("a", "b"), "codex": ("a",)}


def test_unknown_model_makes_every_total_it_is_in_incomplete() -> None:
    def cost_of(model: str, tokens: Totals, tier: str) -> Decimal | None:
        return None if model == "mystery" else Decimal(tokens.input) / 1000

    cells = fold_messages(
        [
            _msg(model="known", input=500),
            _msg(model="mystery", input=7, cwd="/x"),
            _msg(model="mystery", ts="2026-11-21T00:00:00Z"),  # no tokens: costs nothing
        ]
    )
    summary = summarize(cells, cost_of, agents=["codex"])
    claude = summary.agents["claude"]
    assert claude.by_model["known"].cost_usd == Decimal("0.5")
    assert claude.by_model["mystery"].cost_usd is None
    assert claude.by_cwd["/x"].cost_usd is None
    assert claude.by_day["2026-11-21"].cost_usd == 0
    assert claude.by_day["2026-11-19"].cost_usd is None
    assert claude.by_day["2026-11-19"].priced_usd == Decimal("0.5")
    assert claude.totals.cost_usd is None
    assert claude.unpriced_models == ("mystery",)
    assert summary.totals.to_json()["cost_usd"] is None
    assert summary.agents["codex"].totals == Totals()  # listed although it has nothing
    assert summary.agents["codex"].totals.to_json()["cost_usd"] == "0.000000"


def test_tiers_split_cells_and_are_priced_per_request() -> None:
    def tier_of(model: str, prompt: int) -> str:
        return "above_200k" if prompt > 200_000 else ""

    def cost_of(model: str, tokens: Totals, tier: str) -> Decimal | None:
        return Decimal(tokens.input) * (2 if tier else 1)

    cells = fold_messages(
        [_msg(input=10, prompt=300_000), _msg(input=10, prompt=100), _msg(input=10)],
        tier_of=tier_of,
    )
    assert sorted(k[2] for k in cells) == ["", "above_200k"]
    assert summarize(cells, cost_of).totals.cost_usd == Decimal(40)


def test_merge_cells_adds() -> None:
    one = fold_messages([_msg(input=1)])
    two = fold_messages([_msg(input=2), _msg(model="z", output=1)])
    merged = merge_cells(one, two)
    assert summarize(merged, None).totals[:2] == (3, 1)
    assert len(merged) == 2


def test_format_usd() -> None:
    assert format_usd(Decimal("0.1209705")) == "0.120971"
    assert format_usd(Decimal(0)) == "0.000000"
    assert format_usd(Decimal("1E-9")) == "0.000000"


def test_without_pricing_costs_are_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tokennotes.pricing", None)  # as if it were not installed
    pricing, problems = load_pricing()
    assert pricing is None
    assert problems[0].startswith("pricing unavailable")


def test_real_prices_cost_a_cell_like_the_sum_of_its_messages() -> None:
    pricing, problems = load_pricing()
    if pricing is None:
        pytest.skip(problems[0])
    from tokennotes import pricing as prices

    table = prices.load_price_table()
    model = "claude-sonnet-4-5-20250929"
    messages = [
        _msg(model=model, input=3, output=310, cache_write_5m=2000, prompt=2003),
        _msg(model=model, input=12, output=5, cache_read=4500, cache_write_1h=500, prompt=5012),
    ]
    each = [
        prices.cost_of(
            table,
            model,
            Tokens(
                input=m.input,
                output=m.output,
                cache_read=m.cache_read,
                cache_write=m.cache_write,
                cache_write_1h=m.cache_write_1h,
            ),
            prices.tier_of(table, model, m.prompt),
        )
        for m in messages
    ]
    cells = fold_messages(messages, tier_of=pricing.tier_of)
    assert summarize(cells, pricing.cost_of).totals.cost_usd == sum(c or 0 for c in each)
    assert None not in each
    summary = summarize(fold_messages([_msg(model="no-such-model-xyz", input=1)]), pricing.cost_of)
    assert summary.unpriced_models == {"claude": ("no-such-model-xyz",)}


# -- the whole read ---------------------------------------------------------------------------


def _home(tmp_path: Path) -> dict[str, list[Path]]:
    rows = [
        {"ts": f"2026-11-{19 + i % 2}T10:00:{i % 60:02d}Z", "cwd": f"/r{i % 3}", "input": i}
        for i in range(200)
    ]
    _write(tmp_path / "claude" / "a.jsonl", *rows[:120])
    _write(tmp_path / "claude" / "b.jsonl", *rows[120:])
    (tmp_path / "claude" / "c.jsonl").write_text("not json\n")
    _write(tmp_path / "codex" / "a.jsonl", *[{**r, "model": "x"} for r in rows])
    return {"claude": [tmp_path / "claude"], "codex": [tmp_path / "codex"]}


def test_parallel_and_in_process_reads_agree(fakes: dict[str, str], tmp_path: Path) -> None:
    homes = _home(tmp_path)
    alone = scan_cells(homes, parallel=False)
    forked = scan_cells(homes, parallel=True)
    assert alone.workers == 1
    if collect._fork_context() is None:
        pytest.skip("no fork start method here")
    assert forked.workers == 2
    assert forked.cells == alone.cells
    assert forked.diagnostics["claude"].malformed_lines == 1
    assert forked.diagnostics["codex"].files_read == 1
    selection = Selection(roots=("/r1",), since=("2026-11-20T00:00:00", 0))
    a = scan_cells(homes, selection=selection, parallel=False)
    b = scan_cells(homes, selection=selection, parallel=True)
    assert a.cells == b.cells
    assert {k[4] for k in a.cells} == {"/r1"}
    assert {k[3] for k in a.cells} == {"2026-11-20"}


def test_parallel_first_scan_then_incremental_with_one_state_file(
    fakes: dict[str, str], tmp_path: Path
) -> None:
    homes = _home(tmp_path)
    state = tmp_path / "state.db"
    first = scan_cells(homes, state_path=state, parallel=True)
    assert summarize(first.cells, None).totals.input == 2 * sum(range(200))
    again = scan_cells(homes, state_path=state)
    assert again.cells == {}
    assert again.workers == 1  # the state has offsets: incremental, in this process
    _write(tmp_path / "codex" / "a.jsonl", {"ts": "2026-11-21T00:00:00Z", "input": 5})
    _write(tmp_path / "claude" / "new.jsonl", {"ts": "2026-11-21T00:00:00Z", "input": 6})
    third = scan_cells(homes, state_path=state)
    assert summarize(third.cells, None).totals.input == 11


def test_small_homes_are_read_in_process(fakes: dict[str, str], tmp_path: Path) -> None:
    assert scan_cells(_home(tmp_path)).workers == 1
    assert scan_cells({"claude": [], "codex": []}).cells == {}


def test_a_dying_worker_falls_back_to_reading_here(
    fakes: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if collect._fork_context() is None:
        pytest.skip("no fork start method here")
    homes = _home(tmp_path)
    expected = scan_cells(homes, parallel=False).cells
    monkeypatch.setattr(collect, "_child", _exit_at_once)
    result = scan_cells(homes, parallel=True)
    assert result.cells == expected
    errors = [e for d in result.diagnostics.values() for e in d.errors]
    assert len(errors) == 1
    assert "worker died" in errors[0]


def _exit_at_once(conn: object, args: object) -> None:
    import os

    os._exit(1)


def test_plan_groups_balances_bytes() -> None:
    sizes = {"claude": 650, "codex": 350, "gemini": 10, "opencode": 0}
    assert plan_groups(sizes, 2) == [["claude"], ["codex", "gemini", "opencode"]]
    assert plan_groups(sizes, 1) == [["claude", "codex", "gemini", "opencode"]]
    assert plan_groups({"a": 5, "b": 5, "c": 8}, 2) == [["a", "b"], ["c"]]


def test_estimate_bytes(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x").write_bytes(b"1234")
    (tmp_path / "a" / "b" / "y").write_bytes(b"12")
    (tmp_path / "a" / "link").symlink_to(tmp_path / "a" / "b")
    assert estimate_bytes([tmp_path / "a", tmp_path / "missing"]) == 6
