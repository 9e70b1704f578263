"""30 XSS payloads as user text and as model output, on the chat page and the admin page.

User text goes through the real UI (typed and sent; the admin page reads it from the
store). Model output cannot be chosen with the demo model, so each payload is rendered
with the page's own `renderMarkdownInto` from /static/js/markdown.js (imported in the
page, not a test-only hook), the function both pages use for assistant messages.

A payload "executes" if it sets window.__xss, opens a dialog, or trips the CSP (which
would mean the sanitiser let it through and only the CSP stopped it). The rendered DOM
is also checked directly for event handlers, style attributes and non-http(s) URLs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from .helpers import (
    conversation_id,
    open_chat,
    send_message,
    set_generation_settings,
    wait_until_done,
)
from .payloads import FIND_DANGER_JS, PAYLOADS, RENDER_AS_MODEL_OUTPUT_JS, SETTLE_JS

pytestmark = pytest.mark.browser

BATCH = 10  # payloads per message; three messages stay well under the rate limit


def _batches() -> list[str]:
    return ["\n\n".join(PAYLOADS[i : i + BATCH]) for i in range(0, len(PAYLOADS), BATCH)]


def _assert_inert(page: Any, probe: Any) -> None:
    page.evaluate(SETTLE_JS)
    assert page.evaluate("window.__xss") is None
    assert probe.dialogs == []
    assert page.evaluate("window.__cspViolations") == []
    assert page.evaluate(FIND_DANGER_JS, ".markdown") == []
    # User text is text: no element children at all, except the admin page's own <mark>
    # around the search words (built with DOM calls, no attributes).
    assert (
        page.evaluate(
            """() => [...document.querySelectorAll('.user-text *')]
                 .filter(e => e.tagName !== 'MARK' || e.attributes.length || e.children.length)
                 .length"""
        )
        == 0
    )
    assert probe.page_errors == []


def test_payloads_are_inert_on_the_chat_page(page_and_probe: Any, live_server: Any) -> None:
    page, probe = page_and_probe
    open_chat(page, live_server.base_url)
    set_generation_settings(page, max_tokens=4)
    for text in _batches():
        reply = send_message(page, text)
        wait_until_done(reply)
    bodies = page.locator(".message.user .message-body")
    expect(bodies).to_have_count(3)
    for index, text in enumerate(_batches()):
        expect(bodies.nth(index)).to_have_text(text)  # shown literally, as typed

    # A payload as a conversation title (list and heading are text too).
    conv_id = conversation_id(page)
    row = page.locator(f".conversation-item[data-id='{conv_id}']")
    row.locator(".rename-conversation").click()
    page.fill(".rename-input", PAYLOADS[1])
    page.press(".rename-input", "Enter")
    expect(row.locator(".conversation-title-text")).to_have_text(PAYLOADS[1])

    page.evaluate(
        RENDER_AS_MODEL_OUTPUT_JS, {"payloads": PAYLOADS, "containerSelector": "#transcript"}
    )
    expect(page.locator(".xss-probe")).to_have_count(len(PAYLOADS))
    _assert_inert(page, probe)
    # Harmless content survives sanitising: the link text and code are still shown.
    expect(page.locator(".xss-probe").nth(4)).to_contain_text("click me")
    expect(page.locator(".xss-probe").nth(24).locator("code").first).to_have_text(
        "<script>window.__xss=25</script>"
    )


MARKER = f"xssmarker{uuid.uuid4().hex[:12]}"


def _admin_texts() -> list[str]:
    return [f"{MARKER}\n\n{text}" for text in _batches()]


@pytest.fixture
def stored_payload_conversation(live_server: Any) -> str:
    """A conversation whose user messages are the payloads, sent over the WebSocket."""
    from websockets.sync.client import connect

    conv_id = None
    with connect(live_server.ws_url, open_timeout=30) as ws:
        hello = json.loads(ws.recv(timeout=30))
        assert hello["type"] == "hello"
        for index, text in enumerate(_admin_texts()):
            frame: dict[str, Any] = {
                "type": "chat",
                "client_msg_id": f"{MARKER}-{index}",
                "content": text,
                "params": {"max_tokens": 4},
            }
            if conv_id:
                frame["conversation_id"] = conv_id
            ws.send(json.dumps(frame))
            while True:
                msg = json.loads(ws.recv(timeout=90))
                if msg["type"] == "accepted":
                    conv_id = msg["conversation_id"]
                elif msg["type"] == "error":
                    raise AssertionError(msg)
                elif msg["type"] == "end":
                    break
    assert conv_id
    return conv_id


def test_payloads_are_inert_on_the_admin_page(
    page_and_probe: Any, live_server: Any, stored_payload_conversation: str
) -> None:
    page, probe = page_and_probe
    page.goto(f"{live_server.base_url}/admin")
    page.fill("#filter-q", MARKER)
    page.click("#filter-form button[type=submit]")
    row = page.locator(f"#conversation-rows tr[data-id='{stored_payload_conversation}']")
    row.locator("button").click()
    messages = page.locator("#admin-messages .admin-message.role-user .message-body")
    expect(messages).to_have_count(3)
    for index, text in enumerate(_admin_texts()):
        expect(messages.nth(index)).to_have_text(text)

    page.evaluate(
        RENDER_AS_MODEL_OUTPUT_JS, {"payloads": PAYLOADS, "containerSelector": "#admin-messages"}
    )
    expect(page.locator(".xss-probe")).to_have_count(len(PAYLOADS))
    _assert_inert(page, probe)
