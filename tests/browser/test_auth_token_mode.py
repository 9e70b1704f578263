"""The sign-in panel against a real token-mode server: the server itself closes /ws with
1008 and rejects the API without a token; the panel's token then works for both."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.accounts import create_users
from tests.support.server import ServerProcess, make_server

from .helpers import send_message, wait_until_done

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def token_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("browser-tokens")
    server = make_server(tmp, "--auth", "token", "--auth-timeout-s", "2")
    url = next(a for a in server.args if a.startswith("sqlite"))
    # In a thread: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        tokens = pool.submit(create_users, url, {"carol": "user", "root": "admin"}).result()
    server.start()
    try:
        yield server, tokens
    finally:
        server.stop()


def _sign_in(page: Any, token: str) -> None:
    dialog = page.locator("dialog.login-dialog")
    expect(dialog).to_be_visible()
    page.fill("#login-token", token)
    page.press("#login-token", "Enter")
    expect(dialog).to_have_count(0)


def test_token_sign_in_then_chat(
    context: Any, token_server: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, tokens = token_server
    page = context.new_page()
    page.goto(f"{server.base_url}/")
    # No credentials: the list request is refused, so the panel shows before any socket.
    page.fill("#login-token", "tt_not-a-real-token")
    page.press("#login-token", "Enter")
    expect(page.locator("dialog.login-dialog .login-error")).to_have_text(
        "That token was not accepted."
    )
    _sign_in(page, tokens["carol"])
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    reply = send_message(page, "Hello from a signed-in browser.")
    wait_until_done(reply)
    assert tokens["carol"] not in page.url

    # A token that stops working mid-session (here: a bad one in storage) makes the
    # server close /ws with 1008, which brings the panel back.
    page.evaluate("sessionStorage.setItem('tickertape.token', 'tt_revoked')")
    page.reload()
    _sign_in(page, tokens["carol"])
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")


def test_admin_page_needs_the_admin_role(
    context: Any, token_server: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, tokens = token_server
    page = context.new_page()
    page.goto(f"{server.base_url}/admin")
    _sign_in(page, tokens["carol"])
    # A plain "admins only" page: no search, no export, no transcript controls.
    expect(page.locator("#admins-only")).to_be_visible()
    expect(page.locator("#admins-only")).to_contain_text("Admins only")
    for control in ("#filter-form", "#export-button", "#conversation-rows"):
        expect(page.locator(control)).to_be_hidden()

    page.evaluate("sessionStorage.clear()")
    page.reload()
    _sign_in(page, tokens["root"])
    expect(page.locator("#list-status")).to_contain_text("conversation")
    expect(page.locator("#admins-only")).to_be_hidden()
    expect(page.locator("#export-button")).to_be_visible()
