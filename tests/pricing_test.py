"""Tests for tokennotes.pricing: costs computed by hand per model family, lookup, config."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tokennotes.config import ModelPriceOverride, PricingConfig
from tokennotes.errors import TokennotesError
from tokennotes.pricing import (
    SHIPPED_TABLE,
    PriceTable,
    cost_of,
    format_usd,
    load_price_table,
    normalize_model,
    parse_price_table,
    prompt_tokens_of,
    read_price_table,
    tier_of,
    user_table_path,
)
from tokennotes.pricing_update import convert_litellm, render_price_table
from tokennotes.record import Tokens

D = Decimal


@pytest.fixture
def table() -> PriceTable:
    return load_price_table()


def write_table(path: Path, models: Mapping[str, object], updated: str = "2026-01-01") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {"version": f"test-{path.stem}", "updated": updated, "models": models}
    path.write_text(json.dumps(obj))
    return path


# --- one hand-computed cost per model family ---------------------------------------------------


def test_claude_sonnet_prices_5m_and_1h_cache_writes_apart(table: PriceTable) -> None:
    tokens = Tokens(
        input=1000, output=2000, cache_read=100_000, cache_write=10_000, cache_write_1h=4_000
    )
    # 1000·3 + 2000·15 + 100000·0.3 + 6000·3.75 + 4000·6 = 109500 per million
    assert cost_of(table, "claude-sonnet-4-5-20250929", tokens) == D("0.1095")
    assert cost_of(table, "claude-sonnet-4-6", tokens) == D("0.1095")


def test_claude_opus(table: PriceTable) -> None:
    tokens = Tokens(input=10, output=500, cache_read=20_000, cache_write=3_000)
    # 10·5 + 500·25 + 20000·0.5 + 3000·6.25 = 41300
    assert cost_of(table, "claude-opus-4-7", tokens) == D("0.0413")
    assert cost_of(table, "claude-opus-4-5-20251101", tokens) == D("0.0413")


def test_old_claude_opus_uses_bedrock_prices_and_twice_input_for_1h_writes(
    table: PriceTable,
) -> None:
    tokens = Tokens(
        input=100, output=1000, cache_read=10_000, cache_write=2_000, cache_write_1h=1_000
    )
    # 100·15 + 1000·75 + 10000·1.5 + 1000·18.75 + 1000·(2·15) = 140250
    assert cost_of(table, "claude-opus-4-20250514", tokens) == D("0.14025")
    assert cost_of(table, "claude-opus-4-1-20250805", tokens) == D("0.14025")


def test_claude_haiku(table: PriceTable) -> None:
    tokens = Tokens(input=2000, output=300, cache_read=50_000, cache_write=1_000)
    # 2000·1 + 300·5 + 50000·0.1 + 1000·1.25 = 9750
    assert cost_of(table, "claude-haiku-4-5-20251001", tokens) == D("0.00975")
    # 1000·0.8 + 1000·4 = 4800
    assert cost_of(table, "claude-3-5-haiku-20241022", Tokens(input=1000, output=1000)) == D(
        "0.0048"
    )


def test_claude_long_context_tier_prices_the_whole_request(table: PriceTable) -> None:
    tokens = Tokens(
        input=5000, output=3000, cache_read=190_000, cache_write=10_000, cache_write_1h=2_000
    )
    model = "claude-sonnet-4-20250514"
    assert prompt_tokens_of(tokens) == 205_000
    assert tier_of(table, model, prompt_tokens_of(tokens)) == "above_200k"
    assert tier_of(table, model, 200_000) == ""  # the threshold itself is not above it
    # all at the >200k rates 6/22.5/0.6/7.5 and 1h = 2·6:
    # 5000·6 + 3000·22.5 + 190000·0.6 + 8000·7.5 + 2000·12 = 295500
    assert cost_of(table, model, tokens, "above_200k") == D("0.2955")
    # base: 5000·3 + 3000·15 + 190000·0.3 + 8000·3.75 + 2000·6 = 159000
    assert cost_of(table, model, tokens) == D("0.159")


def test_claude_haiku_5_5_has_a_100k_tier_with_its_own_1h_rate(table: PriceTable) -> None:
    tokens = Tokens(
        input=1000, output=2000, cache_read=100_000, cache_write=2_000, cache_write_1h=1_000
    )
    tier = tier_of(table, "claude-haiku-5-5", prompt_tokens_of(tokens))
    assert tier == "above_100k"
    # 1000·0.5 + 2000·2.5 + 100000·0.05 + 1000·0.625 + 1000·1 = 12125
    assert cost_of(table, "claude-haiku-5-5", tokens, tier) == D("0.012125")


def test_codex_models_never_price_reasoning_twice(table: PriceTable) -> None:
    tokens = Tokens(input=20_000, output=5_000, cache_read=80_000, reasoning=3_000)
    # 20000·1.25 + 80000·0.125 + 5000·10 = 85000
    assert cost_of(table, "gpt-5.1-codex-max", tokens) == D("0.085")
    assert cost_of(
        table, "gpt-5.1-codex-max", Tokens(input=20_000, output=5_000, cache_read=80_000)
    ) == D("0.085")
    # 20000·1.75 + 80000·0.175 + 5000·14 = 119000
    assert cost_of(table, "gpt-5.3-codex", tokens) == D("0.119")
    assert cost_of(table, "openai/gpt-5-codex", tokens) == D("0.085")


def test_gpt_5_4_long_context_tier_at_272k(table: PriceTable) -> None:
    tokens = Tokens(input=30_000, output=4_000, cache_read=250_000)
    assert tier_of(table, "gpt-5.4", 272_000) == ""
    assert tier_of(table, "gpt-5.4", 272_001) == "above_272k"
    tier = tier_of(table, "gpt-5.4", prompt_tokens_of(tokens))
    # 30000·5 + 250000·0.5 + 4000·22.5 = 365000
    assert cost_of(table, "gpt-5.4", tokens, tier) == D("0.365")
    # 30000·2.5 + 250000·0.25 + 4000·15 = 197500
    assert cost_of(table, "gpt-5.4", tokens) == D("0.1975")


def test_costs_are_exact_and_plain(table: PriceTable) -> None:
    assert str(cost_of(table, "gpt-5.1", Tokens(input=4000, output=900, cache_read=12_000))) == (
        "0.0155"
    )
    assert str(cost_of(table, "claude-opus-4", Tokens(output=1_000_000))) == "75"
    assert str(cost_of(table, "claude-opus-4", Tokens(output=2_000_000))) == "150"
    assert str(cost_of(table, "gpt-5", Tokens())) == "0"
    assert cost_of(table, "gpt-5-nano", Tokens(input=1)) == D("0.00000005")


def test_gpt_5_6_charges_its_cache_writes(table: PriceTable) -> None:
    # 1000·4 + 1000·5 = 9000
    assert cost_of(table, "gpt-5.6", Tokens(input=1000, cache_write=1000)) == D("0.009")


def test_gemini_pro_tier_at_200k(table: PriceTable) -> None:
    tokens = Tokens(input=150_000, output=2_000, cache_read=60_000, reasoning=500)
    tier = tier_of(table, "gemini-2.5-pro", prompt_tokens_of(tokens))
    assert tier == "above_200k"
    # 150000·2.5 + 60000·0.25 + 2000·15 = 420000
    assert cost_of(table, "gemini-2.5-pro", tokens, tier) == D("0.42")
    # 150000·1.25 + 60000·0.125 + 2000·10 = 215000
    assert cost_of(table, "models/gemini-2.5-pro", tokens) == D("0.215")


def test_gemini_flash(table: PriceTable) -> None:
    tokens = Tokens(input=10_000, output=1_000, cache_read=5_000, reasoning=400)
    # 10000·0.3 + 5000·0.03 + 1000·2.5 = 5650
    assert cost_of(table, "gemini-2.5-flash", tokens) == D("0.00565")
    assert cost_of(table, "gemini/gemini-2.5-flash", tokens) == D("0.00565")


def test_a_tier_the_model_does_not_have_uses_the_base_prices(table: PriceTable) -> None:
    tokens = Tokens(input=1000, output=100)
    assert cost_of(table, "gpt-5", tokens, "above_272k") == cost_of(table, "gpt-5", tokens)
    assert tier_of(table, "gpt-5", 10_000_000) == ""


def test_unknown_model_costs_none_not_zero(table: PriceTable) -> None:
    assert cost_of(table, "mystery-model-9", Tokens(input=10, output=10)) is None
    assert tier_of(table, "mystery-model-9", 10_000_000) == ""
    assert table.lookup("mystery-model-9") == (None, False)


def test_fixture_costs_match_the_hand_checked_expectations(table: PriceTable) -> None:
    expected = SHARED / "fixtures" / "agent-logs" / "expected.json"
    if not expected.is_file():
        pytest.skip("../shared is not available")
    agents = json.loads(expected.read_text())["agents"]
    checked = 0
    for agent in agents.values():
        for model, usd in agent["cost_usd_by_model"].items():
            t = agent["by_model"][model]
            tokens = Tokens(
                input=t["input"],
                output=t["output"],
                cache_read=t["cache_read"],
                cache_write=t["cache_write"],
                cache_write_1h=t["cache_write_1h"],
                reasoning=t["reasoning"],
            )
            assert cost_of(table, model, tokens) == D(str(usd)), model
            checked += 1
    assert checked >= 10


# --- normalisation and lookup ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4.5", "claude-opus-4-5"),
        ("anthropic/claude-opus-4.5", "claude-opus-4-5"),
        ("vertex_ai/claude-opus-4-5@20251101", "claude-opus-4-5"),
        ("anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
        ("anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
        ("anthropic.claude-instant-v1", "claude-instant-v1"),
        ("anthropic.claude-v2:1", "claude-v2:1"),
        ("openai/gpt-5.4", "gpt-5.4"),
        ("google/gemini-2.5-pro", "gemini-2.5-pro"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini/gemini-3.1-pro-preview", "gemini-3.1-pro-preview"),
        ("  GPT-5.1-Codex ", "gpt-5.1-codex"),
    ],
)
def test_normalize_model(raw: str, normalized: str) -> None:
    assert normalize_model(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "key", "approximate"),
    [
        ("claude-opus-4-7-20260416", "claude-opus-4-7-20260416", False),
        ("claude-opus-4-7", "claude-opus-4-7", False),
        ("claude-sonnet-4-20250514", "claude-sonnet-4", False),
        ("claude-sonnet-4.5", "claude-sonnet-4-5", False),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5", False),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4", False),
        (
            "anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-sonnet-4-20250514-v1:0",
            False,
        ),
        ("gpt-5.5", "gpt-5.5", False),
        ("gpt-5.1-codex-spark", "gpt-5.1-codex", True),
        ("gpt-4o-2024-08-06", "gpt-4o", True),
        ("claude-opus-4-5-thinking", "claude-opus-4-5", True),
        ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro", True),
    ],
)
def test_lookup(table: PriceTable, raw: str, key: str, approximate: bool) -> None:
    price, approx = table.lookup(raw)
    assert price is not None
    assert (price.key, approx) == (key, approximate)


@pytest.mark.parametrize(
    "raw", ["claude-sonnet-4-7", "gpt-5.9", "gpt-6", "claude-opus-6", "gemini-9-pro", "", "claude"]
)
def test_lookup_refuses_other_versions(table: PriceTable, raw: str) -> None:
    assert table.lookup(raw) == (None, False)


def test_prefix_match_stops_at_version_boundaries(tmp_path: Path) -> None:
    row = {"input": "1", "output": "2"}
    small = read_price_table(
        write_table(tmp_path / "t.json", {"gpt-5": row, "claude-sonnet-4": row})
    )
    assert small.lookup("gpt-5.5") == (None, False)
    assert small.lookup("gpt-5.1-codex") == (None, False)
    assert small.lookup("claude-sonnet-4-5-20250929") == (None, False)
    price, approx = small.lookup("gpt-5-codex-spark")
    assert price is not None and (price.key, approx) == ("gpt-5", True)
    price, approx = small.lookup("gpt-5-2025-08-07")
    assert price is not None and (price.key, approx) == ("gpt-5", True)
    price, approx = small.lookup("claude-sonnet-4-20250514")
    assert price is not None and (price.key, approx) == ("claude-sonnet-4", False)


def test_a_bare_name_prefers_the_most_complete_entry(tmp_path: Path) -> None:
    models = {
        "vertex_ai/claude-x-1@20250101": {"input": "1", "output": "5"},
        "anthropic.claude-x-1-20250101-v1:0": {"input": "1", "output": "5", "cache_read": "0.1"},
    }
    price, approx = read_price_table(write_table(tmp_path / "t.json", models)).lookup(
        "claude-x-1-20250101"
    )
    assert price is not None and not approx
    assert price.key == "anthropic.claude-x-1-20250101-v1:0"
    assert price.provider == "anthropic"  # inferred from the name when the row has none


def test_missing_claude_cache_rates_follow_anthropic_multipliers(table: PriceTable) -> None:
    price, _ = table.lookup("vertex_ai/claude-3-5-haiku@20241022")
    assert price is not None and price.cache_read is None
    rates = price.rates()
    assert rates == (D("1"), D("5"), D("0.1"), D("1.25"), D("2"))


# --- config: overrides, aliases, table files ---------------------------------------------------


def test_override_patches_a_model_and_its_dated_names() -> None:
    config = PricingConfig(models={"claude-sonnet-4-5": ModelPriceOverride(input=D("3.3"))})
    table = load_price_table(config)
    assert table.version.startswith("litellm-1.109.1+2026-11-23+local.")
    price, approx = table.lookup("claude-sonnet-4-5-20250929")
    assert price is not None and not approx
    assert (price.input, price.output, price.cache_write_1h) == (D("3.3"), D("15"), D("6"))
    assert cost_of(table, "claude-sonnet-4-5-20250929", Tokens(input=1000)) == D("0.0033")
    assert load_price_table().lookup("claude-sonnet-4-5")[0].input == D(3)  # type: ignore[union-attr]
    assert table.problems == ()


def test_override_adds_a_new_model() -> None:
    config = PricingConfig(
        models={"house-llm-1": ModelPriceOverride(input=D("0.5"), output=D("1.5"))}
    )
    table = load_price_table(config)
    # a cache price nobody listed is charged as plain input: 1000·0.5 + 1000·1.5 + 1000·0.5
    tokens = Tokens(input=1000, output=1000, cache_read=1000)
    assert cost_of(table, "house-llm-1", tokens) == D("0.0025")
    assert cost_of(table, "house-llm-1-preview", tokens) == D("0.0025")  # approximate prefix
    assert table.lookup("house-llm-1-preview")[1] is True


def test_bad_overrides_are_skipped_and_reported() -> None:
    config = PricingConfig(
        models={
            "half-model": ModelPriceOverride(input=D(1)),
            "gpt-5": ModelPriceOverride(output=D(-1)),
        },
        aliases={"nickname": "no-such-model"},
    )
    table = load_price_table(config)
    assert table.lookup("half-model") == (None, False)
    assert table.lookup("gpt-5")[0].output == D(10)  # type: ignore[union-attr]
    assert table.lookup("nickname") == (None, False)
    problems = " ".join(table.problems)
    assert "pricing.models.half-model" in problems
    assert "pricing.models.gpt-5" in problems
    assert "pricing.aliases.nickname" in problems


def test_aliases_map_raw_names_to_table_keys() -> None:
    config = PricingConfig(
        aliases={"Team-Sonnet": "claude-sonnet-4-5", "cheap": "house"},
        models={"house": ModelPriceOverride(input=D(1), output=D(2))},
    )
    table = load_price_table(config)
    price, approx = table.lookup("Team-Sonnet")
    assert price is not None and (price.key, approx) == ("claude-sonnet-4-5", False)
    assert table.lookup("team-sonnet")[0] is price  # aliases match normalised names too
    assert cost_of(table, "cheap", Tokens(input=1000, output=1000)) == D("0.003")
    assert table.problems == ()


def test_config_table_is_read_relative_to_the_root(tmp_path: Path) -> None:
    write_table(tmp_path / ".tokennotes" / "prices.json", {"m-1": {"input": "2", "output": "4"}})
    table = load_price_table(PricingConfig(table=".tokennotes/prices.json"), root=tmp_path)
    assert table.version == "test-prices"
    assert cost_of(table, "m-1", Tokens(input=1000, output=1000)) == D("0.006")
    assert table.lookup("gpt-5") == (None, False)  # the file replaces the shipped table


def test_a_missing_config_table_falls_back_and_is_reported(tmp_path: Path) -> None:
    table = load_price_table(PricingConfig(table="nope.json"), root=tmp_path)
    assert table.version == "litellm-1.109.1+2026-11-23"
    assert len(table.problems) == 1 and "pricing.table" in table.problems[0]


def test_an_explicit_path_must_be_readable(tmp_path: Path) -> None:
    with pytest.raises(TokennotesError, match="cannot read"):
        load_price_table(path=tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(TokennotesError, match="not valid JSON"):
        load_price_table(path=tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(TokennotesError, match="not a tokennotes price table"):
        read_price_table(tmp_path / "list.json")


def test_the_updated_user_table_wins_while_not_older(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "newer")}
    write_table(user_table_path(env), {"m-2": {"input": "1", "output": "1"}}, "2099-01-01")
    assert user_table_path(env) == tmp_path / "newer" / "tokennotes" / "prices.json"
    assert load_price_table(environ=env).version == "test-prices"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "older")}
    write_table(user_table_path(env), {"m-2": {"input": "1", "output": "1"}}, "2000-01-01")
    assert load_price_table(environ=env).version == "litellm-1.109.1+2026-11-23"


def test_a_broken_user_table_is_reported_not_fatal(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    user_table_path(env).parent.mkdir(parents=True)
    user_table_path(env).write_text("not json")
    table = load_price_table(environ=env)
    assert table.version == "litellm-1.109.1+2026-11-23"
    assert "not valid JSON" in table.problems[0]


def test_user_table_path_defaults_to_dot_config(isolated_env: Path) -> None:
    assert user_table_path({}) == isolated_env / ".config" / "tokennotes" / "prices.json"
    assert user_table_path({"XDG_CONFIG_HOME": "relative"}).parent.parent == (
        isolated_env / ".config"
    )


def test_bad_rows_are_skipped_and_named() -> None:
    data = parse_price_table(
        {
            "version": "v",
            "models": {
                "ok": {"input": 1, "output": "2.5", "tiers": {"1000": {"input": "3"}}},
                "no-output": {"input": "1"},
                "negative": {"input": "-1", "output": "1"},
                "text": {"input": "cheap", "output": "1"},
                "bool": {"input": True, "output": "1"},
                "row": [1, 2],
                "tier": {"input": "1", "output": "1", "tiers": {"big": {}}},
            },
        }
    )
    assert list(data.models) == ["ok"]
    assert data.models["ok"].tiers[0].name == "above_1k"
    assert len(data.problems) == 6
    with pytest.raises(TokennotesError, match="version"):
        parse_price_table({"models": {}})


def test_tables_are_cached_per_process() -> None:
    assert load_price_table() is load_price_table()
    config = PricingConfig(models={"gpt-5": ModelPriceOverride(input=D(2))})
    same = PricingConfig(models={"gpt-5": ModelPriceOverride(input=D(2))})
    assert load_price_table(config) is load_price_table(same)
    assert load_price_table(config) is not load_price_table()


def test_pricing_imports_only_the_standard_library() -> None:
    code = (
        "import sys, tokennotes.pricing as p; p.load_price_table().lookup('gpt-5');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('requests', 'ruamel', 'pygit2', 'jinja2', 'matplotlib', 'urllib3')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- formatting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("1234.5"), "$1,234.50"),
        (D("0.005"), "$0.01"),
        (D("0.0049"), "<$0.01"),
        (D("0"), "$0.00"),
        (D("-2.345"), "-$2.35"),
        (None, "n/a"),
    ],
)
def test_format_usd(value: Decimal | None, text: str) -> None:
    assert format_usd(value) == text


# --- the shipped table -------------------------------------------------------------------------


def test_shipped_table_is_complete_and_canonical() -> None:
    text = SHIPPED_TABLE.read_text()
    obj = json.loads(text)
    assert obj["version"] == "litellm-1.109.1+2026-11-23"
    assert obj["updated"] == "2026-11-23"
    assert "litellm" in obj["source"] and len(obj["source_sha256"]) == 64
    table = read_price_table(SHIPPED_TABLE)
    assert table.problems == ()
    assert len(table.models) == len(obj["models"]) >= 50
    for key, price in table.models.items():
        assert price.input > 0 and price.output > 0, key
        assert price.provider in ("anthropic", "openai", "gemini"), key
        for tier in price.tiers:
            assert tier.threshold in (100_000, 200_000, 272_000), key
    meta = {k: v for k, v in obj.items() if k != "models"}
    assert render_price_table(meta, obj["models"]) == text  # one model per line, sorted


def test_shipped_table_has_every_model_of_the_spec() -> None:
    table = load_price_table()
    for name in (
        "claude-opus-4-8",
        "claude-haiku-5-5",
        "gpt-5.6",
        "gpt-5.3-codex",
        "gemini-3.5-flash-lite",
        "o4-mini",
        "claude-opus-4",
        "claude-opus-4-1",
        "claude-sonnet-4",
        "claude-3-5-haiku",
    ):
        assert name in table.models


def test_shipped_table_agrees_with_litellm() -> None:
    source = SHARED / "data" / "litellm-model-prices.json"
    if not source.is_file():
        pytest.skip("../shared is not available")
    litellm = json.loads(source.read_bytes())
    table = read_price_table(SHIPPED_TABLE)
    fields = {
        "input": "input_cost_per_token",
        "output": "output_cost_per_token",
        "cache_read": "cache_read_input_token_cost",
        "cache_write": "cache_creation_input_token_cost",
        "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
    }
    checked = 0
    for key, price in table.models.items():
        note = json.loads(SHIPPED_TABLE.read_text())["models"][key].get("note", "")
        entry = litellm.get(key) or litellm[note.split()[2]]  # "priced like <key> (…)"
        for ours, theirs in fields.items():
            value = getattr(price, ours)
            if theirs in entry:
                assert value == D(str(entry[theirs])) * 10**6, (key, ours)
            else:
                assert value is None, (key, ours)
            for tier in price.tiers:
                above = f"{theirs}_above_{tier.threshold // 1000}k_tokens"
                if getattr(tier, ours) is not None:
                    assert getattr(tier, ours) == D(str(entry[above])) * 10**6, (key, above)
        checked += 1
    assert checked == len(table.models)
    # and the converter rebuilds exactly our rows from LiteLLM
    rows, _ = convert_litellm(litellm)
    shipped = json.loads(SHIPPED_TABLE.read_text())["models"]
    assert {k: rows[k] for k in shipped} == shipped
