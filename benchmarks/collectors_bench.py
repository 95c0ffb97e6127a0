"""Benchmark the Claude Code and Codex collectors on a generated home, against floors of the run.

    python benchmarks/collectors_bench.py [HOME] [--repeat N] [--claude-mb 650 --codex-mb 350
        --repos 20 --days 180 --seed 1000 --append-kb 200]

HOME is a directory written by the shared generator (``gen-agent-logs``: ``claude/``,
``codex/``, ``append/``, ``expected-totals.json``). Without it, one is generated (once) under
``benchmarks/.data/`` with the size options when ``../shared/tools/gen-agent-logs`` exists;
otherwise the benchmark says so and stops. The home is never modified.

Per agent, in one process, warm page cache (best of N):

* floors: ``cat`` of the agent's files to /dev/null (wall), and a minimal pure-Python bytes scan
  (read every file, count the usage needle);
* ``collect``: a full scan with an in-memory state, and the same plus a fold of the messages into
  (model, day, cwd) sums, as the scan command does next; the totals are checked against
  ``expected-totals.json`` (``claude.truth`` / ``codex.truth``);
* ``first scan (SQLite)``: a full scan with a state file, including ``save()``;
* ``incremental``: after the ``append/`` bytes are added, open the state, collect, save; checked
  against ``append.claude_truth`` / ``append.codex_truth``. It runs on a hard-linked (or, across
  file systems, symlinked) copy of the home in which only the appended files are real copies.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tokennotes.hooks.logs import Diagnostics, Message
from tokennotes.hooks.state import ScanState

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
GENERATOR = SHARED / "tools" / "gen-agent-logs"
DATA = HERE / ".data"
NEEDLES = {"claude": b'"output_tokens"', "codex": b'"token_count"'}


# -- the home ---------------------------------------------------------------------------------


def generated_home(args: argparse.Namespace) -> Path | None:
    options = [
        "--claude-mb", str(args.claude_mb), "--codex-mb", str(args.codex_mb),
        "--repos", str(args.repos), "--days", str(args.days), "--seed", str(args.seed),
        "--append-kb", str(args.append_kb),
    ]  # fmt: skip
    tag = hashlib.sha256(" ".join(options).encode()).hexdigest()[:10]
    home = DATA / f"home-{args.claude_mb}-{args.codex_mb}-{tag}"
    if (home / "expected-totals.json").is_file():
        return home
    if not GENERATOR.is_file():
        return None
    print(f"generating {home} ...", flush=True)
    shutil.rmtree(home, ignore_errors=True)
    DATA.mkdir(exist_ok=True)
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(home), *options], check=True)
    return home


def files_of(root: Path) -> list[str]:
    return sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if name.endswith(".jsonl")
    )


def link_tree(home: Path, target: Path, copies: set[str]) -> None:
    """A copy of ``home`` (without ``append/``) made of hard links (symlinks across devices),
    except for the files in ``copies`` (relative paths), which are real copies: they will grow.
    """
    link: Callable[[str, str], None] = os.link
    for folder, _, names in os.walk(home):
        rel = os.path.relpath(folder, home)
        if rel.split(os.sep)[0] == "append":
            continue
        os.makedirs(target / rel, exist_ok=True)
        for name in names:
            src, dst = os.path.join(folder, name), str(target / rel / name)
            if os.path.normpath(os.path.join(rel, name)) in copies:
                shutil.copy2(src, dst)
                continue
            try:
                link(src, dst)
            except OSError:
                link = os.symlink
                link(src, dst)


def apply_append(agent: str, home: Path, tree: Path, expected: dict[str, Any]) -> None:
    """``cat append/X >> X`` for the agent's files (real copies inside the link tree)."""
    for item in expected["append"]["files"]:
        if item["path"].startswith(agent + "/"):
            dst = tree / item["path"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            with dst.open("ab") as fh:
                fh.write((home / "append" / item["path"]).read_bytes())


# -- measuring --------------------------------------------------------------------------------


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, list[float], Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), times, result


def cat(files: list[str]) -> None:
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            ["xargs", "-0", "cat"], input="\0".join(files).encode(), stdout=sink, check=True
        )


def python_scan(files: list[str], needle: bytes) -> int:
    count = 0
    for path in files:
        with open(path, "rb") as fh:
            count += fh.read().count(needle)
    return count


def fold(messages: Iterable[Message]) -> dict[tuple[str, str, str], list[int]]:
    cells: dict[tuple[str, str, str], list[int]] = {}
    for m in messages:
        key = (m.model, m.ts[:10], m.cwd)
        cell = cells.get(key)
        values = (
            m.input,
            m.output,
            m.cache_read,
            m.cache_write_5m,
            m.cache_write_1h,
            m.reasoning,
            m.new,
        )
        if cell is None:
            cells[key] = list(values)
        else:
            for i, v in enumerate(values):
                cell[i] += v
    return cells


def truth_of(agent: str, cells: dict[tuple[str, str, str], list[int]]) -> dict[str, int]:
    inp = sum(c[0] for c in cells.values())
    out = sum(c[1] for c in cells.values())
    read = sum(c[2] for c in cells.values())
    write = sum(c[3] + c[4] for c in cells.values())
    count = sum(c[6] for c in cells.values())
    if agent == "claude":
        return {
            "input_tokens": inp, "output_tokens": out, "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read, "messages": count,
        }  # fmt: skip
    return {
        "input_tokens": inp + read, "cached_input_tokens": read, "output_tokens": out,
        "reasoning_output_tokens": sum(c[5] for c in cells.values()),
        "total_tokens": inp + read + out, "events": count,
    }  # fmt: skip


def check(what: str, got: dict[str, int], want: dict[str, int]) -> bool:
    if got == want:
        print(f"  {what}: totals match")
        return True
    print(f"  {what}: MISMATCH\n    got  {got}\n    want {want}")
    return False


def bench_agent(
    agent: str, home: Path, work: Path, expected: dict[str, Any], repeat: int
) -> tuple[bool, float, float, float]:
    """Run and print one agent's figures: (totals ok, cat s, collect + fold s, incremental s)."""
    module = importlib.import_module(f"tokennotes.hooks.{agent}")
    root = home / agent
    files = files_of(root)
    size = sum(os.path.getsize(f) for f in files)
    print(f"\n{agent}: {len(files)} files, {size / 1e6:.0f} MB")
    cat(files)  # warm the page cache
    t_cat, _, _ = best(repeat, lambda: cat(files))
    t_py, _, _ = best(repeat, lambda: python_scan(files, NEEDLES[agent]))

    def full() -> list[Message]:
        return list(module.collect([root], ScanState(None), Diagnostics()))

    def full_fold() -> dict[tuple[str, str, str], list[int]]:
        return fold(module.collect([root], ScanState(None), Diagnostics()))

    t_full, runs, messages = best(repeat, full)
    t_fold, _, cells = best(repeat, full_fold)
    ok = check("full scan", truth_of(agent, fold(messages)), expected[agent]["truth"]["total"])
    ok &= check("full scan + fold", truth_of(agent, cells), expected[agent]["truth"]["total"])

    overlay_root = work / "home"
    state_path = work / f"{agent}.state"
    saved = work / f"{agent}.state.first"
    start = time.perf_counter()
    state = ScanState(state_path)
    list(module.collect([overlay_root / agent], state, Diagnostics()))
    state.save()
    state.close()
    t_first = time.perf_counter() - start
    shutil.copy(state_path, saved)

    apply_append(agent, home, overlay_root, expected)
    incremental: list[float] = []
    parts: list[tuple[float, float, float]] = []
    got: dict[str, int] = {}
    for _ in range(repeat):
        shutil.copy(saved, state_path)
        t0 = time.perf_counter()
        state = ScanState(state_path)
        t1 = time.perf_counter()
        more = list(module.collect([overlay_root / agent], state, Diagnostics()))
        t2 = time.perf_counter()
        state.save()
        state.close()
        t3 = time.perf_counter()
        incremental.append(t3 - t0)
        parts.append((t1 - t0, t2 - t1, t3 - t2))
        got = truth_of(agent, fold(more))
    ok &= check("incremental", got, expected["append"][f"{agent}_truth"]["total"])

    fastest = parts[incremental.index(min(incremental))]
    print(f"  {'cat of all files (floor)':34} {t_cat * 1000:9.0f} ms")
    print(f"  {'python bytes scan (floor)':34} {t_py * 1000:9.0f} ms")
    print(
        f"  {'collect, full, in memory':34} {t_full * 1000:9.0f} ms   "
        f"x{t_full / t_cat:.1f} cat, x{t_full / t_py:.1f} py scan, {size / 1e6 / t_full:.0f} MB/s"
        f"   (runs: {', '.join(f'{r * 1000:.0f}' for r in runs)})"
    )
    print(f"  {'collect + fold':34} {t_fold * 1000:9.0f} ms   x{t_fold / t_cat:.1f} cat")
    print(f"  {'first scan with a state file':34} {t_first * 1000:9.0f} ms (collect + save)")
    print(
        f"  {'incremental after the append':34} {min(incremental) * 1000:9.1f} ms "
        f"(open {fastest[0] * 1000:.1f} + collect {fastest[1] * 1000:.1f} + save "
        f"{fastest[2] * 1000:.1f}; median {statistics.median(incremental) * 1000:.1f})"
    )
    return ok, t_cat, t_fold, min(incremental)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--agents", default="claude,codex")
    parser.add_argument("--claude-mb", type=float, default=650)
    parser.add_argument("--codex-mb", type=float, default=350)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--append-kb", type=float, default=200)
    args = parser.parse_args(argv)
    home = args.home or generated_home(args)
    if home is None:
        print(f"skipped: no HOME given and no generator at {GENERATOR}")
        return 0
    expected = json.loads((home / "expected-totals.json").read_text())
    ok = True
    figures = []
    with tempfile.TemporaryDirectory(prefix=".collectors-bench-", dir=home.parent) as tmp:
        work = Path(tmp)
        copies = {os.path.normpath(item["path"]) for item in expected["append"]["files"]}
        link_tree(home, work / "home", copies)
        for agent in args.agents.split(","):
            agent_ok, *times = bench_agent(agent, home, work, expected, args.repeat)
            ok &= agent_ok
            figures.append(times)
    cat_s = sum(f[0] for f in figures)
    full_s = sum(f[1] for f in figures)
    print(
        f"\nall agents: collect + fold {full_s * 1000:.0f} ms one after the other "
        f"(x{full_s / cat_s:.1f} cat), {max(f[1] for f in figures) * 1000:.0f} ms as parallel "
        f"workers; incremental {sum(f[2] for f in figures) * 1000:.1f} ms"
    )
    print("totals: all match" if ok else "totals: MISMATCH (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
