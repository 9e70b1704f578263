"""Screenshots of both pages at desktop (1280x800) and phone (390x844) width, saved to
test-artifacts/screenshots/ (gitignored) for a person to look at. They also check that
the phone layout collapses the conversation list into a drawer."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE
from .helpers import conversation_id, open_chat, send_message, wait_until_done

pytestmark = pytest.mark.browser


def test_screenshots(page: Any, live_server: Any, screenshot_dir: Any) -> None:
    open_chat(page, live_server.base_url)
    reply = send_message(page, "Hello! What can you tell me about ticker tape?")
    wait_until_done(reply)
    conv_id = conversation_id(page)
    shot = {"path": None, "animations": "disabled", "caret": "hide"}

    page.screenshot(**{**shot, "path": str(screenshot_dir / "chat-desktop.png")})
    expect(page.locator("#sidebar")).to_be_visible()
    expect(page.locator("#drawer-toggle")).to_be_hidden()

    page.set_viewport_size(PHONE)
    expect(page.locator("#sidebar")).to_be_hidden()  # collapsed into the drawer
    page.screenshot(**{**shot, "path": str(screenshot_dir / "chat-phone.png")})
    page.click("#drawer-toggle")
    expect(page.locator("#sidebar")).to_be_visible()
    expect(page.locator(".conversation-open").first).to_be_focused()
    page.screenshot(**{**shot, "path": str(screenshot_dir / "chat-phone-drawer.png")})
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.locator("#drawer-toggle")).to_be_focused()

    page.set_viewport_size(DESKTOP)
    page.click("#settings-toggle")
    expect(page.locator("#settings-panel")).to_be_visible()
    page.screenshot(**{**shot, "path": str(screenshot_dir / "chat-desktop-settings.png")})

    page.goto(f"{live_server.base_url}/admin")
    row = page.locator(f"#conversation-rows tr[data-id='{conv_id}']")
    row.locator("button").click()
    expect(page.locator("#admin-messages .admin-message")).to_have_count(2)
    page.screenshot(**{**shot, "path": str(screenshot_dir / "admin-desktop.png")})

    page.set_viewport_size(PHONE)
    page.screenshot(**{**shot, "path": str(screenshot_dir / "admin-phone-transcript.png")})
    page.click("#close-transcript")
    expect(page.locator("#conversation-rows")).to_be_visible()
    page.screenshot(**{**shot, "path": str(screenshot_dir / "admin-phone.png")})
