"""Trouble in a hook: one line on the terminal, the details in a bounded log under the git dir.

A hook never blocks or loses a commit or a push, so what goes wrong is reported, not raised:
``HookLog.problem(summary, details)`` collects it, and ``HookLog.flush()`` prints one line (the
first summary, and how many more there were) and appends every detail to
``<common git dir>/tokennotes/hook.log``. The log is bounded: past ``MAX_BYTES`` it is rotated to
``hook.log.1`` (one generation kept), so it never grows without limit.

Only the standard library is imported here: this is on the commit hook's path.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import TextIO

    StrPath = str | os.PathLike[str]

LOG_NAME = "hook.log"
MAX_BYTES = 256 * 1024
DETAIL_LIMIT = 8000  # characters kept of one problem's details


def log_path(common_dir: StrPath) -> Path:
    from pathlib import Path  # the hook path itself uses strings (``_log_file``)

    return Path(_log_file(common_dir))


def _log_file(common_dir: StrPath) -> str:
    return os.path.join(os.fspath(common_dir), "tokennotes", LOG_NAME)


def append_log(common_dir: StrPath, text: str, *, now: float | None = None) -> str | None:
    """Append a timestamped entry to the hook log; return its path, None when the log cannot
    be written."""
    path = _log_file(common_dir)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    entry = f"{stamp} pid {os.getpid()}\n{text.rstrip()}\n\n"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            if os.stat(path).st_size + len(entry) > MAX_BYTES:
                os.replace(path, path + ".1")
        except FileNotFoundError:
            pass
        with open(path, "a", encoding="utf-8", errors="replace") as fh:
            fh.write(entry)
    except OSError:
        return None
    return path


class HookLog:
    """Problems met during one hook run, reported together at the end."""

    def __init__(self, command: str, common_dir: StrPath | None = None) -> None:
        self.command = command
        self.common_dir = common_dir
        self.problems: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def problem(self, summary: str, details: str = "") -> None:
        """Something went wrong: ``summary`` is one short clause, ``details`` go to the log."""
        self.problems.append((summary, details[:DETAIL_LIMIT]))

    def note(self, text: str) -> None:
        """Context written to the log with the problems (not printed)."""
        self.notes.append(text)

    def flush(self, stream: TextIO | None = None) -> str | None:
        """Print one line and log the details when there were problems; return the line."""
        if not self.problems:
            return None
        out = sys.stderr if stream is None else stream
        first = self.problems[0][0]
        more = len(self.problems) - 1
        line = f"tokennotes {self.command}: {first}"
        if more:
            line += f" (and {more} more problem{'s' if more > 1 else ''})"
        written: str | None = None
        if self.common_dir is not None:
            body = [f"tokennotes {self.command}:"]
            for summary, details in self.problems:
                body.append(f"- {summary}")
                body.extend(f"    {d}" for d in details.rstrip().splitlines())
            body.extend(f"  {n}" for n in self.notes)
            written = append_log(self.common_dir, "\n".join(body))
        if written is not None:
            line += f"; details in {written}"
        print(line, file=out, flush=True)
        self.problems.clear()
        self.notes.clear()
        return line
