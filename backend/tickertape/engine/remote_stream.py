"""The ReplyStream of a remote generation: a buffer the reader task fills and the app drains.

The upstream reader must never wait for the consumer (a slow WebSocket client would hold the
upstream connection open and, through TCP backpressure, the upstream's batch slot), so pushes
never block: text accumulates in a buffer and a reader that lagged gets it merged into one
TextEvent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tickertape.engine.types import (
    FinishEvent,
    GenerationResult,
    QueuedEvent,
    StreamEvent,
    TextEvent,
    Timing,
)


@dataclass(frozen=True, slots=True)
class RemoteResult(GenerationResult):
    """GenerationResult plus the upstream's retry hint for rate_limited/overloaded.

    The transport reads it with getattr(result, "retry_after_ms", None) until
    GenerationResult grows the field itself.
    """

    retry_after_ms: int | None = None


class ReplyClock:
    """The three Timing marks of one reply, in monotonic time since submit()."""

    def __init__(self) -> None:
        self.submitted_at = time.monotonic()
        self.scheduled_at = 0.0
        self.first_text_at = 0.0

    def scheduled(self) -> None:
        self.scheduled_at = time.monotonic()

    def first_text(self) -> None:
        if not self.first_text_at:
            self.first_text_at = time.monotonic()

    def timing(self) -> Timing:
        now = time.monotonic()

        def since(t: float) -> float:
            return round((t - self.submitted_at) * 1000, 3) if t else 0.0

        return Timing(since(self.scheduled_at), since(self.first_text_at), since(now))


class ReplyCollector:
    """One reply's events; ends after exactly one FinishEvent. Single consumer."""

    def __init__(self, reply_id: str) -> None:
        self.reply_id = reply_id
        self._queued: QueuedEvent | None = None
        self._text: list[str] = []
        self._result: GenerationResult | None = None
        self._changed = asyncio.Event()
        self.text_so_far: list[str] = []  # everything pushed, for the final reply text

    @property
    def finished(self) -> bool:
        return self._result is not None

    def queued(self, position: int) -> None:
        if self._result is None:
            self._queued = QueuedEvent(position)
            self._changed.set()

    def push(self, text: str) -> None:
        if text and self._result is None:
            self._text.append(text)
            self.text_so_far.append(text)
            self._changed.set()

    def finish(self, result: GenerationResult) -> bool:
        """Record the outcome; the first one wins (a stop racing a natural end)."""
        if self._result is not None:
            return False
        self._result = result
        self._changed.set()
        return True

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        while True:
            await self._changed.wait()
            self._changed.clear()
            # Drain in order: a queue position is stale once text exists, text before finish.
            if self._queued is not None:
                if not self._text and self._result is None:
                    yield self._queued
                self._queued = None
            if self._text:
                merged = "".join(self._text)
                self._text.clear()
                yield TextEvent(merged)
            if self._result is not None and not self._text:
                yield FinishEvent(self._result)
                return
