"""The owner's mirror against a real redis-server: what a reply's registration, ticks and end
write, and that a tick is one command whatever the number of replies (the mirror runs on
the event loop that also carries every token to the sockets)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from tests.support.redis_server import RedisServer
from tickertape.chat.redis_mirror import CONVERSATION_TTL_S, STREAMING_TTL_S, ReplyMirror
from tickertape.chat.reply_log import ReplyEnd, ReplyLog
from tickertape.redis_client import Keys, connect

OWNER = "owner0000000000a"


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = connect(redis_server.url)
    yield client
    await client.aclose()


class Commands:
    """Counts the commands redis-py sends (a pipeline's one by one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        pack = AbstractConnection.pack_command

        def counting(conn: AbstractConnection, *args: Any) -> Any:
            self.sent.append(str(args[0]))
            return pack(conn, *args)

        monkeypatch.setattr(AbstractConnection, "pack_command", counting)


def _end(seq: int) -> ReplyEnd:
    return ReplyEnd(seq, "stop", "complete", {"prompt_tokens": 1, "completion_tokens": seq}, {})


async def test_a_tick_is_one_command_for_every_reply(
    client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = Keys(f"t{uuid.uuid4().hex[:8]}:")
    mirror = ReplyMirror(client, keys, OWNER, interval_ms=10_000, retention_s=60, max_entries=100)
    replies = [ReplyLog(f"r{i}", "u", f"c{i}", "continue") for i in range(5)]
    await client.ping()  # the connection's own set-up commands go first
    commands = Commands(monkeypatch)
    try:
        for reply in replies:
            await mirror.register(reply, stored=True)
        assert len(commands.sent) == len(replies)  # one each (was 4: HSET, PEXPIRE, SADD, SET)
        for reply in replies:
            reply.append("a")
            reply.append("b")
        commands.sent.clear()
        await mirror.flush()
        assert commands.sent == ["EVAL"]  # was an XADD per reply
        for reply in replies:
            reply.append("c")
        replies[0].finish(_end(2))
        commands.sent.clear()
        await mirror.flush()
        assert commands.sent == ["EVAL"]
        for reply in replies:
            entries = await client.xrange(keys.stream(reply.reply_id))
            frames = [json.loads(e["f"]) for _, e in entries if "f" in e]
            assert [e["s"] for _, e in entries if "s" in e] == ["1", "2"]
            assert frames == [[["text", "ab"]], [["text", "c"]]]
    finally:
        await mirror.close()


async def test_what_a_reply_writes_from_registration_to_end(client: Redis) -> None:
    keys = Keys(f"t{uuid.uuid4().hex[:8]}:")
    mirror = ReplyMirror(client, keys, OWNER, interval_ms=10_000, retention_s=30, max_entries=100)
    reply = ReplyLog("r1", "u1", "c1", "stop")
    unstored = ReplyLog("r2", "u2", None, "continue")
    try:
        await mirror.register(reply, stored=True)
        await mirror.register(unstored, stored=False)
        assert await client.hgetall(keys.meta("r1")) == {
            "owner": OWNER,
            "user": "u1",
            "conv": "c1",
            "stored": "1",
            "od": "stop",
        }
        assert (await client.hgetall(keys.meta("r2")))["stored"] == "0"
        assert (await client.hgetall(keys.meta("r2")))["conv"] == ""
        assert 0 < await client.pttl(keys.meta("r1")) <= STREAMING_TTL_S * 1000
        assert await client.smembers(keys.owned(OWNER)) == {"r1", "r2"}
        assert await client.get(keys.conversation("c1")) == "r1"
        assert 0 < await client.pttl(keys.conversation("c1")) <= CONVERSATION_TTL_S * 1000
        reply.set_queue_position(3)
        await mirror.flush()
        reply.append('héllo \U0001f600 "quoted" \\ back')
        await mirror.flush()
        reply.finish(_end(1))
        await mirror.flush()
        entries = [e for _, e in await client.xrange(keys.stream("r1"))]
        assert entries[0] == {"q": "3"}
        assert json.loads(entries[1]["f"]) == [["text", 'héllo \U0001f600 "quoted" \\ back']]
        assert json.loads(entries[2]["e"])["finish_reason"] == "stop"
        assert 0 < await client.pttl(keys.stream("r1")) <= 30_000
        assert 0 < await client.pttl(keys.meta("r1")) <= 30_000
        assert await client.smembers(keys.owned(OWNER)) == {"r2"}
        assert mirror.pending == 1
    finally:
        await mirror.close()
