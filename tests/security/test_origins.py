"""Cross-site WebSocket hijacking: a bad Origin is refused with 403 before the upgrade."""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import ALLOWED_ORIGINS, USER_PASSWORD, Deployment
from tests.security.wsutil import bearer, connect_and_read, handshake_status


def bad_origins(port: int) -> list[str]:
    own = f"127.0.0.1:{port}"
    return [
        "null",  # sandboxed iframes, file:// pages, some redirects
        "http://evil.example",
        f"http://{own}.evil.example",  # look-alike suffix
        f"http://evil{own}",  # look-alike prefix
        f"https://{own}",  # wrong scheme
        f"ws://{own}",
        f"http://127.0.0.1:{port + 1}",  # wrong port
        "http://127.0.0.1",  # no port at all
        f"http://user@{own}",  # userinfo
        f"http://{own}@evil.example",  # userinfo trick: the host is evil.example
        f"http://{own}/",  # trailing slash: not how a browser serialises an origin
        f"http://{own}/chat",  # trailing path
        f"http://{own}?x=1",
        f"http://{own}#x",
        f"http://localhost:{port}",  # another origin, even if it is the same machine
        f"http://[::1]:{port}",
        "HTTP://EVIL.EXAMPLE",  # uppercase still refused
        "https://chat.example.com.evil.example",  # look-alike of an allowed origin
        "http://chat.example.com",  # allowed host, wrong scheme
        "https://chat.example.com:8443",  # allowed host, wrong port
        "https://xchat.example.com",
        "",
        "file://",
    ]


def good_origins(port: int) -> list[str]:
    own = f"http://127.0.0.1:{port}"
    return [
        own,
        own.upper().replace("HTTP", "http", 1),
        own.upper(),
        *ALLOWED_ORIGINS,
        "HTTPS://Chat.Example.COM",
    ]


async def test_bad_origins_are_refused_before_accept(deployment: Deployment) -> None:
    server = deployment.server
    origins = bad_origins(server.port)
    assert len(origins) >= 12
    for origin in origins:
        headers = {"Origin": origin, **bearer(deployment.user_token)}
        status = await handshake_status(server.ws_url, headers)
        assert status == 403, f"Origin {origin!r} got {status}"


async def test_allowed_origins_are_accepted(deployment: Deployment) -> None:
    server = deployment.server
    for origin in good_origins(server.port):
        frame = await connect_and_read(
            server.ws_url, {"Origin": origin, **bearer(deployment.user_token)}
        )
        assert frame.get("type") == "hello", f"Origin {origin!r}: {frame}"


async def test_no_origin_is_a_non_browser_client(deployment: Deployment) -> None:
    frame = await connect_and_read(deployment.server.ws_url, bearer(deployment.user_token))
    assert frame["type"] == "hello"
    assert frame["user"]["name"] == deployment.user_name


@pytest.fixture(scope="module")
def session_cookie(deployment: Deployment) -> str:
    """The web login's cookie value for alice."""
    with httpx.Client(base_url=deployment.server.base_url, timeout=30) as http:
        answer = http.post("/api/auth/login", json={"username": "alice", "password": USER_PASSWORD})
        assert answer.status_code == 200, answer.text
        cookie = http.cookies.get("tickertape_session")
    assert cookie
    return cookie


async def test_cookie_authenticates_with_an_allowed_origin(
    deployment: Deployment, session_cookie: str
) -> None:
    server = deployment.server
    headers = {
        "Origin": f"http://127.0.0.1:{server.port}",
        "Cookie": f"tickertape_session={session_cookie}",
    }
    frame = await connect_and_read(server.ws_url, headers)
    assert frame["type"] == "hello"
    assert frame["user"]["name"] == deployment.user_name


async def test_cookie_without_origin_does_not_authenticate(
    deployment: Deployment, session_cookie: str
) -> None:
    # Only a browser holds the cookie, and a browser always sends Origin: a cookie without
    # one is replayed by something else, and the first-frame auth times out (1 s here).
    headers = {"Cookie": f"tickertape_session={session_cookie}"}
    assert await connect_and_read(deployment.server.ws_url, headers) == {"closed": 1008}


async def test_cookie_with_a_foreign_origin_is_refused(
    deployment: Deployment, session_cookie: str
) -> None:
    headers = {"Origin": "http://evil.example", "Cookie": f"tickertape_session={session_cookie}"}
    assert await handshake_status(deployment.server.ws_url, headers) == 403


async def test_token_in_the_url_is_ignored(deployment: Deployment) -> None:
    # Tokens in URLs end up in proxy logs and browser history: /ws?token= is not a way in.
    url = f"{deployment.server.ws_url}?token={deployment.user_token}"
    assert await connect_and_read(url, {}) == {"closed": 1008}
