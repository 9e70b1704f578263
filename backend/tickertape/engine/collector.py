"""The asyncio side of one reply: merges what the generation thread hands over.

The generation thread never waits for a reader. Each step's outputs are put here on the
event loop; if the reader has not caught up, new text is appended to the pending text
(one merged TextEvent later) and a newer queue position replaces the older one. So a
slow consumer costs memory proportional to its backlog of text, never engine time.
(vLLM's RequestOutputCollector works the same way.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tickertape.engine.types import (
    FinishEvent,
    GenerationResult,
    QueuedEvent,
    StreamEvent,
    TextEvent,
)


@dataclass(frozen=True, slots=True)
class StepOutput:
    """What one step produced for one reply (plain data, crosses the thread boundary)."""

    reply_id: str
    text: str = ""
    queued: int | None = None
    result: GenerationResult | None = None


class ReplyCollector:
    def __init__(self, reply_id: str) -> None:
        self.reply_id = reply_id
        self._queued: int | None = None
        self._text: list[str] = []
        self._result: GenerationResult | None = None
        self._started = False  # text seen: later queue positions are meaningless
        self._ready = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self._result is not None

    def put(self, out: StepOutput) -> None:
        """Called on the event loop, once per step that touched this reply."""
        if out.queued is not None and not self._started:
            self._queued = out.queued
        if out.text:
            self._started = True
            self._queued = None
            self._text.append(out.text)
        if out.result is not None and self._result is None:
            self._result = out.result
        self._ready.set()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        while True:
            await self._ready.wait()
            self._ready.clear()
            queued, self._queued = self._queued, None
            text = "".join(self._text)
            self._text.clear()
            result = self._result
            if queued is not None:
                yield QueuedEvent(position=queued)
            if text:
                yield TextEvent(text=text)
            if result is not None:
                yield FinishEvent(result=result)
                return

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()
