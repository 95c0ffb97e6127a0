"""Tests for `tokennotes pricing update` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tokennotes.cli import main
from tokennotes.pricing import cost_of, load_price_table, read_price_table, user_table_path
from tokennotes.pricing_update import convert_litellm, diff_rows
from tokennotes.record import Tokens

# A small file shaped like LiteLLM's model_prices_and_context_window.json (USD per token).
LITELLM = {
    "sample_spec": {"input_cost_per_token": 0.0, "mode": "one of: chat, embedding, …"},
    "claude-sonnet-4-6": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
        "cache_creation_input_token_cost_above_1hr": 6e-06,
        "input_cost_per_token_batches": 1.5e-06,
        "max_input_tokens": 200000,
    },
    "anthropic.claude-opus-4-20250514-v1:0": {
        "litellm_provider": "bedrock_converse",
        "mode": "chat",
        "input_cost_per_token": 1.5e-05,
        "output_cost_per_token": 7.5e-05,
        "cache_read_input_token_cost": 1.5e-06,
        "cache_creation_input_token_cost": 1.875e-05,
    },
    "us.anthropic.claude-opus-4-20250514-v1:0": {
        "litellm_provider": "bedrock_converse",
        "mode": "chat",
        "input_cost_per_token": 1.65e-05,
        "output_cost_per_token": 8.25e-05,
    },
    "gpt-5.4": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 2.5e-07,
        "input_cost_per_token_above_272k_tokens": 5e-06,
        "output_cost_per_token_above_272k_tokens": 2.25e-05,
        "cache_read_input_token_cost_above_272k_tokens": 5e-07,
        "input_cost_per_token_above_272k_tokens_priority": 1e-05,
        "output_cost_per_token_priority": 3e-05,
    },
    "gpt-5.1-codex": {
        "litellm_provider": "openai",
        "mode": "responses",
        "input_cost_per_token": 1.25e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-07,
    },
    "gemini-2.5-pro": {
        "litellm_provider": "vertex_ai-language-models",
        "mode": "chat",
        "input_cost_per_token": 1.25e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-07,
        "input_cost_per_token_above_200k_tokens": 2.5e-06,
        "output_cost_per_token_above_200k_tokens": 1.5e-05,
        "cache_read_input_token_cost_above_200k_tokens": 2.5e-07,
        "cache_creation_input_token_cost_above_200k_tokens": 2.5e-07,
    },
    "gemini/gemini-2.5-flash": {
        "litellm_provider": "gemini",
        "mode": "chat",
        "input_cost_per_token": 3e-07,
        "output_cost_per_token": 2.5e-06,
        "cache_read_input_token_cost": 3e-08,
    },
    "text-embedding-3-small": {
        "litellm_provider": "openai",
        "mode": "embedding",
        "input_cost_per_token": 2e-08,
        "output_cost_per_token": 0.0,
    },
    "azure/gpt-5": {
        "litellm_provider": "azure",
        "mode": "chat",
        "input_cost_per_token": 1.25e-06,
        "output_cost_per_token": 1e-05,
    },
    "chat-bison": {
        "litellm_provider": "vertex_ai-language-models",
        "mode": "chat",
        "input_cost_per_token": 1e-07,
        "output_cost_per_token": 1e-07,
    },
    "gpt-broken": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": "free",
        "output_cost_per_token": 1e-05,
    },
    "gpt-no-output": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06},
}
BODY = json.dumps(LITELLM).encode()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    """A real HTTP server on 127.0.0.1 serving ``routes`` (path -> status, body)."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    routes: dict[str, tuple[int, bytes]] = {
        "/prices.json": (200, BODY),
        "/missing.json": (404, b"Not Found"),
        "/boom.json": (500, b"oops"),
        "/html": (200, b"<html>rate limited</html>"),
        "/list.json": (200, b"[1, 2, 3]"),
        "/empty.json": (200, b'{"text-embedding-3-small": {"mode": "embedding"}}'),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path, (404, b"Not Found"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def test_update_downloads_converts_and_writes_the_user_table(
    server: tuple[str, dict[str, tuple[int, bytes]]],
    config_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = server
    assert main(["pricing", "update", "--from", f"{url}/prices.json"]) == 0
    target = config_home / "tokennotes" / "prices.json"
    assert user_table_path() == target
    written = json.loads(target.read_text())
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    sha = hashlib.sha256(BODY).hexdigest()
    assert written["version"] == f"litellm-{sha[:8]}+{today}"
    assert written["updated"] == today
    assert written["source_sha256"] == sha
    assert written["source"].startswith(f"{url}/prices.json")
    models = written["models"]
    assert sorted(models) == [
        "anthropic.claude-opus-4-20250514-v1:0",
        "claude-opus-4",
        "claude-sonnet-4-6",
        "gemini-2.5-pro",
        "gemini/gemini-2.5-flash",
        "gpt-5.1-codex",
        "gpt-5.4",
    ]
    assert models["claude-sonnet-4-6"] == {
        "provider": "anthropic",
        "input": "3",
        "output": "15",
        "cache_read": "0.3",
        "cache_write": "3.75",
        "cache_write_1h": "6",
    }
    assert models["claude-opus-4"]["note"].startswith("priced like anthropic.claude-opus-4-")
    assert models["gpt-5.4"]["tiers"] == {
        "272000": {"input": "5", "output": "22.5", "cache_read": "0.5"}
    }
    # Gemini's tier-only cache-write rate is dropped: Gemini logs carry no cache writes
    assert models["gemini-2.5-pro"]["tiers"] == {
        "200000": {"input": "2.5", "output": "15", "cache_read": "0.25"}
    }
    out = capsys.readouterr().out
    assert f"sha256 {sha}" in out
    assert "7 models kept" in out
    assert "wrote" in out and str(target) in out

    # tokennotes now prices from the new table (it is not older than the shipped one)
    table = load_price_table()
    assert table.version == written["version"]
    assert table.path == target
    assert cost_of(table, "claude-opus-4-20250514", Tokens(input=1000)) == (
        cost_of(load_price_table(path=target), "claude-opus-4", Tokens(input=1000))
    )
    assert table.lookup("gpt-5-mini") == (None, False)  # not in the downloaded file


def test_update_reports_what_changed(
    server: tuple[str, dict[str, tuple[int, bytes]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, routes = server
    output = tmp_path / "team" / "prices.json"
    assert main(["pricing", "update", "--from", f"{url}/prices.json", "--output", str(output)]) == 0
    first = capsys.readouterr().out
    assert "(shipped)" in first
    assert f"set `pricing: {{table: {output}}}`" in first
    changed = json.loads(BODY)
    changed["gpt-5.4"]["input_cost_per_token"] = 3e-06
    del changed["gpt-5.1-codex"]
    changed["gpt-5.9"] = dict(changed["gpt-5.4"])
    routes["/prices.json"] = (200, json.dumps(changed).encode())
    assert main(["pricing", "update", "--from", f"{url}/prices.json", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "1 added, 1 removed, 1 changed" in out
    assert "added: gpt-5.9" in out and "removed: gpt-5.1-codex" in out
    assert "changed: gpt-5.4" in out
    assert read_price_table(output).models["gpt-5.4"].input == 3


def test_dry_run_writes_nothing(
    server: tuple[str, dict[str, tuple[int, bytes]]],
    config_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = server
    assert main(["pricing", "update", "--from", f"{url}/prices.json", "--dry-run"]) == 0
    assert not config_home.exists()
    assert "dry run" in capsys.readouterr().out


def test_update_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "litellm.json"
    source.write_bytes(BODY)
    output = tmp_path / "out.json"
    assert main(["pricing", "update", "--from", str(source), "--output", str(output)]) == 0
    assert read_price_table(output).models["gpt-5.4"].tiers[0].name == "above_272k"
    assert main(["pricing", "update", "--from", f"file://{source}", "--output", str(output)]) == 0
    assert "0 added, 0 removed, 0 changed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing.json", "HTTP 404"),
        ("/boom.json", "HTTP 500"),
        ("/html", "not JSON"),
        ("/list.json", "expected a JSON object of model entries"),
        ("/empty.json", "no Anthropic, OpenAI or Gemini chat models"),
    ],
)
def test_update_errors_are_clear_and_write_nothing(
    server: tuple[str, dict[str, tuple[int, bytes]]],
    config_home: Path,
    capsys: pytest.CaptureFixture[str],
    path: str,
    message: str,
) -> None:
    url, _ = server
    assert main(["pricing", "update", "--from", f"{url}{path}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tokennotes: ") and message in err
    assert not config_home.exists()


def test_unreachable_server_and_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["pricing", "update", "--from", f"http://127.0.0.1:{port}/x.json"]) == 1
    assert "could not download" in capsys.readouterr().err
    assert main(["pricing", "update", "--from", str(tmp_path / "nope.json")]) == 1
    assert "cannot read it" in capsys.readouterr().err


def test_unwritable_output_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "litellm.json"
    source.write_bytes(BODY)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert (
        main(["pricing", "update", "--from", str(source), "--output", str(blocker / "prices.json")])
        == 1
    )
    assert "cannot write the price table" in capsys.readouterr().err


def test_pricing_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pricing"]) == 2
    assert main(["pricing", "update", "--help"]) == 0
    assert "--from URL|FILE" in capsys.readouterr().out


def test_diff_ignores_notes() -> None:
    old = {"a": {"input": "1", "output": "2", "note": "x"}, "b": {"input": "1", "output": "1"}}
    new = {"a": {"input": "1", "output": "2", "note": "y"}, "c": {"input": "1", "output": "1"}}
    assert diff_rows(old, new) == (["c"], ["b"], [])


def test_converter_keeps_only_what_tokennotes_prices() -> None:
    rows, skipped = convert_litellm(LITELLM)
    assert skipped == 7  # spec, regional Bedrock, embedding, azure, non-Gemini Vertex, 2 bad
    assert "us.anthropic.claude-opus-4-20250514-v1:0" not in rows
    assert rows["anthropic.claude-opus-4-20250514-v1:0"]["provider"] == "anthropic"
    assert rows["gemini/gemini-2.5-flash"]["provider"] == "gemini"
    assert rows["gemini/gemini-2.5-flash"]["cache_read"] == "0.03"
