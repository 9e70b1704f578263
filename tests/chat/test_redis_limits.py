"""RedisLimits against a real redis-server: two instances stand for two replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection

from tests.support.redis_server import RedisServer
from tickertape.chat.errors import ChatError
from tickertape.chat.limits import NO_PLACE, LimitsConfig, LocalLimits
from tickertape.chat.redis_limits import RedisLimits
from tickertape.redis_client import Keys, RedisHealth, connect

CONFIG = LimitsConfig(max_concurrent_replies=2, messages_per_minute=3, max_connections_per_user=2)


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[tuple[RedisLimits, RedisLimits]]:
    """Two replicas' limits on one Redis, under a prefix of their own."""
    keys = Keys(f"t{uuid.uuid4().hex[:8]}:")
    clients = [connect(redis_server.url), connect(redis_server.url)]
    a = RedisLimits(CONFIG, clients[0], keys, RedisHealth(), "a", lease_ttl_s=0.6)
    b = RedisLimits(CONFIG, clients[1], keys, RedisHealth(), "b", lease_ttl_s=0.6)
    yield a, b
    for limits in (a, b):
        await limits.close()
    for client in clients:
        await client.aclose()


async def test_replies_in_flight_are_one_count_across_replicas(
    pair: tuple[RedisLimits, RedisLimits],
) -> None:
    a, b = pair
    assert await a.acquire_reply("u")
    assert await b.acquire_reply("u")
    assert not await a.acquire_reply("u")
    assert not await b.acquire_reply("u")
    assert await a.acquire_reply("other")  # per user
    a.release_reply("u")
    await a.close()  # the release is written in the background
    assert await b.acquire_reply("u")
    assert (a.in_flight("u"), b.in_flight("u")) == (0, 2)


async def test_a_dead_replicas_places_expire(pair: tuple[RedisLimits, RedisLimits]) -> None:
    a, b = pair
    assert await a.acquire_reply("u")
    assert await a.acquire_reply("u")
    assert not await b.acquire_reply("u")
    await asyncio.sleep(0.3)
    await b.refresh()  # a live replica's refresh keeps only its own places
    await asyncio.sleep(0.4)  # A never refreshes: it is dead, its places lapse
    assert await b.acquire_reply("u")
    assert await b.acquire_reply("u")


async def test_a_live_replicas_places_are_refreshed(pair: tuple[RedisLimits, RedisLimits]) -> None:
    a, b = pair
    assert await a.acquire_reply("u")
    assert await a.acquire_reply("u")
    for _ in range(4):
        await asyncio.sleep(0.25)
        await a.refresh()
    assert not await b.acquire_reply("u")


async def test_the_message_rate_is_one_bucket(pair: tuple[RedisLimits, RedisLimits]) -> None:
    a, b = pair
    assert await a.take_message("u") is None
    assert await b.take_message("u") is None
    assert await a.take_message("u") is None
    wait = await b.take_message("u")
    assert wait is not None
    assert 1 <= wait <= 20_000  # 3 a minute: a token every 20 s
    b.give_back_message("u")
    await b.close()
    assert await a.take_message("u") is None


async def test_connections_are_counted_across_replicas(
    pair: tuple[RedisLimits, RedisLimits],
) -> None:
    a, b = pair
    assert await a.open_connection("u")
    assert await b.open_connection("u")
    assert not await a.open_connection("u")
    b.close_connection("u")
    await b.close()
    assert await a.open_connection("u")


async def test_redis_down_refuses_turns_and_counts_connections_locally(
    redis_server: RedisServer,
) -> None:
    health = RedisHealth()
    client = connect("redis://127.0.0.1:1/0")  # nothing listens there
    limits = RedisLimits(CONFIG, client, Keys("x:"), health, "a")
    try:
        with pytest.raises(ChatError) as refused:
            await limits.acquire_reply("u")
        assert refused.value.code == "overloaded"
        assert refused.value.retry_after_ms
        health.failed(ConnectionError("refused"))  # what the heartbeat does within a second
        assert not health.up
        assert health.reason is not None
        assert health.reason.startswith("redis unreachable")
        with pytest.raises(ChatError):
            await limits.take_message("u")
        assert await limits.open_connection("u")
        assert await limits.open_connection("u")
        assert not await limits.open_connection("u")  # the cap holds in this process
        limits.close_connection("u")
        assert await limits.open_connection("u")
    finally:
        await client.aclose()


async def test_a_limit_is_one_command_and_needs_no_loaded_script(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each check is one `EVAL`: no `SCRIPT EXISTS` round trip before it (what redis-py's
    scripts in a pipeline cost), and a Redis that lost its scripts (restarted empty) is
    answered all the same."""
    client = connect(redis_server.url)
    limits = RedisLimits(CONFIG, client, Keys(f"t{uuid.uuid4().hex[:8]}:"), RedisHealth(), "a")
    try:
        await client.script_flush()
        sent: list[str] = []
        pack = AbstractConnection.pack_command

        def counting(conn: AbstractConnection, *args: Any) -> Any:
            sent.append(str(args[0]))
            return pack(conn, *args)

        monkeypatch.setattr(AbstractConnection, "pack_command", counting)
        assert await limits.acquire_reply("u")
        assert await limits.take_message("u") is None
        assert await limits.open_connection("u")
        assert sent == ["EVAL", "EVAL", "EVAL"]
    finally:
        await limits.close()
        await client.aclose()


async def test_a_turns_place_and_message_are_one_script(
    pair: tuple[RedisLimits, RedisLimits], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`admit_turn`: both or neither, in the local order (at the cap no message is spent),
    and one command for the two."""
    a, b = pair
    sent: list[str] = []
    pack = AbstractConnection.pack_command

    def counting(conn: AbstractConnection, *args: Any) -> Any:
        sent.append(str(args[0]))
        return pack(conn, *args)

    await a.take_message("warm-up")  # the connection's own set-up commands go first
    monkeypatch.setattr(AbstractConnection, "pack_command", counting)
    assert await a.admit_turn("u") is None
    assert sent == ["EVAL"]
    assert await b.admit_turn("u") is None
    assert await a.admit_turn("u") == NO_PLACE  # 2 in flight: the cap, no message spent
    b.release_reply("u")
    await b.close()
    assert await b.admit_turn("u") is None  # the third message of the minute
    a.release_reply("u")
    await a.close()
    wait = await a.admit_turn("u")  # a place is free, the messages are spent
    assert wait is not None
    assert wait > 0
    assert (a.in_flight("u"), b.in_flight("u")) == (0, 1)  # no place held for it
    b.release_reply("u")
    await b.close()
    assert await a.acquire_reply("u")


async def test_local_admission_takes_both_or_neither() -> None:
    limits = LocalLimits(CONFIG)
    assert await limits.admit_turn("u") is None
    assert await limits.admit_turn("u") is None
    assert await limits.admit_turn("u") == NO_PLACE
    assert await limits.take_message("v") is None  # per user
    limits.release_reply("u")
    assert await limits.admit_turn("u") is None  # the third message of the minute
    limits.release_reply("u")
    limits.release_reply("u")
    wait = await limits.admit_turn("u")
    assert wait is not None
    assert wait > 0
    assert limits.in_flight("u") == 0
