"""The chat page (/) against a live server: streaming, stop, reload, offline, idempotent
re-send, conversation management."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from .helpers import (
    conversation_id,
    open_chat,
    rendered_text,
    reply_text,
    send_message,
    set_generation_settings,
    stored_conversation,
    stored_reply,
    wait_until_done,
    wait_until_streaming,
)

pytestmark = pytest.mark.browser


def _assert_matches_store(page: Any, api: Any, reply: Any) -> dict[str, Any]:
    """The text on screen is exactly the stored reply: nothing missing, nothing repeated."""
    conv_id = conversation_id(page)
    reply_id = reply.get_attribute("data-reply-id")
    stored = stored_reply(api, conv_id, reply_id)
    assert stored["status"] != "streaming"
    assert reply_text(reply) == rendered_text(page, stored["content"])
    return stored


def test_send_message_and_reply_streams_in(page: Any, live_server: Any, api: Any) -> None:
    token_frames: list[dict[str, Any]] = []

    def watch(ws: Any) -> None:
        def on_frame(payload: str | bytes) -> None:
            frame = json.loads(payload)
            if frame.get("type") == "token":
                token_frames.append(frame)

        ws.on("framereceived", on_frame)

    page.on("websocket", watch)
    open_chat(page, live_server.base_url)
    reply = send_message(page, "Hello! Tell me about tickers.")

    user = page.locator(".message.user").last
    expect(user.locator(".message-body")).to_have_text("Hello! Tell me about tickers.")
    wait_until_streaming(reply)
    wait_until_done(reply)

    stored = _assert_matches_store(page, api, reply)
    assert stored["content"], "the demo model produced an empty reply"
    # It arrived as token frames numbered 1..n, and their texts make up the stored reply.
    mine = [f for f in token_frames if f["reply_id"] == reply.get_attribute("data-reply-id")]
    assert [f["seq"] for f in mine] == list(range(1, len(mine) + 1))
    assert "".join(f["text"] for f in mine) == stored["content"]
    # The new conversation is in the list and selected.
    expect(page.locator(".conversation-open[aria-current='true']")).to_have_count(1)
    expect(page.locator("#send-button")).to_be_enabled()


def _record_and_force_long_replies(
    page: Any, sent: list[dict[str, Any]], received: list[dict[str, Any]]
) -> None:
    """Forward /ws through a Playwright route that records frames both ways and adds the
    server's documented `params.ignore_eos` extension to chats, so the demo model cannot
    end a reply before the test has had a chance to act on it."""

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            sent.append(frame)
            if frame.get("type") == "chat":
                frame = {**frame, "params": {**frame.get("params", {}), "ignore_eos": True}}
            server.send(json.dumps(frame))

        def from_server(message: str | bytes) -> None:
            received.append(json.loads(message))
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws$"), route)


def test_stop_mid_reply(page: Any, live_server: Any, api: Any) -> None:
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []
    _record_and_force_long_replies(page, sent, received)
    open_chat(page, live_server.base_url)
    set_generation_settings(page, max_tokens=512, temperature=1.0)
    reply = send_message(page, "Write a very long story about a lighthouse keeper.")
    wait_until_streaming(reply)
    expect(page.locator("#stop-button")).to_be_visible()
    page.click("#stop-button")
    wait_until_done(reply)

    reply_id = reply.get_attribute("data-reply-id")
    chat_frames = [f for f in sent if f["type"] == "chat"]
    assert chat_frames[-1]["params"] == {"max_tokens": 512, "temperature": 1.0}
    assert {"type": "stop", "reply_id": reply_id} in sent
    end = next(f for f in received if f["type"] == "end" and f["reply_id"] == reply_id)
    assert end["finish_reason"] == "stopped"
    assert end["seq"] < 512
    expect(reply).to_have_attribute("data-status", "stopped")
    stored = _assert_matches_store(page, api, reply)
    assert stored["status"] == "stopped"
    assert stored["finish_reason"] == "stopped"
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#send-button")).to_be_enabled()
    # Settings survive a reload (localStorage).
    page.reload()
    page.click("#settings-toggle")
    expect(page.locator("#setting-max-tokens")).to_have_value("512")
    expect(page.locator("#setting-temperature")).to_have_value("1")


def test_reload_mid_reply_completes(page: Any, live_server: Any, api: Any) -> None:
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []
    _record_and_force_long_replies(page, sent, received)
    open_chat(page, live_server.base_url)
    set_generation_settings(page, max_tokens=400)
    reply = send_message(page, "Explain how a ticker tape machine works, in detail.")
    wait_until_streaming(reply)
    conv_id = conversation_id(page)
    reply_id = reply.get_attribute("data-reply-id")

    page.reload()
    assert conversation_id(page) == conv_id
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    resumed = page.locator(f".message.assistant[data-reply-id='{reply_id}']")
    wait_until_done(resumed)
    # The history said "streaming", so the reloaded page followed it from the start.
    assert {"type": "resume", "reply_id": reply_id, "last_seq": 0} in sent
    stored = _assert_matches_store(page, api, resumed)
    assert stored["usage"]["completion_tokens"] == 400
    expect(page.locator(".message.user")).to_have_count(1)


def test_offline_mid_reply_resumes_without_gaps(
    page: Any, context: Any, live_server: Any, api: Any
) -> None:
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []
    _record_and_force_long_replies(page, sent, received)
    open_chat(page, live_server.base_url)
    set_generation_settings(page, max_tokens=400)
    reply = send_message(page, "Tell me a long tale about stock markets and telegraphs.")
    wait_until_streaming(reply)
    status = page.locator("#connection-status")

    context.set_offline(True)
    expect(status).to_have_attribute("data-state", re.compile(r"^(offline|reconnecting)$"))
    context.set_offline(False)
    expect(status).to_have_attribute("data-state", "open")

    wait_until_done(reply)
    reply_id = reply.get_attribute("data-reply-id")
    resumes = [f for f in sent if f["type"] == "resume" and f["reply_id"] == reply_id]
    assert resumes, "the reply was not resumed after the network came back"
    assert resumes[0]["last_seq"] >= 1
    stored = _assert_matches_store(page, api, reply)
    assert stored["usage"]["completion_tokens"] == 400
    expect(page.locator(".message.user")).to_have_count(1)


def test_unacknowledged_chat_is_resent_with_the_same_id(
    page: Any, live_server: Any, api: Any
) -> None:
    """The first `accepted` is lost with its connection: the client must re-send the chat
    with the same client_msg_id after reconnecting, and the server must not store it twice."""
    chats_sent: list[dict[str, Any]] = []
    state = {"dropped": False}

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "chat":
                chats_sent.append(frame)
            server.send(message)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "accepted" and not state["dropped"]:
                state["dropped"] = True
                ws.close(code=1011, reason="test: connection lost before accepted")
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws$"), route)
    open_chat(page, live_server.base_url)
    content = "Idempotency check: please answer briefly."
    reply = send_message(page, content)
    wait_until_done(reply)

    assert state["dropped"]
    assert len(chats_sent) >= 2
    assert len({c["client_msg_id"] for c in chats_sent}) == 1
    conv = stored_conversation(api, conversation_id(page))
    assert [m["content"] for m in conv["messages"] if m["role"] == "user"] == [content]
    _assert_matches_store(page, api, reply)


def test_rename_and_delete_conversation(page: Any, live_server: Any, api: Any) -> None:
    open_chat(page, live_server.base_url)
    reply = send_message(page, "A conversation to rename and delete.")
    wait_until_done(reply)
    conv_id = conversation_id(page)
    row = page.locator(f".conversation-item[data-id='{conv_id}']")
    expect(row).to_be_visible()

    row.locator(".rename-conversation").click()
    page.fill(".rename-input", "Renamed by the browser test")
    page.press(".rename-input", "Enter")
    expect(row.locator(".conversation-title-text")).to_have_text("Renamed by the browser test")
    expect(page.locator("#conversation-title")).to_have_text("Renamed by the browser test")
    assert stored_conversation(api, conv_id)["title"] == "Renamed by the browser test"

    # Delete hides it at once with an Undo; Undo brings it back, nothing was deleted.
    row.locator(".delete-conversation").click()
    expect(row).to_have_count(0)
    expect(page.locator("#conversation-title")).to_have_text("New conversation")
    page.locator("#undo-bar .undo-button").click()
    expect(row).to_be_visible()
    expect(page.locator("#conversation-title")).to_have_text("Renamed by the browser test")
    assert api.get(f"/api/conversations/{conv_id}").status_code == 200
    # Deleted for good when the undo window (6 s) closes.
    with page.expect_response(
        lambda r: r.request.method == "DELETE" and conv_id in r.url, timeout=15_000
    ) as deleted:
        row.locator(".delete-conversation").click()
        expect(row).to_have_count(0)
        expect(page.locator("#undo-bar .undo-button")).to_be_visible()
    assert deleted.value.status == 204
    expect(page.locator("#undo-bar .undo-button")).to_be_hidden()
    assert api.get(f"/api/conversations/{conv_id}").status_code == 404


def test_shift_enter_is_a_newline_and_history_loads(page: Any, live_server: Any, api: Any) -> None:
    open_chat(page, live_server.base_url)
    page.fill("#composer-input", "first line")
    page.press("#composer-input", "Shift+Enter")
    page.keyboard.type("second line")
    expect(page.locator("#composer-input")).to_have_value("first line\nsecond line")
    page.press("#composer-input", "Enter")
    reply = page.locator(".message.assistant").last
    wait_until_done(reply)
    conv_id = conversation_id(page)

    # Open it fresh from the list: the history comes from GET /api/conversations/{id}.
    page.click("#new-conversation")
    expect(page.locator(".message")).to_have_count(0)
    page.locator(f".conversation-item[data-id='{conv_id}'] .conversation-open").click()
    expect(page.locator(".message.user .message-body")).to_have_text("first line\nsecond line")
    expect(page.locator(".message.assistant")).to_have_count(1)
    _assert_matches_store(page, api, page.locator(".message.assistant").last)
