from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from tokennotes.config import (
    AGENTS,
    CONFIG_FILE,
    DEFAULT_POINTS,
    DEFAULT_RULES,
    Config,
    ConfigError,
    Limit,
    ModelPriceOverride,
    Rule,
    default_config,
    format_duration,
    guess_indent,
    load_config,
    load_config_cached,
    parse_config,
    parse_duration,
    set_config_value,
)

FULL = """\
# team settings
notes_ref: refs/notes/team-tokens
timezone: Europe/Berlin
attribution:
  max_lookback: 1h30m
agents:
  enabled: [claude, codex, claude]
  claude: ~/work-claude
  codex: [rel/codex, /abs/codex]
scoring:
  points:
    post: 12
    talk: 8
  rules:
    - type: talk
      paths: [talks/**]
    - {type: fix, conventional: FIX}
    - {type: post, paths: "*.blog", count: commit}
  grades: {B: 5, S: 20.5, A: 10}
  test_globs: spec/**
  docs_globs: [handbook/**]
  prose_globs: ["**/*.md"]
  pipeline_globs: [queue/**]
budget:
  pr: {usd: 5, tokens: 2_000_000}
  daily:
    tokens: 1e6
  weekly:
    usd: "$12.50"
  mode: warn
  warn_at: 0.75
  override_label: budget-ok
alerts:
  commit_tokens: 500000
  commit_usd: 1.1
  week_over_week_pct: 50
pricing:
  table: prices/mine.json
  models:
    my/model: {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75, cache_write_1h: 6}
    free/model: {input: 0}
  aliases: {proxy-sonnet: claude-sonnet-4-5}
report:
  templates: ~/tpl
  theme: dark
  daily_target_tokens: 3000000
  top_commits: 0
  default_branch: trunk
"""


def write(root: Path, text: str) -> Path:
    path = root / CONFIG_FILE
    path.write_text(textwrap.dedent(text))
    return path


def age(path: Path, seconds: int = 60) -> None:
    """Make the file look edited a while ago (the cache skips files edited just now)."""
    old = path.stat().st_mtime_ns - seconds * 1_000_000_000
    os.utime(path, ns=(old, old))


def error_of(tmp_path: Path, text: str) -> str:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    return str(info.value)


# --------------------------------------------------------------------------- defaults


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path) == default_config()
    assert load_config(tmp_path).source is None


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_file_means_defaults(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    config = load_config(tmp_path)
    assert config == default_config()
    assert config.source == path


def test_defaults_match_the_design() -> None:
    config = default_config()
    assert config.notes_ref == "refs/notes/ai-tokens"
    assert config.notes_name == "ai-tokens"
    assert config.attribution.max_lookback_seconds == 86400
    assert config.agents.enabled == AGENTS
    assert config.scoring.points == DEFAULT_POINTS
    assert config.scoring.rules == DEFAULT_RULES
    assert [g for g, _ in config.scoring.grades] == ["A+", "A", "B", "C"]
    assert config.budget.mode == "fail"
    assert config.budget.warn_at == Decimal("0.8")
    assert not config.budget.pr.enabled


def test_null_means_the_default(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        timezone: null
        attribution:
        agents: {enabled: ~, claude: null}
        scoring: {points: {post: null}, rules: null, grades: null}
        budget: {pr: null, mode: null, weekly: {usd: null}}
        report: {templates: null, top_commits: ~}
        """,
    )
    assert load_config(tmp_path) == default_config()


# --------------------------------------------------------------------------- every section


def test_every_section(tmp_path: Path, isolated_env: Path) -> None:
    write(tmp_path, FULL)
    c = load_config(tmp_path)
    assert c.notes_ref == "refs/notes/team-tokens"
    assert c.notes_name == "team-tokens"
    assert c.timezone == "Europe/Berlin"
    assert c.attribution.max_lookback_seconds == 5400
    # agents: de-duplicated, ~ expanded, relative paths from the repository root
    assert c.agents.enabled == ("claude", "codex")
    assert c.agents.claude == (str(isolated_env / "work-claude"),)
    assert c.agents.codex == (str(tmp_path / "rel/codex"), "/abs/codex")
    assert c.agents.homes("codex") == c.agents.codex
    assert c.agents.gemini == ()
    # scoring: points merge, rules replace, grades sorted best first
    assert c.scoring.points == {**DEFAULT_POINTS, "post": 12, "talk": 8}
    assert c.scoring.rules == (
        Rule(type="talk", paths=("talks/**",), count="file"),
        Rule(type="fix", conventional=("fix",), count="commit"),
        Rule(type="post", paths=("*.blog",), count="commit"),
    )
    assert c.scoring.grades == (
        ("S", Decimal("20.5")),
        ("A", Decimal(10)),
        ("B", Decimal(5)),
    )
    assert c.scoring.test_globs == ("spec/**",)
    assert c.scoring.docs_globs == ("handbook/**",)
    assert c.scoring.prose_globs == ("**/*.md",)
    assert c.scoring.pipeline_globs == ("queue/**",)
    # budget
    assert c.budget.pr == Limit(usd=Decimal(5), tokens=2_000_000)
    assert c.budget.daily == Limit(tokens=1_000_000)
    assert c.budget.weekly == Limit(usd=Decimal("12.50"))
    assert c.budget.mode == "warn"
    assert c.budget.warn_at == Decimal("0.75")
    assert c.budget.override_label == "budget-ok"
    # alerts
    assert c.alerts.commit_tokens == 500_000
    assert c.alerts.commit_usd == Decimal("1.1")
    assert c.alerts.week_over_week_pct == Decimal(50)
    # pricing
    assert c.pricing.table == str(tmp_path / "prices/mine.json")
    assert c.pricing.models == {
        "my/model": ModelPriceOverride(
            input=Decimal(3),
            output=Decimal(15),
            cache_read=Decimal("0.3"),
            cache_write=Decimal("3.75"),
            cache_write_1h=Decimal(6),
        ),
        "free/model": ModelPriceOverride(input=Decimal(0)),
    }
    assert c.pricing.aliases == {"proxy-sonnet": "claude-sonnet-4-5"}
    # report
    assert c.report.templates == str(isolated_env / "tpl")
    assert c.report.theme == "dark"
    assert c.report.daily_target_tokens == 3_000_000
    assert c.report.top_commits == 0
    assert c.report.default_branch == "trunk"


def test_config_holds_only_plain_values(tmp_path: Path) -> None:
    """No ruamel scalar types leak into the Config (the cache must load without ruamel)."""
    write(tmp_path, FULL)
    seen: list[type] = []

    def walk(value: object) -> None:
        if isinstance(value, (tuple, list)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif hasattr(value, "__dataclass_fields__"):
            for name in value.__dataclass_fields__:
                walk(getattr(value, name))
        else:
            seen.append(type(value))

    walk(load_config(tmp_path))
    assert set(seen) <= {str, int, bool, type(None), Decimal, type(tmp_path)}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86400),
        ("90m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("45s", 45),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("0h", 0),
        (" 2D ", 172800),
    ],
)
def test_durations(tmp_path: Path, text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    write(tmp_path, f"attribution:\n  max_lookback: '{text}'\n")
    assert load_config(tmp_path).attribution.max_lookback_seconds == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "24 hours", "1y", "-1h", "1h-"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0, 45, 60, 5400, 86400, 90061, 604800, 8 * 86400])
def test_format_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
    assert [format_duration(s) for s in (86400, 172800, 5400, 8 * 86400)] == [
        "24h",
        "2d",
        "1h30m",
        "8d",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", "5"), ("0.1", "0.1"), ("'7.25'", "7.25"), ("'$3'", "3"), ("1e2", "100"), ("3", "3")],
)
def test_money(tmp_path: Path, value: str, expected: str) -> None:
    write(tmp_path, f"budget:\n  weekly:\n    usd: {value}\n")
    assert load_config(tmp_path).budget.weekly.usd == Decimal(expected)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "budget:\n  mode: warn\n  weekly:\n    usd: -5\n",
            ".tokennotes.yml:4: budget.weekly.usd: must be a positive number",
        ),
        ("budget:\n  weekly:\n    usd: 0\n", ":3: budget.weekly.usd: must be a positive number"),
        ("budget:\n  weekly:\n    usd: true\n", ":3: budget.weekly.usd: must be a positive"),
        ("budget:\n  weekly:\n    usd: .nan\n", ":3: budget.weekly.usd: must be a positive"),
        ("budget:\n  weekly:\n    usd: .inf\n", ":3: budget.weekly.usd: must be a positive"),
        ("budget:\n  weekly:\n    usd: five\n", ":3: budget.weekly.usd: must be a positive"),
        ("budget:\n  weekly:\n    usd: [5]\n", ":3: budget.weekly.usd: must be a positive"),
        ("budget: {pr: {tokens: 1.5}}\n", ":1: budget.pr.tokens: must be a positive whole"),
        ("budget: {pr: {tokens: true}}\n", ":1: budget.pr.tokens: must be a positive whole"),
        ("budget: {pr: {euros: 5}}\n", ":1: budget.pr.euros: unknown key"),
        ("budget: {pr: 5}\n", ":1: budget.pr: must be a mapping"),
        ("budget: {mode: block}\n", ":1: budget.mode: must be one of fail, warn"),
        ("budget: {warn_at: 1.5}\n", ":1: budget.warn_at: must be a number from 0 to 1"),
        ("budget: {override_label: ''}\n", ":1: budget.override_label: must be a non-empty"),
        ("\n\nbudget:\n  montly: {}\n", ":4: budget.montly: unknown key"),
        ("foo: 1\n", ".tokennotes.yml:1: foo: unknown key"),
        ("notes_refs: x\n", ":1: notes_refs: unknown key (did you mean notes_ref?)"),
        ("- a\n", ".tokennotes.yml:1: the file must be a mapping"),
        ("notes_ref: refs/heads/x\n", ":1: notes_ref: must start with refs/notes/"),
        ("notes_ref: refs/notes/\n", ":1: notes_ref: must start with refs/notes/"),
        ("notes_ref: refs/notes/a b\n", ":1: notes_ref: 'refs/notes/a b' is not a valid git ref"),
        ("notes_ref: refs/notes/a..b\n", ":1: notes_ref: 'refs/notes/a..b' is not a valid"),
        ("notes_ref: refs/notes/x*\n", ":1: notes_ref: 'refs/notes/x*' is not a valid"),
        ("notes_ref: refs/notes/x.lock\n", ":1: notes_ref: 'refs/notes/x.lock' is not a"),
        ("notes_ref: refs/notes/commits\n", ":1: notes_ref: refs/notes/commits is git's"),
        ("notes_ref: 5\n", ":1: notes_ref: must be a non-empty string"),
        ("timezone: Mars/Base\n", ":1: timezone: unknown time zone 'Mars/Base'"),
        ("timezone: ../etc/passwd\n", ":1: timezone: unknown time zone"),
        ("attribution: {max_lookback: 24}\n", ":1: attribution.max_lookback: must be a duration"),
        ("attribution: {max_lookback: soon}\n", ":1: attribution.max_lookback: must be a dur"),
        ("attribution: {lookback: 2h}\n", ":1: attribution.lookback: unknown key"),
        (
            "agents:\n  enabled:\n    - claude\n    - cursor\n",
            ":4: agents.enabled[1]: unknown agent 'cursor'",
        ),
        ("agents: {cursor: ~/x}\n", ":1: agents.cursor: unknown key"),
        ("agents: {claude: [~/x, 3]}\n", ":1: agents.claude[1]: must be a non-empty string"),
        ("scoring: {points: {post: -1}}\n", ":1: scoring.points.post: must be a whole number >= 0"),
        ("scoring: {points: {post: 1.5}}\n", ":1: scoring.points.post: must be a whole number"),
        ("scoring: {points: {'a b': 1}}\n", ":1: scoring.points.a b: output types are letters"),
        ("scoring: {points: {1: 1}}\n", ":1: scoring.points: keys must be non-empty strings"),
        ("scoring: {points: [1]}\n", ":1: scoring.points: must be a mapping"),
        (
            "scoring:\n  rules:\n    - type: talk\n      paths: x\n",
            ":3: scoring.rules[0].type: no points for type 'talk'; add scoring.points.talk",
        ),
        ("scoring: {rules: [{type: fix}]}\n", ":1: scoring.rules[0]: needs paths (globs) or"),
        (
            "scoring:\n  rules:\n    - {type: fix, paths: x}\n    - {type: fix, paths: []}\n",
            ":4: scoring.rules[1]: needs paths",
        ),
        (
            "scoring: {rules: [{type: fix, paths: x, conventional: fix}]}\n",
            ":1: scoring.rules[0]: give paths or conventional, not both",
        ),
        ("scoring: {rules: [{paths: x}]}\n", ":1: scoring.rules[0].type: every rule needs a type"),
        (
            "scoring: {rules: [{type: fix, paths: x, count: line}]}\n",
            ":1: scoring.rules[0].count: must be one of file, commit",
        ),
        ("scoring: {rules: [{type: fix, globs: x}]}\n", ":1: scoring.rules[0].globs: unknown"),
        ("scoring: {rules: {type: fix}}\n", ":1: scoring.rules: must be a list"),
        ("scoring: {rules: [fix]}\n", ":1: scoring.rules[0]: must be a mapping"),
        ("scoring: {grades: {A: x}}\n", ":1: scoring.grades.A: must be a non-negative number"),
        ("scoring: {test_globs: [a, '']}\n", ":1: scoring.test_globs[1]: must be a non-empty"),
        ("alerts: {commit_tokens: 0}\n", ":1: alerts.commit_tokens: must be a positive whole"),
        ("alerts: {commit_usd: -1}\n", ":1: alerts.commit_usd: must be a positive number"),
        ("alerts: {daily: 1}\n", ":1: alerts.daily: unknown key"),
        ("pricing: {models: {m: {input: -1}}}\n", ":1: pricing.models.m.input: must be a non-neg"),
        ("pricing: {models: {m: {inputs: 1}}}\n", ":1: pricing.models.m.inputs: unknown key"),
        ("pricing: {models: {m: 3}}\n", ":1: pricing.models.m: must be a mapping"),
        ("pricing: {aliases: {a: 1}}\n", ":1: pricing.aliases.a: must be a non-empty string"),
        ("pricing: {table: [a]}\n", ":1: pricing.table: must be a non-empty string"),
        ("report: {theme: blue}\n", ":1: report.theme: must be one of light, dark"),
        ("report: {top_commits: -1}\n", ":1: report.top_commits: must be a whole number >= 0"),
        ("report: {daily_target_tokens: 0}\n", ":1: report.daily_target_tokens: must be a pos"),
        ("report: {default_branch: 'a b'}\n", ":1: report.default_branch: 'a b' is not a valid"),
        ("report: {chart: x}\n", ":1: report.chart: unknown key"),
    ],
)
def test_errors_name_file_line_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    got = error_of(tmp_path, text)
    assert got.startswith(".tokennotes.yml:")
    assert message in got


def test_error_attributes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "report:\n  theme: light\n  top_commits: many\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert (info.value.path, info.value.line, info.value.key) == (
        ".tokennotes.yml",
        3,
        "report.top_commits",
    )
    assert info.value.problem == "must be a whole number >= 0"


def test_error_names_the_path_outside_the_working_directory(tmp_path: Path) -> None:
    root = tmp_path / "elsewhere"
    root.mkdir()
    got = error_of(root, "foo: 1\n")
    assert got.startswith(f"{root / CONFIG_FILE}:1: foo: unknown key")


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("budget:\n  pr: [1\n", 3, "invalid YAML"),
        ("a: 1\na: 2\n", 2, 'invalid YAML: found duplicate key "a"'),
        ("budget:\n  mode: fail\n mode: warn\n", 3, "invalid YAML"),
        ('timezone: "UTC\n', 2, "invalid YAML: found unexpected end of stream"),
        ("a: 1\n---\nb: 2\n", 2, "invalid YAML"),
    ],
)
def test_yaml_syntax_errors_name_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    got = error_of(tmp_path, text)
    assert got.startswith(f".tokennotes.yml:{line}: {problem}")


@pytest.mark.parametrize("nested", ["[" * 3000 + "]" * 3000, "{a: " * 2000 + "}" * 2000])
def test_deeply_nested_yaml_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nested: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert error_of(tmp_path, f"budget: {nested}\n") == (
        ".tokennotes.yml: invalid YAML: nested too deeply"
    )


def test_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / CONFIG_FILE).write_bytes(b"timezone: UTC\nbudget: \xff\n")
    with pytest.raises(ConfigError, match=r"^\.tokennotes\.yml:2: the file is not UTF-8"):
        load_config(tmp_path)


def test_config_error_is_a_user_error() -> None:
    from tokennotes.errors import TokennotesError

    assert issubclass(ConfigError, TokennotesError)


def test_parse_config_without_a_file(tmp_path: Path) -> None:
    config = parse_config("budget: {mode: warn}\n", path=tmp_path / "x.yml")
    assert config.budget.mode == "warn"
    assert config.source == tmp_path / "x.yml"


# --------------------------------------------------------------------------- cache

PROBE = """\
import sys
from pathlib import Path
from tokennotes.config import load_config_cached
config = load_config_cached(Path(sys.argv[1]), Path(sys.argv[2]))
print(config.budget.weekly.usd, any(m.startswith("ruamel") for m in sys.modules))
"""


def probe(root: Path, cache: Path) -> tuple[str, bool]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), str(cache)],
        capture_output=True,
        text=True,
        check=True,
    )
    usd, ruamel = result.stdout.split()
    return usd, ruamel == "True"


def test_cache_hit_skips_ruamel(tmp_path: Path) -> None:
    path = write(tmp_path, "budget:\n  weekly:\n    usd: 7.5\n")
    age(path)
    cache = tmp_path / "cache"
    assert probe(tmp_path, cache) == ("7.5", True)  # miss: parsed, cache written
    assert len(list(cache.iterdir())) == 1
    assert probe(tmp_path, cache) == ("7.5", False)  # hit: no ruamel


def test_missing_file_skips_ruamel(tmp_path: Path) -> None:
    assert probe(tmp_path, tmp_path / "cache") == ("None", False)
    assert not (tmp_path / "cache").exists()


def test_cache_invalidated_by_an_edit(tmp_path: Path) -> None:
    path = write(tmp_path, "budget:\n  weekly:\n    usd: 7.5\n")
    age(path, 120)
    cache = tmp_path / "cache"
    first = load_config_cached(tmp_path, cache)
    assert first.budget.weekly.usd == Decimal("7.5")
    assert load_config_cached(tmp_path, cache) == first
    path.write_text("budget:\n  weekly:\n    usd: 8.5\n")  # same size, new mtime
    age(path, 60)
    assert probe(tmp_path, cache) == ("8.5", True)
    assert probe(tmp_path, cache) == ("8.5", False)


def test_cache_equals_a_fresh_load(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    age(path)
    cache = tmp_path / "cache"
    load_config_cached(tmp_path, cache)
    cached = load_config_cached(tmp_path, cache)
    assert cached == load_config(tmp_path)
    assert cached.source == path


def test_file_edited_just_now_is_not_cached(tmp_path: Path) -> None:
    write(tmp_path, "budget: {mode: warn}\n")
    cache = tmp_path / "cache"
    assert load_config_cached(tmp_path, cache).budget.mode == "warn"
    assert not cache.exists()


def test_corrupt_cache_is_a_miss(tmp_path: Path) -> None:
    path = write(tmp_path, "budget: {mode: warn}\n")
    age(path)
    cache = tmp_path / "cache"
    load_config_cached(tmp_path, cache)
    (entry,) = cache.iterdir()
    for garbage in (b"", b"\x00garbage", entry.read_bytes()[:-7]):
        entry.write_bytes(garbage)
        assert load_config_cached(tmp_path, cache).budget.mode == "warn"
    assert load_config_cached(tmp_path, cache).budget.mode == "warn"


def test_invalid_file_is_never_cached(tmp_path: Path) -> None:
    path = write(tmp_path, "budget: {mode: block}\n")
    age(path)
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"budget\.mode"):
            load_config_cached(tmp_path, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_unwritable_cache_dir_still_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "budget: {mode: warn}\n")
    age(path)
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a directory")
    assert load_config_cached(tmp_path, blocker).budget.mode == "warn"


def test_cache_follows_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    age(write(tmp_path, "agents: {claude: ~/c}\n"))
    cache = tmp_path / "cache"
    assert load_config_cached(tmp_path, cache).agents.claude == (str(isolated_env / "c"),)
    monkeypatch.setenv("HOME", str(tmp_path / "other"))
    assert load_config_cached(tmp_path, cache).agents.claude == (str(tmp_path / "other/c"),)


def test_two_roots_share_a_cache_dir(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for name, mode in (("a", "warn"), ("b", "fail")):
        (tmp_path / name).mkdir()
        age(write(tmp_path / name, f"budget: {{mode: {mode}}}\n"))
    for _ in range(2):
        assert load_config_cached(tmp_path / "a", cache).budget.mode == "warn"
        assert load_config_cached(tmp_path / "b", cache).budget.mode == "fail"
    assert len(list(cache.iterdir())) == 2


# --------------------------------------------------------------------------- editing


COMMENTED = """\
# Team settings: ask #infra before changing budgets.
timezone: Europe/Berlin  # our office

budget:
  # hard limits
  weekly:
    usd: 50   # dollars
    tokens: null
  mode: fail
report:
  theme: dark
"""


def test_set_keeps_comments_and_order(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    set_config_value(tmp_path, "budget.weekly.usd", 75)
    assert path.read_text() == COMMENTED.replace("usd: 50   #", "usd: 75   #")
    assert load_config(tmp_path).budget.weekly.usd == Decimal(75)


def test_set_adds_missing_keys_and_sections(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    set_config_value(tmp_path, "budget.pr.usd", Decimal("5.25"))
    set_config_value(tmp_path, "alerts.commit_tokens", 400000)
    set_config_value(tmp_path, "scoring.points.talk", 7)
    text = path.read_text()
    assert text.startswith(COMMENTED.split("  mode: fail")[0])
    assert "# hard limits" in text and "# our office" in text and "# dollars" in text
    config = load_config(tmp_path)
    assert config.budget.pr.usd == Decimal("5.25")
    assert config.budget.weekly.usd == Decimal(50)
    assert config.alerts.commit_tokens == 400000
    assert config.scoring.points["talk"] == 7
    assert config.timezone == "Europe/Berlin"
    assert list(load_yaml_keys(path)) == ["timezone", "budget", "report", "alerts", "scoring"]


def load_yaml_keys(path: Path) -> list[str]:
    from ruamel.yaml import YAML

    return list(YAML(typ="safe").load(path.read_text()))


def test_set_creates_the_file(tmp_path: Path) -> None:
    set_config_value(tmp_path, "budget.weekly.usd", Decimal("0.1"))
    assert (tmp_path / CONFIG_FILE).read_text() == "budget:\n  weekly:\n    usd: 0.1\n"
    assert load_config(tmp_path).budget.weekly.usd == Decimal("0.1")


def test_set_keeps_a_comment_only_file(tmp_path: Path) -> None:
    path = write(tmp_path, "# settings go here\n")
    set_config_value(tmp_path, "timezone", "Asia/Tokyo")
    assert path.read_text() == "# settings go here\ntimezone: Asia/Tokyo\n"


@pytest.mark.parametrize(
    ("value", "loaded"),
    [
        (Decimal("12.345678901234567890"), Decimal("12.345678901234567890")),
        (Decimal("3.00"), Decimal(3)),
        (2.5, Decimal("2.5")),
        ("4.75", Decimal("4.75")),
        (None, None),
    ],
)
def test_set_money_values(tmp_path: Path, value: object, loaded: Decimal | None) -> None:
    set_config_value(tmp_path, "budget.weekly.usd", value)
    assert load_config(tmp_path).budget.weekly.usd == loaded


def test_set_lists_and_mappings(tmp_path: Path) -> None:
    set_config_value(tmp_path, "agents.enabled", ("claude", "codex"))
    set_config_value(tmp_path, "pricing.models", {"m/x": {"input": Decimal(1)}})
    set_config_value(tmp_path, "pricing.table", Path("/abs/prices.json"))
    config = load_config(tmp_path)
    assert config.agents.enabled == ("claude", "codex")
    assert config.pricing.models == {"m/x": ModelPriceOverride(input=Decimal(1))}
    assert config.pricing.table == "/abs/prices.json"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("budget.weekly.usd", -5, "cannot set budget.weekly.usd: must be a positive number"),
        ("budget.weekly.dollars", 5, "cannot set budget.weekly.dollars: unknown key"),
        ("budget.mode", "block", "cannot set budget.mode: must be one of fail, warn"),
        ("timezone.zone", "x", "timezone: must be a mapping"),
        ("budget..usd", 5, "is not a dotted config key"),
    ],
)
def test_set_never_writes_an_invalid_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: object, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, COMMENTED)
    with pytest.raises(ConfigError) as info:
        set_config_value(tmp_path, key, value)
    assert message in str(info.value)
    assert path.read_text() == COMMENTED
    assert [p.name for p in tmp_path.iterdir()] == [CONFIG_FILE]


def test_set_refuses_to_edit_a_broken_file(tmp_path: Path) -> None:
    path = write(tmp_path, "budget: [1\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        set_config_value(tmp_path, "budget.mode", "warn")
    assert path.read_text() == "budget: [1\n"


def test_set_keeps_the_file_mode(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    path.chmod(0o640)
    set_config_value(tmp_path, "budget.mode", "warn")
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("text", "style"),
    [
        ("repos:\n- repo: x\n  hooks:\n  - id: a\n", (2, 2, 0)),
        ("repos:\n  - repo: x\n    hooks:\n      - id: a\n", (2, 4, 2)),
        ("repos:\n-   repo: x\n    hooks:\n    -   id: a\n", (2, 4, 0)),
        ("a:\n    b: 1\n", (4, 4, 2)),
        ("a: 1\n", (2, 4, 2)),
        ("", (2, 4, 2)),
    ],
)
def test_guess_indent(text: str, style: tuple[int, int, int]) -> None:
    assert guess_indent(text) == style


def test_set_keeps_the_indentation_style(tmp_path: Path) -> None:
    text = "agents:\n    enabled:\n    - claude\n    - codex\nreport:\n    theme: dark\n"
    path = write(tmp_path, text)
    set_config_value(tmp_path, "report.top_commits", 3)
    assert path.read_text() == text + "    top_commits: 3\n"


def test_config_compares_without_its_source(tmp_path: Path) -> None:
    assert Config(source=tmp_path) == default_config()


# --------------------------------------------------------------------------- docs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_docs_example_loads(tmp_path: Path) -> None:
    example = DOCS.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_config(example, path=tmp_path / CONFIG_FILE)
    assert config.budget.weekly == Limit(usd=Decimal(150), tokens=400_000_000)
    assert config.scoring.points["talk"] == 8
    assert config.pricing.models["acme/coder-large"].cache_read == Decimal("0.2")


def test_every_key_is_documented(tmp_path: Path) -> None:
    from tokennotes.hooks.init import render_config_template

    documented = set(re.findall(r"^\| `([^`]+)` \|", DOCS.read_text(), re.MULTILINE))
    template = parse_yaml_keys(render_config_template())
    named = ("points", "grades", "models", "aliases")
    expected = {k for k in template if not k.endswith(named)} | {
        "scoring.points.<type>",
        "scoring.grades.<grade>",
        "pricing.models.<model>",
        "pricing.aliases.<name>",
        "agents.claude",
        "agents.codex",
        "agents.gemini",
        "agents.opencode",
        "scoring.rules",
        "scoring.rules[].type",
        "scoring.rules[].paths",
        "scoring.rules[].conventional",
        "scoring.rules[].count",
        "scoring.test_globs",
        "scoring.docs_globs",
        "scoring.prose_globs",
        "scoring.pipeline_globs",
    }
    assert documented == expected
    # and every documented leaf is a key the loader accepts
    for key in documented - {"scoring.rules"}:
        if "<" in key or "[]" in key:
            continue
        text = "[]" if key.endswith(("enabled", "globs")) else "null"
        for part in reversed(key.split(".")):
            text = f"{{{part}: {text}}}"
        parse_config(text, path=tmp_path / "x.yml")


def parse_yaml_keys(text: str) -> list[str]:
    from ruamel.yaml import YAML

    keys: list[str] = []

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict) and not prefix.endswith(("points", "grades")):
            for k, v in node.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        else:
            keys.append(prefix)

    walk(YAML(typ="safe").load(text), "")
    return keys


def test_set_says_when_the_file_cannot_be_read_or_written(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).mkdir()
    with pytest.raises(ConfigError, match=r"\.tokennotes\.yml: cannot read: Is a directory"):
        set_config_value(tmp_path, "budget.weekly.usd", 5)
    (tmp_path / CONFIG_FILE).rmdir()
    path = write(tmp_path, COMMENTED)
    (tmp_path / f"{CONFIG_FILE}.{os.getpid()}.tmp").mkdir()  # where the new text would go
    with pytest.raises(ConfigError, match=r"\.tokennotes\.yml: cannot write: Is a directory"):
        set_config_value(tmp_path, "budget.weekly.usd", 5)
    assert path.read_text() == COMMENTED
