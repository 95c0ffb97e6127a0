"""Benchmark `tokennotes scan` on a 1 GB agent-log home, against floors measured in the same run.

    python benchmarks/scan_bench.py [HOME] [--repeat N]

HOME is a directory written by the generator of the shared material (``gen-agent-logs``: it
holds ``claude/``, ``codex/``, ``append/`` and ``expected-totals.json``). Without it, one is
generated under ``benchmarks/.data/`` when ``../shared/tools/gen-agent-logs`` exists; otherwise
the benchmark says so and stops.

Figures, all for whole processes:

* ``cat`` of every log file (the I/O floor), wall time;
* a minimal pure-Python bytes scan (read, find the usage lines, ``json.loads`` them), wall time;
* ``tokennotes scan --all --format json``, warm cache, wall time (median): target <= 2.0 s;
* ``tokennotes scan --all --state S`` after ~200 KB were appended to two live sessions, CPU time
  (user + sys of the child, median): target <= 40 ms. It runs on a hard-linked copy of the home
  in which only the two appended files are real copies, so the home itself is never changed.

The scan's totals are checked against ``expected-totals.json`` on the way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
GENERATOR = SHARED / "tools" / "gen-agent-logs"
DATA = HERE / ".data"
GEN_ARGS = ["--claude-mb", "650", "--codex-mb", "350", "--repos", "20", "--days", "180",
            "--seed", "1000", "--append-kb", "200"]  # fmt: skip
# what an incremental scan imports before it reads anything
SCAN_IMPORTS = (
    "import tokennotes.cli, tokennotes.hooks.scan, tokennotes.pricing, tokennotes.hooks.claude, "
    "tokennotes.hooks.codex, tokennotes.hooks.gemini, tokennotes.hooks.opencode"
)
FULL_TARGET_S = 2.0
INCREMENTAL_TARGET_MS = 40.0


# -- the baseline: the least a Python scanner must do ------------------------------------------


# the marker of a usage line, per agent directory
NEEDLES = {"claude": b'"output_tokens"', "codex": b'"token_count"'}


def baseline_scan(roots: Sequence[str]) -> int:
    """Read every file, find the lines carrying usage and parse them; return their number.

    One process, no de-duplication, no state: the least a Python scanner of these logs does.
    """
    loads = json.loads
    count = 0
    for root in roots:
        needle = NEEDLES[Path(root).name]
        for folder, _, names in os.walk(root):
            for name in names:
                if not name.endswith(".jsonl"):
                    continue
                with open(os.path.join(folder, name), "rb") as fh:
                    data = fh.read()
                find = data.find
                pos = 0
                while True:
                    hit = find(needle, pos)
                    if hit < 0:
                        break
                    start = data.rfind(b"\n", 0, hit) + 1
                    end = find(b"\n", hit)
                    end = len(data) if end < 0 else end
                    try:
                        loads(data[start:end])
                        count += 1
                    except ValueError:
                        pass
                    pos = end + 1
    return count


# -- measuring processes ------------------------------------------------------------------------


def run_wall(cmd: Sequence[str], env: dict[str, str], cwd: Path, stdout: Any = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=stdout or subprocess.DEVNULL)
    return time.perf_counter() - start


def run_cpu(cmd: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, bytes]:
    """CPU seconds (user + sys) the child used, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, result.stdout


def median_wall(cmd: Sequence[str], env: dict[str, str], cwd: Path, repeat: int) -> float:
    return statistics.median(run_wall(cmd, env, cwd) for _ in range(repeat))


def median_cpu(cmd: Sequence[str], env: dict[str, str], cwd: Path, repeat: int) -> float:
    return statistics.median(run_cpu(cmd, env, cwd)[0] for _ in range(repeat))


# -- the home ---------------------------------------------------------------------------------


def find_home(given: str | None) -> Path | None:
    if given:
        home = Path(given)
        if not (home / "expected-totals.json").is_file():
            raise SystemExit(f"{home}: no expected-totals.json (not a gen-agent-logs home)")
        return home
    home = DATA / "home1g"
    if (home / "expected-totals.json").is_file():
        return home
    if not GENERATOR.is_file():
        return None
    print(f"generating {home} (1 GB, about 15 s) ...", flush=True)
    DATA.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(home), "--force", *GEN_ARGS], check=True
    )
    return home


def log_files(home: Path) -> list[str]:
    return [
        os.path.join(folder, name)
        for agent in ("claude", "codex")
        for folder, _, names in os.walk(home / agent)
        for name in names
    ]


def linked_copy(home: Path, work: Path, appended: Sequence[str]) -> None:
    """``work``: hard links to ``home``'s logs, except real copies of the files to append to."""
    for agent in ("claude", "codex"):
        shutil.copytree(home / agent, work / agent, copy_function=os.link)
    for rel in appended:
        target = work / rel
        target.unlink()
        shutil.copy2(home / rel, target)


# -- checks -------------------------------------------------------------------------------------


def _ours(doc: dict[str, Any], agent: str) -> dict[str, int]:
    t = doc["agents"].get(agent, {}).get("totals", {})
    return {k: t.get(k, 0) for k in ("input", "output", "cache_read", "cache_write", "messages")}


def _truth(agent: str, rule: dict[str, Any]) -> dict[str, int]:
    if agent == "claude":
        return {
            "input": rule["input_tokens"],
            "output": rule["output_tokens"],
            "cache_read": rule["cache_read_input_tokens"],
            "cache_write": rule["cache_creation_input_tokens"],
            "messages": rule["messages"],
        }
    return {
        "input": rule["input_tokens"] - rule["cached_input_tokens"],
        "output": rule["output_tokens"],
        "cache_read": rule["cached_input_tokens"],
        "cache_write": 0,
        "messages": rule["events"],
    }


def check(doc: dict[str, Any], truth: dict[str, Any], what: str) -> str:
    bad = [
        f"{agent}: {_ours(doc, agent)} != {_truth(agent, truth[agent])}"
        for agent in ("claude", "codex")
        if _ours(doc, agent) != _truth(agent, truth[agent])
    ]
    return f"{what}: totals match" if not bad else f"{what}: MISMATCH " + "; ".join(bad)


# -- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", nargs="?", help="a gen-agent-logs home (default: generate one)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per full-scan figure")
    parser.add_argument("--incremental-repeat", type=int, default=7)
    parser.add_argument("--baseline-worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_worker:
        print(baseline_scan(args.baseline_worker))
        return 0
    home = find_home(args.home)
    if home is None:
        print(f"skipped: no home given and {GENERATOR} is not here to generate one")
        return 0
    expected = json.loads((home / "expected-totals.json").read_text())
    files = log_files(home)
    size = sum(os.path.getsize(f) for f in files)
    print(f"home {home}: {len(files):,} files, {size / 1e6:,.1f} MB; {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        scratch = Path(tmp)
        (scratch / "home").mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(scratch / "home"),  # no other agent logs of this machine
            "CLAUDE_CONFIG_DIR": str(home / "claude"),
            "CODEX_HOME": str(home / "codex"),
            "TZ": "UTC",
        }
        tn = [sys.executable, "-m", "tokennotes", "scan", "--all", "--format", "json"]
        subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)  # warm the cache
        cat = median_wall(["cat", *files], env, scratch, args.repeat)
        base = median_wall(
            [sys.executable, str(Path(__file__).resolve()), "--baseline-worker",
             str(home / "claude"), str(home / "codex")],
            env, scratch, args.repeat,
        )  # fmt: skip
        doc = json.loads(run_cpu(tn, env, scratch)[1])
        print(check(doc, {a: expected[a]["truth"]["total"] for a in ("claude", "codex")}, "full"))
        full = median_wall(tn, env, scratch, args.repeat)

        # incremental: a linked copy; append to the two live sessions; scan with a state
        appended = [item["path"] for item in expected["append"]["files"]]
        work = scratch / "work"
        linked_copy(home, work, appended)
        wenv = {**env, "CLAUDE_CONFIG_DIR": str(work / "claude"), "CODEX_HOME": str(work / "codex")}
        seed = scratch / "seed.db"
        start = time.perf_counter()
        run_cpu([*tn, "--state", str(seed)], wenv, scratch)
        first = time.perf_counter() - start
        tails = {rel: (home / "append" / rel).read_bytes() for rel in appended}
        sizes = {rel: (home / rel).stat().st_size for rel in appended}
        cpus = []
        nothing = []
        for i in range(args.incremental_repeat):
            state = scratch / "state.db"
            shutil.copyfile(seed, state)
            for rel in appended:
                os.truncate(work / rel, sizes[rel])
                with open(work / rel, "ab") as fh:
                    fh.write(tails[rel])
            cpu, out = run_cpu([*tn, "--state", str(state)], wenv, scratch)
            cpus.append(cpu)
            if i == 0:
                truth = {a: expected["append"][f"{a}_truth"]["total"] for a in ("claude", "codex")}
                print(check(json.loads(out), truth, "incremental"))
            nothing.append(run_cpu([*tn, "--state", str(state)], wenv, scratch)[0])
        incremental = statistics.median(cpus)
        idle = statistics.median(nothing)
        python = median_cpu([sys.executable, "-c", "pass"], env, scratch, 7)
        cli = median_cpu([sys.executable, "-c", "import tokennotes.cli"], env, scratch, 7)
        imports = median_cpu([sys.executable, "-c", SCAN_IMPORTS], env, scratch, 7)

    appended_kb = sum(len(t) for t in tails.values()) / 1024
    print()
    print(f"{'cat of all files (floor)':44} {cat:7.2f} s")
    print(f"{'pure-Python bytes scan, 1 process (baseline)':44} {base:7.2f} s")
    verdict = "OK" if full <= FULL_TARGET_S else "OVER"
    print(
        f"{'tokennotes scan --all --format json (warm)':44} {full:7.2f} s"
        f"   {full / cat:.1f}x cat, {full / base:.2f}x baseline;"
        f" target <= {FULL_TARGET_S} s: {verdict}"
    )
    print(f"{'first --state scan (full, writes the state)':44} {first:7.2f} s")
    verdict = "OK" if incremental * 1000 <= INCREMENTAL_TARGET_MS else "OVER"
    print(
        f"{f'incremental --state (+{appended_kb:.0f} KB), CPU':44} {incremental * 1000:7.1f} ms"
        f"  target <= {INCREMENTAL_TARGET_MS:.0f} ms: {verdict}"
    )
    print(f"{'incremental --state, nothing new, CPU':44} {idle * 1000:7.1f} ms")
    print(f"{'python -c pass, CPU':44} {python * 1000:7.1f} ms")
    print(f"{'python -c import tokennotes.cli, CPU':44} {cli * 1000:7.1f} ms")
    print(f"{'... + the modules a scan imports, CPU':44} {imports * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
