"""Drift tests: what the README tells people to run must exist."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from tokennotes.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOC_FILES = sorted((ROOT / "docs").glob("*.md"))
DOCS = [README, *(p.read_text(encoding="utf-8") for p in DOC_FILES)]


def _commands(text: str) -> list[list[str]]:
    """Every `tokennotes …` invocation in fenced code blocks and inline code."""
    found = []
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", text)
    for chunk in [*blocks, *inline]:
        for line in chunk.splitlines():
            for part in re.split(r"&&|\|\||;|\|", line):
                words = part.strip().split()
                while words and ("=" in words[0] or words[0] in ("$", "sudo")):
                    words.pop(0)
                if words and re.fullmatch(r"(\S*/)?tokennotes", words[0]):
                    try:
                        found.append(shlex.split(" ".join(words[1:]), comments=True))
                    except ValueError:
                        continue
    return found


def _options(parser: argparse.ArgumentParser, command: str) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cmd = sub.choices[command]
    options = {opt for action in cmd._actions for opt in action.option_strings}
    for action in cmd._actions:  # nested sub-actions such as `pricing update`
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                options |= {o for a in child._actions for o in a.option_strings}
    return options


def test_readme_opens_with_demo_and_test_commands() -> None:
    first_block = re.search(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    assert first_block is not None
    lines = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert "tokennotes demo" in lines[0]
    assert "pytest" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest" in ci


@pytest.mark.parametrize(
    "text", DOCS, ids=["README", *(p.name for p in sorted((ROOT / "docs").glob("*.md")))]
)
def test_documented_commands_and_options_exist(text: str) -> None:
    parser = build_parser()
    problems = []
    for words in _commands(text):
        if not words or words[0].startswith("-") or words[0].endswith(":"):
            continue  # an option of the bare command, or a message the program prints
        command = words[0]
        if command not in COMMANDS:
            problems.append(f"unknown command: tokennotes {command}")
            continue
        known = _options(parser, command)
        for word in words[1:]:
            option = word.split("=")[0]
            if option.startswith("--") and option not in known:
                problems.append(f"tokennotes {command}: unknown option {option}")
    assert problems == []


def test_every_command_is_in_the_readme() -> None:
    missing = [name for name in COMMANDS if f"tokennotes {name}" not in README]
    assert missing == []


def test_every_hook_id_is_in_the_readme() -> None:
    manifest = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    ids = re.findall(r"^- id: (\S+)", manifest, flags=re.M)
    assert ids
    assert [hook for hook in ids if hook not in README] == []


def test_linked_files_exist() -> None:
    missing = []
    for doc in [ROOT / "README.md", *DOC_FILES]:
        for target in re.findall(r"\]\(([^)#\s]+)\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (doc.parent / target).exists():
                missing.append(f"{doc.name}: {target}")
    assert missing == []
