"""Shared pieces of the reliability scenarios: server flags, waiting, RSS, a raw non-reader."""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import socket
from typing import Any

import httpx

# Every client of these tests is the same user (`local`, auth none) from one address, so the
# per-user and per-IP limits that protect a real deployment would only measure themselves.
RELAXED_LIMITS = (
    "--max-concurrent-replies",
    "100000",
    "--messages-per-minute",
    "1000000",
    "--handshakes-per-minute",
    "1000000",
    "--max-waiting",
    "10000",
    "--max-connections-per-user",
    "1000000",
)


def env_int(name: str, default: int) -> int:
    """Counts are small in CI; benchmarks and curious humans raise them through the env."""
    return int(os.environ.get(name, str(default)))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, str(default)))


def long_params(max_tokens: int, temperature: float = 0.8) -> dict[str, Any]:
    """A reply of exactly `max_tokens` tokens: the load is deterministic, not up to EOS."""
    return {"max_tokens": max_tokens, "ignore_eos": True, "temperature": temperature}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def raise_nofile(wanted: int) -> None:
    """Each socket is a file descriptor on both ends; the server inherits our limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def metric(base_url: str, name: str) -> float:
    """The value of one unlabelled sample on /metrics (0 when absent)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def client_text_frame(text: str) -> bytes:
    """One masked WebSocket text frame, as RFC 6455 requires of a client."""
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes([0x81, 0x80 | n])
    elif n < 65536:
        header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
    return header + mask + masked


class NonReader:
    """A WebSocket client that never reads after the handshake.

    A library client reads in the background (pings, close frames), so it would never stall
    the server. This one is a bare socket with a small receive buffer: once the kernel
    buffers and the server's transport buffer are full, every send to it blocks.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def connect(cls, host: str, port: int, rcvbuf: int = 4096) -> NonReader:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connect, so the advertised window is small from the first segment.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        head = b""
        while b"\r\n\r\n" not in head:  # the 101 response: the last thing we ever read
            chunk = await loop.sock_recv(sock, 1)
            assert chunk, "the server closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock)

    async def send(self, text: str) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, client_text_frame(text))

    async def wait_closed_by_peer(self, timeout: float) -> None:
        """Drain what was buffered until EOF or a reset: proof the server dropped us."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if not await loop.sock_recv(self.sock, 65536):
                        return
                except (ConnectionResetError, BrokenPipeError):
                    return

    def close(self) -> None:
        self.sock.close()
