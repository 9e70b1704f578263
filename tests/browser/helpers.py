"""Shared steps for the browser tests. All waiting is done by Playwright's expect()."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import httpx
from playwright.sync_api import expect

REPLY_TIMEOUT_MS = 90_000  # the demo model on a slow CI machine


def open_chat(page: Any, base_url: str, fragment: str = "") -> None:
    page.goto(f"{base_url}/{fragment}")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")


def set_generation_settings(
    page: Any, *, max_tokens: int | None = None, temperature: float | None = None
) -> None:
    page.click("#settings-toggle")
    if max_tokens is not None:
        page.fill("#setting-max-tokens", str(max_tokens))
        page.locator("#setting-max-tokens").dispatch_event("change")
    if temperature is not None:
        page.fill("#setting-temperature", str(temperature))
        page.locator("#setting-temperature").dispatch_event("change")
    page.click("#settings-toggle")


def send_message(page: Any, text: str) -> Any:
    """Type and send a message; returns the locator of its reply."""
    before = page.locator(".message.assistant").count()
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")
    expect(page.locator(".message.assistant")).to_have_count(before + 1)
    return page.locator(".message.assistant").nth(before)


def wait_until_streaming(reply: Any) -> None:
    """The reply is accepted and at least one token frame has been shown."""
    expect(reply).to_have_attribute("data-reply-id", re.compile(r".+"), timeout=REPLY_TIMEOUT_MS)
    expect(reply).to_have_attribute(
        "data-last-seq", re.compile(r"^[1-9]\d*$"), timeout=REPLY_TIMEOUT_MS
    )


def wait_until_done(reply: Any) -> None:
    expect(reply).to_have_attribute("aria-busy", "false", timeout=REPLY_TIMEOUT_MS)
    expect(reply).to_have_attribute(
        "data-status", re.compile(r"^(complete|stopped|error|interrupted)$")
    )


def conversation_id(page: Any) -> str:
    match = re.search(r"#c=(.+)$", page.url)
    assert match, f"no conversation id in {page.url}"
    return unquote(match.group(1))


def stored_conversation(api: httpx.Client, conv_id: str) -> dict[str, Any]:
    response = api.get(f"/api/conversations/{conv_id}")
    response.raise_for_status()
    return response.json()


def stored_reply(api: httpx.Client, conv_id: str, reply_id: str) -> dict[str, Any]:
    messages = stored_conversation(api, conv_id)["messages"]
    matches = [m for m in messages if m["id"] == reply_id]
    assert matches, f"reply {reply_id} not in stored conversation {conv_id}"
    return matches[0]


# Renders markdown with the page's own renderer (the same function the chat uses for
# replies) and returns the text the user would see; used to compare a streamed reply
# with the stored text without depending on how markdown maps to text.
RENDER_TEXT_JS = """
async (markdown) => {
  const { renderMarkdownInto } = await import('/static/js/markdown.js');
  const div = document.createElement('div');
  renderMarkdownInto(div, markdown);
  return div.textContent;
}
"""


def rendered_text(page: Any, markdown: str) -> str:
    return page.evaluate(RENDER_TEXT_JS, markdown)


def reply_text(reply: Any) -> str:
    return reply.locator(".message-body").evaluate("el => el.textContent")
