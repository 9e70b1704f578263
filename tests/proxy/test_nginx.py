"""tickertape behind the nginx configuration docs/deployment.md documents, end to end.

Debian's nginx terminates TLS (a throwaway certificate) on a loopback port and proxies to a
real `tickertape serve` (token auth, secure cookies, default --forwarded-allow-ips) on
another. The server's engine is the remote one against a local upstream the test controls
(tests/proxy/upstream.py), which is what lets the SSE test hold a reply open.

What a browser on https://127.0.0.1:<nginx port> does must work: load the page, log in,
open its WebSocket with its own Origin and stream a reply; SSE must pass unbuffered. What
an attacker does must still fail: a foreign Origin through nginx, and an `X-Forwarded-Proto`
sent straight to tickertape from an address that is not a configured proxy (127.0.0.2:
every 127/8 address is loopback on Linux, but only 127.0.0.1 and ::1 are trusted).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.proxy.nginx import Nginx, make_certificate, nginx_binary
from tests.proxy.upstream import HOLD, MODEL, GatedUpstream
from tests.support.accounts import create_users
from tests.support.server import ServerProcess, free_port, make_server
from tests.support.wsclient import Client

pytestmark = pytest.mark.proxy

COOKIE = "__Host-tickertape_session"
UNTRUSTED_ADDRESS = "127.0.0.2"
REPLY = "Hello world"  # what the upstream answers
FIRST_CHUNK_TIMEOUT_S = 30.0


@dataclass
class Stack:
    server: ServerProcess
    token: str
    proxy_port: int
    tls: ssl.SSLContext
    upstream: GatedUpstream

    @property
    def origin(self) -> str:
        """The page's own origin: what the browser puts in Origin on its WebSocket."""
        return f"https://127.0.0.1:{self.proxy_port}"

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.proxy_port}/ws"

    def https(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.origin, verify=self.tls, timeout=30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("Debian's nginx is not installed (scripts/setup.sh --test as root)")
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed for the throwaway certificate")
    tmp: Path = tmp_path_factory.mktemp("proxy")
    cert, key = make_certificate(tmp)
    tls = ssl.create_default_context(cafile=str(cert))
    with GatedUpstream().running() as upstream:
        database_url = f"sqlite+aiosqlite:///{tmp / 'tickertape.db'}"
        token = create_users(database_url, {"alice": "user"})["alice"]
        server = make_server(
            tmp,
            *("--engine", "remote", "--upstream-url", upstream.url),
            *("--auth", "token", "--secure-cookies"),
        )
        server.start()
        nginx = Nginx(binary, tmp / "nginx", free_port())
        nginx.directory.mkdir()
        try:
            nginx.start(server.port, cert, key)
            yield Stack(server, token, nginx.port, tls, upstream)
        finally:
            nginx.stop()
            server.stop()


async def _hello(ws: ClientConnection) -> Client:
    client = Client(ws)
    client.hello = await client.recv_type("hello")
    return client


async def _login(stack: Stack) -> str:
    """The page's web login through nginx; returns the session cookie's value."""
    async with stack.https() as http:
        response = await http.post("/api/auth/login", json={"token": stack.token})
    assert response.status_code == 200, response.text
    (cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE)]
    assert "Secure" in cookie
    return cookie.split(";", 1)[0].split("=", 1)[1]


def _refused(info: pytest.ExceptionInfo[InvalidStatus]) -> int:
    return info.value.response.status_code


async def test_the_page_loads_over_https(stack: Stack) -> None:
    async with stack.https() as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert '<script type="module"' in page.text
        script = await http.get("/static/js/chat.js")
        assert script.status_code == 200
        assert (await http.get("/readyz")).status_code == 200


async def test_the_pages_websocket_connects_and_streams(stack: Stack) -> None:
    cookie = await _login(stack)
    headers = {"Origin": stack.origin, "Cookie": f"{COOKIE}={cookie}"}
    async with connect(stack.wss_url, ssl=stack.tls, additional_headers=headers) as ws:
        client = await _hello(ws)
        assert client.hello["user"]["name"] == "alice"
        accepted = await client.chat("hi", "m1", params={"max_tokens": 8})
        assert accepted["type"] == "accepted", accepted
        text, tokens, end = await client.collect_reply(accepted["reply_id"])
    assert text == REPLY
    assert tokens
    assert end["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://127.0.0.1:{port}", "https://127.0.0.1:1"]
)
async def test_other_origins_are_still_refused_through_nginx(stack: Stack, origin: str) -> None:
    cookie = await _login(stack)
    headers = {"Origin": origin.format(port=stack.proxy_port), "Cookie": f"{COOKIE}={cookie}"}
    with pytest.raises(InvalidStatus) as info:
        async with connect(stack.wss_url, ssl=stack.tls, additional_headers=headers):
            pass
    assert _refused(info) == 403


async def test_sse_streams_unbuffered_through_nginx(stack: Stack) -> None:
    """The upstream holds the reply after its first chunk until the test has seen that chunk
    come out of nginx: a buffering proxy would keep it back and the wait would time out."""
    stack.upstream.release.clear()
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": HOLD}],
        "stream": True,
    }
    auth = {"Authorization": f"Bearer {stack.token}"}
    text = ""
    async with (
        stack.https() as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers=auth) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        try:
            async with asyncio.timeout(FIRST_CHUNK_TIMEOUT_S):
                while not text:
                    text += _content(await anext(lines))
        except TimeoutError:
            pytest.fail("the first chunk did not come through nginx while the reply was held")
        assert not stack.upstream.release.is_set()  # so the reply was not finished yet
        stack.upstream.release.set()
        async for line in lines:
            if line == "data: [DONE]":
                break
            text += _content(line)
    assert text == REPLY


def _content(line: str) -> str:
    if not line.startswith("data: {"):
        return ""
    choices = json.loads(line.removeprefix("data: "))["choices"]
    return "".join(c["delta"].get("content") or "" for c in choices)


async def test_forwarded_proto_is_believed_only_from_a_configured_proxy(stack: Stack) -> None:
    """Straight to tickertape, bypassing nginx, with a bearer token (so only the Origin
    check decides). The claim `X-Forwarded-Proto: https` with an https Origin passes from
    127.0.0.1 (a configured proxy) and changes nothing from 127.0.0.2."""
    url = f"ws://127.0.0.1:{stack.server.port}/ws"
    own_host = f"127.0.0.1:{stack.server.port}"
    bearer = {"Authorization": f"Bearer {stack.token}"}
    forged = {**bearer, "X-Forwarded-Proto": "https", "Origin": f"https://{own_host}"}

    with pytest.raises(InvalidStatus) as info:
        async with connect(url, additional_headers=forged, local_addr=(UNTRUSTED_ADDRESS, 0)):
            pass
    assert _refused(info) == 403

    # The same address is served when it says what it really uses...
    plain = {**bearer, "Origin": f"http://{own_host}"}
    async with connect(url, additional_headers=plain, local_addr=(UNTRUSTED_ADDRESS, 0)) as ws:
        assert (await _hello(ws)).hello["user"]["name"] == "alice"
    # ...and the forged request passes from a configured proxy address.
    async with connect(url, additional_headers=forged, local_addr=("127.0.0.1", 0)) as ws:
        assert (await _hello(ws)).hello["user"]["name"] == "alice"
