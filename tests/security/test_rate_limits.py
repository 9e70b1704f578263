"""Per-user messages and concurrent replies, per-IP handshakes, per-name logins."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.auth.accounts import create_user, database_url
from tests.support.server import ServerProcess, make_server
from tests.support.wsclient import client

MESSAGES_PER_MINUTE = 3
HANDSHAKES_PER_MINUTE = 6
LONG = {"max_tokens": 200, "ignore_eos": True, "temperature": 0}


@dataclass(frozen=True)
class Limited:
    server: ServerProcess
    chatty: str  # token of the user who spends the message budget
    busy: str  # token of the user who spends the concurrency budget


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    tmp = tmp_path_factory.mktemp("limits")
    server = make_server(
        tmp,
        "--auth",
        "token",
        "--messages-per-minute",
        str(MESSAGES_PER_MINUTE),
        "--handshakes-per-minute",
        str(HANDSHAKES_PER_MINUTE),
        "--max-concurrent-replies",
        "1",
    )
    url = database_url(tmp / "tickertape.db")
    chatty = create_user(url, "chatty")
    busy = create_user(url, "busy")
    create_user(url, "target", password="the target's password")
    server.start()
    try:
        yield Limited(server, chatty, busy)
    finally:
        server.stop()


def msg_id() -> str:
    return uuid.uuid4().hex


async def test_messages_per_minute(limited: Limited) -> None:
    async with client(limited.server.ws_url, limited.chatty) as ws:
        sent = []
        for i in range(MESSAGES_PER_MINUTE):
            sent.append(msg_id())
            accepted = await ws.chat("hi", sent[-1], params={"max_tokens": 1})
            assert accepted["type"] == "accepted"
            await ws.collect_reply(accepted["reply_id"])
            if i == 0:  # a retry below the limit is answered and does not count against it
                again = await ws.chat("hi", sent[0], params={"max_tokens": 1})
                assert again == accepted
                await ws.collect_reply(accepted["reply_id"])
        refused = await ws.chat("one too many", msg_id(), params={"max_tokens": 1})
    assert refused["type"] == "error"
    assert refused["code"] == "rate_limited"
    assert refused["retry_after_ms"] > 0
    # A client that reconnects at its limit and retries gets its original answer back.
    async with client(limited.server.ws_url, limited.chatty) as ws:
        retried = await ws.chat("hi", sent[0], params={"max_tokens": 1})
        assert retried["type"] == "accepted"
        assert retried["client_msg_id"] == sent[0]
        _, _, end = await ws.collect_reply(retried["reply_id"])
        assert end["finish_reason"] == "length"
        # ...while the limit still holds for anything new (so the retry really was at it).
        still_refused = await ws.chat("new", msg_id(), params={"max_tokens": 1})
    assert still_refused["code"] == "rate_limited"


async def test_concurrent_replies(limited: Limited) -> None:
    async with client(limited.server.ws_url, limited.busy) as ws:
        first_id = msg_id()
        first = await ws.chat("a long story", first_id, params=LONG)
        assert first["type"] == "accepted"
        second = await ws.chat("another", msg_id(), params={"max_tokens": 1})
        assert second["type"] == "error"
        assert second["code"] == "rate_limited"
        assert second["retry_after_ms"] > 0
        # A retry of the reply in flight is not another reply: it is answered and followed.
        async with client(limited.server.ws_url, limited.busy) as again:
            retried = await again.chat("a long story", first_id, params=LONG)
            assert retried == first
            assert (await again.recv_type("token", "snapshot"))["reply_id"] == first["reply_id"]
            third = await again.chat("and another", msg_id(), params={"max_tokens": 1})
            assert third["code"] == "rate_limited"
            await ws.send({"type": "stop", "reply_id": first["reply_id"]})
            end = await again.recv_type("end", skip=("queued", "token"))
            assert end["finish_reason"] == "stopped"
        assert (await ws.recv_type("end", skip=("queued", "token")))["seq"] == end["seq"]


async def test_handshakes_per_minute(limited: Limited) -> None:
    headers = {"Authorization": f"Bearer {limited.chatty}"}
    # The earlier tests of this module spent some of the budget: at most this many are left.
    for _ in range(HANDSHAKES_PER_MINUTE + 1):
        try:
            async with connect(limited.server.ws_url, additional_headers=headers) as ws:
                await asyncio.wait_for(ws.recv(), 15)
        except InvalidStatus as exc:
            refused = exc.response
            break
    else:
        pytest.fail("no handshake was refused")
    assert refused.status_code == 429
    body = json.loads(refused.body or b"{}")
    assert body["error"]["code"] == "rate_limited"
    assert body["retry_after_ms"] > 0
    assert int(refused.headers["Retry-After"]) >= 1


def test_login_attempts_per_username(limited: Limited) -> None:
    with httpx.Client(base_url=limited.server.base_url, timeout=30) as http:
        statuses = [
            http.post("/api/auth/login", json={"username": "target", "password": f"guess {i}"})
            for i in range(12)
        ]
    codes = [answer.status_code for answer in statuses]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]
    assert int(statuses[-1].headers["Retry-After"]) >= 1
    assert statuses[-1].json()["error"]["code"] == "rate_limited"
