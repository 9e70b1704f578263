"""The connection to Redis, the shared live layer of several replicas (`--redis-url`).

Only imported when Redis is configured: `redis` (redis-py, the `redis` extra) is not needed
by a single process. Everything here is small and shared by the Redis-backed components
(`chat/redis_*.py`, `chat/remote_log.py`): the client, the key names, this replica's id and
heartbeat, and whether Redis answers right now (`RedisHealth`, which `/readyz` reports).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tickertape.logs import redact_url

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 32


class RedisUnavailable(Exception):
    """Redis is configured but does not answer (one line, for the CLI)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """Every key and channel name, under one prefix (several deployments may share a Redis)."""

    prefix: str

    def heartbeat(self, replica: str) -> str:
        return f"{self.prefix}hb:{replica}"

    @property
    def replicas(self) -> str:
        return f"{self.prefix}replicas"

    def owned(self, replica: str) -> str:
        return f"{self.prefix}owned:{replica}"

    def stream(self, reply_id: str) -> str:
        return f"{self.prefix}r:{reply_id}"

    def meta(self, reply_id: str) -> str:
        return f"{self.prefix}m:{reply_id}"

    def reap_lock(self, reply_id: str) -> str:
        return f"{self.prefix}reap:{reply_id}"

    def readers(self, reply_id: str) -> str:
        """The replicas (other than the owner) with a connection following the reply."""
        return f"{self.prefix}rd:{reply_id}"

    def conversation(self, conversation_id: str) -> str:
        """The reply streaming (or streamed lately) in a conversation."""
        return f"{self.prefix}cv:{conversation_id}"

    def in_flight(self, user_id: str) -> str:
        return f"{self.prefix}inflight:{user_id}"

    def connections(self, user_id: str) -> str:
        return f"{self.prefix}conns:{user_id}"

    def rate(self, user_id: str) -> str:
        return f"{self.prefix}rate:{user_id}"

    @property
    def notices(self) -> str:
        return f"{self.prefix}notices"

    def stops(self, replica: str) -> str:
        return f"{self.prefix}stop:{replica}"

    def tool_results(self, replica: str) -> str:
        return f"{self.prefix}tool:{replica}"

    def readers_left(self, replica: str) -> str:
        """The owner's channel: the last reader of one of its replies on a replica left."""
        return f"{self.prefix}left:{replica}"


def connect(url: str) -> Redis:
    """A client with short timeouts (a dead Redis must cost a turn a second, not minutes)
    and a bounded pool: a burst of turns waits for one of its connections rather than
    opening hundreds (a blocked XREAD and the subscriber hold one each)."""
    try:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RedisUnavailable(
            "the redis client is not installed: pip install 'tickertape[redis]'"
        ) from exc
    try:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=2 * COMMAND_TIMEOUT_S,  # waiting for a free connection
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=10,
        )
        return aioredis.Redis(connection_pool=pool)
    except ValueError as exc:
        raise RedisUnavailable(f"invalid Redis URL: {exc}") from exc


async def check(url: str) -> None:
    """Raise RedisUnavailable (one line) unless Redis answers PING."""
    client = connect(url)
    try:
        await asyncio.wait_for(client.ping(), CONNECT_TIMEOUT_S + COMMAND_TIMEOUT_S)
    except Exception as exc:
        raise RedisUnavailable(
            f"cannot reach Redis at {redact_url(url)}: {_one_line(exc)}"
        ) from exc
    finally:
        await client.aclose()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class RedisHealth:
    """Whether Redis answered lately: set by the heartbeat, read by /readyz and the limits."""

    def __init__(self) -> None:
        self.up = True
        self.error: str | None = None
        self._listeners: list[Callable[[bool], None]] = []

    def ok(self) -> None:
        if not self.up:
            log.warning("redis is reachable again")
            self._set(True)
        self.error = None

    def failed(self, exc: BaseException) -> None:
        self.error = _one_line(exc)
        if self.up:
            log.error("redis unreachable: %s", self.error)
            self._set(False)

    def on_change(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def _set(self, up: bool) -> None:
        self.up = up
        for listener in self._listeners:
            listener(up)

    @property
    def reason(self) -> str | None:
        return None if self.up else f"redis unreachable: {self.error or 'no answer'}"


class Heartbeat:
    """This replica's liveness in Redis: `hb:{id}` with a TTL, refreshed every second.

    Other replicas read it to tell a live owner of a reply from a dead one: a replica that
    is SIGKILLed stops refreshing, and its key expires `ttl_s` later. Each beat also runs
    the jobs registered with `after_beat` (lease refreshes, the janitor).
    """

    def __init__(self, client: Redis, keys: Keys, health: RedisHealth, ttl_s: float) -> None:
        self.replica_id = uuid.uuid4().hex[:16]
        self._client = client
        self._keys = keys
        self._health = health
        self.ttl_s = ttl_s
        self.interval_s = max(0.2, min(1.0, ttl_s / 4))
        self._after: list[Callable[[], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.last_ok = 0.0

    def after_beat(self, job: Callable[[], Awaitable[None]]) -> None:
        """A job started after each successful beat (lease refreshes, the janitor); it runs
        as its own task, so a slow one never delays the beat, and never twice at once."""
        self._after.append(job)

    async def beat(self) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._keys.heartbeat(self.replica_id), "1", px=int(self.ttl_s * 1000))
        pipe.sadd(self._keys.replicas, self.replica_id)
        await pipe.execute()
        self.last_ok = time.monotonic()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-heartbeat")

    async def _run(self) -> None:
        jobs: dict[int, asyncio.Task[None]] = {}
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    await self.beat()
                except Exception as exc:
                    self._health.failed(exc)
                    continue
                self._health.ok()
                for i, job in enumerate(self._after):
                    if i not in jobs or jobs[i].done():
                        jobs[i] = asyncio.create_task(_logged(job), name="redis-job")
        finally:
            for task in jobs.values():
                task.cancel()

    async def stop(self, leave: bool = True) -> None:
        """Stop beating and remove the heartbeat; `leave`: also leave `replicas` (else the
        janitors of the others treat this replica as dead and end what it still owns)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.delete(self._keys.heartbeat(self.replica_id))
            if leave:
                pipe.srem(self._keys.replicas, self.replica_id)
            await pipe.execute()
        except Exception:
            log.info("could not remove this replica's heartbeat from redis", exc_info=True)


async def _logged(job: Callable[[], Awaitable[None]]) -> None:
    try:
        await job()
    except Exception:
        log.warning("a periodic redis job failed", exc_info=True)


Queue = Callable[["Pipeline"], Awaitable[None] | None]


class Batcher:
    """Group commit for Redis: what callers submit while a round trip is in flight goes out
    together in the next pipeline, in submission order. A burst of turns then costs a few
    round trips and one connection, not one of each per turn (and order per user is kept:
    a release submitted before an acquire runs before it)."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._queue: list[tuple[Queue, asyncio.Future[list[object]] | None]] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, queue: Queue) -> list[object]:
        """`queue(pipeline)` adds commands; their results (exceptions raised)."""
        future: asyncio.Future[list[object]] = asyncio.get_running_loop().create_future()
        self._submit(queue, future)
        results = await future
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def send(self, queue: Queue) -> None:
        """Fire and forget: failures are logged (callers rely on expiry, not on this)."""
        self._submit(queue, None)

    def _submit(self, queue: Queue, future: asyncio.Future[list[object]] | None) -> None:
        self._queue.append((queue, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="redis-batcher")

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            pipe = self._client.pipeline(transaction=False)
            spans: list[tuple[int, int]] = []
            for queue, _ in batch:
                start = len(pipe.command_stack)
                added = queue(pipe)
                if added is not None:
                    await added
                spans.append((start, len(pipe.command_stack)))
            try:
                results = await asyncio.wait_for(
                    pipe.execute(raise_on_error=False), COMMAND_TIMEOUT_S + CONNECT_TIMEOUT_S
                )
            except Exception as exc:
                for _, future in batch:
                    if future is None:
                        log.warning("redis: a write was lost: %s", _one_line(exc))
                    elif not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), (start, end) in zip(batch, spans, strict=True):
                mine = list(results[start:end])
                if future is None:
                    errors = [r for r in mine if isinstance(r, Exception)]
                    if errors:
                        log.warning("redis: a write failed: %s", _one_line(errors[0]))
                elif not future.done():
                    future.set_result(mine)
