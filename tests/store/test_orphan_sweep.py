"""The janitor's orphan sweep, on a real store (SQLite, and PostgreSQL under the `postgres`
marker) and a real redis-server: a reply committed `streaming` by a replica that died before
it registered the reply in Redis is ended `interrupted` with its checkpointed text, and a
resume on any replica then reads its end; a registered reply, or one written recently, is
left alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from tests.support.redis_server import RedisServer
from tickertape.chat.redis_reaper import Reaper
from tickertape.chat.remote_reply import RemoteReplyLog
from tickertape.redis_client import Keys, connect
from tickertape.store.models import Message
from tickertape.store.sql_store import SqlStore


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = connect(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def _streaming_reply(store: SqlStore, user_id: str, text: str, idle_s: float) -> str:
    """A committed turn whose reply streamed `text` and was last written `idle_s` ago."""
    turn = await store.start_turn(user_id, uuid.uuid4().hex, "Hi", None, {})
    store.checkpoint_reply(turn.reply_id, text, 2)
    await store.flush()
    async with store.engine.begin() as conn:
        await conn.execute(
            update(Message)
            .where(Message.id == turn.reply_id)
            .values(updated_at=datetime.now(UTC) - timedelta(seconds=idle_s))
        )
    return turn.reply_id


async def test_orphans_end_interrupted_and_the_rest_stay(store: SqlStore, redis: Redis) -> None:
    keys = Keys(f"t{uuid.uuid4().hex[:8]}:")
    alice = await store.ensure_user("alice", "user")
    orphan = await _streaming_reply(store, alice.id, "half an ans", idle_s=120)
    registered = await _streaming_reply(store, alice.id, "live but quiet", idle_s=120)
    await redis.hset(keys.meta(registered), mapping={"owner": "alive", "user": alice.id})
    await redis.set(keys.heartbeat("alive"), "1", px=60_000)
    recent = await _streaming_reply(store, alice.id, "just started", idle_s=1)
    reaper = Reaper(redis, keys, store, "me", retention_s=60, max_entries=100)

    assert await reaper.sweep_orphans(idle_s=60) == 1

    ended = await store.get_message(orphan)
    assert ended is not None
    assert (ended.status, ended.content, ended.seq) == ("interrupted", "half an ans", 2)
    for reply_id in (registered, recent):
        kept = await store.get_message(reply_id)
        assert kept is not None
        assert kept.status == "streaming"
    # Any replica that resumes the orphan reads its end (with the stored text) from Redis.
    stream = RemoteReplyLog(orphan, alice.id, None, "continue", stored=True)
    assert stream.add_entries(await redis.xrange(keys.stream(orphan)))
    assert stream.end is not None
    assert stream.end.status == "interrupted"
    assert await redis.pttl(keys.stream(orphan)) > 0  # kept for the resume retention
    # A second sweep finds nothing more to end.
    assert await reaper.sweep_orphans(idle_s=60) == 0
