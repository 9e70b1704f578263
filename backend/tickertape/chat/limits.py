"""Token-bucket rate limits keyed by user or client address."""

from __future__ import annotations

import math
import time


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
