"""`.tokennotes.yml`: typed settings with documented defaults.

Every key is optional. ``load_config(root)`` reads the file at the repository root (ruamel.yaml,
safe loader), validates it and returns a frozen ``Config``; unknown keys and bad values raise
``ConfigError`` naming the file, the line and the key. ``default_config()`` is what an empty or
missing file means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from tokennotes.errors import TokennotesError

CONFIG_FILE = ".tokennotes.yml"
NOTES_REF = "refs/notes/ai-tokens"
AGENTS = ("claude", "codex", "gemini", "opencode")

# Points per item of each output type (DESIGN.md "Scoring": the seed tracker's values plus
# software types).
DEFAULT_POINTS: dict[str, int] = {
    "post": 10,
    "skill": 5,
    "workflow": 5,
    "script": 5,
    "draft": 2,
    "feature": 5,
    "fix": 3,
    "perf": 3,
    "test": 2,
    "docs": 2,
    "refactor": 2,
    "other": 1,
}

# Grade thresholds on points per dollar, best first; below the last one the grade is "D".
DEFAULT_GRADES: tuple[tuple[str, Decimal], ...] = (
    ("A+", Decimal(15)),
    ("A", Decimal(10)),
    ("B", Decimal(5)),
    ("C", Decimal(2)),
)


class ConfigError(TokennotesError):
    """A bad `.tokennotes.yml`: the message names the file, line and key."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Map a commit to an output type by changed paths (globs) or Conventional Commit type."""

    type: str
    paths: tuple[str, ...] = ()
    conventional: tuple[str, ...] = ()
    count: str = "file"  # "file": one item per matching file; "commit": one per commit


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(type="post", paths=("posts/**", "_posts/**", "content/posts/**", "blog/**")),
    Rule(type="draft", paths=("drafts/**", "_drafts/**", "content/drafts/**")),
    Rule(
        type="skill",
        paths=("**/SKILL.md", ".claude/skills/**", ".cursor/rules/**", "skills/**"),
    ),
    Rule(type="workflow", paths=(".github/workflows/*", "**/*.prompt.md", "prompts/**")),
    Rule(type="script", paths=("scripts/**", "bin/**", "**/*.sh")),
    Rule(type="feature", conventional=("feat",), count="commit"),
    Rule(type="fix", conventional=("fix",), count="commit"),
    Rule(type="perf", conventional=("perf",), count="commit"),
    Rule(type="refactor", conventional=("refactor",), count="commit"),
    Rule(type="test", conventional=("test",), count="commit"),
    Rule(type="docs", conventional=("docs",), count="commit"),
)

DEFAULT_TEST_GLOBS = ("tests/**", "test/**", "**/*_test.*", "**/test_*.*", "**/*.test.*", "**/*.spec.*")
DEFAULT_DOCS_GLOBS = ("docs/**", "**/*.md", "**/*.rst", "**/*.txt", "**/*.adoc")
DEFAULT_PROSE_GLOBS = ("**/*.md", "**/*.markdown", "**/*.txt", "**/*.rst", "**/*.adoc")
DEFAULT_PIPELINE_GLOBS = ("drafts/**", "_drafts/**", "content/drafts/**")


@dataclass(frozen=True, kw_only=True)
class AttributionConfig:
    max_lookback_seconds: int = 24 * 3600  # `max_lookback: 24h` in the file


@dataclass(frozen=True, kw_only=True)
class AgentsConfig:
    enabled: tuple[str, ...] = AGENTS
    # Overrides of the agents' homes; empty means "from the agents' own variables and defaults".
    claude: tuple[str, ...] = ()  # config dirs (each holding projects/) or projects/ dirs
    codex: tuple[str, ...] = ()  # CODEX_HOME-like dirs
    gemini: tuple[str, ...] = ()  # ~/.gemini-like dirs (holding tmp/)
    opencode: tuple[str, ...] = ()  # opencode data dirs (holding opencode.db and/or storage/)


@dataclass(frozen=True, kw_only=True)
class ScoringConfig:
    points: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    rules: tuple[Rule, ...] = DEFAULT_RULES
    test_globs: tuple[str, ...] = DEFAULT_TEST_GLOBS
    docs_globs: tuple[str, ...] = DEFAULT_DOCS_GLOBS
    prose_globs: tuple[str, ...] = DEFAULT_PROSE_GLOBS
    pipeline_globs: tuple[str, ...] = DEFAULT_PIPELINE_GLOBS
    grades: tuple[tuple[str, Decimal], ...] = DEFAULT_GRADES


@dataclass(frozen=True, kw_only=True)
class Limit:
    usd: Decimal | None = None
    tokens: int | None = None

    @property
    def enabled(self) -> bool:
        return self.usd is not None or self.tokens is not None


@dataclass(frozen=True, kw_only=True)
class BudgetConfig:
    pr: Limit = Limit()
    daily: Limit = Limit()
    weekly: Limit = Limit()
    mode: str = "fail"  # "fail": the check fails when exceeded; "warn": it only warns
    warn_at: Decimal = Decimal("0.8")  # share of a limit at which the state becomes "warn"
    override_label: str = "tokennotes:override-budget"


@dataclass(frozen=True, kw_only=True)
class AlertsConfig:
    commit_tokens: int | None = None
    commit_usd: Decimal | None = None
    week_over_week_pct: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class ModelPriceOverride:
    """USD per million tokens; None keeps the table's value (or leaves it unknown)."""

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class PricingConfig:
    table: str | None = None  # path to a price table file replacing the shipped one
    models: dict[str, ModelPriceOverride] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # raw model name -> table key


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    templates: str | None = None  # directory whose *.md.j2 files override the shipped ones
    theme: str = "light"  # "light" or "dark" charts
    daily_target_tokens: int | None = None  # marks heatmap days over this
    top_commits: int = 5
    default_branch: str | None = None  # None: origin/HEAD, else main, else master


@dataclass(frozen=True, kw_only=True)
class Config:
    notes_ref: str = NOTES_REF
    timezone: str = "UTC"
    attribution: AttributionConfig = AttributionConfig()
    agents: AgentsConfig = AgentsConfig()
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    budget: BudgetConfig = BudgetConfig()
    alerts: AlertsConfig = AlertsConfig()
    pricing: PricingConfig = field(default_factory=PricingConfig)
    report: ReportConfig = ReportConfig()
    source: Path | None = None  # the file it was read from, if any


def default_config() -> Config:
    return Config()


def load_config(root: Path) -> Config:
    """Read `<root>/.tokennotes.yml`; a missing file means the defaults."""
    path = root / CONFIG_FILE
    if not path.exists():
        return default_config()
    raise ConfigError(f"{path}: loading is not implemented yet")
