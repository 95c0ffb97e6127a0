"""Benchmark the post-commit hook, `tokennotes record`, on a 1 GB agent-log home.

    python benchmarks/record_bench.py [HOME] [--rounds N]

HOME is a directory written by the shared material's generator (``gen-agent-logs ...
--append-kb 200``: ``claude/``, ``codex/``, ``append/``, ``expected-totals.json``). Without it,
one is generated under ``benchmarks/.data/`` when ``../shared/tools/gen-agent-logs`` exists.

The home is never changed: the benchmark works on a hard-linked copy (``cp -al``) in which the
two live session files that ``append/`` extends are replaced by real copies. Those two files get
their repository path rewritten to a scratch repository's, so that their spend belongs to it.

Each round appends the ~200 KB tail of ``append/`` to the two files (round 0: as generated;
later rounds: the same tail with fresh message ids and raised Codex counters, so every round is
new spend), stamps its lines with the current time, makes a commit with plain git, and then
times one ``tokennotes record --hook`` process: wall time and CPU time (user + sys of the
process and the git commands it runs). Round 0 is the first commit after install (no watermark;
it replays the two files' old bytes to rebuild their state) and is reported apart; the target
applies to the median of the later rounds: at most 60 ms wall.

Baselines measured in the same run: an empty interpreter (``python -c pass``), and the import of
the hook's modules; one more ``record --dry-run`` under ``python -X importtime`` gives the time a
run spends importing. The timed processes run with compiled bytecode (as a ``pip install``
leaves it), cached outside the source tree: ``PYTHONDONTWRITEBYTECODE`` is removed from their
environment (it makes every import compile its module again), and the benchmark says so when it
was set. Round 0's note is checked against ``expected-totals.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
GENERATOR = SHARED / "tools" / "gen-agent-logs"
DATA = HERE / ".data"
GEN_ARGS = ["--claude-mb", "650", "--codex-mb", "350", "--repos", "20", "--days", "180",
            "--seed", "1000", "--append-kb", "200"]  # fmt: skip
TARGET_MS = 60.0
HEAVY = ("matplotlib", "pygit2", "requests", "jinja2")
REF = "refs/notes/ai-tokens"
# the modules a `tokennotes record` run imports (the hook path), for the import baseline
HOOK_MODULES = (
    "tokennotes.cli", "tokennotes.hooks.record", "tokennotes.hooks.collect",
    "tokennotes.hooks.claude", "tokennotes.hooks.codex", "tokennotes.hooks.state",
    "tokennotes.hooks.repomap", "tokennotes.notes", "tokennotes.pricing",
)  # fmt: skip

_TS = re.compile(rb'"timestamp":"[0-9T:.\-]+Z"')


# -- the data ---------------------------------------------------------------------------------


def find_home(arg: str | None) -> Path:
    if arg:
        home = Path(arg)
        if not (home / "append").is_dir() or not (home / "expected-totals.json").is_file():
            sys.exit(f"{home}: not a generated log home with append/ (see the module doc)")
        return home
    home = DATA / "home1g"
    if (home / "expected-totals.json").is_file():
        return home
    if not GENERATOR.is_file():
        sys.exit("give a generated log home (HOME); ../shared/tools/gen-agent-logs is absent")
    DATA.mkdir(parents=True, exist_ok=True)
    print(f"generating {home} ...", flush=True)
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(home), *GEN_ARGS], check=True)
    return home


class Tail:
    """One file's appended bytes, and how to make a fresh round of them."""

    def __init__(self, rel: str, data: bytes, old_cwd: bytes, new_cwd: bytes) -> None:
        self.rel = rel
        self.data = data.replace(old_cwd, new_cwd)
        self.codex = rel.startswith("codex/")
        self.peak = self._peak() if self.codex else {}

    def _peak(self) -> dict[str, int]:
        peak: dict[str, int] = {}
        for line in self.data.splitlines():
            if b'"token_count"' not in line:
                continue
            info = (json.loads(line).get("payload") or {}).get("info") or {}
            for key, value in (info.get("total_token_usage") or {}).items():
                peak[key] = max(peak.get(key, 0), int(value))
        return peak

    def round(self, n: int, stamp: bytes) -> bytes:
        """Round ``n`` of the tail, every line stamped ``stamp``."""
        data = self.data
        if n:
            tag = f"r{n}".encode()
            if self.codex:
                data = self._raise_counters(data, n)
            else:
                for key in (b'"id":"msg_', b'"requestId":"req_', b'"uuid":"', b'"parentUuid":"'):
                    data = data.replace(key, key + tag)
        return _TS.sub(b'"timestamp":"' + stamp + b'"', data)

    def _raise_counters(self, data: bytes, n: int) -> bytes:
        out = []
        for line in data.splitlines(keepends=True):
            if b'"token_count"' in line:
                obj: dict[str, Any] = json.loads(line)
                usage = ((obj.get("payload") or {}).get("info") or {}).get("total_token_usage")
                if usage:
                    for key in usage:
                        usage[key] = int(usage[key]) + n * self.peak.get(key, 0)
                    line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
            out.append(line)
        return b"".join(out)


def prepare(home: Path, work: Path, repo: Path) -> tuple[Path, list[Tail], dict[str, Any]]:
    """A hard-linked copy of ``home`` with real copies of the files to append to."""
    copy = work / "home"
    subprocess.run(["cp", "-al", str(home), str(copy)], check=True)
    shutil.rmtree(copy / "append")
    expected = json.loads((home / "expected-totals.json").read_text())
    files = expected["append"]["files"]
    claude_rel = next(f["path"] for f in files if f["path"].startswith("claude/"))
    first = (home / "append" / claude_rel).read_bytes().split(b"\n", 1)[0]
    old_cwd = json.loads(first)["cwd"].encode()
    tails = []
    for entry in files:
        rel = entry["path"]
        target = copy / rel
        if target.exists():
            data = target.read_bytes().replace(old_cwd, str(repo).encode())
            target.unlink()  # break the hard link: only this copy changes
            target.write_bytes(data)
        tails.append(Tail(rel, (home / "append" / rel).read_bytes(), old_cwd, str(repo).encode()))
    return copy, tails, expected


# -- running ----------------------------------------------------------------------------------


def git(repo: Path, *args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


def timed(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU (user + sys, with waited-for descendants) seconds, and stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return wall, cpu, result.stderr


def now_stamp() -> bytes:
    moment = datetime.now(timezone.utc)
    return (moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z").encode()


def note_totals(repo: Path, env: dict[str, str]) -> dict[str, dict[str, int]]:
    text = git(repo, "notes", f"--ref={REF}", "show", "HEAD", env=env)
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        obj = json.loads(line)
        if obj["kind"] != "usage":
            continue
        agent = out.setdefault(obj["agent"], {})
        for key, value in obj["tokens"].items():
            agent[key] = agent.get(key, 0) + value
        agent["messages"] = agent.get("messages", 0) + obj["messages"]
    return out


def check_round0(found: dict[str, dict[str, int]], expected: dict[str, Any]) -> list[str]:
    claude = expected["append"]["claude_truth"]["total"]
    codex = expected["append"]["codex_truth"]["total"]
    want = {
        "claude": {
            "input": claude["input_tokens"],
            "output": claude["output_tokens"],
            "cache_read": claude["cache_read_input_tokens"],
            "cache_write": claude["cache_creation_input_tokens"],
        },
        "codex": {
            "input": codex["input_tokens"] - codex["cached_input_tokens"],
            "output": codex["output_tokens"],
            "cache_read": codex["cached_input_tokens"],
            "cache_write": 0,
        },
    }
    problems = []
    for agent, fields in want.items():
        got = found.get(agent, {})
        for key, value in fields.items():
            if got.get(key, 0) != value:
                problems.append(f"{agent}.{key}: note {got.get(key, 0)} != expected {value}")
    return problems


def run_importtime(args: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    """The ``-X importtime`` report of a Python process."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip


def import_seconds(stderr: str) -> float:
    """The time spent importing, from ``python -X importtime`` output: the sum of the top-level
    imports' cumulative times (nested ones are inside them)."""
    total = 0
    for line in stderr.splitlines():
        if line.startswith("import time:"):
            _, cumulative, name = line[len("import time:") :].split("|")
            if not name.startswith("  ") and cumulative.strip().isdigit():
                total += int(cumulative)
    return total / 1e6


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f} ms"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("home", nargs="?", help="a generated log home (default: benchmarks/.data)")
    parser.add_argument("--rounds", type=int, default=9, help="timed commits after round 0")
    parser.add_argument(
        "--prose",
        action="store_true",
        help="commit a markdown file (words are counted: one more git call) instead of code",
    )
    args = parser.parse_args(argv)
    home = find_home(args.home)
    script = Path(sys.executable).with_name("tokennotes")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "tokennotes"]

    with tempfile.TemporaryDirectory(prefix="tokennotes-record-bench-") as tmp:
        work = Path(tmp)
        user_home = work / "user"
        user_home.mkdir()
        (user_home / ".gitconfig").write_text(
            "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
        )
        repo = work / "repo"
        repo.mkdir()
        repo = repo.resolve()
        print(f"preparing a hard-linked copy of {home} ...", flush=True)
        copy, tails, expected = prepare(home, work, repo)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GIT_", "PRE_COMMIT", "CLAUDE_", "CODEX_", "XDG_"))
            and k not in ("PYTHONDONTWRITEBYTECODE", "GEMINI_CLI_HOME", "OPENCODE_DATA_DIR")
        }
        if "PYTHONDONTWRITEBYTECODE" in os.environ:
            print("PYTHONDONTWRITEBYTECODE is set here: removed from the timed processes' "
                  "environment, so they import compiled bytecode as an installed package does",
                  flush=True)  # fmt: skip
        env.update(
            HOME=str(user_home),
            GIT_CONFIG_GLOBAL=str(user_home / ".gitconfig"),
            GIT_CONFIG_NOSYSTEM="1",
            CLAUDE_CONFIG_DIR=str(copy / "claude"),
            CODEX_HOME=str(copy / "codex"),
            PYTHONPYCACHEPREFIX=str(work / "pycache"),  # compiled once, like an installed package
            TZ="UTC",
        )
        git(repo, "init", "-q", env=env)
        config = repo / ".tokennotes.yml"
        config.write_text("# tokennotes defaults\n")
        hour_ago = time.time() - 3600  # an old file, as in real use: its parse stays cached
        os.utime(config, (hour_ago, hour_ago))
        (repo / "README.md").write_text("bench\n")
        git(repo, "add", "-A", env=env)
        git(repo, "commit", "-q", "-m", "initial", env=env)
        for _ in range(2):  # compile the bytecode, warm the page cache of the home's metadata
            subprocess.run([sys.executable, "-c", "import tokennotes.hooks.record"], env=env,
                           check=True)  # fmt: skip
            subprocess.run([*command, "record", "--dry-run"], cwd=repo, env=env,
                           check=True, capture_output=True)  # fmt: skip

        base_pass = [timed([sys.executable, "-c", "pass"], repo, env)[0] for _ in range(15)]
        imports = "import " + ", ".join(HOOK_MODULES)
        base_import = [timed([sys.executable, "-c", imports], repo, env)[0] for _ in range(15)]

        walls: list[float] = []
        cpus: list[float] = []
        round0: tuple[float, float] | None = None
        appended = 0
        for n in range(args.rounds + 1):
            stamp = now_stamp()
            for tail in tails:
                chunk = tail.round(n, stamp)
                appended += len(chunk) if n else 0
                with open(copy / tail.rel, "ab") as fh:
                    fh.write(chunk)
            changed = repo / ("docs/round.md" if args.prose else "src/round.py")
            changed.parent.mkdir(exist_ok=True)
            changed.write_text(f"round {n}: some words here\n" if args.prose else f"N = {n}\n")
            git(repo, "add", "-A", env=env)
            git(repo, "commit", "-q", "-m", f"feat: round {n}", env=env)
            wall, cpu, err = timed([*command, "record", "--hook"], repo, env)
            if err.strip():
                sys.exit(f"round {n}: the hook reported trouble: {err.strip()}")
            if n == 0:
                round0 = (wall, cpu)
                problems = check_round0(note_totals(repo, env), expected)
                if problems:
                    sys.exit("round 0 totals differ:\n  " + "\n  ".join(problems))
                print("round 0: note totals match expected-totals.json (claude and codex)")
            else:
                walls.append(wall)
                cpus.append(cpu)
            if not note_totals(repo, env):
                sys.exit(f"round {n}: no usage on HEAD")

            # what a run imports beyond what an empty interpreter does (encodings, site, ...)
        script_args = command[1:] if command[0] == sys.executable else command
        importing = statistics.median(
            import_seconds(run_importtime([*script_args, "record", "--dry-run"], repo, env))
            - import_seconds(run_importtime(["-c", "pass"], repo, env))
            for _ in range(5)
        )
        heavy = subprocess.run(
            [sys.executable, "-c",
             "import sys; from tokennotes.cli import main; main(['record', '--dry-run']); "
             f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"],
            cwd=repo, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1].removeprefix("heavy:")  # fmt: skip

    assert round0 is not None
    med_wall, med_cpu = statistics.median(walls), statistics.median(cpus)
    interp, imp = statistics.median(base_pass), statistics.median(base_import)
    size = sum(f.stat().st_size for f in home.rglob("*") if f.is_file())
    what = "a markdown file" if args.prose else "a code file"
    print(f"home: {size / 1e9:.2f} GB, ~{appended / max(1, args.rounds) / 1024:.0f} KB appended "
          f"before each of {args.rounds} timed commits, each changing {what}")  # fmt: skip
    print(f"baseline  python -c pass                       wall {ms(interp)}")
    print(f"baseline  import the hook path's modules       wall {ms(imp)}")
    print(f"round 0   first commit after install           wall {ms(round0[0])}  "
          f"cpu {ms(round0[1])}")  # fmt: skip
    print(f"record    median of {len(walls)} commits               wall {ms(med_wall)}  "
          f"cpu {ms(med_cpu)}  (min {ms(min(walls))}, max {ms(max(walls))})")  # fmt: skip
    print(f"imports   of a record run (-X importtime, median of 5)  {ms(importing)}")
    print(f"ratios    record / empty interpreter {med_wall / interp:.1f}x, "
          f"record / imports alone {med_wall / imp:.2f}x; work besides starting Python and "
          f"importing ~{(med_wall - interp - importing) * 1000:.0f} ms "
          f"(git commands, log walk and reading, the note)")  # fmt: skip
    print(f"heavy modules imported on the path: {heavy or 'none'}")
    verdict = "meets" if med_wall * 1000 <= TARGET_MS else "misses"
    print(f"target: median wall <= {TARGET_MS:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
