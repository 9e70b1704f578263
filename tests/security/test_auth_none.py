"""Auth mode `none`: loopback only, and not reachable through DNS rebinding."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import ServerProcess, running_server


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("none"), "--auth", "none") as server:
        yield server


def ws_handshake_status(port: int, host: str, origin: str | None = None) -> int:
    """A raw upgrade request, so that the Host header is exactly what a rebound page sends."""
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_local_names_are_the_local_admin(open_server: ServerProcess) -> None:
    port = open_server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        with httpx.Client(base_url=open_server.base_url, headers={"Host": host}) as http:
            me = http.get("/api/auth/me")
            assert me.status_code == 200, host
            assert me.json()["user"] == {**me.json()["user"], "name": "local", "role": "admin"}
    assert ws_handshake_status(port, f"127.0.0.1:{port}") == 101


def test_a_rebound_name_gets_nothing(open_server: ServerProcess) -> None:
    # evil.example re-pointed at 127.0.0.1: the page is same-origin with itself, so its
    # Origin matches its Host; only the Host name gives it away.
    port = open_server.port
    rebound = f"evil.example:{port}"
    with httpx.Client(base_url=open_server.base_url, headers={"Host": rebound}) as http:
        assert http.get("/api/conversations").status_code == 401
        assert http.get("/api/admin/conversations").status_code == 401
    assert ws_handshake_status(port, rebound, origin=f"http://{rebound}") == 403
    assert ws_handshake_status(port, rebound) == 403


def test_a_visitor_behind_a_trusted_proxy_is_not_the_local_admin(
    open_server: ServerProcess,
) -> None:
    # nginx on this machine (a trusted proxy by default) forwards a visitor who reached it
    # by IP address: the Host is an IP literal, the real client is not on loopback.
    port = open_server.port
    forwarded = {"Host": f"127.0.0.1:{port}", "X-Forwarded-For": "203.0.113.7"}
    with httpx.Client(base_url=open_server.base_url, headers=forwarded) as http:
        assert http.get("/api/auth/me").status_code == 401
        assert http.get("/api/conversations").status_code == 401
    with httpx.Client(base_url=open_server.base_url) as http:  # this machine still is
        assert http.get("/api/auth/me").status_code == 200
