"""The `tokennotes` console script: argparse dispatch and exit-code mapping only.

Each subcommand lives in its own module, which provides ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Only the module of the command being run is
imported, so the commit hook (`tokennotes record`) never pays for the reporter's imports.

Exit codes: 0 fine; 1 a budget exceeded (gate) or a user error with its message; 2 bad usage;
3 an internal error; 130 interrupted.

Startup is part of the commit hook's time: nothing here imports more than argparse needs, and the
help formatter sizes the terminal without importing ``shutil`` (which loads the compression
modules, ~3 ms, on every ``add_argument``). A command runs with the cyclic garbage collector
off (its collections, triggered by the objects that imports create, walked every object again
and again: ~5% of a hook run; a command leaves little cyclic garbage), and as a program
``main`` ends by freezing what is left, so that the interpreter's exit does not walk it again
(another ~7%).
"""

from __future__ import annotations

import gc

# argparse and re make thousands of objects, and the collections they trigger walk them all
# again: no collection while this module imports (~0.5 ms); the state is restored below.
_COLLECTING = gc.isenabled()
gc.disable()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from types import ModuleType  # noqa: E402

from tokennotes import __version__  # noqa: E402
from tokennotes.errors import GateFailed, TokennotesError  # noqa: E402

if _COLLECTING:
    gc.enable()

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from typing import Any

# command name -> module implementing it (kept in the order `--help` lists them)
COMMANDS: dict[str, str] = {
    "demo": "tokennotes.demo",
    "init": "tokennotes.hooks.init",
    "record": "tokennotes.hooks.record",
    "sync": "tokennotes.hooks.sync",
    "doctor": "tokennotes.hooks.doctor",
    "log": "tokennotes.hooks.manual",
    "scan": "tokennotes.hooks.scan",
    "show": "tokennotes.reporter.show",
    "report": "tokennotes.reporter.command",
    "dashboard": "tokennotes.reporter.dashboard",
    "budget": "tokennotes.budget",
    "pricing": "tokennotes.pricing_update",
}


def _load(name: str) -> ModuleType | None:
    module = COMMANDS[name]
    try:
        __import__(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:  # not built yet in this version
            return None
        raise
    return sys.modules[module]


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, sized to the terminal as argparse would."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` using ``HelpFormatter`` unless told otherwise (its
    subcommands' parsers too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="tokennotes",
        description="What your AI coding agents cost per commit and per pull request, "
        "and what that spend shipped.",
    )
    parser.add_argument("--version", action="version", version=f"tokennotes {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        module = _load(name)
        if module is None:
            continue
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def build_command_parser(name: str) -> argparse.ArgumentParser | None:
    """The parser of one command alone, as ``build_parser`` would make it (``prog``
    ``tokennotes NAME``, ``command`` and ``_run`` set), or None when it is not built."""
    module = _load(name)
    if module is None:
        return None
    parser = ArgumentParser(prog=f"tokennotes {name}", description=module.HELP)
    module.add_arguments(parser)
    parser.set_defaults(command=name, _run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: the program's arguments) names; its exit code."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if collecting:
            gc.enable()
        if argv is None:  # the program ends next: its exit need not walk these objects
            gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("-")), None)
    only = first if first in COMMANDS and "-h" not in args_list[:1] else None
    try:
        # `tokennotes COMMAND ...` (the hooks' form): one parser, not a parser and a subparser
        parser = build_command_parser(only) if only and args_list[0] == only else None
        if parser is not None:
            args = parser.parse_args(args_list[1:])
        else:
            parser = build_parser(only)
            args = parser.parse_args(args_list)
        if getattr(args, "_run", None) is None:
            parser.print_help()
            return 2 if args_list else 0
        return int(args._run(args))
    except TokennotesError as exc:
        print(f"tokennotes: {exc}", file=sys.stderr)
        return 1
    except GateFailed as exc:
        print(f"tokennotes: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tokennotes: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except SystemExit as exc:  # argparse: 2 on bad usage, 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else 2
    except Exception:
        import traceback

        traceback.print_exc()
        print(
            "tokennotes: internal error; please report it with the traceback above.",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
