"""Model prices and the dollar cost of a usage: the one definition of prices in tokennotes.

The price table is data: ``prices.json`` beside this module holds USD per 1,000,000 tokens as
decimal strings, taken from LiteLLM's published price list (``docs/pricing.md`` says which copy
and when). ``load_price_table`` picks the table to use (an explicit file, ``pricing.table`` from
``.tokennotes.yml``, the file ``tokennotes pricing update`` wrote, or the shipped one), applies
the config's per-model overrides and aliases, and caches the result for the process.

The cost of one response is ``input·in + cache_read·cr + cache_write_5m·cw + cache_write_1h·cw1h +
output·out``; output already includes reasoning. A long-context tier applies to a whole request:
when one response's prompt exceeds the model's threshold, every component is priced at the tier's
rates. An unknown model costs ``None``, never 0.

This module is on the commit-hook path: standard library only, nothing read until first use.
``Tier`` and ``ModelPrice`` are written out as ``record.Frozen`` classes (frozen-dataclass
behaviour without generating them, ~0.6 ms each, or importing ``dataclasses``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from tokennotes.errors import TokennotesError
from tokennotes.record import Frozen, NamedTuple

TYPE_CHECKING = False  # = typing.TYPE_CHECKING, without importing typing (see tokennotes.record)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from tokennotes.config import ModelPriceOverride, PricingConfig
    from tokennotes.record import Tokens

    StrPath = str | os.PathLike[str]
    SHIPPED_TABLE: Path  # = Path(__file__).with_name("prices.json")
    USER_TABLE: Path  # = Path("tokennotes/prices.json"), below $XDG_CONFIG_HOME (~/.config)

# Paths are strings here: importing pathlib costs the commit hook ~3 ms. The two Path constants
# are made when first asked for (``__getattr__``).
_SHIPPED = os.path.join(os.path.dirname(__file__), "prices.json")
PER = 6  # prices are per 10**6 tokens
ANTHROPIC = "anthropic"
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")

# Anthropic's published multipliers of the input price, used only when a Claude entry lacks
# the rate itself. Other providers get no invented cache prices (see `ModelPrice.rates`).
_ANTHROPIC_CACHE_READ = Decimal("0.1")
_ANTHROPIC_CACHE_WRITE_5M = Decimal("1.25")
_ANTHROPIC_CACHE_WRITE_1H = Decimal(2)

# What normalize_model strips, as string tests rather than regular expressions (compiling them
# cost every hook run ~0.3 ms): a provider prefix `^(?:anthropic|…|openrouter)/`, a Bedrock
# prefix `^(?:(?:us|…|us-gov)\.)?anthropic\.` and then its suffix `(?<=\d)-v\d+(?::\d+)?$`,
# and a date `[-@]20\d{6}$` (\d is str.isdecimal).
_PROVIDERS = frozenset(
    {"anthropic", "openai", "gemini", "google", "vertex_ai", "vertex", "bedrock", "converse"}
    | {"models", "openrouter"}
)
_BEDROCK_REGIONS = frozenset({"us", "eu", "apac", "au", "ca", "jp", "global", "us-gov"})
_BEDROCK = "anthropic."
_DATE_START = r"^(?:20\d{6}|20\d\d-\d\d-\d\d)(?:$|[-._@:])"  # compiled on first use (re caches it)
_SEPARATORS = "-._@:"


class Rates(NamedTuple):
    """Effective USD per million tokens for each token bucket, all fallbacks applied."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal


class Tier(Frozen):
    """Long-context rates; they apply to a request whose prompt exceeds ``threshold`` tokens.

    A rate left ``None`` is not listed for the tier (see `ModelPrice.rates` for the fallback).
    """

    FIELDS = ("name", "threshold", *PRICE_FIELDS)
    __match_args__ = ()

    name: str  # e.g. "above_200k"
    threshold: int
    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None

    def __init__(
        self,
        *,
        name: str,
        threshold: int,
        input: Decimal | None = None,
        output: Decimal | None = None,
        cache_read: Decimal | None = None,
        cache_write: Decimal | None = None,
        cache_write_1h: Decimal | None = None,
    ) -> None:
        self.__dict__.update(
            name=name,
            threshold=threshold,
            input=input,
            output=output,
            cache_read=cache_read,
            cache_write=cache_write,
            cache_write_1h=cache_write_1h,
        )


class ModelPrice(Frozen):
    """One model's list prices in USD per million tokens, as the table gives them.

    ``cache_write`` is the 5-minute (Anthropic) or only (OpenAI gpt-5.6+) cache-write rate;
    ``None`` means the table does not list that rate.
    """

    FIELDS = ("key", "provider", *PRICE_FIELDS, "tiers")
    __match_args__ = ()

    key: str
    provider: str  # "anthropic", "openai", "gemini" or another family name
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    tiers: tuple[Tier, ...] = ()

    def __init__(
        self,
        *,
        key: str,
        provider: str,
        input: Decimal,
        output: Decimal,
        cache_read: Decimal | None = None,
        cache_write: Decimal | None = None,
        cache_write_1h: Decimal | None = None,
        tiers: tuple[Tier, ...] = (),
    ) -> None:
        self.__dict__.update(
            key=key,
            provider=provider,
            input=input,
            output=output,
            cache_read=cache_read,
            cache_write=cache_write,
            cache_write_1h=cache_write_1h,
            tiers=tiers,
        )

    def replace(self, **changes: Any) -> ModelPrice:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return ModelPrice(**{**self.__dict__, **changes})

    def tier(self, name: str) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)

    def rates(self, tier: str = "") -> Rates:
        """The rates to charge, at the base prices or at the named tier's.

        Missing rates: for Claude, Anthropic's multipliers of the (tier's) input price
        (cache read 0.1 x, 5-minute write 1.25 x, 1-hour write 2 x). For other models, a tier rate
        that is not listed falls back to the base rate, and a cache rate listed nowhere is
        charged as plain input (no discount or surcharge is invented); a missing 1-hour rate
        uses the cache-write rate.
        """
        return _rates_of(self, tier)


@lru_cache(maxsize=4096)
def _rates_of(price: ModelPrice, tier_name: str) -> Rates:
    tier = price.tier(tier_name) if tier_name else None
    inp, out = price.input, price.output
    cr, cw, cw1h = price.cache_read, price.cache_write, price.cache_write_1h
    anthropic = price.provider == ANTHROPIC
    if tier is not None:
        inp = _first(tier.input, inp)
        out = _first(tier.output, out)
        if anthropic:  # a rate the tier lacks follows from the tier's input below
            cr, cw, cw1h = tier.cache_read, tier.cache_write, tier.cache_write_1h
        else:
            cr = tier.cache_read if tier.cache_read is not None else cr
            cw = tier.cache_write if tier.cache_write is not None else cw
            cw1h = tier.cache_write_1h if tier.cache_write_1h is not None else cw1h
    if anthropic:
        cr = _first(cr, inp * _ANTHROPIC_CACHE_READ)
        cw = _first(cw, inp * _ANTHROPIC_CACHE_WRITE_5M)
        cw1h = _first(cw1h, inp * _ANTHROPIC_CACHE_WRITE_1H)
    else:
        cr = _first(cr, inp)
        cw = _first(cw, inp)
        cw1h = _first(cw1h, cw)
    return Rates(input=inp, output=out, cache_read=cr, cache_write_5m=cw, cache_write_1h=cw1h)


def _first(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


class _Layer:
    """Entries addressable by exact key and by normalised name (best entry per name)."""

    def __init__(self, models: Mapping[str, ModelPrice]) -> None:
        self.models = dict(models)
        self.lower = {key.lower(): price for key, price in self.models.items()}
        best: dict[str, tuple[tuple[bool, int, str], ModelPrice]] = {}
        for key, price in self.models.items():
            norm = normalize_model(key)
            rank = (key.lower() == norm, _listed(price), key)
            if norm not in best or rank > best[norm][0]:
                best[norm] = (rank, price)
        self.index = {norm: price for norm, (_, price) in best.items()}

    def exact(self, raw: str, norm: str) -> ModelPrice | None:
        return self.models.get(raw) or self.lower.get(raw.strip().lower()) or self.index.get(norm)

    def prefix(self, norm: str) -> ModelPrice | None:
        """The longest whole-token prefix key of ``norm`` that is not a different version."""
        for cut in range(len(norm) - 1, 0, -1):
            if norm[cut] not in _SEPARATORS:
                continue
            price = self.index.get(norm[:cut])
            if price is not None and not _is_other_version(norm[cut + 1 :]):
                return price
        return None


def _listed(price: ModelPrice) -> int:
    return sum(getattr(price, name) is not None for name in PRICE_FIELDS) + len(price.tiers)


def _is_other_version(suffix: str) -> bool:
    """`gpt-5` must not price `gpt-5.5`: a suffix starting with a digit is another version,
    unless it is a snapshot date (`gpt-4o-2024-08-06`, `claude-sonnet-4-20250514-thinking`)."""
    return suffix[:1].isdigit() and re.match(_DATE_START, suffix) is None


class PriceTable:
    """A price table with overrides applied; `lookup` resolves raw model names from logs."""

    def __init__(
        self,
        *,
        version: str,
        models: Mapping[str, ModelPrice],
        source: str = "",
        updated: str = "",
        path: StrPath | None = None,
        overrides: Mapping[str, ModelPrice] | None = None,
        aliases: Mapping[str, str] | None = None,
        problems: Iterable[str] = (),
    ) -> None:
        self.version = version
        self.source = source
        self.updated = updated
        self._path = path
        self.problems: tuple[str, ...] = tuple(problems)
        self._table = _Layer(models)
        self._overrides = _Layer(overrides or {})
        self._aliases = dict(aliases or {})
        self._aliases_norm = {normalize_model(k): v for k, v in self._aliases.items()}
        self._found: dict[str, tuple[ModelPrice | None, bool]] = {}

    @property
    def path(self) -> Path | None:
        """The file the table was read from (None: built in memory)."""
        if self._path is None:
            return None
        from pathlib import Path

        return Path(self._path)

    @property
    def models(self) -> Mapping[str, ModelPrice]:
        """The table's entries by key, overridden entries included."""
        return {**self._table.models, **self._overrides.models}

    def lookup(self, model: str) -> tuple[ModelPrice | None, bool]:
        """``(price, approximate)``: ``(None, False)`` for an unknown model; ``approximate`` is
        True when only a longer name's prefix matched (e.g. a new `gpt-5.1-codex-spark`)."""
        found = self._found.get(model)
        if found is None:
            target = self._aliases.get(model)
            if target is None:
                target = self._aliases_norm.get(normalize_model(model), model)
            found = self._find(target)
            self._found[model] = found
        return found

    def _find(self, model: str) -> tuple[ModelPrice | None, bool]:
        norm = normalize_model(model)
        for layer in (self._overrides, self._table):
            price = layer.exact(model, norm)
            if price is not None:
                return price, False
        for layer in (self._overrides, self._table):
            price = layer.prefix(norm)
            if price is not None:
                return price, True
        return None, False


def normalize_model(name: str) -> str:
    """The name used for lookup (the raw name stays in the data): lower case, without provider
    prefixes (`anthropic/`, `openai/`, `gemini/`, `vertex_ai/`, `google/`, `models/`, …), Bedrock
    decoration (`us.anthropic.` … `-v1:0`) and a trailing `-YYYYMMDD`/`@YYYYMMDD` date, with a
    Claude name's dots as dashes (`claude-opus-4.5` → `claude-opus-4-5`)."""
    norm = name.strip().lower()
    while True:
        provider, slash, rest = norm.partition("/")
        if not slash or provider not in _PROVIDERS:
            break
        norm = rest
    bedrock = _without_bedrock_prefix(norm)
    if bedrock is not None:
        norm = _without_bedrock_suffix(bedrock)
    if len(norm) >= 9 and norm[-9] in "-@" and norm[-8:-6] == "20" and norm[-6:].isdecimal():
        norm = norm[:-9]
    if norm.startswith("claude"):
        norm = norm.replace(".", "-")
    return norm


def _without_bedrock_prefix(norm: str) -> str | None:
    """``norm`` without ``[region.]anthropic.`` in front (None: it has none)."""
    if norm.startswith(_BEDROCK):
        return norm[len(_BEDROCK) :]
    region, dot, rest = norm.partition(".")
    if dot and region in _BEDROCK_REGIONS and rest.startswith(_BEDROCK):
        return rest[len(_BEDROCK) :]
    return None


def _without_bedrock_suffix(name: str) -> str:
    """``name`` without a ``-v<digits>[:<digits>]`` end that follows a digit."""
    cut = name.rfind("-v")  # an earlier "-v" would be followed by more than digits
    if cut > 0 and name[cut - 1].isdecimal():
        major, colon, minor = name[cut + 2 :].partition(":")
        if major.isdecimal() and (not colon or minor.isdecimal()):
            return name[:cut]
    return name


def tier_name(threshold: int) -> str:
    """``200000`` → ``"above_200k"`` (LiteLLM's ``_above_200k_tokens`` means 200,000)."""
    return f"above_{threshold // 1000}k" if threshold % 1000 == 0 else f"above_{threshold}"


def tier_of(table: PriceTable, model: str, prompt_tokens: int) -> str:
    """The tier of ONE request whose prompt (input + cache_read + cache_write) has
    ``prompt_tokens`` tokens: the highest threshold it exceeds, or "" for the base prices."""
    price, _ = table.lookup(model)
    if price is None:
        return ""
    best: Tier | None = None
    for tier in price.tiers:
        if prompt_tokens > tier.threshold and (best is None or tier.threshold > best.threshold):
            best = tier
    return "" if best is None else best.name


def prompt_tokens_of(tokens: Tokens) -> int:
    """The prompt size that decides the tier: uncached input, cache reads and cache writes."""
    return tokens.input + tokens.cache_read + tokens.cache_write


def cost_of(table: PriceTable, model: str, tokens: Tokens, tier: str = "") -> Decimal | None:
    """USD for ``tokens`` of ``model`` (one request, or a sum of requests of one tier).

    ``tokens.cache_write`` includes ``cache_write_1h``; ``tokens.output`` includes reasoning,
    which is never priced again. Nothing is rounded (trailing zeros are dropped: "0.0155").
    None when the model is unknown.
    """
    price, _ = table.lookup(model)
    if price is None:
        return None
    rates = price.rates(tier)
    one_hour = min(tokens.cache_write_1h, tokens.cache_write)
    total = (
        tokens.input * rates.input
        + tokens.output * rates.output
        + tokens.cache_read * rates.cache_read
        + (tokens.cache_write - one_hour) * rates.cache_write_5m
        + one_hour * rates.cache_write_1h
    )
    exact = total.scaleb(-PER).normalize()  # drop trailing zeros; the value is unchanged
    return exact.quantize(Decimal(1)) if exact == exact.to_integral_value() else exact


def format_usd(value: Decimal | None, places: int = 2) -> str:
    """``Decimal("1234.5")`` → ``"$1,234.50"``; a non-zero amount below the last place shows as
    ``"<$0.01"``; None (unknown price) → ``"n/a"``."""
    if value is None:
        return "n/a"
    step = Decimal(1).scaleb(-places)
    rounded = value.quantize(step, rounding=ROUND_HALF_UP)
    if rounded == 0 and value != 0:
        return f"<${step}" if value > 0 else f"-<${step}"
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.{places}f}"


def format_usd_against(value: Decimal, other: Decimal | None) -> str:
    """``value`` as ``format_usd`` shows it, with more places where it would read the same as
    ``other`` (the same places either way round): a budget exceeded by less than a cent must
    not read "$5.00 of $5.00"."""
    places = 2
    while (
        other is not None
        and value != other
        and places < 8
        and format_usd(value, places) == format_usd(other, places)
    ):
        places += 2
    return format_usd(value, places)


# --- reading tables -----------------------------------------------------------------------------


class _TableData(NamedTuple):
    version: str
    source: str
    updated: str
    models: dict[str, ModelPrice]
    problems: tuple[str, ...]


def __getattr__(name: str) -> Path:
    from pathlib import Path

    if name == "SHIPPED_TABLE":
        return Path(_SHIPPED)
    if name == "USER_TABLE":
        return Path("tokennotes") / "prices.json"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _plain(text: str) -> bool:
    """True when ``str(Path(text)) == text`` surely (False: not known; ask pathlib)."""
    if os.sep != "/" or not text or text.startswith("//"):
        return False
    body = text[1:] if text.startswith("/") else text
    return all(part not in ("", ".") for part in body.split("/"))


def _user_table(environ: Mapping[str, str] | None) -> str:
    """``str(user_table_path(environ))``, with pathlib only for a path it would rewrite."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    if base and _plain(base) and base.startswith("/"):  # an absolute path as pathlib has it
        return f"{base}/tokennotes/prices.json"
    home = os.path.expanduser("~")
    if not base and _plain(home) and home.startswith("/"):
        return f"{home}/.config/tokennotes/prices.json"
    return str(user_table_path(environ))


def user_table_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where `tokennotes pricing update` writes by default: `$XDG_CONFIG_HOME/tokennotes/
    prices.json`, or `~/.config/tokennotes/prices.json`."""
    from pathlib import Path

    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "tokennotes" / "prices.json"


def read_price_table(path: StrPath) -> PriceTable:
    """The table in one file, without overrides; TokennotesError if it is unreadable."""
    data = _read_file(path)
    return PriceTable(
        version=data.version,
        models=data.models,
        source=data.source,
        updated=data.updated,
        path=path,
        problems=data.problems,
    )


_FILES: dict[str, tuple[tuple[int, int], _TableData]] = {}


def _read_file(path: StrPath) -> _TableData:
    path = os.fspath(path)
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
        cached = _FILES.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise TokennotesError(f"{path}: cannot read the price table ({exc.strerror})") from exc
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise TokennotesError(f"{path}: the price table is not valid JSON ({exc})") from exc
    data = parse_price_table(obj, str(path))
    _FILES[path] = (stamp, data)
    return data


def parse_price_table(obj: object, origin: str = "price table") -> _TableData:
    """Validate a table's JSON; bad model rows are skipped and named in ``problems``."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("models"), Mapping):
        raise TokennotesError(f'{origin}: not a tokennotes price table (no "models" object)')
    version = obj.get("version")
    if not isinstance(version, str) or not version:
        raise TokennotesError(f'{origin}: the price table has no "version"')
    models: dict[str, ModelPrice] = {}
    problems: list[str] = []
    for key, row in obj["models"].items():
        try:
            models[key] = _parse_row(key, row)
        except ValueError as exc:
            problems.append(f"{origin}: models.{key}: {exc}; skipped")
    return _TableData(
        version=version,
        source=str(obj.get("source", "")),
        updated=str(obj.get("updated", "")),
        models=models,
        problems=tuple(problems),
    )


def _parse_row(key: str, row: object) -> ModelPrice:
    if not isinstance(row, Mapping):
        raise ValueError("must be an object")
    inp, out, cr, cw, cw1h = (_price(row, name) for name in PRICE_FIELDS)
    if inp is None or out is None:
        raise ValueError("input and output prices are required")
    tiers: list[Tier] = []
    raw_tiers = row.get("tiers", {})
    if not isinstance(raw_tiers, Mapping):
        raise ValueError("tiers must be an object")
    for threshold, rates in raw_tiers.items():
        if not str(threshold).isdigit() or not isinstance(rates, Mapping):
            raise ValueError(f"tiers.{threshold}: needs a token count and an object of prices")
        at = int(threshold)
        t_in, t_out, t_cr, t_cw, t_cw1h = (_price(rates, n, f"tiers.{at}.") for n in PRICE_FIELDS)
        tiers.append(
            Tier(
                name=tier_name(at),
                threshold=at,
                input=t_in,
                output=t_out,
                cache_read=t_cr,
                cache_write=t_cw,
                cache_write_1h=t_cw1h,
            )
        )
    provider = row.get("provider")
    return ModelPrice(
        key=key,
        provider=provider if isinstance(provider, str) and provider else _provider_of(key),
        input=inp,
        output=out,
        cache_read=cr,
        cache_write=cw,
        cache_write_1h=cw1h,
        tiers=tuple(sorted(tiers, key=lambda t: t.threshold)),
    )


def _price(row: Mapping[str, Any], name: str, where: str = "") -> Decimal | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}{name}: must be a decimal string")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{where}{name}: {value!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"{where}{name}: must be a non-negative number")
    return price


def _provider_of(name: str) -> str:
    norm = normalize_model(name)
    if norm.startswith("claude"):
        return ANTHROPIC
    if norm.startswith("gemini"):
        return "gemini"
    if norm.startswith(("gpt-", "o1", "o3", "o4", "codex")):
        return "openai"
    return ""


# --- choosing the table and applying the config ------------------------------------------------

_TABLES: dict[tuple[object, ...], tuple[_TableData, PriceTable]] = {}


def load_price_table(
    config: PricingConfig | None = None,
    path: StrPath | None = None,
    *,
    root: StrPath | None = None,
    environ: Mapping[str, str] | None = None,
) -> PriceTable:
    """The price table to use, with ``config``'s overrides and aliases; cached per process.

    The base table is ``path`` if given (TokennotesError if unreadable), else ``config.table``
    (relative to ``root``, default the current directory), else the file `tokennotes pricing
    update` wrote (`user_table_path`) when its ``updated`` date is not older than the shipped
    table's, else the shipped table. A broken ``config.table`` or user file is reported in
    ``problems`` and the next choice is used: pricing never stops the commit hook.
    """
    problems: list[str] = []
    if path is not None:
        base, base_path = _read_file(path), path
    else:
        base, base_path = _default_base(config, root, environ, problems)
    models = dict(config.models) if config is not None else {}
    aliases = dict(config.aliases) if config is not None else {}
    key = (base_path, repr(sorted(models.items())), repr(sorted(aliases.items())))
    cached = _TABLES.get(key)
    fell_back = bool(problems)  # not cached: the fallback is retried on the next call
    if cached is not None and cached[0] is base and not fell_back:
        return cached[1]
    problems.extend(base.problems)
    table = PriceTable(
        version=base.version,
        models=base.models,
        source=base.source,
        updated=base.updated,
        path=base_path,
    )
    if models or aliases:
        overrides = _overrides(table, models, problems)
        plain = PriceTable(version="", models=base.models, overrides=overrides)
        for name, target in aliases.items():
            if plain.lookup(target)[0] is None:
                problems.append(
                    f"pricing.aliases.{name}: {target!r} is not in the price table; "
                    f"{name} stays unpriced"
                )
        table = PriceTable(
            version=f"{base.version}+local.{_fingerprint(models, aliases)}",
            models=base.models,
            source=base.source,
            updated=base.updated,
            path=base_path,
            overrides=overrides,
            aliases=aliases,
            problems=problems,
        )
    elif problems:
        table.problems = tuple(problems)
    if not fell_back:
        _TABLES[key] = (base, table)
    return table


def _default_base(
    config: PricingConfig | None,
    root: StrPath | None,
    environ: Mapping[str, str] | None,
    problems: list[str],
) -> tuple[_TableData, StrPath]:
    if config is not None and config.table:
        from pathlib import Path  # a config file was read: pathlib is imported already

        configured = Path(config.table).expanduser()
        if not configured.is_absolute():
            configured = (Path(root) if root else Path.cwd()) / configured
        try:
            return _read_file(configured), configured
        except TokennotesError as exc:
            problems.append(f"pricing.table: {exc}; using the default price table")
    shipped = _read_file(_SHIPPED)
    user = _user_table(environ)
    if os.path.isfile(user):
        try:
            mine = _read_file(user)
        except TokennotesError as exc:
            problems.append(f"{exc}; using the shipped price table")
        else:
            if mine.updated >= shipped.updated:
                return mine, user
    return shipped, _SHIPPED


def _overrides(
    table: PriceTable, models: Mapping[str, ModelPriceOverride], problems: list[str]
) -> dict[str, ModelPrice]:
    out: dict[str, ModelPrice] = {}
    for name, override in models.items():
        given = {f: getattr(override, f) for f in PRICE_FIELDS if getattr(override, f) is not None}
        if any(value < 0 for value in given.values()):
            problems.append(f"pricing.models.{name}: prices must not be negative; ignored")
            continue
        base, _ = table.lookup(name)
        if base is not None:
            out[name] = base.replace(key=name, **given)
        elif override.input is not None and override.output is not None:
            out[name] = ModelPrice(
                key=name,
                provider=_provider_of(name),
                input=override.input,
                output=override.output,
                cache_read=override.cache_read,
                cache_write=override.cache_write,
                cache_write_1h=override.cache_write_1h,
            )
        else:
            problems.append(
                f"pricing.models.{name}: not in the price table, so it needs both input and "
                f"output; ignored"
            )
    return out


def _fingerprint(models: Mapping[str, ModelPriceOverride], aliases: Mapping[str, str]) -> str:
    canon = {
        "aliases": dict(sorted(aliases.items())),
        "models": {
            name: {f: str(getattr(o, f)) for f in PRICE_FIELDS if getattr(o, f) is not None}
            for name, o in sorted(models.items())
        },
    }
    import hashlib  # only tables with overrides need it

    blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:8]
