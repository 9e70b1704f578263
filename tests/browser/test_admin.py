"""The admin viewer (/admin): search (hits marked), transcript details, a URL per transcript,
the failed-only filter with error reasons and sampling, exports (JSONL, CSV, Markdown; the
current filter or one conversation)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE
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


def test_admin_marks_search_hits_and_gives_each_transcript_a_url(
    page: Any, live_server: Any, screenshot_dir: Path
) -> None:
    word = f"wombat{uuid.uuid4().hex[:8]}"
    conv_id = _make_conversation(page, live_server.base_url, f"Tell me about the {word}, please.")
    page.goto(f"{live_server.base_url}/admin")
    page.fill("#filter-q", word)
    page.press("#filter-q", "Enter")
    page.locator(f"#conversation-rows tr[data-id='{conv_id}'] button").click()
    expect(page).to_have_url(re.compile(rf"/admin#c={conv_id}$"))
    expect(page.locator("#admin-messages mark")).to_have_text([word])
    page.screenshot(
        path=str(screenshot_dir / "admin-search-hit-desktop.png"), animations="disabled"
    )

    # The URL opens the transcript by itself; Back closes it.
    page.goto(f"{live_server.base_url}/admin#c={conv_id}")
    expect(page.locator("#transcript-panel")).to_be_visible()
    expect(page.locator("#admin-messages .admin-message")).to_have_count(2)
    page.click("#close-transcript")
    expect(page.locator("#transcript-panel")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/admin$"))
    page.go_back()
    expect(page.locator("#transcript-panel")).to_be_visible()


def _has_tree(live_server: Any, conv_id: str) -> bool:
    import httpx

    with httpx.Client(base_url=live_server.base_url, timeout=30) as http:
        return "active_leaf_id" in http.get(f"/api/conversations/{conv_id}").json()


def _mark_reply_failed(live_server: Any, reply_id: str, code: str, message: str) -> None:
    """A reply that failed, as the store keeps it (a real failure cannot be provoked from
    outside with the demo model): written into the server's SQLite file."""
    import sqlite3
    from contextlib import closing

    url = live_server.args[live_server.args.index("--database-url") + 1]
    with closing(sqlite3.connect(url.split("///", 1)[1])) as db, db:
        db.execute(
            "UPDATE messages SET status = 'error', finish_reason = 'error',"
            " error_code = ?, error = ? WHERE id = ?",
            (code, message, reply_id),
        )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_admin_failed_only_filter_reasons_sampling_and_exports(
    page: Any, live_server: Any, viewport: dict[str, int], screenshot_dir: Path
) -> None:
    word = f"failing{uuid.uuid4().hex[:8]}"
    failed_id = _make_conversation(page, live_server.base_url, f"First {word} question.")
    if not _has_tree(live_server, failed_id):
        pytest.skip("this server has no status filter, per-message errors or export formats yet")
    reply_id = page.locator(".message.assistant").last.get_attribute("data-reply-id")
    ok_id = _make_conversation(page, live_server.base_url, f"Second {word} question.")
    _mark_reply_failed(live_server, reply_id, "internal", "the engine crashed")

    page.set_viewport_size(viewport)
    page.goto(f"{live_server.base_url}/admin")
    page.fill("#filter-q", word)
    page.press("#filter-q", "Enter")
    rows = page.locator("#conversation-rows tr")
    expect(rows).to_have_count(2)
    page.check("#filter-failed")
    page.press("#filter-q", "Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", failed_id)
    expect(rows.first.locator(".status-badge")).to_have_text("error")

    # Export of the current filter, as CSV: only the failed conversation.
    page.select_option("#export-format", "csv")
    with page.expect_download() as info:
        page.click("#export-button")
    assert info.value.suggested_filename.endswith(".csv")
    csv_text = Path(info.value.path()).read_text(encoding="utf-8")
    assert failed_id in csv_text
    assert ok_id not in csv_text
    assert "the engine crashed" in csv_text

    rows.first.locator("button").click()
    failure = page.locator(".admin-message.role-assistant .message-failure")
    expect(failure).to_contain_text("internal")
    expect(page.locator(".admin-message.role-assistant .admin-params")).to_contain_text(
        "max_tokens"
    )
    page.screenshot(
        path=str(
            screenshot_dir / f"admin-failed-{'desktop' if viewport == DESKTOP else 'phone'}.png"
        )
    )

    # One conversation as Markdown (the transcript has its own format picker).
    page.select_option("#export-conversation-format", "markdown")
    with page.expect_download() as info:
        page.click("#export-conversation")
    assert info.value.suggested_filename.endswith(".md")
    markdown = Path(info.value.path()).read_text(encoding="utf-8")
    assert f"First {word} question." in markdown
    assert f"Second {word} question." not in markdown


def test_admin_transcript_shows_every_branch(page: Any, live_server: Any) -> None:
    """A regenerated reply is still in the admin's transcript, marked "other branch"."""
    conv_id = _make_conversation(page, live_server.base_url, "Tell me a joke.")
    first = page.locator(".message.assistant").last
    first_id = first.get_attribute("data-reply-id")
    first.locator(".regenerate-reply").click()
    expect(page.locator(".message.assistant .branch-position")).to_have_text("2/2")
    wait_until_done(page.locator(".message.assistant").last)

    page.goto(f"{live_server.base_url}/admin#c={conv_id}")
    expect(page.locator(".admin-message")).to_have_count(3)  # the question, both replies
    other = page.locator(".admin-message.other-branch")
    expect(other).to_have_count(1)
    expect(other).to_have_attribute("data-message-id", first_id or "")
    expect(other.locator(".branch-badge")).to_have_text("other branch")
