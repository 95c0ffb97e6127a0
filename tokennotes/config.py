"""`.tokennotes.yml`: typed settings with documented defaults, loading, caching and edits.

Every key is optional. ``load_config(root)`` reads the file at the repository root (ruamel.yaml
round-trip loader, for line numbers), validates every key and returns a frozen ``Config``;
unknown keys and bad values raise ``ConfigError`` naming the file, the line and the dotted key
(``.tokennotes.yml:7: budget.weekly.usd: must be a positive number``). ``default_config()`` is
what an empty or missing file means.

The commit hook calls ``load_config_cached(root, cache_dir)``: when the file's size, mtime and
inode match the cache, the validated ``Config`` comes back from a ``marshal`` cache without
importing ruamel.yaml (~15 ms). ``set_config_value(root, "budget.weekly.usd", 5)`` edits the file
in place, keeping the user's comments and key order, and never writes a file that would not load.

The settings classes behave as ``@dataclass(frozen=True, kw_only=True)`` classes (keyword
construction, field-wise ``==`` and ``hash``, ``repr``, ``dataclasses.fields``/``replace``), but
are built on a small base class (``_Settings``), because importing ``dataclasses`` and generating
the classes' methods took about 12 ms of the commit hook. For the same reason a cache hit imports
neither ``typing`` nor ``pathlib``: ``Config.source`` becomes a ``Path`` when first read.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation

from tokennotes import __version__
from tokennotes.errors import TokennotesError

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, ClassVar, NoReturn

    from ruamel.yaml import YAML
    from typing_extensions import Self, dataclass_transform

    StrPath = str | os.PathLike[str]
else:

    def dataclass_transform(**_: Any) -> Any:
        """Runtime stand-in: the decorator only informs type checkers."""
        return lambda cls: cls


CONFIG_FILE = ".tokennotes.yml"
NOTES_REF = "refs/notes/ai-tokens"
AGENTS = ("claude", "codex", "gemini", "opencode")
CACHE_FORMAT = 1  # bump when the cache file's layout changes

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

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem if problem is not None else message


# --------------------------------------------------------------------------- settings classes

_MISSING: Any = object()


class _FieldSpec:
    """What ``_field(...)`` declares: a default (or a factory) and whether ``==`` compares it."""

    __slots__ = ("compare", "default", "default_factory", "path")

    def __init__(self, default: Any, default_factory: Any, compare: bool, path: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.path = path


def _field(
    *,
    default: Any = _MISSING,
    default_factory: Any = None,
    compare: bool = True,
    path: bool = False,
) -> Any:
    """``dataclasses.field`` for ``_Settings`` classes (only what this module uses).

    ``path=True`` declares a ``Path`` field that the config cache restores as text, made a
    ``Path`` when first read (``_PathField``).
    """
    return _FieldSpec(default, default_factory, compare, path)


class _PathText(str):
    """The text of a ``Path`` restored from the config cache, not yet made a ``Path``."""

    __slots__ = ()


class _PathField:
    """The attribute of a ``path=True`` field: a ``_PathText`` value becomes a ``Path`` when
    first read, so that a cached config does not import ``pathlib`` (~3 ms of the commit hook)
    unless someone asks for the path."""

    def __init__(self, name: str, default: Any) -> None:
        self.name = name
        self.default = default

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self.default
        own = instance.__dict__
        value = own[self.name]
        if type(value) is _PathText:
            from pathlib import Path

            value = own[self.name] = Path(value)
        return value

    def __set__(self, instance: object, value: Any) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {self.name!r}")


class _DataclassView:
    """``__dataclass_fields__`` / ``__dataclass_params__`` of a ``_Settings`` class, built by
    ``dataclasses.make_dataclass`` the first time something asks (``dataclasses.fields``,
    ``replace``, ``asdict``, ``is_dataclass``), so only such callers import ``dataclasses``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type[_Settings]) -> Any:
        shadow = owner.__dict__.get("_dataclass")
        if shadow is None:
            import dataclasses

            spec = []
            for name, default, factory, compare in owner._spec:
                if factory is not None:
                    spec_field = dataclasses.field(default_factory=factory, compare=compare)
                elif default is not _MISSING:
                    spec_field = dataclasses.field(default=default, compare=compare)
                else:
                    spec_field = dataclasses.field(compare=compare)
                spec.append((name, owner.__annotations__[name], spec_field))
            shadow = dataclasses.make_dataclass(owner.__name__, spec, frozen=True, kw_only=True)
            owner._dataclass = shadow
        return getattr(shadow, self.name)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(_field,))
class _Settings:
    """Base of the config classes: frozen, keyword-only, compared and hashed by their fields,
    as ``@dataclass(frozen=True, kw_only=True)`` makes them, but without importing
    ``dataclasses`` (with ``inspect`` and ``ast``, ~7 ms) and generating code for each class
    (~0.5 ms each) on the commit hook's path. ``dataclasses.fields()``, ``replace()`` and
    ``asdict()`` still work on them (see ``_DataclassView``)."""

    # (name, default, default factory, compared) of each field, in declaration order
    _spec: ClassVar[tuple[tuple[str, Any, Any, bool], ...]] = ()
    _compared: ClassVar[tuple[str, ...]] = ()
    _dataclass: ClassVar[type | None] = None
    __match_args__: ClassVar[tuple[str, ...]] = ()
    __dataclass_fields__: ClassVar[Any] = _DataclassView()
    __dataclass_params__: ClassVar[Any] = _DataclassView()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        spec = []
        for name, annotation in cls.__annotations__.items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, _FieldSpec):
                spec.append((name, value.default, value.default_factory, value.compare))
                if value.path:
                    setattr(cls, name, _PathField(name, value.default))
                elif value.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, value.default)
            else:
                spec.append((name, value, None, True))
        cls._spec = tuple(spec)
        cls._compared = tuple(name for name, _, _, compare in spec if compare)

    def __init__(self, **values: Any) -> None:
        own = self.__dict__
        for name, default, factory, _ in self._spec:
            if name in values:
                own[name] = values.pop(name)
            elif factory is not None:
                own[name] = factory()
            elif default is not _MISSING:
                own[name] = default
            else:
                raise TypeError(
                    f"{type(self).__qualname__}.__init__() missing 1 required keyword-only "
                    f"argument: {name!r}"
                )
        if values:
            raise TypeError(
                f"{type(self).__qualname__}.__init__() got an unexpected keyword argument "
                f"{next(iter(values))!r}"
            )

    def _key(self) -> tuple[Any, ...]:
        own = self.__dict__
        return tuple(own[name] for name in self._compared)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            assert isinstance(other, _Settings)
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={getattr(self, name)!r}" for name, _, _, _ in self._spec)
        return f"{type(self).__qualname__}({body})"

    def __replace__(self, **changes: Any) -> Self:  # ``copy.replace`` (Python 3.13)
        own = self.__dict__
        return type(self)(**{name: own[name] for name, _, _, _ in self._spec} | changes)

    def __setattr__(self, name: str, value: Any) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")


class Rule(_Settings):
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

DEFAULT_TEST_GLOBS = (
    "tests/**",
    "test/**",
    "**/*_test.*",
    "**/test_*.*",
    "**/*.test.*",
    "**/*.spec.*",
)
DEFAULT_DOCS_GLOBS = ("docs/**", "**/*.md", "**/*.rst", "**/*.txt", "**/*.adoc")
DEFAULT_PROSE_GLOBS = ("**/*.md", "**/*.markdown", "**/*.txt", "**/*.rst", "**/*.adoc")
DEFAULT_PIPELINE_GLOBS = ("drafts/**", "_drafts/**", "content/drafts/**")


class AttributionConfig(_Settings):
    max_lookback_seconds: int = 24 * 3600  # `max_lookback: 24h` in the file


class AgentsConfig(_Settings):
    enabled: tuple[str, ...] = AGENTS
    # Overrides of the agents' homes; empty means "from the agents' own variables and defaults".
    # Paths are absolute: `~` is expanded and relative paths are taken from the repository root.
    claude: tuple[str, ...] = ()  # config dirs (each holding projects/) or projects/ dirs
    codex: tuple[str, ...] = ()  # CODEX_HOME-like dirs
    gemini: tuple[str, ...] = ()  # ~/.gemini-like dirs (holding tmp/)
    opencode: tuple[str, ...] = ()  # opencode data dirs (holding opencode.db and/or storage/)

    def homes(self, agent: str) -> tuple[str, ...]:
        """The configured home overrides of one agent (empty: use the agent's defaults)."""
        value: tuple[str, ...] = getattr(self, agent)
        return value


class ScoringConfig(_Settings):
    points: dict[str, int] = _field(default_factory=lambda: dict(DEFAULT_POINTS))
    rules: tuple[Rule, ...] = DEFAULT_RULES
    test_globs: tuple[str, ...] = DEFAULT_TEST_GLOBS
    docs_globs: tuple[str, ...] = DEFAULT_DOCS_GLOBS
    prose_globs: tuple[str, ...] = DEFAULT_PROSE_GLOBS
    pipeline_globs: tuple[str, ...] = DEFAULT_PIPELINE_GLOBS
    grades: tuple[tuple[str, Decimal], ...] = DEFAULT_GRADES


class Limit(_Settings):
    usd: Decimal | None = None
    tokens: int | None = None

    @property
    def enabled(self) -> bool:
        return self.usd is not None or self.tokens is not None


class BudgetConfig(_Settings):
    pr: Limit = Limit()
    daily: Limit = Limit()
    weekly: Limit = Limit()
    mode: str = "fail"  # "fail": the check fails when exceeded; "warn": it only warns
    warn_at: Decimal = Decimal("0.8")  # share of a limit at which the state becomes "warn"
    override_label: str = "tokennotes:override-budget"


class AlertsConfig(_Settings):
    commit_tokens: int | None = None
    commit_usd: Decimal | None = None
    week_over_week_pct: Decimal | None = None  # percent: 50 = spend grew by half


class ModelPriceOverride(_Settings):
    """USD per million tokens; None keeps the table's value (or leaves it unknown)."""

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None


class PricingConfig(_Settings):
    table: str | None = None  # path to a price table file replacing the shipped one (absolute)
    models: dict[str, ModelPriceOverride] = _field(default_factory=dict)
    aliases: dict[str, str] = _field(default_factory=dict)  # raw model name -> table key


class ReportConfig(_Settings):
    templates: str | None = None  # directory whose *.md.j2 files override the shipped ones
    theme: str = "light"  # "light" or "dark" charts
    daily_target_tokens: int | None = None  # marks heatmap days over this
    top_commits: int = 5
    default_branch: str | None = None  # None: origin/HEAD, else main, else master


class Config(_Settings):
    notes_ref: str = NOTES_REF
    timezone: str = "UTC"
    attribution: AttributionConfig = AttributionConfig()
    agents: AgentsConfig = AgentsConfig()
    scoring: ScoringConfig = _field(default_factory=ScoringConfig)
    budget: BudgetConfig = BudgetConfig()
    alerts: AlertsConfig = AlertsConfig()
    pricing: PricingConfig = _field(default_factory=PricingConfig)
    report: ReportConfig = ReportConfig()
    # the file it was read from, if any (metadata: not part of equality)
    source: Path | None = _field(default=None, compare=False, path=True)

    @property
    def notes_name(self) -> str:
        """The notes ref without `refs/notes/` (`ai-tokens`), as `git notes --ref` and
        `notes.<name>.mergeStrategy` spell it."""
        return self.notes_ref.removeprefix("refs/notes/")


def default_config() -> Config:
    return Config()


# --------------------------------------------------------------------------- loading


def load_config(root: StrPath) -> Config:
    """Read and validate `<root>/.tokennotes.yml`; a missing or empty file means the defaults."""
    from pathlib import Path

    base = Path(root)
    path = base / CONFIG_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return default_config()
    except OSError as exc:
        raise ConfigError(f"{_display(path)}: cannot read: {exc.strerror}") from exc
    return parse_config(_decode(data, path), path=path, root=base)


def parse_config(text: str, *, path: Path, root: Path | None = None) -> Config:
    """Validate the text of a config file; ``path`` names it in errors and in ``source``."""
    root = path.parent if root is None else root
    doc = _load_yaml(text, path)
    if doc is None:
        return Config(source=path)
    return _Validator(path, root).config(doc)


def load_config_cached(root: StrPath, cache_dir: StrPath) -> Config:
    """``load_config`` through a cache file in ``cache_dir``, keyed by the file's stat.

    A hit costs one ``stat`` and one small read and never imports ruamel.yaml; neither does a
    missing file. A miss loads, validates and rewrites the cache, unless the file was modified
    in the last two seconds (an edit of the same size could then keep the same mtime). The
    cache holds plain data (``marshal``, built in: no import, no code run on load); a stale,
    corrupt or foreign cache file is just a miss.
    """
    import marshal
    import time

    path = os.path.join(os.fspath(root), CONFIG_FILE)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return default_config()
    except OSError:
        return load_config(root)  # raises ConfigError with the reason
    where = os.path.abspath(path)
    home = os.environ.get("HOME", "")  # `~` in paths is expanded at load time
    key = (CACHE_FORMAT, *_code_stamp(), where, home, st.st_size, st.st_mtime_ns, st.st_ino)
    cache_dir = os.fspath(cache_dir)
    cache = os.path.join(cache_dir, f"config-{_name_hash(where)}.cache")
    try:
        with open(cache, "rb") as fh:
            cached_key, data = marshal.loads(fh.read())
        if cached_key == key:
            config = _thaw(data)
            if isinstance(config, Config):
                return config
    except Exception:  # a missing, stale or corrupt cache is just a miss
        pass
    config = load_config(root)
    if time.time_ns() - st.st_mtime_ns > 2_000_000_000:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = f"{cache}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(marshal.dumps((key, _freeze(config))))
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only git dir only costs speed
    return config


def _code_stamp() -> tuple[str, int, int]:
    """Changes whenever this module (its dataclasses, its defaults) or the version changes."""
    try:
        st = os.stat(__file__)
    except OSError:  # pragma: no cover - zip imports: fall back to the version alone
        return (__version__, 0, 0)
    return (__version__, st.st_size, st.st_mtime_ns)


def _name_hash(text: str) -> str:
    """FNV-1a of the path: a stable file name without importing zlib or hashlib."""
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def _freeze(value: Any) -> Any:
    """A Config as marshal-able plain data: dataclasses, Decimals and Paths become tagged
    lists (the Config itself never holds a list)."""
    if _CLASSES.get(type(value).__name__) is type(value):
        data = {name: _freeze(getattr(value, name)) for name, _, _, _ in value._spec}
        return ["C", type(value).__name__, data]
    if isinstance(value, Decimal):
        return ["D", str(value)]
    if isinstance(value, os.PathLike):
        return ["P", os.fspath(value)]
    if isinstance(value, tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    if value is None or type(value) in (str, int, bool):
        return value
    raise TypeError(f"cannot cache {type(value).__name__}")


def _thaw(value: Any) -> Any:
    if isinstance(value, list):
        tag = value[0]
        if tag == "C":
            return _CLASSES[value[1]](**{k: _thaw(v) for k, v in value[2].items()})
        return Decimal(value[1]) if tag == "D" else _PathText(value[1])
    if isinstance(value, tuple):
        return tuple(_thaw(v) for v in value)
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    return value


_CLASSES: dict[str, Any] = {
    cls.__name__: cls
    for cls in (
        Config,
        AttributionConfig,
        AgentsConfig,
        ScoringConfig,
        Rule,
        Limit,
        BudgetConfig,
        AlertsConfig,
        ModelPriceOverride,
        PricingConfig,
        ReportConfig,
    )
}


def _display(path: Path) -> str:
    """The file as errors name it: relative to the working directory when below it."""
    from pathlib import Path

    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{_display(path)}:{line}: the file is not UTF-8 text",
            path=_display(path),
            line=line,
            problem="the file is not UTF-8 text",
        ) from exc


def make_yaml(text: str = "") -> YAML:
    """A ruamel round-trip YAML whose dumps keep ``text``'s indentation style."""
    from ruamel.yaml import YAML

    mapping, sequence, offset = guess_indent(text)
    yaml = YAML(typ="rt")
    yaml.Representer = _null_representer()
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _null_representer() -> Any:
    """ruamel's round-trip representer, but writing None as `null` rather than nothing (so
    `tokens: null` stays as the user wrote it; an empty value reads like a mistake)."""
    from ruamel.yaml.representer import RoundTripRepresenter

    class NullRepresenter(RoundTripRepresenter):
        def represent_none(self, data: Any) -> Any:
            return self.represent_scalar("tag:yaml.org,2002:null", "null")

    NullRepresenter.add_representer(type(None), NullRepresenter.represent_none)
    return NullRepresenter


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) of block YAML; (2, 4, 2) when unsure.

    `- a` under `key:` at the key's column is offset 0 / sequence 2, pre-commit's sample
    `-   repo:` is 0 / 4, and `  - repo:` is 2 / 4.
    """
    mapping = sequence = offset = None
    parent = None  # the column of the keys below the previous line, if it ended with ':'
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lead = len(line) - len(line.lstrip(" "))
        if parent is not None and stripped.startswith("-") and lead >= parent and offset is None:
            offset = lead - parent
            sequence = lead + 1 + len(stripped[1:]) - len(stripped[1:].lstrip(" ")) - parent
        elif parent is not None and lead > parent and mapping is None:
            mapping = lead - parent
        parent = None
        if stripped.endswith(":"):
            parent = lead
            if stripped.startswith("- "):
                parent = lead + len(stripped) - len(stripped[1:].lstrip(" "))
        if mapping is not None and offset is not None:
            break
    if offset is None or sequence is None or sequence < offset + 2:
        offset, sequence = 2, 4
    return (mapping or 2, sequence, offset)


def _load_yaml(text: str, path: Path) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return make_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
        raise ConfigError(
            f"{_display(path)}:{line}: {problem}", path=_display(path), line=line, problem=problem
        ) from exc
    except YAMLError as exc:
        problem = f"invalid YAML: {exc}"
        raise ConfigError(
            f"{_display(path)}: {problem}", path=_display(path), problem=problem
        ) from exc
    except RecursionError:  # the parser recurses per level: a few hundred `[` are enough
        problem = "invalid YAML: nested too deeply"
        raise ConfigError(
            f"{_display(path)}: {problem}", path=_display(path), problem=problem
        ) from None


# --------------------------------------------------------------------------- validation

_DURATION_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
# Patterns for re's own compile cache: compiling them at import would cost the hook path.
_DURATION = r"(\d+(?:\.\d+)?)\s*([wdhms])"
_TYPE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z"
_BAD_REF = r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(?:/|\Z)|[/.]\Z"


def notes_ref_arg(value: str) -> str:
    """A ``--ref`` option: a valid ref under ``refs/notes/`` (argparse's ``type``); a name
    outside ``refs/`` is taken under ``refs/notes/``, as git's own ``--ref`` does."""
    ref = value.strip()
    if not ref.startswith("refs/"):
        ref = f"refs/notes/{ref}"
    if (
        not ref.startswith("refs/notes/")
        or ref == "refs/notes/"
        or re.search(_BAD_REF, ref)
        or any(part.startswith(".") for part in ref.split("/"))
    ):
        import argparse

        raise argparse.ArgumentTypeError(
            f"{value!r} is not a notes ref; use refs/notes/NAME (e.g. refs/notes/ai-tokens)"
        )
    return ref


def parse_duration(text: str) -> int:
    """`24h`, `90m`, `2d`, `1w`, `45s` or combinations (`1h30m`) → seconds; ValueError else."""
    compact = text.strip().lower()
    if not compact or re.sub(_DURATION, "", compact).strip():
        raise ValueError(text)
    return round(sum(Decimal(n) * _DURATION_UNITS[u] for n, u in re.findall(_DURATION, compact)))


def format_duration(seconds: int) -> str:
    """A short `parse_duration` spelling of whole seconds (`86400` → `24h`, `172800` → `2d`)."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _DURATION_UNITS.items():
        if (unit == "w" and seconds % size) or (unit == "d" and seconds < 2 * size):
            continue  # `8d` reads better than `1w1d`, and `24h` than `1d`
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


class _Validator:
    """Turns the loaded YAML tree into a ``Config``; every error names file, line and key."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root

    # -- errors and traversal

    def fail(self, line: int | None, key: str, problem: str) -> NoReturn:
        where = _display(self.path) + (f":{line}" if line is not None else "")
        raise ConfigError(
            f"{where}: {key}: {problem}" if key else f"{where}: {problem}",
            path=_display(self.path),
            line=line,
            key=key,
            problem=problem,
        )

    def mapping(
        self, node: Any, key: str, line: int | None, allowed: tuple[str, ...] | None
    ) -> Iterator[tuple[str, Any, str, int | None]]:
        """Yield ``(name, value, dotted key, line)``; unknown names fail when ``allowed``.

        A null mapping is an empty one, and a null value means "the default", so its entry is
        skipped (after the unknown-key check).
        """
        if node is None:
            return
        if not isinstance(node, Mapping):
            self.fail(line, key, "must be a mapping" if key else "the file must be a mapping")
        for name, value in node.items():
            kline = _key_line(node, name, line)
            if not isinstance(name, str) or not name:
                self.fail(kline, key, f"keys must be non-empty strings, not {name!r}")
            dotted = f"{key}.{name}" if key else name
            if allowed is not None and name not in allowed:
                self.fail(kline, dotted, f"unknown key{_suggest(name, allowed)}")
            if value is not None:
                yield name, value, dotted, kline

    def sequence(
        self, node: Any, key: str, line: int | None
    ) -> Iterator[tuple[Any, str, int | None]]:
        if not isinstance(node, list):
            self.fail(line, key, "must be a list")
        for i, item in enumerate(node):
            yield item, f"{key}[{i}]", _item_line(node, i, line)

    # -- scalars

    def string(self, value: Any, key: str, line: int | None) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(line, key, "must be a non-empty string")
        return str(value)

    def choice(self, value: Any, key: str, line: int | None, choices: tuple[str, ...]) -> str:
        if value not in choices or not isinstance(value, str):
            self.fail(line, key, "must be one of " + ", ".join(choices))
        return str(value)

    def integer(self, value: Any, key: str, line: int | None, *, minimum: int) -> int:
        number = _whole(value)
        if number is None or number < minimum:
            what = "a positive whole number" if minimum > 0 else "a whole number >= 0"
            self.fail(line, key, f"must be {what}")
        return number

    def number(
        self, value: Any, key: str, line: int | None, *, positive: bool, maximum: int | None = None
    ) -> Decimal:
        number = _decimal(value)
        ok = number is not None and (number > 0 if positive else number >= 0)
        if number is None or not ok or (maximum is not None and number > maximum):
            if maximum is not None:
                self.fail(line, key, f"must be a number from 0 to {maximum}")
            self.fail(line, key, f"must be a {'positive' if positive else 'non-negative'} number")
        return number

    def strings(self, value: Any, key: str, line: int | None) -> tuple[str, ...]:
        """A string or a list of strings."""
        if isinstance(value, str):
            return (self.string(value, key, line),)
        return tuple(self.string(v, k, ln) for v, k, ln in self.sequence(value, key, line))

    def local_path(self, value: str) -> str:
        return os.path.abspath(os.path.join(self.root, os.path.expanduser(value)))

    def paths(self, value: Any, key: str, line: int | None) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.local_path(p) for p in self.strings(value, key, line)))

    # -- sections

    def config(self, doc: Any) -> Config:
        values: dict[str, Any] = {}
        sections: dict[str, Callable[[Any, str, int | None], Any]] = {
            "notes_ref": self.notes_ref,
            "timezone": self.timezone,
            "attribution": self.attribution,
            "agents": self.agents,
            "scoring": self.scoring,
            "budget": self.budget,
            "alerts": self.alerts,
            "pricing": self.pricing,
            "report": self.report,
        }
        for name, value, dotted, line in self.mapping(doc, "", 1, tuple(sections)):
            values[name] = sections[name](value, dotted, line)
        return Config(**values, source=self.path)

    def notes_ref(self, value: Any, key: str, line: int | None) -> str:
        ref = self.string(value, key, line)
        if not ref.startswith("refs/notes/") or ref == "refs/notes/":
            self.fail(line, key, "must start with refs/notes/ (e.g. refs/notes/ai-tokens)")
        if re.search(_BAD_REF, ref) or any(p.startswith(".") for p in ref.split("/")):
            self.fail(line, key, f"{ref!r} is not a valid git ref name")
        if ref == "refs/notes/commits":
            self.fail(line, key, "refs/notes/commits is git's default notes ref; use your own")
        return ref

    def timezone(self, value: Any, key: str, line: int | None) -> str:
        name = self.string(value, key, line)
        if name != "UTC":
            from zoneinfo import ZoneInfo

            try:
                ZoneInfo(name)
            except (KeyError, ValueError, OSError):
                self.fail(
                    line, key, f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
                )
        return name

    def attribution(self, value: Any, key: str, line: int | None) -> AttributionConfig:
        seconds = AttributionConfig().max_lookback_seconds
        for _, v, k, ln in self.mapping(value, key, line, ("max_lookback",)):
            seconds = self.duration(v, k, ln)
        return AttributionConfig(max_lookback_seconds=seconds)

    def duration(self, value: Any, key: str, line: int | None) -> int:
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except ValueError:
                pass
        self.fail(line, key, "must be a duration like 24h, 90m or 2d")

    def agents(self, value: Any, key: str, line: int | None) -> AgentsConfig:
        values: dict[str, Any] = {}
        for name, v, k, ln in self.mapping(value, key, line, ("enabled", *AGENTS)):
            if name == "enabled":
                names = self.strings(v, k, ln)
                for agent, (_, ik, iln) in zip(names, _items(v, k, ln), strict=True):
                    if agent not in AGENTS:
                        self.fail(iln, ik, f"unknown agent {agent!r}; known: {', '.join(AGENTS)}")
                values[name] = tuple(dict.fromkeys(names))
            else:
                values[name] = self.paths(v, k, ln)
        return AgentsConfig(**values)

    def scoring(self, value: Any, key: str, line: int | None) -> ScoringConfig:
        globs = ("test_globs", "docs_globs", "prose_globs", "pipeline_globs")
        allowed = ("points", "rules", "grades", *globs)
        items = {name: (v, k, ln) for name, v, k, ln in self.mapping(value, key, line, allowed)}
        values: dict[str, Any] = {}
        points = dict(DEFAULT_POINTS)
        if "points" in items:
            for name, pv, pk, pln in self.mapping(*items["points"], None):
                if not re.match(_TYPE_NAME, name):
                    self.fail(pln, pk, "output types are letters, digits, '_', '-' and '.'")
                points[name] = self.integer(pv, pk, pln, minimum=0)
        values["points"] = points
        if "rules" in items:
            v, k, ln = items["rules"]
            values["rules"] = tuple(
                self.rule(r, rk, rln, points) for r, rk, rln in self.sequence(v, k, ln)
            )
        if "grades" in items:
            grades = [
                (name, self.number(gv, gk, gln, positive=False))
                for name, gv, gk, gln in self.mapping(*items["grades"], None)
            ]
            values["grades"] = tuple(sorted(grades, key=lambda g: -g[1]))
        for name in globs:
            if name in items:
                values[name] = self.strings(*items[name])
        return ScoringConfig(**values)

    def rule(self, value: Any, key: str, line: int | None, points: Mapping[str, int]) -> Rule:
        fields = ("type", "paths", "conventional", "count")
        items = {name: (v, k, ln) for name, v, k, ln in self.mapping(value, key, line, fields)}
        if "type" not in items:
            self.fail(line, f"{key}.type", "every rule needs a type")
        kind = self.string(*items["type"])
        if kind not in points:
            self.fail(
                items["type"][2],
                f"{key}.type",
                f"no points for type {kind!r}; add scoring.points.{kind}",
            )
        paths = self.strings(*items["paths"]) if "paths" in items else ()
        conventional = self.strings(*items["conventional"]) if "conventional" in items else ()
        if not paths and not conventional:
            self.fail(line, key, "needs paths (globs) or conventional (commit types)")
        if paths and conventional:
            self.fail(line, key, "give paths or conventional, not both (make two rules)")
        count = "file" if paths else "commit"
        if "count" in items:
            count = self.choice(*items["count"], ("file", "commit"))
        return Rule(
            type=kind,
            paths=paths,
            conventional=tuple(c.lower() for c in conventional),
            count=count,
        )

    def limit(self, value: Any, key: str, line: int | None) -> Limit:
        values: dict[str, Any] = {}
        for name, v, k, ln in self.mapping(value, key, line, ("usd", "tokens")):
            if name == "usd":
                values[name] = self.number(v, k, ln, positive=True)
            else:
                values[name] = self.integer(v, k, ln, minimum=1)
        return Limit(**values)

    def budget(self, value: Any, key: str, line: int | None) -> BudgetConfig:
        allowed = ("pr", "daily", "weekly", "mode", "warn_at", "override_label")
        values: dict[str, Any] = {}
        for name, v, k, ln in self.mapping(value, key, line, allowed):
            if name in ("pr", "daily", "weekly"):
                values[name] = self.limit(v, k, ln)
            elif name == "mode":
                values[name] = self.choice(v, k, ln, ("fail", "warn"))
            elif name == "warn_at":
                values[name] = self.number(v, k, ln, positive=False, maximum=1)
            else:
                values[name] = self.string(v, k, ln)
        return BudgetConfig(**values)

    def alerts(self, value: Any, key: str, line: int | None) -> AlertsConfig:
        allowed = ("commit_tokens", "commit_usd", "week_over_week_pct")
        values: dict[str, Any] = {}
        for name, v, k, ln in self.mapping(value, key, line, allowed):
            if name == "commit_tokens":
                values[name] = self.integer(v, k, ln, minimum=1)
            else:
                values[name] = self.number(v, k, ln, positive=True)
        return AlertsConfig(**values)

    def pricing(self, value: Any, key: str, line: int | None) -> PricingConfig:
        values: dict[str, Any] = {}
        for name, v, k, ln in self.mapping(value, key, line, ("table", "models", "aliases")):
            if name == "table":
                values[name] = self.local_path(self.string(v, k, ln))
            elif name == "models":
                values[name] = {
                    model: self.model_price(mv, mk, mln)
                    for model, mv, mk, mln in self.mapping(v, k, ln, None)
                }
            else:
                values[name] = {
                    alias: self.string(av, ak, aln)
                    for alias, av, ak, aln in self.mapping(v, k, ln, None)
                }
        return PricingConfig(**values)

    def model_price(self, value: Any, key: str, line: int | None) -> ModelPriceOverride:
        allowed = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
        values = {
            name: self.number(v, k, ln, positive=False)
            for name, v, k, ln in self.mapping(value, key, line, allowed)
        }
        return ModelPriceOverride(**values)

    def report(self, value: Any, key: str, line: int | None) -> ReportConfig:
        allowed = ("templates", "theme", "daily_target_tokens", "top_commits", "default_branch")
        values: dict[str, Any] = {}
        for name, v, k, ln in self.mapping(value, key, line, allowed):
            if name == "templates":
                values[name] = self.local_path(self.string(v, k, ln))
            elif name == "theme":
                values[name] = self.choice(v, k, ln, ("light", "dark"))
            elif name == "daily_target_tokens":
                values[name] = self.integer(v, k, ln, minimum=1)
            elif name == "top_commits":
                values[name] = self.integer(v, k, ln, minimum=0)
            else:
                branch = self.string(v, k, ln)
                if re.search(_BAD_REF, branch):
                    self.fail(ln, k, f"{branch!r} is not a valid branch name")
                values[name] = branch
        return ReportConfig(**values)


def _key_line(node: Any, name: Any, default: int | None) -> int | None:
    try:
        return int(node.lc.key(name)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return default


def _item_line(node: Any, index: int, default: int | None) -> int | None:
    try:
        return int(node.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return default


def _items(node: Any, key: str, line: int | None) -> list[tuple[Any, str, int | None]]:
    """The positions of a string-or-list value's items, for per-item errors."""
    if isinstance(node, list):
        return [(v, f"{key}[{i}]", _item_line(node, i, line)) for i, v in enumerate(node)]
    return [(node, key, line)]


def _suggest(name: str, allowed: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (expected one of: {', '.join(allowed)})"


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _decimal(value: Any) -> Decimal | None:
    """Money and ratios: ints, finite floats (by their shortest repr) and numeric strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(int(value))
    if isinstance(value, float):
        text = repr(float(value))
    elif isinstance(value, str):
        text = value.strip().removeprefix("$").strip()
    else:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


# --------------------------------------------------------------------------- editing


def set_config_value(root: StrPath, dotted_key: str, value: object) -> None:
    """Set one key of `<root>/.tokennotes.yml`, keeping comments and key order.

    Missing sections are created (and the file, if there is none). The edited text is validated
    before it is written; an invalid result raises ``ConfigError`` and leaves the file untouched.
    ``None`` writes ``null``, which means the key's default (for limits and alerts: none).
    """
    set_config_values(root, {dotted_key: value})


def set_config_values(root: StrPath, values: Mapping[str, object]) -> None:
    """Set several keys at once (see ``set_config_value``): one check, one write, all or none."""
    from pathlib import Path

    from ruamel.yaml.comments import CommentedMap

    base = Path(root)
    path = base / CONFIG_FILE
    for dotted_key in values:
        if not all(dotted_key.split(".")):
            raise ConfigError(f"{dotted_key!r} is not a dotted config key", key=dotted_key)
    try:
        original = path.read_bytes()
    except FileNotFoundError:
        original = None
    except OSError as exc:  # a directory, no permission
        raise ConfigError(
            f"{_display(path)}: cannot read: {exc.strerror or exc}", path=_display(path)
        ) from None
    text = "" if original is None else _decode(original, path)
    doc = _load_yaml(text, path)
    if doc is None:
        doc = CommentedMap()
    for dotted_key, value in values.items():
        parts = dotted_key.split(".")
        node = doc
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                where = ".".join(parts[:i])
                raise ConfigError(f"{_display(path)}: {where}: must be a mapping", key=where)
            if node.get(part) is None:
                node[part] = CommentedMap()
            node = node[part]
        if not isinstance(node, dict):
            where = ".".join(parts[:-1])
            raise ConfigError(f"{_display(path)}: {where}: must be a mapping", key=where)
        node[parts[-1]] = _plain(value)
    new_text = dump_yaml(doc, text)
    try:
        parse_config(new_text, path=path, root=base)
    except ConfigError as exc:
        keys = ", ".join(values)
        raise ConfigError(
            f"{_display(path)}: cannot set {keys}: {exc.problem}",
            path=_display(path),
            key=exc.key,
            problem=exc.problem,
        ) from None
    _write_atomically(path, new_text)


def dump_yaml(doc: Any, original: str) -> str:
    """Dump a round-trip document edited from ``original`` in its indentation style; the
    comments of an ``original`` that held no data (only comments) are kept on top."""
    import io

    out = io.StringIO()
    make_yaml(original).dump(doc, out)
    if original.strip() and not any(
        line.strip() and not line.lstrip().startswith("#") for line in original.splitlines()
    ):
        return original.rstrip("\n") + "\n" + out.getvalue()
    return out.getvalue()


def _plain(value: object) -> object:
    """A value ruamel can dump and the loader reads back as the same thing."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    try:
        tmp.write_text(text, encoding="utf-8")
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only directory, a full disk
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(
            f"{_display(path)}: cannot write: {exc.strerror or exc}", path=_display(path)
        ) from None
