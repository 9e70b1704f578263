"""Small WebSocket helpers for attacks: raw handshakes, and what the server answered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

RECV_TIMEOUT_S = 15.0


async def handshake_status(url: str, headers: dict[str, str]) -> int:
    """101 if the server upgraded the connection, else the HTTP status it refused with."""
    try:
        async with connect(url, additional_headers=headers, compression=None):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def first_event(ws: ClientConnection, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
    """The first frame, or {"closed": code} if the server closed the socket instead."""
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as exc:
        return {"closed": exc.rcvd.code if exc.rcvd else None}
    assert isinstance(raw, str)
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def connect_and_read(
    url: str, headers: dict[str, str], timeout: float = RECV_TIMEOUT_S
) -> dict[str, Any]:
    async with connect(url, additional_headers=headers, compression=None) as ws:
        return await first_event(ws, timeout)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
