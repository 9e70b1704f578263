"""Per-user limits shared by every entry point, and the token bucket behind rate limits.

`UserLimits` is the protocol the chat service and the transports use; `LocalLimits` keeps
the counters in this process. Every acquire has exactly one release: a reply's in-flight
place is a `ReplyLease`, released once whatever way the reply ends.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol


class RateLimiter:
    """`per_minute` events per key, with bursts up to `per_minute`."""

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> int | None:
        """Spend one token; None if allowed, else milliseconds until a token is back."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            self._remember(key, tokens - 1.0, now)
            return None
        self._remember(key, tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self._rate * 1000))

    def give_back(self, key: str) -> None:
        """Return the token of a `take` that turned out not to count (an idempotent retry)."""
        if key in self._buckets:
            tokens, last = self._buckets[key]
            self._buckets[key] = (min(self._burst, tokens + 1.0), last)

    def _remember(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            # Bounded memory under a flood of distinct keys: drop the oldest bucket.
            self._buckets.pop(next(iter(self._buckets)))
        self._buckets[key] = (tokens, now)


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    max_concurrent_replies: int
    messages_per_minute: int
    max_connections_per_user: int


# `admit_turn`: every in-flight place of the user is taken (and no message was spent).
NO_PLACE = 0


class UserLimits(Protocol):
    async def admit_turn(self, user_id: str) -> int | None:
        """A turn's checks at once: take one of the user's in-flight places and spend one
        message, both or neither. None: both taken (`release_reply` frees the place);
        `NO_PLACE`: every place is taken; else the milliseconds until a message is back."""

    async def acquire_reply(self, user_id: str) -> bool:
        """Take one of the user's in-flight places; False when all are taken."""

    def release_reply(self, user_id: str) -> None: ...

    async def take_message(self, user_id: str) -> int | None:
        """Spend one message; None if allowed, else milliseconds to wait."""

    def give_back_message(self, user_id: str) -> None: ...

    async def open_connection(self, user_id: str) -> bool:
        """Count one more open connection; False (and nothing counted) at the cap."""

    def close_connection(self, user_id: str) -> None: ...

    def in_flight(self, user_id: str) -> int: ...


class LocalLimits:
    """The counters of one process (the default, single-replica deployment)."""

    def __init__(self, config: LimitsConfig) -> None:
        self.config = config
        self._messages = RateLimiter(config.messages_per_minute)
        self._replies: dict[str, int] = {}
        self._connections: dict[str, int] = {}

    async def admit_turn(self, user_id: str) -> int | None:
        if not _acquire(self._replies, user_id, self.config.max_concurrent_replies):
            return NO_PLACE
        wait_ms = self._messages.take(user_id)
        if wait_ms is not None:
            _release(self._replies, user_id)
        return wait_ms

    async def acquire_reply(self, user_id: str) -> bool:
        return _acquire(self._replies, user_id, self.config.max_concurrent_replies)

    def release_reply(self, user_id: str) -> None:
        _release(self._replies, user_id)

    async def take_message(self, user_id: str) -> int | None:
        return self._messages.take(user_id)

    def give_back_message(self, user_id: str) -> None:
        self._messages.give_back(user_id)

    async def open_connection(self, user_id: str) -> bool:
        return _acquire(self._connections, user_id, self.config.max_connections_per_user)

    def close_connection(self, user_id: str) -> None:
        _release(self._connections, user_id)

    def in_flight(self, user_id: str) -> int:
        return self._replies.get(user_id, 0)


def _acquire(counts: dict[str, int], key: str, cap: int) -> bool:
    held = counts.get(key, 0)
    if held >= cap:
        return False
    counts[key] = held + 1
    return True


def _release(counts: dict[str, int], key: str) -> None:
    held = counts.get(key, 0) - 1
    if held > 0:
        counts[key] = held
    else:
        # Never below zero: a double release is a bug, but it must not grant extra places.
        counts.pop(key, None)


class ReplyLease:
    """One in-flight place of one user, released exactly once."""

    def __init__(self, limits: UserLimits, user_id: str) -> None:
        self._limits = limits
        self._user_id = user_id
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limits.release_reply(self._user_id)
