"""The sign-in panel: shown when /ws closes with 1008; the token goes in the first frame
and the Authorization header, never in a URL.

The test server runs with auth "none", so the 1008 close and the check of the auth frame
are played by a Playwright WebSocket route in front of the real server.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TOKEN = "test-token-3f9a"


def test_auth_required_shows_login_and_uses_the_token(
    page: Any, live_server: Any, screenshot_dir: Any
) -> None:
    connections = {"count": 0}
    auth_frames: list[dict[str, Any]] = []

    def route(ws: Any) -> None:
        connections["count"] += 1
        if connections["count"] == 1:
            ws.close(code=1008, reason="authentication required")
            return
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "auth":
                auth_frames.append(frame)  # the auth-"none" server does not expect it
                return
            server.send(message)

        ws.on_message(from_page)

    def reject_bad_token(route: Any) -> None:
        if route.request.headers.get("authorization") == "Bearer wrong":
            route.fulfill(status=401, json={"error": {"code": "unauthorized", "message": "no"}})
        else:
            route.fallback()

    api_auth_headers: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            api_auth_headers.append(r.headers.get("authorization")) if "/api/" in r.url else None
        ),
    )
    page.route(re.compile(r"/api/conversations"), reject_bad_token)
    page.route_web_socket(re.compile(r"/ws$"), route)
    page.goto(f"{live_server.base_url}/")

    dialog = page.locator("dialog.login-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "auth_required")
    # Focus starts on the username; the token form is below the password form.
    expect(page.locator("#login-username")).to_be_focused()
    page.screenshot(path=str(screenshot_dir / "login-desktop.png"))

    page.fill("#login-token", "wrong")
    page.press("#login-token", "Enter")
    expect(dialog.locator(".login-error")).to_have_text("That token was not accepted.")

    page.fill("#login-token", TOKEN)
    page.press("#login-token", "Enter")
    expect(dialog).to_have_count(0)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    assert auth_frames == [{"type": "auth", "token": TOKEN}]
    assert page.evaluate("sessionStorage.getItem('tickertape.token')") == TOKEN
    assert TOKEN not in page.url
    # Fetches after sign-in carry the bearer token.
    page.click("#new-conversation")
    page.reload()
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    assert f"Bearer {TOKEN}" in api_auth_headers


def test_login_panel_on_a_phone(page: Any, live_server: Any, screenshot_dir: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.route_web_socket(re.compile(r"/ws$"), lambda ws: ws.close(code=1008, reason="auth"))
    page.goto(f"{live_server.base_url}/")
    expect(page.locator("dialog.login-dialog")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "login-phone.png"))
