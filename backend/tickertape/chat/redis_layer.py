"""Redis as the live layer shared by several replicas, built by the lifespan when
`--redis-url` is set (docs/scaling.md). Each part sits behind a seam the single-process
default also implements:

| seam | single process | here |
| --- | --- | --- |
| `UserLimits` | `LocalLimits` | `RedisLimits` (redis_limits.py) |
| `NoticeBus` | `LocalNoticeBus` | `RedisNoticeBus` (redis_notices.py) |
| `SharedReplies` (chat service) | none | this class: the mirror of this replica's replies (redis_mirror.py), remote logs of the others' (remote_log.py), stops relayed to the owner (also when a conversation is deleted elsewhere), `on_disconnect: stop` counting every replica's readers (redis_readers.py), dead owners' replies ended (redis_reaper.py) |
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tickertape.chat.errors import ChatError
from tickertape.chat.limits import LimitsConfig
from tickertape.chat.redis_limits import RedisLimits, unavailable
from tickertape.chat.redis_mirror import ReplyMirror
from tickertape.chat.redis_notices import RedisChannels, RedisNoticeBus
from tickertape.chat.redis_readers import ReaderWatch
from tickertape.chat.redis_reaper import ORPHAN_EVERY_S, SWEEP_EVERY_S, Reaper, ReaperStore
from tickertape.chat.remote_log import RemoteLogs
from tickertape.chat.reply_log import ReplyLog
from tickertape.logs import redact_url
from tickertape.redis_client import (
    COMMAND_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    Batcher,
    Heartbeat,
    Keys,
    RedisHealth,
    RedisUnavailable,
    connect,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tickertape.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RedisConfig:
    url: str
    prefix: str
    mirror_interval_ms: int
    owner_timeout_s: float
    retention_s: float  # resume_retention_s: how long a finished reply's stream is kept
    max_entries: int  # MAXLEN of a reply's stream


class RedisLayer:
    def __init__(
        self, client: Redis, config: RedisConfig, store: ReaperStore, limits: LimitsConfig
    ) -> None:
        self.client = client
        self.keys = keys = Keys(config.prefix)
        self.health = RedisHealth()
        self.heartbeat = Heartbeat(client, keys, self.health, config.owner_timeout_s)
        self.replica_id = rid = self.heartbeat.replica_id
        self.batcher = Batcher(client)
        self.limits = RedisLimits(limits, client, keys, self.health, rid, batcher=self.batcher)
        self.channels = RedisChannels(client)
        self.notices = RedisNoticeBus(client, keys, self.channels, rid)
        self.mirror = ReplyMirror(
            client,
            keys,
            rid,
            interval_ms=config.mirror_interval_ms,
            retention_s=config.retention_s,
            max_entries=config.max_entries,
            batcher=self.batcher,
        )
        self.reaper = Reaper(
            client,
            keys,
            store,
            rid,
            retention_s=config.retention_s,
            max_entries=config.max_entries,
        )
        self.remote = RemoteLogs(client, keys, self.health, self.reaper.reap, store, rid)
        self.readers = ReaderWatch(client, keys, rid)
        self._stop_handler: Callable[[str], None] | None = None
        self._tool_result_handler: Callable[[str, str, str], None] | None = None
        self._last_sweep = 0.0
        self._last_orphan_sweep = time.monotonic()  # the first a minute after start
        self.channels.on(keys.stops(rid), self._stop_received)
        self.channels.on(keys.tool_results(rid), self._tool_result_received)
        self.channels.on(keys.readers_left(rid), self.readers.remote_readers_left)
        self.heartbeat.after_beat(self.limits.refresh)
        self.heartbeat.after_beat(self._sweep)
        self.heartbeat.after_beat(self.readers.recheck)

    @classmethod
    async def open(
        cls, config: RedisConfig, store: ReaperStore, limits: LimitsConfig
    ) -> RedisLayer:
        """Connect, announce this replica and subscribe; RedisUnavailable (one line) if
        Redis does not answer."""
        client = connect(config.url)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S + COMMAND_TIMEOUT_S):
                await client.ping()
            layer = cls(client, config, store, limits)
            async with asyncio.timeout(CONNECT_TIMEOUT_S + COMMAND_TIMEOUT_S):
                await layer.heartbeat.beat()
                await layer.channels.start()
        except Exception as exc:
            await client.aclose()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RedisUnavailable(
                f"cannot reach Redis at {redact_url(config.url)}: {reason}"
            ) from exc
        layer.heartbeat.start()
        log.info("redis: replica %s joined (%s)", layer.replica_id, redact_url(config.url))
        return layer

    async def alone(self) -> bool:
        """No other replica is alive (start-up may then recover every `streaming` reply)."""
        return not await self.reaper.others_alive()

    # -- SharedReplies -------------------------------------------------------------
    async def register(self, reply_log: ReplyLog, stored: bool) -> None:
        await self.mirror.register(reply_log, stored)

    async def find(self, user_id: str, reply_id: str, last_seq: int) -> ReplyLog | None:
        return await self.remote.open(user_id, reply_id, last_seq)

    async def stop(self, user_id: str, reply_id: str) -> bool:
        owner = await self._owner(user_id, reply_id)
        if owner is None:
            return False
        await self._relay_stop(reply_id, owner)
        return True

    async def tool_result(self, user_id: str, reply_id: str, call_id: str, content: str) -> bool:
        owner = await self._owner(user_id, reply_id)
        if owner is None:
            return False
        message = json.dumps({"r": reply_id, "c": call_id, "x": content}, ensure_ascii=False)
        await self._publish(self.keys.tool_results(owner), message, reply_id)
        return True

    async def _owner(self, user_id: str, reply_id: str) -> str | None:
        """The replica that runs the reply (None: unknown here); not_found: another user's."""
        try:
            meta = cast(dict[str, str], await self.client.hgetall(self.keys.meta(reply_id)))
        except Exception as exc:
            raise _unavailable(reply_id) from exc
        if not meta or "owner" not in meta:
            return None
        if meta.get("user") != user_id:
            raise ChatError("not_found", "no such reply in progress", reply_id)
        return meta["owner"]

    async def _publish(self, channel: str, message: str, reply_id: str) -> None:
        try:
            received = await self.client.publish(channel, message)
        except Exception as exc:
            raise _unavailable(reply_id) from exc
        if not received:  # the owner is reconnecting to Redis, or gone: the client retries
            raise _unavailable(reply_id)

    def on_tool_result(self, handler: Callable[[str, str, str], None]) -> None:
        """`handler(reply_id, call_id, content)` for results relayed to this replica."""
        self._tool_result_handler = handler

    def _tool_result_received(self, data: str) -> None:
        message = json.loads(data)
        if self._tool_result_handler is not None:
            self._tool_result_handler(message["r"], message["c"], message["x"])

    async def _relay_stop(self, reply_id: str, owner: str) -> None:
        """Publish the stop on the owner's channel. Nobody listening there: an owner that
        is alive is reconnecting to Redis (`overloaded`: the client retries); a dead one's
        reply is ended here and now, not at the janitor's next round."""
        try:
            if await self.client.publish(self.keys.stops(owner), reply_id):
                return
            alive = await self.client.exists(self.keys.heartbeat(owner))
        except Exception as exc:
            raise _unavailable(reply_id) from exc
        if alive:
            raise _unavailable(reply_id)
        try:
            await self.reaper.reap(reply_id, owner)
        except Exception as exc:
            raise _unavailable(reply_id) from exc

    async def stop_conversation(self, user_id: str, conversation_id: str) -> None:
        try:
            reply_id = cast(
                str | None, await self.client.get(self.keys.conversation(conversation_id))
            )
            meta = (
                cast(dict[str, str], await self.client.hgetall(self.keys.meta(reply_id)))
                if reply_id
                else {}
            )
        except Exception as exc:
            log.warning(
                "redis: the reply of deleted conversation %s not stopped: %s", conversation_id, exc
            )
            return
        owner = meta.get("owner")
        if not reply_id or owner is None or meta.get("user") != user_id or owner == self.replica_id:
            return  # none, or this replica's own (the chat service stopped it)
        try:
            await self._relay_stop(reply_id, owner)
        except ChatError:
            log.warning("redis: reply %s of a deleted conversation not stopped", reply_id)

    def last_reader_left(self, reply_log: ReplyLog, stop: Callable[[], None]) -> None:
        self.readers.local_readers_left(reply_log, stop)

    def on_stop(self, handler: Callable[[str], None]) -> None:
        """`handler(reply_id)` for stops that other replicas relay to this one."""
        self._stop_handler = handler

    def _stop_received(self, reply_id: str) -> None:
        if self._stop_handler is not None:
            self._stop_handler(reply_id)

    async def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= SWEEP_EVERY_S:
            self._last_sweep = now
            await self.reaper.sweep()
        if now - self._last_orphan_sweep >= ORPHAN_EVERY_S:
            self._last_orphan_sweep = now
            await self.reaper.sweep_orphans()

    # -- operations ----------------------------------------------------------------
    @property
    def ready_reason(self) -> str | None:
        return self.health.reason

    def watch(self, metrics: Metrics) -> None:
        metrics.registry.register(_RedisCollector(self))

    async def close(self) -> None:
        """After the chat service drained: the last ends go out, then this replica leaves."""
        unfinished = True
        try:
            await self.mirror.close()
            unfinished = self.mirror.pending > 0
            await self.notices.close()
            await self.limits.close()
        finally:
            # Ends that could not be written: stay in `replicas`, so that once the
            # heartbeat lapses the janitor of another replica ends those replies.
            await self.heartbeat.stop(leave=not unfinished)
            await self.channels.close()
            await self.readers.close()
            await self.remote.close()
            await self.client.aclose()


def _unavailable(reply_id: str) -> ChatError:
    error = unavailable()
    error.ref = reply_id
    return error


class _RedisCollector(Collector):
    def __init__(self, layer: RedisLayer) -> None:
        self._layer = layer

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        layer = self._layer
        yield GaugeMetricFamily("tickertape_redis_up", "Redis answered lately", layer.health.up)
        stats = layer.mirror.stats
        yield CounterMetricFamily(
            "tickertape_redis_mirror_entries", "Stream entries written", stats.entries
        )
        yield CounterMetricFamily(
            "tickertape_redis_mirror_frames", "Frames mirrored to Redis", stats.frames
        )
        yield CounterMetricFamily(
            "tickertape_redis_mirror_failures", "Mirror ticks whose write failed", stats.failures
        )
        yield CounterMetricFamily(
            "tickertape_redis_reaped_replies", "Replies of dead replicas ended", layer.reaper.reaped
        )
