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
    if (page.viewport_size or {}).get("width", 1280) <= 760:
        page.click("#send-button")  # on a phone Enter is a newline
    else:
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


def route_socket(
    page: Any,
    *,
    sent: list[dict[str, Any]] | None = None,
    received: list[dict[str, Any]] | None = None,
    long_replies: bool = False,
    rewrite: Any = None,
) -> None:
    """Forward the page's /ws through a Playwright route that records frames both ways.
    `long_replies` adds the server's documented `params.ignore_eos` extension to every
    turn, so the demo model cannot end a reply before the test acts on it; `rewrite(frame)`
    may replace a server frame (or return None to pass it unchanged). The page code is
    unchanged."""
    import json

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if sent is not None:
                sent.append(frame)
            if long_replies and frame.get("type") in ("chat", "regenerate", "edit"):
                frame = {**frame, "params": {**frame.get("params", {}), "ignore_eos": True}}
            server.send(json.dumps(frame))

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if received is not None:
                received.append(frame)
            replaced = rewrite(frame) if rewrite else None
            ws.send(json.dumps(replaced) if replaced is not None else message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws$"), route)


def wait_for_frames(
    page: Any, frames: list[dict[str, Any]], predicate: Any, count: int = 1
) -> None:
    """Let Playwright dispatch events until `count` recorded frames match `predicate`
    (bounded: 30 s). The short waits only hand control to Playwright's event loop."""
    for _ in range(1500):
        if sum(1 for f in frames if predicate(f)) >= count:
            return
        page.wait_for_timeout(20)
    raise AssertionError(f"fewer than {count} matching frames within 30 s")


def shot(page: Any, directory: Any, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), animations="disabled", caret="hide")


def seed_conversation(ws_url: str, prompts: list[str], tag: str) -> str:
    """A finished conversation made over a real WebSocket; returns its id."""
    import json

    from websockets.sync.client import connect

    conv_id: str | None = None
    with connect(ws_url, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        for index, prompt in enumerate(prompts):
            frame: dict[str, Any] = {
                "type": "chat",
                "client_msg_id": f"{tag}-{index}",
                "content": prompt,
            }
            if conv_id:
                frame["conversation_id"] = conv_id
            ws.send(json.dumps(frame))
            while True:
                got = json.loads(ws.recv(timeout=90))
                assert got["type"] != "error", got
                if got["type"] == "accepted":
                    conv_id = got["conversation_id"]
                elif got["type"] == "end":
                    break
    assert conv_id
    return conv_id
