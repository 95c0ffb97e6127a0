"""The dashboard in a real headless Chromium, driven over the DevTools protocol (CDP).

Chromium listens on a loopback port it picks itself (``--remote-debugging-port=0``, read back
from ``DevToolsActivePort``); the test speaks CDP over a minimal RFC 6455 websocket client
below, so it needs no new dependency. It loads the page from a ``file://`` URL with
``#selftest`` (the page then clicks through every range and writes what each view shows into
``<pre id="selftest">``), watches every console message, exception and network request, and
takes a desktop and a phone-width screenshot. ``--window-size`` cannot make a phone: headless
Chromium lays pages out at least 500 px wide, so the phone view uses device-metrics emulation.

Skips when Chromium is not installed (``apt-get install chromium``; ``.ci/run`` installs it);
``TOKENNOTES_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.reporter.dashboard_test import (
    HOSTILE_AGENT,
    HOSTILE_BRANCH,
    HOSTILE_MODEL,
    HOSTILE_SUBJECT,
    NOW,
    SPREAD,
    TODAY,
    History,
    attach,
    commit_at,
    history_in,
    make_output,
    stamp,
)
from tokennotes.reporter.aggregate import week_of
from tokennotes.reporter.dashboard import read_dashboard_data, render_dashboard

CHROMIUM = (
    os.environ.get("TOKENNOTES_CHROMIUM")  # another build of Chromium or Chrome to test with
    or shutil.which("chromium")
    or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
TIMEOUT = 30.0  # seconds any one step may take before the test fails (never hangs)
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's handshake constant


class WebSocket:
    """The client half of RFC 6455, enough for CDP: masked text frames out, frames in."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = bytearray()
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        end = self.buffer.index(b"\r\n\r\n")
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        assert head.split(" ", 2)[1] == "101", head
        assert f"sec-websocket-accept: {accept}" in head.lower().replace(accept.lower(), accept)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the browser closed the DevTools connection")
        self.buffer += chunk

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def _send(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text: str) -> None:
        self._send(0x1, text.encode())

    def receive(self) -> str:
        parts: list[bytes] = []
        while True:
            first, second = self._take(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", self._take(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", self._take(8))
            mask = self._take(4) if second & 0x80 else b""
            payload = self._take(size)
            if mask:
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            opcode = first & 0x0F
            if opcode == 0x9:  # ping
                self._send(0xA, payload)
            elif opcode == 0x8:
                raise ConnectionError("the browser closed the DevTools connection")
            elif opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self._send(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class Page:
    """One browser tab over CDP (flattened session); every event is kept in ``events``."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.counter = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.counter += 1
        message: dict[str, Any] = {"id": self.counter, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.receive())
            if reply.get("id") == self.counter:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)
        raise AssertionError(f"{method}: no reply in {TIMEOUT} s")

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        seen = 0
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            seen = len(self.events)
            self.events.append(json.loads(self.ws.receive()))
        raise AssertionError(f"no {method} in {TIMEOUT} s")

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, width: int, height: int, *, mobile: bool = False) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    home = tmp_path_factory.mktemp("chromium")
    profile = home / "profile"
    log = (home / "stderr.log").open("wb")
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
    )
    ws: WebSocket | None = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (home / "stderr.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"chromium did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        ws = WebSocket(int(port), path)
        yield Page(ws)
    finally:
        if ws is not None:
            ws.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def selftest(page: Page, url: str, width: int, *, mobile: bool = False) -> dict[str, Any]:
    """Open the page with ``#selftest`` and return what it reported."""
    page.events.clear()
    # a new query each time: the same URL again would only be a same-document jump
    page.open(f"{url}?width={width}#selftest", width, 2400, mobile=mobile)
    text = page.evaluate(
        """new Promise((resolve, reject) => {
          const started = Date.now();
          (function check() {
            const text = document.getElementById('selftest').textContent;
            if (text && JSON.parse(text).done !== undefined && JSON.parse(text).done) resolve(text);
            else if (Date.now() - started > 20000) reject(new Error('no self-test: ' + text));
            else setTimeout(check, 20);
          })();
        })"""
    )
    result: dict[str, Any] = json.loads(text)
    return result


def browser_problems(page: Page) -> list[str]:
    """Console errors, uncaught exceptions, browser log errors and any request that is not the
    page itself, from the events seen since the last ``selftest``."""
    problems = []
    for event in page.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            problems.append(f"console: {params['args']}")
        elif method == "Runtime.exceptionThrown":
            problems.append(f"exception: {params['exceptionDetails']}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            problems.append(f"log: {params['entry']['text']}")
        elif method == "Page.javascriptDialogOpening":
            problems.append(f"dialog: {params['message']}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith("file://"):
                problems.append(f"request: {url}")
    return problems


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack("!II", data[16:24])
    return width, height


def write_page(repo: Path, tmp_path: Path) -> str:
    path = tmp_path / "dashboard.html"
    path.write_text(render_dashboard(read_dashboard_data(repo, now=NOW)), encoding="utf-8")
    return path.as_uri()


def range_start(days: int | None) -> str:
    return "" if days is None else (TODAY - timedelta(days=days - 1)).isoformat()


def test_every_view_renders_and_follows_the_range(
    repo: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, browser: Page
) -> None:
    history: History = history_in(repo, tmp_path_factory)
    (repo / ".tokennotes.yml").write_text("report:\n  daily_target_tokens: 400000\n")
    url = write_page(repo, tmp_path)

    report = selftest(browser, url, 1280)
    assert report["errors"] == [] and browser_problems(browser) == []
    assert report["resources"] == [] and report["images"] == 0 and report["iframes"] == 0
    assert all(report["reconcile"].values()) and len(report["reconcile"]) == 5
    assert report["overflow"] <= 0
    ranges = report["ranges"]
    assert list(ranges) == ["90d", "180d", "1y", "all"]
    for key, days in (("90d", 90), ("180d", 180), ("1y", 365), ("all", None)):
        shown = ranges[key]
        expected = history.expected(days)
        first = (TODAY - timedelta(days=max(SPREAD))).isoformat()
        assert shown["start"] == (range_start(days) or first), key
        assert shown["end"] == TODAY.isoformat()
        for name in ("tokens", "estimated", "manual", "unpriced", "items", "points"):
            assert shown[name] == expected[name], (key, name)
        assert shown["cost"] == float(round(expected["cost"], 2)), key
        span = (TODAY - date.fromisoformat(shown["start"])).days + 1
        assert shown["heat_cells"] == span, key  # one cell per day of the range
        assert 0 < shown["heat_filled"] <= span
        assert shown["heat_est"] > 0 and shown["heat_over"] > 0
        weeks = {week_of((TODAY - timedelta(days=n)).isoformat()) for n in range(span)}
        assert shown["trend_points"] == len(weeks) and shown["trend_path"], key
        assert [w for w, _ in shown["weeks"]] == sorted(weeks)
        assert shown["trend_inexact"] > 0 and shown["peak"].startswith("peak ")
        assert shown["drivers"] >= 3 and shown["models"] >= 3 and shown["agents"] >= 3
        assert shown["bars_est"] > 0 and shown["approx_cards"] > 0
        assert shown["day_rows"] == 30 and shown["commit_rows"] > 0
        assert shown["svgs"] >= 6
        commits_in_range = {
            sha for sha in history.commits if stamp_day(history, sha) >= range_start(days)
        }
        assert set(shown["commit_shas"]) == commits_in_range, key
    # switching the range changes every number
    assert ranges["90d"]["tokens"] < ranges["180d"]["tokens"] < ranges["1y"]["tokens"]
    assert ranges["1y"]["tokens"] < ranges["all"]["tokens"]
    assert ranges["90d"]["heat_cells"] < ranges["all"]["heat_cells"]
    assert ranges["90d"]["commit_rows"] < ranges["all"]["commit_rows"]
    assert "(not landed)" in ranges["90d"]["drivers_labels"]
    # the page's ISO weeks are the reporter's
    assert report["weeks"] == {day: week_of(day) for day in report["weeks"]}
    assert len(report["weeks"]) > 20

    shot = browser.screenshot(tmp_path / "dashboard.png")
    assert png_size(shot) == (1280, 2400)

    phone = selftest(browser, url, 390, mobile=True)
    assert phone["errors"] == [] and browser_problems(browser) == []
    assert phone["width"] == 390 and phone["overflow"] <= 0
    assert phone["ranges"]["1y"]["tokens"] == ranges["1y"]["tokens"]
    shot = browser.screenshot(tmp_path / "dashboard-phone.png")
    assert png_size(shot) == (390, 2400)

    dark = [{"name": "prefers-color-scheme", "value": "dark"}]
    browser.call("Emulation.setEmulatedMedia", features=dark)
    try:
        night = selftest(browser, url, 1280)
        assert night["errors"] == [] and browser_problems(browser) == []
        assert night["ranges"] == ranges
        background = browser.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 19, 20)"
        assert png_size(browser.screenshot(tmp_path / "dashboard-dark.png")) == (1280, 2400)
    finally:
        browser.call("Emulation.setEmulatedMedia", features=[])


def stamp_day(history: History, sha: str) -> str:
    return min(r.ts for r in history.notes[sha])[:10]


def test_hostile_strings_stay_text(
    repo: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, browser: Page
) -> None:
    history_in(repo, tmp_path_factory)
    url = write_page(repo, tmp_path)
    report = selftest(browser, url, 1280)
    assert report["errors"] == [] and browser_problems(browser) == []
    assert report["images"] == 0 and report["resources"] == []
    # an injected handler would have run by now; each string shows as the text it is
    text = browser.evaluate("document.body.innerText")
    for hostile in (HOSTILE_SUBJECT, HOSTILE_MODEL, HOSTILE_AGENT):
        found = browser.evaluate(
            "[...document.querySelectorAll('td, text, title')]"
            f".some((e) => e.textContent.includes({json.dumps(hostile)}))"
        )
        assert found, hostile
    assert "branch <b>topic</b>" in text
    assert HOSTILE_BRANCH.split("\u2028")[0] in text
    assert browser.evaluate("document.querySelectorAll('b, img, svg[onload], a').length") == 0


def test_a_repository_with_little_data(repo: Path, tmp_path: Path, browser: Page) -> None:
    """One commit that shipped without agent spend: every view says so, nothing breaks."""
    when = NOW - timedelta(days=3)
    sha = commit_at(repo, when, "docs: by hand")
    attach(repo, sha, [make_output("hand", stamp(when), sha, type="docs", points=2)])
    url = write_page(repo, tmp_path)
    report = selftest(browser, url, 1280)
    assert report["errors"] == [] and browser_problems(browser) == []
    for shown in report["ranges"].values():
        assert shown["tokens"] == 0 and shown["items"] == 1 and shown["points"] == 2
        assert shown["grade"] == "" and shown["ppd"] is None
        assert shown["drivers"] == 1 and shown["models"] == 0 and shown["commit_rows"] == 1
    assert report["ranges"]["all"]["heat_cells"] == 4  # from the first day to today
