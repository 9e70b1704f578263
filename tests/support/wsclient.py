"""A thin protocol-v1 client over the real `websockets` library, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

FRAME_TIMEOUT_S = 60.0
# Frames about the user's conversations that any connection may get at any time (another
# connection of the same user started a turn...); v1 clients ignore them.
NOTICES = frozenset(
    {"turn_started", "conversation_renamed", "conversation_deleted", "branch_changed"}
)


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.hello: dict[str, Any] = {}

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = FRAME_TIMEOUT_S) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), "the server sent a binary frame"
        frame: dict[str, Any] = json.loads(raw)
        return frame

    async def recv_type(
        self, *types: str, skip: tuple[str, ...] = ("queued",), timeout: float = FRAME_TIMEOUT_S
    ) -> dict[str, Any]:
        """The next frame of one of `types`, skipping only frames of the types in `skip` (and
        notices, unless asked for)."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] in types:
                return frame
            assert frame["type"] in skip or frame["type"] in NOTICES, f"unexpected frame {frame}"

    async def chat(self, content: str, client_msg_id: str, **fields: Any) -> dict[str, Any]:
        await self.send(
            {"type": "chat", "client_msg_id": client_msg_id, "content": content, **fields}
        )
        return await self.recv_type("accepted", "error", skip=("queued", "token"))

    async def collect_reply(
        self, reply_id: str, after_seq: int = 0
    ) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """Read the reply's frames to its `end`; check seq has no gap and no repeat."""
        text, tokens = "", list[dict[str, Any]]()
        last_seq = after_seq
        while True:
            frame = await self.recv_type("token", "end", "snapshot")
            assert frame["reply_id"] == reply_id
            if frame["type"] == "snapshot":
                text = frame["text"]
                last_seq = frame["seq"]
                continue
            if frame["type"] == "end":
                return text, tokens, frame
            assert frame["seq"] == last_seq + 1, f"seq {frame['seq']} after {last_seq}"
            assert frame["text"], "empty token text"
            text += frame["text"]
            last_seq = frame["seq"]
            tokens.append(frame)


@asynccontextmanager
async def client(
    url: str, token: str | None = None, origin: str | None = None, **kwargs: Any
) -> AsyncIterator[Client]:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if origin:
        headers["Origin"] = origin
    async with connect(
        url, additional_headers=headers, compression=None, max_size=2**22, **kwargs
    ) as ws:
        c = Client(ws)
        c.hello = await c.recv()
        assert c.hello["type"] == "hello", c.hello
        yield c
