"""Pub/sub between replicas: user notices to every replica, stops to a reply's owner.

`RedisChannels` holds this process's one subscriber connection; each channel has a handler
that runs on the event loop. Two kinds of channel use it:

- `notices`: one channel for the deployment; every replica receives every notice and
  delivers it to the sessions of that user it holds (notices are rare: turn starts,
  renames, deletions). `RedisNoticeBus` delivers to this process's sessions at once, as
  `LocalNoticeBus` does, and publishes for the others; a replica ignores its own messages.
- `stop:{replica}`: a `stop` sent to a replica that does not run the reply is published to
  the owner's channel; the owner's handler stops the reply in its engine.

While Redis is unreachable notices reach this replica's sessions only; the subscriber
reconnects (redis-py subscribes again) when Redis is back.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tickertape.chat.notices import LocalNoticeBus, Notice, Subscriber
from tickertape.redis_client import Keys

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

_RETRY_S = 0.5


class RedisChannels:
    def __init__(self, client: Redis) -> None:
        self._client = client
        self._handlers: dict[str, Callable[[str], None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def on(self, channel: str, handler: Callable[[str], None]) -> None:
        """Before `start`: call `handler(data)` for every message on `channel`."""
        self._handlers[channel] = handler

    async def start(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(*self._handlers)
        self.subscribed.set()
        self._task = asyncio.create_task(self._run(pubsub), name="redis-subscriber")

    async def _run(self, pubsub: Any) -> None:
        failing = False
        try:
            while True:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except Exception as exc:
                    if not failing:
                        log.warning("redis subscriber: %s; reconnecting", exc)
                        failing = True
                    await asyncio.sleep(_RETRY_S)
                    continue
                failing = False
                if message is None or message.get("type") != "message":
                    continue
                handler = self._handlers.get(message["channel"])
                if handler is not None:
                    try:
                        handler(message["data"])
                    except Exception:
                        log.exception("redis subscriber: a handler failed")
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class RedisNoticeBus:
    """`NoticeBus` across replicas (see the module's docstring)."""

    def __init__(self, client: Redis, keys: Keys, channels: RedisChannels, replica_id: str) -> None:
        self._client = client
        self._channel = keys.notices
        self._replica = replica_id
        self._local = LocalNoticeBus()
        self._outbox: collections.deque[str] = collections.deque()
        self._sender: asyncio.Task[None] | None = None
        channels.on(self._channel, self._received)

    def publish(self, notice: Notice) -> None:
        self._local.publish(notice)
        payload = {"r": self._replica, "u": notice.user_id, "f": notice.frame, "o": notice.origin}
        self._outbox.append(json.dumps(payload, separators=(",", ":")))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="redis-notices")

    def subscribe(self, user_id: str, deliver: Subscriber) -> Callable[[], None]:
        return self._local.subscribe(user_id, deliver)

    async def _send(self) -> None:
        """Publish in order, everything queued in one round trip."""
        while self._outbox:
            batch = list(self._outbox)
            self._outbox.clear()
            pipe = self._client.pipeline(transaction=False)
            for payload in batch:
                pipe.publish(self._channel, payload)
            try:
                await pipe.execute()
            except Exception as exc:
                log.warning("redis: %d notices reached this replica only: %s", len(batch), exc)

    def _received(self, data: str) -> None:
        try:
            payload = json.loads(data)
            if payload["r"] == self._replica:
                return  # delivered locally when published
            notice = Notice(payload["u"], payload["f"], payload.get("o"))
        except (ValueError, KeyError, TypeError):
            log.warning("redis: an unreadable notice was ignored")
            return
        self._local.publish(notice)

    async def close(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
