"""Conversations people can steer (the server's message tree, docs/protocol.md
"Conversation trees"): regenerate a reply, edit a sent message, switch branches with
‹ 2/2 ›, Retry of a failed reply as a regenerate, and a reload in the middle of a reply on a
branch. Desktop and phone sizes; screenshots in test-artifacts/screenshots/.

Skipped, with the reason, against a server without the tree (its history has no
`active_leaf_id`)."""

from __future__ import annotations

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
    set_generation_settings,
    shot,
    stored_conversation,
    wait_until_done,
    wait_until_streaming,
)

pytestmark = pytest.mark.browser
SIZES = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture(scope="module")
def tree_server(live_server: Any) -> Any:
    import httpx

    conv_id = seed_conversation(live_server.ws_url, ["Hello!"], "tree-probe")
    with httpx.Client(base_url=live_server.base_url, timeout=30) as http:
        if "active_leaf_id" not in http.get(f"/api/conversations/{conv_id}").json():
            pytest.skip("this server has no message tree (regenerate, edit, branches)")
    return live_server


@pytest.fixture(scope="module")
def tree_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(OBSERVER_SCRIPT)
    yield context
    context.close()


@pytest.fixture
def page(tree_context: Any) -> Iterator[Any]:
    page = tree_context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert errors == []


def _size(viewport: dict[str, int]) -> str:
    return "desktop" if viewport == DESKTOP else "phone"


def _done_replies(page: Any, count: int) -> None:
    expect(page.locator(".message.assistant[aria-busy='false']")).to_have_count(count)


@SIZES
def test_regenerate_edit_and_switch_branches(
    page: Any, tree_server: Any, api: Any, viewport: dict[str, int], screenshot_dir: Path
) -> None:
    page.set_viewport_size(viewport)
    open_chat(page, tree_server.base_url)
    first = send_message(page, "Tell me a joke.")
    wait_until_done(first)
    conv_id = conversation_id(page)
    first_id = first.get_attribute("data-reply-id")

    # Regenerate: a second reply to the same question, shown as version 2/2. A double
    # click sends one turn (a second would be refused while the first streams).
    first.locator(".regenerate-reply").dblclick()
    second = page.locator(".message.assistant")
    expect(second).to_have_count(1)
    expect(second.locator(".branch-position")).to_have_text("2/2")
    wait_until_done(second)
    expect(page.locator(".error-item")).to_have_count(0)
    second_id = second.get_attribute("data-reply-id")
    assert second_id != first_id
    stored = stored_conversation(api, conv_id)
    assert stored["active_leaf_id"] == second_id
    assert stored["messages"][-1]["sibling_ids"] == [first_id, second_id]
    assert reply_text(second) == rendered_text(page, stored["messages"][-1]["content"])
    expect(page.locator(".message.user")).to_have_count(1)  # no new question
    shot(page, screenshot_dir, f"regenerated-{_size(viewport)}")

    # Back to version 1, and forward again; from the keyboard, focus stays on the switcher
    # of the redrawn message (at an end, on the other arrow).
    second.locator(".branch-prev").focus()
    page.keyboard.press("Enter")
    expect(page.locator(f".message.assistant[data-reply-id='{first_id}']")).to_be_visible()
    expect(page.locator(".message.assistant .branch-position")).to_have_text("1/2")
    expect(page.locator(".message.assistant .branch-next")).to_be_focused()
    assert stored_conversation(api, conv_id)["active_leaf_id"] == first_id
    page.keyboard.press("Enter")
    expect(page.locator(f".message.assistant[data-reply-id='{second_id}']")).to_be_visible()
    expect(page.locator(".message.assistant .branch-prev")).to_be_focused()

    # Edit the question: a sibling user message with its own reply. Escape gives the
    # keyboard back to Edit.
    user = page.locator(".message.user")
    user.locator(".edit-message").click()
    page.keyboard.press("Escape")
    expect(user.locator(".edit-message")).to_be_focused()
    user.locator(".edit-message").click()
    page.fill(".edit-input", "Tell me about penguins.")
    page.click(".edit-save")
    expect(page.locator(".message.user .branch-position")).to_have_text("2/2")
    expect(page.locator(".message.user .message-body")).to_have_text("Tell me about penguins.")
    edited = page.locator(".message.assistant")
    wait_until_done(edited)
    expect(edited.locator(".branch-position")).to_have_count(0)  # its only reply
    shot(page, screenshot_dir, f"edited-{_size(viewport)}")
    # The first question and both of its replies are still there.
    page.locator(".message.user .branch-prev").click()
    expect(page.locator(".message.user .message-body")).to_have_text("Tell me a joke.")
    expect(page.locator(".message.assistant .branch-position")).to_have_text("2/2")
    tree = stored_conversation(api, conv_id)["tree"]
    assert [m["role"] for m in tree].count("user") == 2
    assert [m["role"] for m in tree].count("assistant") == 3


@SIZES
def test_failed_reply_retry_is_a_regenerate(
    page: Any, tree_server: Any, api: Any, viewport: dict[str, int], screenshot_dir: Path
) -> None:
    state: dict[str, Any] = {"failed": None}
    sent: list[dict[str, Any]] = []

    def fail_first_end(frame: dict[str, Any]) -> dict[str, Any] | None:
        if frame.get("type") == "end" and state["failed"] is None:
            state["failed"] = frame["reply_id"]
            return {
                **frame,
                "finish_reason": "error",
                "error": {"code": "internal", "message": "boom"},
            }
        return None

    route_socket(page, sent=sent, rewrite=fail_first_end)
    page.set_viewport_size(viewport)
    open_chat(page, tree_server.base_url)
    reply = send_message(page, "How do I make pancakes?")
    wait_until_done(reply)
    expect(reply.locator(".reply-failure")).to_contain_text("Something went wrong on the server")
    reply.locator(".retry-reply").click()
    retried = page.locator(".message.assistant")
    expect(retried.locator(".branch-position")).to_have_text("2/2")
    wait_until_done(retried)
    expect(retried).to_have_attribute("data-status", "complete")
    assert any(f["type"] == "regenerate" for f in sent)
    expect(page.locator(".message.user")).to_have_count(1)
    shot(page, screenshot_dir, f"retry-as-regenerate-{_size(viewport)}")


@SIZES
def test_reload_mid_reply_on_a_branch(
    page: Any, tree_server: Any, api: Any, viewport: dict[str, int]
) -> None:
    sent: list[dict[str, Any]] = []
    route_socket(page, sent=sent, long_replies=True)
    page.set_viewport_size(viewport)
    open_chat(page, tree_server.base_url)
    set_generation_settings(page, max_tokens=8)
    first = send_message(page, "Tell me about owls.")
    wait_until_done(first)
    set_generation_settings(page, max_tokens=512)
    first.locator(".regenerate-reply").click()
    branch = page.locator(".message.assistant")
    expect(branch.locator(".branch-position")).to_have_text("2/2")
    wait_until_streaming(branch)
    reply_id = branch.get_attribute("data-reply-id")
    conv_id = conversation_id(page)

    # The demo model is fast: the reply may finish before the reload has; the resume is
    # checked when the store still said "streaming" as the page went away.
    streaming_at_reload = stored_conversation(api, conv_id)["messages"][-1]["status"] == "streaming"
    page.reload()
    resumed = page.locator(f".message.assistant[data-reply-id='{reply_id}']")
    wait_until_done(resumed)
    expect(resumed.locator(".branch-position")).to_have_text("2/2")
    if streaming_at_reload:
        assert {"type": "resume", "reply_id": reply_id, "last_seq": 0} in sent
    stored = stored_conversation(api, conv_id)["messages"][-1]
    assert stored["id"] == reply_id
    assert stored["usage"]["completion_tokens"] == 512
    assert reply_text(resumed) == rendered_text(page, stored["content"])
    _done_replies(page, 1)
    page.click("#settings-toggle")
    page.click("#settings-reset")  # the context (and its localStorage) is shared
