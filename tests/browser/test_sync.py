"""Two browser pages of one user stay in sync through the server's notices
(docs/protocol.md "Notices"): a turn sent on one shows up and streams live on the other, a
rename and a deletion reach the other page, and a page that was offline catches up when
it reconnects. Desktop and phone sizes; screenshots in test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, OBSERVER_SCRIPT, PHONE
from .helpers import (
    conversation_id,
    open_chat,
    rendered_text,
    reply_text,
    route_socket,
    send_message,
    shot,
    stored_conversation,
    wait_until_done,
    wait_until_streaming,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def two_pages(browser: Any, request: Any) -> Iterator[tuple[Any, Any, Any]]:
    """Page A and page B of the same user (auth "none": both are `local`), in separate
    contexts so that B alone can go offline."""
    viewport = getattr(request, "param", DESKTOP)
    contexts = [browser.new_context(viewport=viewport) for _ in range(2)]
    pages = []
    for context in contexts:
        context.add_init_script(OBSERVER_SCRIPT)
        page = context.new_page()
        page.set_default_timeout(30_000)
        pages.append(page)
    yield pages[0], pages[1], contexts[1]
    for context in contexts:
        context.close()


@pytest.mark.parametrize("two_pages", [DESKTOP, PHONE], ids=["desktop", "phone"], indirect=True)
def test_a_turn_sent_on_one_page_streams_live_on_the_other(
    two_pages: tuple[Any, Any, Any], live_server: Any, api: Any, screenshot_dir: Path
) -> None:
    page_a, page_b, _ = two_pages
    size = "phone" if page_a.viewport_size["width"] < 760 else "desktop"
    route_socket(page_a, long_replies=True)  # long enough for B to see it stream
    open_chat(page_a, live_server.base_url)
    first = send_message(page_a, "Hello! Tell me about owls.")
    wait_until_streaming(first)
    conv_id = conversation_id(page_a)
    page_a.click("#stop-button")
    wait_until_done(first)

    # B opens the same conversation, then A sends the next message there.
    open_chat(page_b, live_server.base_url, f"#c={conv_id}")
    expect(page_b.locator(".message.assistant[aria-busy='false']")).to_have_count(1)
    second = send_message(page_a, "And what about penguins?")
    wait_until_streaming(second)
    reply_id = second.get_attribute("data-reply-id")

    live = page_b.locator(f".message.assistant[data-reply-id='{reply_id}']")
    wait_until_streaming(live)  # B follows it live (turn_started, then resume)
    expect(page_b.locator(".message.user .message-body").last).to_have_text(
        "And what about penguins?"
    )
    expect(page_b.locator("#send-button")).to_be_disabled()  # one reply in flight there too
    if size == "desktop":
        expect(page_b.locator(f".conversation-item[data-id='{conv_id}']")).to_have_class(
            re.compile(r"\brunning\b")
        )
    shot(page_b, screenshot_dir, f"sync-live-{size}")
    page_a.click("#stop-button")
    wait_until_done(second)
    wait_until_done(live)
    stored = stored_conversation(api, conv_id)["messages"][-1]
    assert reply_text(live) == rendered_text(page_b, stored["content"])
    roles = page_b.locator("#transcript .message").evaluate_all(
        "els => els.map(e => e.dataset.role)"
    )
    assert roles == ["user", "assistant", "user", "assistant"]
    expect(page_b.locator("#send-button")).to_be_enabled()

    # B can send next: it knows the conversation is free again (no "not sent").
    third = send_message(page_b, "Thank you!")
    wait_until_done(third)
    expect(page_b.locator(".message.user.failed")).to_have_count(0)


def test_rename_delete_and_catch_up_after_offline(
    two_pages: tuple[Any, Any, Any], live_server: Any, screenshot_dir: Path
) -> None:
    page_a, page_b, context_b = two_pages
    open_chat(page_a, live_server.base_url)
    reply = send_message(page_a, "A conversation to rename from the other page.")
    wait_until_done(reply)
    conv_id = conversation_id(page_a)
    open_chat(page_b, live_server.base_url, f"#c={conv_id}")
    expect(page_b.locator(".message.assistant[aria-busy='false']")).to_have_count(1)

    row_a = page_a.locator(f".conversation-item[data-id='{conv_id}']")
    row_a.locator(".rename-conversation").click()
    page_a.fill(".rename-input", "Renamed on page A")
    page_a.press(".rename-input", "Enter")
    expect(page_b.locator("#conversation-title")).to_have_text("Renamed on page A")
    expect(
        page_b.locator(f".conversation-item[data-id='{conv_id}'] .conversation-title-text")
    ).to_have_text("Renamed on page A")

    # B goes offline; meanwhile A adds a turn there and starts a new conversation.
    context_b.set_offline(True)
    expect(page_b.locator("#connection-status")).to_have_attribute(
        "data-state", re.compile(r"^(offline|reconnecting)$")
    )
    missed = send_message(page_a, "Sent while the other page was offline.")
    wait_until_done(missed)
    page_a.click("#new-conversation")
    fresh = send_message(page_a, "A brand new conversation from page A.")
    wait_until_done(fresh)
    new_id = conversation_id(page_a)
    context_b.set_offline(False)
    expect(page_b.locator("#connection-status")).to_have_attribute("data-state", "open")
    # Caught up: the open conversation shows the missed turn, the list the new one.
    expect(page_b.locator(".message.user .message-body").last).to_have_text(
        "Sent while the other page was offline."
    )
    expect(page_b.locator(f".conversation-item[data-id='{new_id}']")).to_be_visible()
    shot(page_b, screenshot_dir, "sync-caught-up-desktop")

    # A deletes the conversation B has open (the DELETE goes out when Undo expires).
    page_a.locator(f".conversation-item[data-id='{conv_id}'] .conversation-open").click()
    page_a.locator(f".conversation-item[data-id='{conv_id}'] .delete-conversation").click()
    expect(page_b.locator("#conversation-title")).to_have_text("New conversation", timeout=20_000)
    expect(page_b.locator("#errors")).to_contain_text("deleted in another tab")
    expect(page_b.locator(f".conversation-item[data-id='{conv_id}']")).to_have_count(0)
