"""The error paths of following another replica's reply, and of the janitor, against a real
redis-server: a stream that vanished, a gap, Redis gone mid-XREAD (the store then says when
the reply ends), a sweep racing a replica that lives on, keys Redis lost under a live owner."""

from __future__ import annotations

import asyncio
import datetime
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from tests.support.redis_server import RedisServer, running_redis
from tickertape.chat import redis_mirror
from tickertape.chat.log_reader import LogCursor, LogItem, Snapshot
from tickertape.chat.redis_mirror import ReplyMirror
from tickertape.chat.redis_reaper import Reaper
from tickertape.chat.remote_log import RemoteLogs
from tickertape.chat.remote_reply import RemoteReplyLog
from tickertape.chat.reply_log import LogFrame, ReplyEnd, ReplyLog
from tickertape.redis_client import Keys, RedisHealth, connect
from tickertape.store.types import MessageRecord, MessageStatus

OWNER = "owner0000000000a"


@dataclass
class FakeStore:
    """The store's view of replies: what `get_message` answers."""

    records: dict[str, MessageRecord] = field(default_factory=dict)
    interrupted: list[str] = field(default_factory=list)
    on_read: list[object] = field(default_factory=list)  # callbacks run at each read

    def put(self, reply_id: str, content: str, seq: int, status: MessageStatus) -> None:
        self.records[reply_id] = MessageRecord(
            reply_id,
            "c1",
            "assistant",
            content,
            status,
            None if status == "streaming" else "length",
            seq,
            datetime.datetime.now(datetime.UTC),
            {"prompt_tokens": 3, "completion_tokens": seq},
            None,
            "u",
        )

    async def get_message(self, message_id: str) -> MessageRecord | None:
        for callback in self.on_read:
            await callback()  # type: ignore[operator]
        return self.records.get(message_id)

    async def interrupt_reply(self, reply_id: str, content: str, seq: int) -> bool:
        record = self.records.get(reply_id)
        if record is None or record.status != "streaming":
            return False
        self.interrupted.append(reply_id)
        self.put(reply_id, content, seq, "interrupted")
        return True


@dataclass
class Setup:
    client: Redis
    keys: Keys
    store: FakeStore

    async def start_reply(self, reply_id: str, *texts: str, owner: str = OWNER) -> None:
        """What an owner's mirror writes for a reply with these frames so far."""
        await self.client.set(self.keys.heartbeat(owner), "1", px=60_000)
        await self.client.hset(
            self.keys.meta(reply_id),
            mapping={"owner": owner, "user": "u", "conv": "c1", "stored": "1", "od": "continue"},
        )
        if texts:
            await self.entry(reply_id, 1, *texts)
        self.store.put(reply_id, "".join(texts), len(texts), "streaming")

    async def entry(self, reply_id: str, first_seq: int, *texts: str) -> None:
        frames = json.dumps([["text", t] for t in texts])
        await self.client.xadd(self.keys.stream(reply_id), {"s": str(first_seq), "f": frames})


@pytest.fixture
async def setup(redis_server: RedisServer) -> AsyncIterator[Setup]:
    client = connect(redis_server.url)
    yield Setup(client, Keys(f"t{uuid.uuid4().hex[:8]}:"), FakeStore())
    await client.aclose()


def _remote(setup: Setup, client: Redis | None = None) -> RemoteLogs:
    async def reap(reply_id: str) -> None:
        raise AssertionError("the owner is alive: nothing is reaped")

    return RemoteLogs(client or setup.client, setup.keys, RedisHealth(), reap, setup.store, "b")


async def _items_until_end(log: RemoteReplyLog, timeout: float) -> list[LogItem]:
    """What a reader that holds nothing gets, through the end."""
    cursor, items = LogCursor(log), list[LogItem]()
    wake = asyncio.Event()
    log.add_listener(wake.set)
    try:
        async with asyncio.timeout(timeout):
            while not cursor.done:
                wake.clear()
                item = cursor.next_item()
                if item is None:
                    await wake.wait()
                else:
                    items.append(item)
    finally:
        log.remove_listener(wake.set)
    return items


async def _until_blocked_in_xread(client: Redis, timeout_s: float = 10.0) -> None:
    """Until a connection of this Redis waits in a blocking XREAD: the follower reads."""
    deadline = time.monotonic() + timeout_s
    while True:
        clients = await client.client_list()
        if any(c.get("cmd") == "xread" and "b" in c.get("flags", "") for c in clients):
            return
        assert time.monotonic() < deadline, clients
        await asyncio.sleep(0.01)  # polling a condition, not waiting for a guess


async def test_a_stream_that_vanished_is_ended_from_the_store(setup: Setup) -> None:
    """The owner lives on, but the reply's keys are gone (evicted, expired, a Redis restarted
    empty) and no more entries come: the follower no longer waits forever."""
    remote = _remote(setup)
    try:
        await setup.start_reply("r1", "Hel", "lo")
        log = await remote.open("u", "r1", 0)
        assert log is not None
        assert log.sealed_seq == 2
        reading = asyncio.create_task(_items_until_end(log, timeout=10))
        await _until_blocked_in_xread(setup.client)
        await setup.client.delete(setup.keys.stream("r1"), setup.keys.meta("r1"))
        setup.store.put("r1", "Hello world", 3, "complete")  # the owner finished it
        started = time.monotonic()
        items = await reading
        print(f"ended from the store {time.monotonic() - started:.1f} s after the loss")
        assert items[:2] == [LogFrame(1, "text", "Hel"), LogFrame(2, "text", "lo")]
        assert items[2] == Snapshot(3, "Hello world", "complete")
        end = items[3]
        assert isinstance(end, ReplyEnd)
        assert (end.seq, end.status, end.finish_reason) == (3, "complete", "length")
    finally:
        await remote.close()


async def test_a_gap_in_a_stored_replys_stream_is_filled_by_the_store(setup: Setup) -> None:
    remote = _remote(setup)
    try:
        await setup.start_reply("r2", "a")
        log = await remote.open("u", "r2", 0)
        assert log is not None
        reading = asyncio.create_task(_items_until_end(log, timeout=10))
        await setup.entry("r2", 3, "c")  # frame 2 never reached the stream
        await asyncio.sleep(0.3)
        assert log.end is None
        assert log.sealed_seq == 1
        setup.store.put("r2", "abcd", 4, "complete")
        items = await reading
        assert items[1:] == [Snapshot(4, "abcd", "complete"), items[-1]]
        assert isinstance(items[-1], ReplyEnd)
        assert items[-1].status == "complete"
    finally:
        await remote.close()


async def test_redis_gone_mid_xread_the_store_ends_the_reply() -> None:
    """Redis dies while a replica follows another one's reply (and does not come back):
    once the reply is over in the store, its followers here get the end."""
    with running_redis() as server:
        client = connect(server.url)
        setup = Setup(client, Keys("f:"), FakeStore())
        remote = _remote(setup)
        try:
            await setup.start_reply("r3", "one", " two")
            log = await remote.open("u", "r3", 0)
            assert log is not None
            reading = asyncio.create_task(_items_until_end(log, timeout=15))
            await _until_blocked_in_xread(client)
            server.stop()
            await asyncio.sleep(0.5)
            assert log.end is None  # still streaming as far as anyone can tell
            setup.store.put("r3", "one two three", 3, "complete")
            started = time.monotonic()
            items = await reading
            print(f"ended from the store {time.monotonic() - started:.1f} s later")
            assert items[-2] == Snapshot(3, "one two three", "complete")
            assert isinstance(items[-1], ReplyEnd)
            assert items[-1].seq == 3
        finally:
            await remote.close()
            await client.aclose()


async def test_the_janitor_keeps_what_a_living_replica_adds_meanwhile(setup: Setup) -> None:
    """Replica x's heartbeat lapsed (a stall, a partition): the janitor ends the replies it
    owned. x lives on and registers a new reply while the janitor is at it: that one stays
    in `owned:x` (for the janitor's next round should x really die), and x in `replicas`."""
    keys, client, store = setup.keys, setup.client, setup.store
    await setup.start_reply("old", "partial", owner="x")
    await client.delete(keys.heartbeat("x"))  # lapsed
    await client.sadd(keys.replicas, "x", "me")
    await client.sadd(keys.owned("x"), "old")

    async def x_registers_a_reply() -> None:
        store.on_read.clear()
        await client.sadd(keys.owned("x"), "new")

    store.on_read.append(x_registers_a_reply)
    reaper = Reaper(client, keys, store, "me", retention_s=60, max_entries=100)
    await reaper.sweep()
    assert store.interrupted == ["old"]
    assert await client.smembers(keys.owned("x")) == {"new"}
    assert "x" in await client.smembers(keys.replicas)
    # x dies for real: the next round ends the new reply too, and x leaves `replicas`.
    await setup.start_reply("new", owner="x")
    await client.delete(keys.heartbeat("x"))
    await reaper.sweep()
    assert store.interrupted == ["old", "new"]
    assert not await client.exists(keys.owned("x"))
    assert await client.smembers(keys.replicas) == {"me"}


async def test_an_owner_writes_again_what_redis_lost(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis loses a live reply's keys (a restart without persistence, an eviction): the
    owner notices at its next expiry refresh and writes them again, the stream from seq 1,
    so that a resume on another replica reads every frame (not a gap, not the store)."""
    monkeypatch.setattr(redis_mirror, "EXPIRY_REFRESH_S", 0.0)  # a refresh at every tick
    keys, client = setup.keys, setup.client
    mirror = ReplyMirror(client, keys, OWNER, interval_ms=10_000, retention_s=60, max_entries=100)
    await client.set(keys.heartbeat(OWNER), "1", px=60_000)
    reply = ReplyLog("r5", "u", "c5", "continue")
    await mirror.register(reply, stored=True)
    reply.append("one")
    await mirror.flush()
    await client.delete(keys.stream("r5"), keys.meta("r5"), keys.conversation("c5"))
    reply.append(" two")
    await mirror.flush()  # finds the keys gone
    reply.append(" three")
    await mirror.flush()  # writes them again
    entries = await client.xrange(keys.stream("r5"))
    assert [e["s"] for _, e in entries] == ["1"]
    assert await client.hget(keys.meta("r5"), "owner") == OWNER
    assert await client.get(keys.conversation("c5")) == "r5"
    remote = _remote(setup)
    try:
        log = await remote.open("u", "r5", 0)
        assert log is not None
        assert [f.text for f in log.frames] == ["one", " two", " three"]
    finally:
        await remote.close()
        await mirror.close()
