"""The chat page's everyday flows, at desktop (1280x800) and phone (390x844) size, against a
live server with the demo model: the welcome screen and its example prompts, copy, code
highlighting, the details view, a failed reply's reason and Retry, the header and the
scroll position, jump to latest, the order of a reply when switching back to it mid-way,
the phone composer, sidebar search / date groups / running mark, the theme toggle.

One browser context and page for the module (a fresh one per test costs seconds);
screenshots go to test-artifacts/screenshots/ (gitignored)."""

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
    seed_conversation,
    send_message,
    shot,
    stored_conversation,
    wait_for_frames,
    wait_until_done,
    wait_until_streaming,
)

pytestmark = pytest.mark.browser
SIZES = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


def _size(viewport: dict[str, int]) -> str:
    return "desktop" if viewport == DESKTOP else "phone"


@pytest.fixture(scope="module")
def chat_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.add_init_script(OBSERVER_SCRIPT)
    yield context
    context.close()


@pytest.fixture
def page(chat_context: Any) -> Iterator[Any]:
    """A fresh page in the shared context (cheap), so socket routes don't leak between tests."""
    page = chat_context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert errors == []


@pytest.fixture(scope="module")
def long_conversation(live_server: Any) -> str:
    """Enough turns to overflow the screen at both sizes."""
    prompts = [
        "How do I reverse a list in Python?",
        "How do I make pancakes?",
        "What should I see in Tokyo?",
        "How do I read a file in Python?",
        "Tell me about penguins.",
    ]
    return seed_conversation(live_server.ws_url, prompts, "flows-long")


@SIZES
def test_welcome_example_prompt_copy_highlight_and_details(
    page: Any, live_server: Any, api: Any, viewport: dict[str, int], screenshot_dir: Path
) -> None:
    page.set_viewport_size(viewport)
    open_chat(page, live_server.base_url)
    welcome = page.locator("#welcome")
    expect(welcome).to_be_visible()
    expect(page.locator(".example-prompt")).to_have_count(6)
    shot(page, screenshot_dir, f"welcome-{_size(viewport)}")

    page.locator(".example-prompt", has_text="reverse a list in Python").click()
    reply = page.locator(".message.assistant").last
    wait_until_done(reply)
    expect(welcome).to_be_hidden()
    stored = stored_conversation(api, conversation_id(page))["messages"][-1]
    assert stored["status"] == "complete"
    assert reply_text(reply) == rendered_text(page, stored["content"])
    # The demo's own example reads right at its default sampling.
    assert "[::-1]" in stored["content"]

    # Code: highlighted, labelled with its language, with its own Copy.
    block = reply.locator(".code-block")
    expect(block.locator(".code-language")).to_have_text("Python")
    expect(block.locator("code.hljs .hljs-number").first).to_be_visible()
    # No token counts for end users; they are in Details.
    expect(reply.locator(".message-state")).to_have_text("")
    details = reply.locator(".message-details")
    expect(details.locator("dl")).to_be_hidden()
    details.locator("summary").click()
    expect(details.locator("dl")).to_contain_text("tokens")
    expect(details.locator("dl")).to_contain_text("first token")

    reply.locator(".copy-message").click()
    expect(reply.locator(".copy-message")).to_have_attribute("data-copied", "Copied")
    assert page.evaluate("navigator.clipboard.readText()") == stored["content"]
    shot(page, screenshot_dir, f"reply-details-{_size(viewport)}")


@SIZES
def test_failed_reply_shows_its_reason_and_retry_sends_again(
    page: Any, live_server: Any, api: Any, viewport: dict[str, int], screenshot_dir: Path
) -> None:
    """The server's `end.error` (played here by rewriting the first `end`) is shown in
    words with a Retry button; Retry asks again and the new reply completes."""
    state = {"failed": None}

    def fail_first_end(frame: dict[str, Any]) -> dict[str, Any] | None:
        if frame.get("type") == "end" and state["failed"] is None:
            state["failed"] = frame["reply_id"]
            return {
                **frame,
                "finish_reason": "error",
                "error": {
                    "code": "overloaded",
                    "message": "the engine refused the reply",
                    "retry_after_ms": 1000,
                },
            }
        return None

    route_socket(page, rewrite=fail_first_end)
    page.set_viewport_size(viewport)
    open_chat(page, live_server.base_url)
    reply = send_message(page, "Tell me a joke.")
    wait_until_done(reply)
    expect(reply).to_have_attribute("data-status", "error")
    failure = reply.locator(".reply-failure")
    expect(failure).to_contain_text("This reply failed: The server is busy right now")
    expect(reply.locator(".message-state")).to_have_text("failed")
    shot(page, screenshot_dir, f"failed-reply-{_size(viewport)}")

    failure.locator(".retry-reply").click()
    # Without the server's message tree Retry sends the question again; with it, it is a
    # regenerate (test_branches.py): either way a new reply takes the failed one's place.
    retried = page.locator(".message.assistant").last
    expect(retried).not_to_have_attribute("data-reply-id", state["failed"])
    expect(retried).to_have_attribute("data-reply-id", re.compile(".+"))
    wait_until_done(retried)
    expect(retried).to_have_attribute("data-status", "complete")
    messages = stored_conversation(api, conversation_id(page))["messages"]
    assert messages[-1]["status"] == "complete"


@SIZES
def test_older_chat_opens_at_its_end_header_keeps_its_height_and_jump_to_latest(
    page: Any,
    live_server: Any,
    long_conversation: str,
    viewport: dict[str, int],
    screenshot_dir: Path,
) -> None:
    page.set_viewport_size(viewport)
    open_chat(page, live_server.base_url)
    header = page.locator("#conversation-title")
    empty_height = header.bounding_box()["height"]
    assert empty_height >= 40

    page.goto(f"{live_server.base_url}/#c={long_conversation}")
    expect(page.locator(".message.assistant[aria-busy='false']")).to_have_count(5)
    scroller = page.locator("#transcript-scroll")
    at_end = "el => Math.abs(el.scrollHeight - el.clientHeight - el.scrollTop) < 2"
    assert scroller.evaluate("el => el.scrollHeight > el.clientHeight + 100")
    assert scroller.evaluate(at_end)
    assert header.bounding_box()["height"] == empty_height  # not squeezed by the transcript
    jump = page.locator("#jump-to-latest")
    expect(jump).to_be_hidden()

    scroller.evaluate("el => el.scrollTo({ top: 0 })")
    expect(jump).to_be_visible()
    shot(page, screenshot_dir, f"jump-to-latest-{_size(viewport)}")
    jump.click()
    expect(jump).to_be_hidden()
    page.wait_for_function(
        "() => { const el = document.getElementById('transcript-scroll');"
        " return Math.abs(el.scrollHeight - el.clientHeight - el.scrollTop) < 2; }"
    )


def test_a_reply_stays_below_its_question_when_switching_back_mid_reply(
    page: Any, live_server: Any, api: Any, screenshot_dir: Path
) -> None:
    """The history request of the conversation is held until more tokens have arrived:
    the live reply must still be drawn after its question, with all of its text."""
    received: list[dict[str, Any]] = []
    route_socket(page, received=received, long_replies=True)
    open_chat(page, live_server.base_url)
    page.click("#settings-toggle")
    page.fill("#setting-max-tokens", "300")
    page.locator("#setting-max-tokens").dispatch_event("change")
    page.click("#settings-toggle")
    reply = send_message(page, "Tell me a long story about a lighthouse.")
    wait_until_streaming(reply)
    conv_id = conversation_id(page)
    reply_id = reply.get_attribute("data-reply-id")

    held: list[tuple[Any, Any]] = []

    def hold(route: Any) -> None:
        held.append((route, route.fetch()))

    page.route(re.compile(rf"/api/conversations/{conv_id}$"), hold)
    page.click("#new-conversation")
    page.locator(f".conversation-item[data-id='{conv_id}'] .conversation-open").click()
    wait_for_frames(page, held, lambda _: True)  # the history was read (and is held)
    tokens_before = sum(1 for f in received if f.get("type") == "token")
    wait_for_frames(page, received, lambda f: f.get("type") == "token", tokens_before + 3)
    route, response = held[0]
    route.fulfill(response=response)  # stale history: older than the tokens since
    page.unroute(re.compile(rf"/api/conversations/{conv_id}$"))

    live = page.locator(f".message.assistant[data-reply-id='{reply_id}']")
    wait_until_done(live)
    roles = page.locator("#transcript .message").evaluate_all("els => els.map(e => e.dataset.role)")
    assert roles == ["user", "assistant"]
    stored = stored_conversation(api, conv_id)["messages"][-1]
    assert reply_text(live) == rendered_text(page, stored["content"])
    shot(page, screenshot_dir, "reply-order-desktop")


def test_phone_composer_enter_is_a_newline_send_on_the_same_row_tap_targets(
    page: Any, live_server: Any, screenshot_dir: Path
) -> None:
    page.set_viewport_size(PHONE)
    open_chat(page, live_server.base_url)
    box = page.locator("#composer-input")
    expect(box).to_have_attribute("placeholder", "Message")
    box.fill("first line")
    box.press("Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(page.locator(".message")).to_have_count(0)
    send = page.locator("#send-button")
    send_box, input_box = send.bounding_box(), box.bounding_box()
    assert send_box["y"] < input_box["y"] + input_box["height"]  # beside the text, not below
    assert min(send_box["height"], send_box["width"]) >= 44
    for selector in ("#drawer-toggle", "#settings-toggle", "#theme-toggle"):
        size = page.locator(selector).bounding_box()
        assert min(size["height"], size["width"]) >= 44, selector
    shot(page, screenshot_dir, "composer-phone")
    send.click()
    reply = page.locator(".message.assistant").last
    wait_until_done(reply)
    expect(page.locator(".message.user .message-body")).to_have_text("first line\nsecond line")
    details = reply.locator(".message-details summary")
    expect(details).to_have_count(1)
    assert details.bounding_box()["height"] >= 44  # a disclosure is a tap target too
    # On a desktop, Enter sends again and the placeholder says so.
    page.set_viewport_size(DESKTOP)
    expect(box).to_have_attribute("placeholder", re.compile("Enter to send"))


def test_sidebar_search_date_groups_running_mark_and_theme(
    page: Any, live_server: Any, screenshot_dir: Path
) -> None:
    route_socket(page, long_replies=True)
    open_chat(page, live_server.base_url)
    reply = send_message(page, "Write a long tale about a penguin named Pim.")
    wait_until_streaming(reply)
    conv_id = conversation_id(page)
    row = page.locator(f".conversation-item[data-id='{conv_id}']")
    expect(row).to_have_class(re.compile(r"\brunning\b"))
    expect(page.locator(".group-heading").first).to_have_text("Today")
    expect(row.locator(".conversation-date")).to_contain_text("message")
    shot(page, screenshot_dir, "sidebar-running-desktop")
    page.click("#stop-button")
    wait_until_done(reply)
    expect(row).not_to_have_class(re.compile(r"\brunning\b"))

    search = page.locator("#conversation-filter")
    search.fill("penguin named Pim")
    expect(page.locator(".conversation-item")).to_have_count(1)
    search.fill("no title has these words zzz")
    expect(page.locator("#conversation-filter-empty")).to_be_visible()
    search.fill("")
    expect(page.locator(".conversation-item").first).to_be_visible()

    html = page.locator("html")
    toggle = page.locator("#theme-toggle")
    toggle.click()
    expect(html).to_have_attribute("data-theme", "light")
    toggle.click()
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")  # applied before the first paint
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    shot(page, screenshot_dir, "chat-dark-desktop")
    page.set_viewport_size(PHONE)
    shot(page, screenshot_dir, "chat-dark-phone")
    page.locator("#theme-toggle").click()
    expect(html).not_to_have_attribute("data-theme", re.compile(".+"))  # back to the OS
