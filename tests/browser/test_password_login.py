"""Password sign-in with a cookie session, against a real `--auth token` server: the
session cookie authenticates fetch and /ws, the CSRF token lives in page memory only and
comes back from GET /api/auth/me after a reload, and sign-out ends the session."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.auth.accounts import create_user, database_url
from tests.support.server import ServerProcess, make_server

from .conftest import PHONE
from .helpers import (
    conversation_id,
    send_message,
    set_generation_settings,
    wait_until_done,
    wait_until_streaming,
)

pytestmark = pytest.mark.browser

USERNAME = "dana"
PASSWORD = "tape-ticks-quietly-42"


@dataclass(frozen=True)
class PasswordServer:
    server: ServerProcess
    token: str  # dana's API token, for checking what the browser did

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordServer]:
    tmp: Path = tmp_path_factory.mktemp("browser-passwords")
    server = make_server(tmp, "--auth", "token")
    url = database_url(tmp / "tickertape.db")
    # In a thread: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        token = pool.submit(create_user, url, USERNAME, password=PASSWORD).result()
    server.start()
    try:
        yield PasswordServer(server, token)
    finally:
        server.stop()


def _sign_in(page: Any, username: str, password: str) -> None:
    expect(page.locator("dialog.login-dialog")).to_be_visible()
    expect(page.locator("#login-username")).to_be_focused()
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.press("#login-password", "Enter")


def _session_cookies(context: Any) -> list[dict[str, Any]]:
    return [c for c in context.cookies() if "session" in c["name"]]


def test_password_sign_in_chat_reload_rename_sign_out(
    context: Any, password_server: PasswordServer, screenshot_dir: Path
) -> None:
    page = context.new_page()
    sent_frames: list[dict[str, Any]] = []
    page.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda payload: sent_frames.append(json.loads(payload))),
    )
    page.goto(f"{password_server.base_url}/")
    password = page.locator("#login-password")
    expect(password).to_have_attribute("type", "password")
    expect(password).to_have_attribute("autocomplete", "current-password")

    _sign_in(page, USERNAME, PASSWORD)
    dialog = page.locator("dialog.login-dialog")
    expect(dialog).to_have_count(0)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    expect(page.locator("#account-name")).to_have_text(f"Signed in as {USERNAME}")
    expect(page.locator("#sign-out-button")).to_be_visible()
    # The cookie is the credential: HttpOnly, SameSite=Strict; nothing in storage or the URL.
    (cookie,) = _session_cookies(context)
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert page.evaluate("sessionStorage.getItem('tickertape.token')") is None
    assert PASSWORD not in page.url
    assert USERNAME not in page.url

    set_generation_settings(page, max_tokens=12)
    reply = send_message(page, "Hello over a cookie session.")
    wait_until_streaming(reply)
    wait_until_done(reply)
    assert not [f for f in sent_frames if f.get("type") == "auth"], "cookie needs no auth frame"
    conv_id = conversation_id(page)

    # A reload keeps the session: /api/auth/me answers for the cookie, no dialog.
    with page.expect_response(re.compile(r"/api/auth/me$")) as me:
        page.reload()
    assert me.value.status == 200
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    expect(dialog).to_have_count(0)
    expect(page.locator(".message.assistant")).to_have_count(1)

    # Rename: a cookie PATCH, so it needs the CSRF token recovered from /api/auth/me.
    row = page.locator(f'.conversation-item[data-id="{conv_id}"]')
    row.locator(".rename-conversation").click()
    page.fill(".rename-input", "Renamed by cookie")
    with page.expect_response(lambda r: r.request.method == "PATCH") as patch:
        page.press(".rename-input", "Enter")
    assert patch.value.status == 200
    headers = patch.value.request.headers
    assert headers.get("x-csrf-token")
    assert "authorization" not in headers
    expect(page.locator("#conversation-title")).to_have_text("Renamed by cookie")
    with password_server.server.http(password_server.token) as api:
        assert api.get(f"/api/conversations/{conv_id}").json()["title"] == "Renamed by cookie"

    page.screenshot(path=str(screenshot_dir / "signed-in-desktop.png"))
    page.set_viewport_size(PHONE)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "signed-in-phone.png"))

    # Sign out: the server ends the session, the dialog is back, the API says 401.
    with page.expect_response(re.compile(r"/api/auth/logout$")) as logout:
        page.click("#sign-out-button")
    assert logout.value.status == 204
    expect(dialog).to_be_visible()
    expect(page.locator(".conversation-item")).to_have_count(0)
    assert _session_cookies(context) == []
    assert page.request.get(f"{password_server.base_url}/api/conversations").status == 401
    assert page.request.get(f"{password_server.base_url}/api/auth/me").status == 401


def test_wrong_password_and_throttling_are_explained(
    context: Any, password_server: PasswordServer
) -> None:
    page = context.new_page()
    page.goto(f"{password_server.base_url}/")
    error = page.locator("dialog.login-dialog .login-error")

    _sign_in(page, USERNAME, "not-the-password")
    expect(error).to_have_text("Wrong username or password.")
    expect(page.locator("#login-password")).to_be_focused()
    assert _session_cookies(context) == []

    # Too many attempts for one name: 429 with Retry-After, shown as a wait in seconds.
    login_url = f"{password_server.base_url}/api/auth/login"
    for _ in range(20):
        response = page.request.post(login_url, data={"username": "ghost", "password": "x" * 8})
        if response.status == 429:
            break
    assert response.status == 429
    page.fill("#login-username", "ghost")
    page.fill("#login-password", "still-wrong")
    page.press("#login-password", "Enter")
    expect(error).to_have_text(
        re.compile(r"^Too many sign-in attempts\. Try again in \d+ seconds?\.$")
    )
    expect(page.locator("dialog.login-dialog")).to_be_visible()
