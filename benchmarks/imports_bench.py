"""Benchmark what the commit hook's and the scan's imports cost, against ``python -c pass``.

    python benchmarks/imports_bench.py [--repeat N] [--importtime]

Each figure is the CPU time (user + sys) of a fresh child process, median of N runs, next to the
same figure for ``python -c pass`` measured in the same run:

* ``import tokennotes.cli`` (every command pays it);
* the modules an incremental ``tokennotes scan`` imports (the CLI, the scan, pricing and the
  four collectors);
* ``import tokennotes.hooks.record`` (the post-commit hook, before it runs git).

Each path is also checked for the standard-library modules it should not need (``typing``,
``dataclasses``, ``pathlib``, ``datetime``, ...): they are listed when present. ``--importtime``
prints the largest ``-X importtime`` self times of each path.

The children run with ``PYTHONDONTWRITEBYTECODE`` removed from their environment, as users and
CI run: with it set, every import compiles its module again and the figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCAN = (
    "tokennotes.cli",
    "tokennotes.hooks.scan",
    "tokennotes.pricing",
    "tokennotes.hooks.claude",
    "tokennotes.hooks.codex",
    "tokennotes.hooks.gemini",
    "tokennotes.hooks.opencode",
)
PATHS = {
    "tokennotes.cli": ("tokennotes.cli",),
    "scan path": SCAN,
    "record hook": ("tokennotes.hooks.record",),
}
# what the scan path no longer imports (each costs 1-6 ms); reported when a path loads one
AVOIDED = (
    "typing", "dataclasses", "inspect", "pathlib", "urllib.parse", "ipaddress", "datetime",
    "sqlite3", "hashlib", "shutil", "traceback", "subprocess", "unicodedata", "math",
)  # fmt: skip


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def cpu_ms(code: str, env: dict[str, str]) -> float:
    """CPU milliseconds (user + sys) of ``python -c code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000


def import_code(modules: Sequence[str]) -> str:
    """Import ``modules``; a module not built yet (another engineer's, say) is skipped."""
    lines = ["import importlib"]
    for module in modules:
        lines += [
            "try:",
            f"    importlib.import_module({module!r})",
            "except ModuleNotFoundError as exc:",
            f"    if exc.name != {module!r}: raise",
        ]
    return "\n".join(lines)


def loaded(modules: Sequence[str], env: dict[str, str]) -> list[str]:
    code = (
        import_code(modules)
        + f"\nimport sys\nprint(' '.join(sorted(set({AVOIDED!r}) & set(sys.modules))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.split()


def importtime_rows(code: str, env: dict[str, str]) -> list[tuple[int, str]]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env, check=True, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    rows = []
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match.group(1)), match.group(4)))
    return rows


def importtime(modules: Sequence[str], env: dict[str, str], top: int = 12) -> list[str]:
    """The largest self times of the modules ``modules`` import beyond ``python -c pass``."""
    startup = {name for _, name in importtime_rows("pass", env)}
    rows = sorted(r for r in importtime_rows(import_code(modules), env) if r[1] not in startup)
    return [f"{name} {us / 1000:.2f}" for us, name in reversed(rows[-top:])]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21, help="runs per figure (median)")
    parser.add_argument("--importtime", action="store_true", help="show the top self times")
    args = parser.parse_args(argv)
    env = child_env()
    codes = {"python -c pass": "pass"}
    codes.update({label: import_code(modules) for label, modules in PATHS.items()})
    for code in codes.values():  # warm up: write the .pyc files, fill the page cache
        cpu_ms(code, env)
    runs: dict[str, list[float]] = {label: [] for label in codes}
    for _ in range(args.repeat):  # interleaved, so that load changes hit every figure alike
        for label, code in codes.items():
            runs[label].append(cpu_ms(code, env))
    base = statistics.median(runs["python -c pass"])
    print(
        f"CPU per process, median of {args.repeat} runs; PYTHONDONTWRITEBYTECODE unset in the "
        f"children (.pyc files used, as users and CI have them); Python {sys.version.split()[0]}"
    )
    for label, values in runs.items():
        median = statistics.median(values)
        extra = "" if label == "python -c pass" else f"  (+{median - base:5.1f} ms over pass)"
        print(f"  {label:22} {median:6.1f} ms  {median / base:4.2f}x pass{extra}")
    print(f"watched modules (1-6 ms each): {', '.join(AVOIDED)}")
    for label, modules in PATHS.items():
        present = loaded(modules, env)
        print(f"  {label:22} loads {', '.join(present) if present else 'none of them'}")
        if args.importtime:
            print("    largest self times (ms): " + ", ".join(importtime(modules, env)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
