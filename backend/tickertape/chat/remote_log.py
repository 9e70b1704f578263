"""A reply that runs on another replica, read from its Redis stream as a `ReplyLog`.

The owner's mirror (`redis_mirror.py`) appends every sealed frame of the reply's log to the
stream `r:{reply_id}` with its seq, then the end. Here a `RemoteReplyLog` is filled from
that stream (XRANGE from the start, then XREAD), so the transports read it exactly like a
local log: a connection's cursor, `follow()`, `resume` from any `last_seq`. One reader
task per process follows every remote reply its connections follow, in one XREAD.

An owner that dies stops its heartbeat; the reader then has the reply ended `interrupted`
(`redis_reaper.py`), so nobody waits forever on a stream that no longer grows. Nor on a
stream that cannot end: while Redis does not answer, or when a reply's stream vanished
(evicted, expired, a Redis restarted empty) or lost entries, the reader asks the store
instead every few seconds, and ends the log with the stored outcome once there is one (a
`snapshot` of the stored text first when the frames here do not lead to it).

A reply with `on_disconnect: "stop"` also learns who reads it here: the first connection
that follows it adds this replica to `rd:{reply_id}`, the last one to leave removes it and
tells the owner (`left:{owner}`), which stops the reply once no replica has a reader left
(`redis_readers.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from tickertape.chat.errors import ChatError
from tickertape.chat.remote_reply import RemoteReplyLog, failed_end
from tickertape.chat.reply_log import ReplyError
from tickertape.redis_client import COMMAND_TIMEOUT_S, Keys, RedisHealth

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from redis.asyncio import Redis

    from tickertape.store.types import MessageRecord

log = logging.getLogger(__name__)

BLOCK_MS = 100  # how long one XREAD waits for news (also: how soon a new stream joins)
MIN_ROUND_S = 0.01  # at most ~100 XREADs a second per process, however busy
OWNER_CHECK_S = 1.0
CATCH_UP_S = 1.0  # a client may hold a frame the owner has not mirrored yet: wait for it
IDLE_S = 30.0  # a remote reply nobody here follows is dropped after this long
KEEP_FINISHED_S = 10.0
FAILING_S = 2.0  # XREAD failing this long: the store says when a followed reply ends
STORE_POLL_S = 2.0  # how often the store is asked then
READERS_TTL_S = 60.0  # rd:{reply}, refreshed every READERS_REFRESH_S while read here
READERS_REFRESH_S = 10.0


class StoredReplies(Protocol):
    async def get_message(self, message_id: str) -> MessageRecord | None: ...


class RemoteLogs:
    """The remote replies this process's connections follow, and the task that reads them."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        health: RedisHealth,
        reap: Callable[[str], Awaitable[object]],
        store: StoredReplies,
        replica_id: str,
    ) -> None:
        self._client = client
        self._keys = keys
        self._health = health
        self._reap = reap
        self._store = store
        self._replica = replica_id
        self._logs: dict[str, RemoteReplyLog] = {}
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing_since: float | None = None  # XREAD failing since (monotonic)
        self._store_polled = 0.0
        # on_disconnect: stop. Replies whose readers here are in `rd:{id}`, and replies
        # whose readers came or went since the last write of that.
        self._present: set[str] = set()
        self._unsynced: dict[str, RemoteReplyLog] = {}
        self._announcer: asyncio.Task[None] | None = None
        self._presence_refreshed = time.monotonic()

    async def open(self, user_id: str, reply_id: str, last_seq: int) -> RemoteReplyLog | None:
        """The reply's remote log, or None when Redis does not know it (then the store
        answers); `not_found` when it is another user's."""
        reply_log = self._logs.get(reply_id)
        if reply_log is None:
            reply_log = await self._load(reply_id)
            if reply_log is None:
                return None
        if reply_log.user_id != user_id:
            raise ChatError("not_found", "no such reply", reply_id)
        reply_log.last_used = time.monotonic()
        if last_seq > reply_log.sealed_seq and reply_log.end is None:
            await _wait_for(reply_log, lambda: reply_log.sealed_seq >= last_seq, CATCH_UP_S)
        return reply_log

    async def _load(self, reply_id: str) -> RemoteReplyLog | None:
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(self._keys.meta(reply_id))
            pipe.xrange(self._keys.stream(reply_id))
            meta, entries = await pipe.execute()
        except Exception as exc:
            log.info("redis: reply %s read from the store instead: %s", reply_id, exc)
            return None
        if not meta or "owner" not in meta:
            return None
        reply_log = RemoteReplyLog.from_meta(reply_id, meta)
        if not reply_log.add_entries(entries):
            log.warning("redis: the stream of reply %s has a gap; using the store", reply_id)
            return None
        existing = self._logs.get(reply_id)  # another resume loaded it meanwhile
        if existing is not None:
            return existing
        reply_log.on_readers = self._readers_changed
        if reply_log.end is None:
            self._logs[reply_id] = reply_log
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._follow(), name="redis-follower")
        return reply_log

    async def _follow(self) -> None:
        last_upkeep = time.monotonic()
        while self._prune():
            started = time.monotonic()
            live = {self._keys.stream(rid): rl for rid, rl in self._logs.items() if rl.end is None}
            try:
                await self._read(live)
                if started - last_upkeep >= OWNER_CHECK_S and self._failing_since is None:
                    last_upkeep = started
                    await self._upkeep(list(live.values()))
                await self._ask_store(list(live.values()))
            except Exception:
                # Whatever went wrong, the followers here must not be left without a reader.
                log.exception("redis follower: a round failed")
                await asyncio.sleep(0.5)
            elapsed = time.monotonic() - started
            if elapsed < MIN_ROUND_S:
                await asyncio.sleep(MIN_ROUND_S - elapsed)

    async def _read(self, live: dict[str, RemoteReplyLog]) -> None:
        """One XREAD of every live stream; a failure is waited out (and counted)."""
        try:
            answer = await self._client.xread(
                {key: rl.last_id for key, rl in live.items()}, block=BLOCK_MS
            )
        except Exception as exc:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.warning("redis follower: %s; retrying", exc)
            await asyncio.sleep(0.5)
            return
        self._failing_since = None
        for key, entries in _stream_items(answer):
            reply_log = live.get(key)
            if reply_log is not None and not reply_log.add_entries(entries):
                self._broken(reply_log)

    def _prune(self) -> bool:
        """Forget what nobody follows any more; True while a remote reply is live here.

        A finished reply stays a little (a resume right after `end` reads it here), and
        all of them go when none is live (they are read again from the stream if needed).
        """
        now = time.monotonic()
        live = False
        for reply_id, reply_log in list(self._logs.items()):
            if reply_log.end is not None:
                if reply_log.finished_at is None:
                    reply_log.finished_at = now
                    self._present.discard(reply_id)  # `rd:` lapses on its own
                if now - reply_log.finished_at > KEEP_FINISHED_S:
                    del self._logs[reply_id]
            elif reply_log.listener_count == 0 and now - reply_log.last_used > IDLE_S:
                del self._logs[reply_id]
            else:
                live = True
        if not live:
            self._logs.clear()
        return live

    async def _upkeep(self, live: list[RemoteReplyLog]) -> None:
        """Every second: the owners' heartbeats (a dead owner's replies are reaped), the
        streams (one that vanished makes its reader ask the store), this replica's
        readers in `rd:` (refreshed, and written again if a write failed)."""
        owners = sorted({rl.owner for rl in live if not rl.reaping})
        watched = [rl for rl in live if not rl.degraded]
        refresh = time.monotonic() - self._presence_refreshed >= READERS_REFRESH_S
        try:
            pipe = self._client.pipeline(transaction=False)
            for owner in owners:
                pipe.exists(self._keys.heartbeat(owner))
            for rl in watched:
                pipe.exists(self._keys.stream(rl.reply_id))
                pipe.exists(self._keys.meta(rl.reply_id))
            if refresh:
                for reply_id in self._present:
                    pipe.pexpire(self._keys.readers(reply_id), int(READERS_TTL_S * 1000))
            results = await asyncio.wait_for(pipe.execute(), COMMAND_TIMEOUT_S)
        except Exception:
            return  # Redis is away: nobody can tell, nobody is reaped
        if refresh:
            self._presence_refreshed = time.monotonic()
        alive = dict(zip(owners, results[: len(owners)], strict=True))
        for i, reply_log in enumerate(watched):
            stream, meta = results[len(owners) + 2 * i : len(owners) + 2 * i + 2]
            # No stream yet is normal before the first frame; one that existed, or a reply
            # Redis forgot altogether, will not bring the end.
            if not stream and (reply_log.last_id != "0-0" or not meta) and reply_log.end is None:
                log.warning(
                    "redis: the stream of reply %s is gone; asking the store", reply_log.reply_id
                )
                reply_log.degraded = True
        for reply_log in live:
            if not reply_log.reaping and not alive.get(reply_log.owner, True):
                reply_log.reaping = True
                self._spawn(self._reap_one(reply_log), "redis-reap")
        if self._unsynced:
            self._announce_soon()

    async def _ask_store(self, live: list[RemoteReplyLog]) -> None:
        """End the replies whose stream cannot bring the end (Redis has not answered for a
        while, or the stream is gone) from the store, once the store has their outcome."""
        now = time.monotonic()
        failing = self._failing_since is not None and now - self._failing_since >= FAILING_S
        if now - self._store_polled < STORE_POLL_S:
            return
        asked = [rl for rl in live if rl.end is None and (failing or rl.degraded)]
        if not asked:
            return
        self._store_polled = now
        for reply_log in asked:
            if not reply_log.stored:
                if reply_log.degraded:  # nothing else knows an unstored reply's outcome
                    self._lost(reply_log)
                continue  # Redis may come back
            try:
                record = await self._store.get_message(reply_log.reply_id)
            except Exception as exc:
                log.info("redis follower: the store did not answer either: %s", exc)
                return
            if reply_log.settle(record):
                log.info("reply %s ended from the store: %s", reply_log.reply_id, reply_log.end)

    async def _reap_one(self, reply_log: RemoteReplyLog) -> None:
        try:
            await self._reap(reply_log.reply_id)
        except Exception:
            log.warning(
                "redis: ending reply %s of a dead replica failed", reply_log.reply_id, exc_info=True
            )
        finally:
            reply_log.reaping = False  # checked again in a second unless its end came

    def _broken(self, reply_log: RemoteReplyLog) -> None:
        """A gap in a stream (Redis lost entries): the store has the rest of the reply."""
        if reply_log.stored:
            if not reply_log.degraded:
                log.warning(
                    "redis: the stream of reply %s has a gap; asking the store", reply_log.reply_id
                )
                reply_log.degraded = True
            return
        self._lost(reply_log)

    def _lost(self, reply_log: RemoteReplyLog) -> None:
        """A reply that is not stored and whose stream is unusable: end its readers' wait
        with an error."""
        log.error("redis: the live frames of unstored reply %s were lost", reply_log.reply_id)
        error = ReplyError("internal", "the live reply was lost; reload the conversation")
        reply_log.finish_with(failed_end(reply_log.sealed_seq, error))

    # -- on_disconnect: stop -------------------------------------------------------
    def _readers_changed(self, reply_log: RemoteReplyLog) -> None:
        if reply_log.stop_when_unread:
            self._unsynced[reply_log.reply_id] = reply_log
            self._announce_soon()

    def _announce_soon(self) -> None:
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.create_task(self._announce(), name="redis-readers")

    async def _announce(self) -> None:
        """Write, in order, whether connections here read each reply that changed: the
        first reader adds this replica to `rd:{reply}`; the last one removes it and tells
        the owner, which decides (a failed write is tried again at the next upkeep)."""
        while self._unsynced:
            batch, self._unsynced = self._unsynced, {}
            pipe = self._client.pipeline(transaction=False)
            changes: list[tuple[str, bool]] = []
            for reply_id, reply_log in batch.items():
                reading = reply_log.readers > 0 and reply_log.end is None
                if reading == (reply_id in self._present):
                    continue
                key = self._keys.readers(reply_id)
                if reading:
                    pipe.sadd(key, self._replica)
                    pipe.pexpire(key, int(READERS_TTL_S * 1000))
                else:
                    pipe.srem(key, self._replica)
                    pipe.publish(self._keys.readers_left(reply_log.owner), reply_id)
                changes.append((reply_id, reading))
            if not changes:
                continue
            try:
                await asyncio.wait_for(pipe.execute(), COMMAND_TIMEOUT_S)
            except Exception as exc:
                log.info("redis: readers of %d replies not written yet: %s", len(changes), exc)
                for reply_id, _ in changes:
                    self._unsynced.setdefault(reply_id, batch[reply_id])
                return
            for reply_id, reading in changes:
                if reading:
                    self._present.add(reply_id)
                else:
                    self._present.discard(reply_id)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = [t for t in (self._task, self._announcer, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _stream_items(answer: Any) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """XREAD's answer as (key, entries) pairs (RESP2 lists and RESP3 maps alike)."""
    if not answer:
        return []
    if isinstance(answer, dict):
        return [
            (key, value[0] if value and isinstance(value[0], list) else value)
            for key, value in answer.items()
        ]
    return [(key, entries) for key, entries in answer]


async def _wait_for(reply_log: RemoteReplyLog, done: Callable[[], bool], seconds: float) -> None:
    wake = asyncio.Event()
    reply_log.add_waiter(wake.set)  # not a reader: on_disconnect counts connections
    try:
        async with asyncio.timeout(seconds):
            while not done() and reply_log.end is None:
                wake.clear()
                await wake.wait()
    except TimeoutError:
        pass
    finally:
        reply_log.remove_waiter(wake.set)
