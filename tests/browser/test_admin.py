"""The admin viewer (/admin): search, transcript details, JSONL export."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .helpers import conversation_id, open_chat, send_message, wait_until_done

pytestmark = pytest.mark.browser


def _make_conversation(page: Any, base_url: str, text: str) -> str:
    open_chat(page, base_url)
    reply = send_message(page, text)
    wait_until_done(reply)
    return conversation_id(page)


def test_admin_search_finds_a_message_by_its_text(page: Any, live_server: Any) -> None:
    word = f"quokka{uuid.uuid4().hex[:10]}"
    conv_id = _make_conversation(page, live_server.base_url, f"Have you ever met a {word}?")

    page.goto(f"{live_server.base_url}/admin")
    page.fill("#filter-q", word)
    page.press("#filter-q", "Enter")
    rows = page.locator("#conversation-rows tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", conv_id)
    expect(page.locator("#list-status")).to_have_text("1 conversation.")

    rows.first.locator("button").click()
    panel = page.locator("#transcript-panel")
    expect(panel).to_be_visible()
    user = panel.locator(".admin-message.role-user")
    assistant = panel.locator(".admin-message.role-assistant")
    expect(user).to_have_count(1)
    expect(user.locator(".message-body")).to_have_text(f"Have you ever met a {word}?")
    expect(assistant).to_have_count(1)
    # Status, finish_reason, usage and timing are shown for the reply.
    details = assistant.locator(".admin-message-details")
    expect(details).to_contain_text("finish")
    expect(details).to_contain_text("completion tokens")
    expect(details).to_contain_text("first token")
    expect(assistant.locator(".status-badge")).to_have_text("complete")

    # A search that matches nothing says so.
    page.fill("#filter-q", f"nothing-{uuid.uuid4().hex}")
    page.press("#filter-q", "Enter")
    expect(page.locator("#list-status")).to_have_text("No conversations match.")


def test_admin_export_downloads_jsonl(page: Any, live_server: Any) -> None:
    word = f"export{uuid.uuid4().hex[:10]}"
    conv_id = _make_conversation(page, live_server.base_url, f"Export me: {word}")
    page.goto(f"{live_server.base_url}/admin")
    with page.expect_download() as info:
        page.click("#export-button")
    download = info.value
    assert download.suggested_filename.endswith(".jsonl")
    text = Path(download.path()).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line]
    records = [json.loads(line) for line in lines]
    assert any(word in json.dumps(record) for record in records)
    assert any(conv_id in json.dumps(record) for record in records)
