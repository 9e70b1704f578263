"""Playwright fixtures for the browser tests: Debian's chromium, never a downloaded one.

The server under test comes from the `live_server` fixture (tests/conftest.py: a real
uvicorn with the demo model, auth "none", a temp SQLite file); it must have `.base_url`
and `.ws_url`. To point these tests at a server you started yourself instead, set
TICKERTAPE_BROWSER_BASE_URL=http://127.0.0.1:PORT (this overrides `live_server`).

Both HTML files carry the production Content-Security-Policy in a <meta> tag, so the
pages always run under the strict policy here, whatever headers the server sends.
(Injecting the header with page.route() is not an option: Chromium's Local Network Access
check then blocks the page's WebSocket to 127.0.0.1.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from playwright.sync_api import expect

    # Replies come from a real (small) model on a possibly slow CI machine.
    expect.set_options(timeout=15_000)
except ImportError:  # the `browser` fixture skips with a reason
    pass

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"

# Runs in every page before its own scripts (CDP-injected, so the CSP does not apply):
# records CSP violations, which with a correct sanitiser should never happen.
OBSERVER_SCRIPT = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
});
"""


if os.environ.get("TICKERTAPE_BROWSER_BASE_URL"):

    @dataclass
    class _ExternalServer:
        base_url: str

        @property
        def ws_url(self) -> str:
            return re.sub(r"^http", "ws", self.base_url) + "/ws"

    @pytest.fixture(scope="session")
    def live_server() -> _ExternalServer:
        return _ExternalServer(os.environ["TICKERTAPE_BROWSER_BASE_URL"].rstrip("/"))


# Module scope, not session: the sync Playwright API keeps an asyncio loop marked as running
# in this thread while it lives, which would break every async test that runs after it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProbe:
    """What a page did that it should not have: dialogs, JS errors, console errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []


def _new_page(context: Any, base_url: str) -> tuple[Any, PageProbe]:
    probe = PageProbe()
    page = context.new_page()
    page.set_default_timeout(30_000)

    def on_dialog(dialog: Any) -> None:
        probe.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: probe.page_errors.append(str(error)))
    page.on(
        "console",
        lambda msg: probe.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    return page, probe


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(OBSERVER_SCRIPT)
    yield context
    context.close()


@pytest.fixture
def page_and_probe(context: Any, live_server: Any) -> tuple[Any, PageProbe]:
    return _new_page(context, live_server.base_url)


@pytest.fixture
def page(page_and_probe: tuple[Any, PageProbe]) -> Any:
    return page_and_probe[0]


@pytest.fixture
def api(live_server: Any) -> Iterator[httpx.Client]:
    """The HTTP API as the same (auth "none") user the browser is."""
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR
