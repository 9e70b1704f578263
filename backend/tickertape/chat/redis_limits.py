"""`UserLimits` shared by every replica, in Redis: the same limits as `LocalLimits`, held
across the whole deployment (a user does not get N times the limit with N replicas).

- Replies in flight and open connections are *places*: members of a sorted set per user,
  scored by an expiry time (Redis' clock, so replicas' clocks do not matter). Acquiring is
  one Lua script (drop expired members, count, add if under the cap): atomic. The replica
  that holds places refreshes their expiry every `LEASE_TTL_S / 3`; a replica that dies
  stops refreshing, and its places are free `LEASE_TTL_S` later at most.
- Messages per minute: a token bucket in a hash per user. A turn takes its reply place and
  its message in one script (`admit_turn`, redis_limit_scripts.py), each sent as `EVAL`.
- Every command goes through a `Batcher` (group commit): a burst of turns shares round
  trips. Releases and give-backs are fire and forget (the protocol's methods are
  synchronous) but keep their order: a place freed by `end` is free for the next turn.

Redis down: new turns are refused with `overloaded` and `retry_after_ms` (a limit that
cannot be checked is not granted: limits protect the inference bill); connections fall back
to this process's own count and cap (a connection costs little and is how a client reads
its replies and history). See docs/scaling.md, "When Redis fails".
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import TYPE_CHECKING, cast

from tickertape.chat.errors import ChatError
from tickertape.chat.limits import LimitsConfig, LocalLimits
from tickertape.chat.redis_limit_scripts import ACQUIRE, ADMIT, GIVE_BACK, REFRESH, TAKE
from tickertape.redis_client import Batcher, Keys, RedisHealth

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

log = logging.getLogger(__name__)

LEASE_TTL_S = 30.0
UNAVAILABLE_RETRY_AFTER_MS = 2000
_SETTLE_TIMEOUT_S = 1.0


def unavailable() -> ChatError:
    return ChatError(
        "overloaded",
        "the shared limits (redis) are unreachable; try again shortly",
        None,
        UNAVAILABLE_RETRY_AFTER_MS,
    )


class RedisLimits:
    def __init__(
        self,
        config: LimitsConfig,
        client: Redis,
        keys: Keys,
        health: RedisHealth,
        replica_id: str,
        lease_ttl_s: float = LEASE_TTL_S,
        batcher: Batcher | None = None,
    ) -> None:
        self.config = config
        self._client = client
        self._batcher = batcher or Batcher(client)
        self._keys = keys
        self._health = health
        self._replica = replica_id
        self._ttl_ms = int(lease_ttl_s * 1000)
        self._refresh_every_s = lease_ttl_s / 3
        self._last_refresh = time.monotonic()
        self._ids = itertools.count(1)
        # Places this replica holds, per key (a user's replies or connections); a `None`
        # connection was counted by the local fallback while Redis was down.
        self._replies: dict[str, list[str]] = {}
        self._connections: dict[str, list[str | None]] = {}
        self._fallback = LocalLimits(config)
        self._rate_per_ms = config.messages_per_minute / 60_000
        self._rate_ttl_ms = 60_000 + 1000  # an absent bucket is a full one

    # -- replies in flight ---------------------------------------------------------
    async def acquire_reply(self, user_id: str) -> bool:
        if not self._health.up:
            raise unavailable()
        member = self._member()
        cap = self.config.max_concurrent_replies
        taken = await self._call(
            ACQUIRE, (self._keys.in_flight(user_id),), member, cap, self._ttl_ms
        )
        if taken:
            self._replies.setdefault(user_id, []).append(member)
        return bool(taken)

    def release_reply(self, user_id: str) -> None:
        member = _pop(self._replies, user_id)
        if member is not None:
            self._send_zrem(self._keys.in_flight(user_id), member)

    def in_flight(self, user_id: str) -> int:
        """This replica's replies in flight for the user (the shared count is in Redis)."""
        return len(self._replies.get(user_id, ()))

    async def admit_turn(self, user_id: str) -> int | None:
        """A reply place and a message in one script (one command, one round trip)."""
        if not self._health.up:
            raise unavailable()
        member = self._member()
        config = self.config
        keys = (self._keys.in_flight(user_id), self._keys.rate(user_id))
        result = await self._call(
            ADMIT,
            keys,
            member,
            config.max_concurrent_replies,
            self._ttl_ms,
            repr(self._rate_per_ms),
            config.messages_per_minute,
            self._rate_ttl_ms,
        )
        if result < 0:
            self._replies.setdefault(user_id, []).append(member)
            return None
        return result  # NO_PLACE at the cap, else ms until a message is back

    # -- messages per minute -------------------------------------------------------
    async def take_message(self, user_id: str) -> int | None:
        if not self._health.up:
            raise unavailable()
        burst = self.config.messages_per_minute
        wait = await self._call(
            TAKE, (self._keys.rate(user_id),), repr(self._rate_per_ms), burst, self._rate_ttl_ms
        )
        return None if wait < 0 else wait

    def give_back_message(self, user_id: str) -> None:
        burst = self.config.messages_per_minute
        key = self._keys.rate(user_id)

        self._batcher.send(lambda pipe: _eval(pipe, GIVE_BACK, (key,), burst))

    # -- connections ---------------------------------------------------------------
    async def open_connection(self, user_id: str) -> bool:
        held = self._connections.setdefault(user_id, [])
        if self._health.up:
            member = self._member()
            cap = self.config.max_connections_per_user
            try:
                taken = await self._call(
                    ACQUIRE, (self._keys.connections(user_id),), member, cap, self._ttl_ms
                )
            except ChatError:
                pass  # Redis just went away: counted locally below
            else:
                if taken:
                    held.append(member)
                else:
                    _drop_if_empty(self._connections, user_id)
                return bool(taken)
        if await self._fallback.open_connection(user_id):
            held.append(None)
            return True
        _drop_if_empty(self._connections, user_id)
        return False

    def close_connection(self, user_id: str) -> None:
        held = self._connections.get(user_id)
        if not held:
            return
        member = held.pop()
        _drop_if_empty(self._connections, user_id)
        if member is None:
            self._fallback.close_connection(user_id)
        else:
            self._send_zrem(self._keys.connections(user_id), member)

    # -- upkeep ----------------------------------------------------------------------
    async def refresh(self) -> None:
        """Keep this replica's places alive (after a heartbeat, every LEASE_TTL_S / 3)."""
        now = time.monotonic()
        if now - self._last_refresh < self._refresh_every_s:
            return
        self._last_refresh = now
        pipe = self._client.pipeline(transaction=False)
        count = 0
        for user_id, members in self._replies.items():
            if members:
                _eval(pipe, REFRESH, (self._keys.in_flight(user_id),), self._ttl_ms, *members)
                count += 1
        for user_id, maybe in self._connections.items():
            members = [m for m in maybe if m is not None]
            if members:
                _eval(pipe, REFRESH, (self._keys.connections(user_id),), self._ttl_ms, *members)
                count += 1
        if count:
            await pipe.execute()

    async def close(self) -> None:
        """Write what was sent so far (releases) before the client closes."""
        try:
            await asyncio.wait_for(self._batcher.run(lambda pipe: None), _SETTLE_TIMEOUT_S)
        except Exception:
            log.info("redis limits: releases not written at close (they expire)")

    # -- helpers -------------------------------------------------------------------
    def _member(self) -> str:
        return f"{self._replica}:{next(self._ids)}"

    async def _call(self, script: str, keys: tuple[str, ...], *args: str | int) -> int:
        """A script's integer answer, batched with the others of this moment; `overloaded`
        when Redis does not answer."""
        try:
            results = await self._batcher.run(lambda pipe: _eval(pipe, script, keys, *args))
            return int(cast(int, results[0]))
        except Exception as exc:
            # Refused alone: whether Redis is down for everyone is the heartbeat's call.
            log.warning("redis limits: %s", exc)
            raise unavailable() from exc

    def _send_zrem(self, key: str, member: str) -> None:
        """A release, after everything submitted before it; if it is lost, the place
        expires on its own (its refreshes stopped with the release)."""

        def queue(pipe: Pipeline) -> None:
            pipe.zrem(key, member)

        self._batcher.send(queue)


def _eval(pipe: Pipeline, script: str, keys: tuple[str, ...], *args: str | int) -> None:
    """`EVAL` with the script's text: `EVALSHA` through redis-py's scripts costs a
    `SCRIPT EXISTS` round trip before every pipeline that holds one, and the text needs no
    `SCRIPT LOAD` after Redis restarted empty (Redis caches the compiled script by its hash)."""
    pipe.eval(script, len(keys), *keys, *args)


def _pop(places: dict[str, list[str]], user_id: str) -> str | None:
    held = places.get(user_id)
    if not held:
        return None
    member = held.pop()
    if not held:
        del places[user_id]
    return member


def _drop_if_empty(places: dict[str, list[str | None]], user_id: str) -> None:
    if not places.get(user_id):
        places.pop(user_id, None)
