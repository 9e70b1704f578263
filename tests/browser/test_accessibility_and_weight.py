"""Accessibility and page weight, on the real pages.

- axe-core (npm, pinned, installed by `scripts/setup.sh --test` into .test-tools/) finds no
  serious or critical violation on the chat page (welcome screen and a conversation), the
  admin viewer (list and transcript) and the sign-in dialog, at desktop and phone sizes.
- One `/api/conversations` request per page load; every script and stylesheet comes from a
  versioned `/static/<version>/` URL cached for a year, and the module graph is preloaded
  (no module is discovered late).

axe is evaluated through the DevTools protocol, which the page's CSP does not govern, so
the pages keep their production policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, OBSERVER_SCRIPT, PHONE, REPO_ROOT
from .helpers import open_chat

pytestmark = pytest.mark.browser

AXE = REPO_ROOT / ".test-tools" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
RUN_AXE = """
async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations
    .filter((v) => ['serious', 'critical'].includes(v.impact))
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
}
"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE} (scripts/setup.sh --test installs it)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def shared_page(browser: Any) -> Iterator[Any]:
    """One page for the whole module (a new context per test would cost seconds each)."""
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(OBSERVER_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def seeded_conversation(live_server: Any) -> str:
    """A finished conversation with markdown and a code block, made over the WebSocket."""
    from websockets.sync.client import connect

    with connect(live_server.ws_url, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        ws.send(
            json.dumps(
                {
                    "type": "chat",
                    "client_msg_id": "a11y-seed",
                    "content": "How do I reverse a list in Python?",
                }
            )
        )
        conv_id = None
        while True:
            frame = json.loads(ws.recv(timeout=90))
            if frame["type"] == "accepted":
                conv_id = frame["conversation_id"]
            elif frame["type"] == "end":
                break
            assert frame["type"] != "error", frame
    assert conv_id
    return str(conv_id)


def _assert_no_serious_violations(page: Any, axe_source: str, where: str) -> None:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    violations = page.evaluate(RUN_AXE)
    assert violations == [], f"{where}: " + json.dumps(violations, indent=1)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_no_serious_violation(
    shared_page: Any,
    live_server: Any,
    axe_source: str,
    seeded_conversation: str,
    viewport: dict[str, int],
    screenshot_dir: Path,
) -> None:
    page = shared_page
    size = "desktop" if viewport == DESKTOP else "phone"
    page.set_viewport_size(viewport)

    open_chat(page, live_server.base_url)
    expect(page.locator("#welcome")).to_be_visible()
    _assert_no_serious_violations(page, axe_source, f"chat welcome ({size})")

    open_chat(page, live_server.base_url, f"#c={seeded_conversation}")
    expect(page.locator(".message.assistant[aria-busy='false']")).to_have_count(1)
    expect(page.locator(".code-block .code-language")).to_have_text("Python")
    _assert_no_serious_violations(page, axe_source, f"chat conversation ({size})")
    if size == "phone":
        page.click("#drawer-toggle")
        expect(page.locator("#sidebar")).to_be_visible()
        _assert_no_serious_violations(page, axe_source, "chat drawer (phone)")
        page.keyboard.press("Escape")

    page.goto(f"{live_server.base_url}/admin#c={seeded_conversation}")
    expect(page.locator("#admin-messages .admin-message")).to_have_count(2)
    _assert_no_serious_violations(page, axe_source, f"admin ({size})")

    # The sign-in dialog: /api/auth/me answers 401 as for a signed-out visitor.
    page.route("**/api/auth/me", lambda route: route.fulfill(status=401, body="{}"))
    try:
        page.goto(f"{live_server.base_url}/")
        expect(page.locator("dialog[open]")).to_be_visible()
        _assert_no_serious_violations(page, axe_source, f"sign-in ({size})")
        page.screenshot(path=str(screenshot_dir / f"sign-in-{size}.png"), animations="disabled")
    finally:
        page.unroute("**/api/auth/me")


def test_one_list_request_versioned_cached_assets_and_preloaded_modules(
    browser: Any, live_server: Any
) -> None:
    # A fresh context: nothing in the memory cache, so every asset request is seen.
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request))
    open_chat(page, live_server.base_url)
    expect(page.locator("#welcome")).to_be_visible()
    # Everything the page does at start-up has happened once the socket is open and the
    # list is drawn; a second list request would have been sent by then (the first hello
    # must not refetch what boot just loaded).
    expect(page.locator("#conversation-groups .conversation-item").first).to_be_visible()
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    requests = list(requests)

    lists = [r for r in requests if re.search(r"/api/conversations(\?|$)", r.url)]
    assert len(lists) == 1, [r.url for r in lists]

    assets = [r for r in requests if r.resource_type in ("script", "stylesheet")]
    assert assets
    version = None
    for request in assets:
        match = re.search(r"/static/(v[0-9a-f]{12})/", request.url)
        assert match, f"unversioned asset {request.url}"
        version = version or match.group(1)
        assert match.group(1) == version
        response = request.response()
        if response is not None and response.status == 200:
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"

    html = page.evaluate("() => document.documentElement.outerHTML")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', html))
    loaded_modules = {
        r.url.split(live_server.base_url, 1)[-1] for r in assets if r.url.endswith((".js", ".mjs"))
    }
    entry = f"/static/{version}/js/chat.js"
    # Every module the page loaded was announced up front (besides the entry itself and
    # the classic theme script).
    assert loaded_modules - preloaded - {entry, f"/static/{version}/js/theme-init.js"} == set()
    page_response = page.request.get(f"{live_server.base_url}/")
    assert page_response.headers["cache-control"] == "no-cache"
    context.close()
