"""A ReplySink for tests that drive an engine directly: it records every update and can be
read as an async stream of them (ending with the one that carries the result)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tickertape.engine.types import GenerationResult, ReplyUpdate


class CollectingSink:
    def __init__(self) -> None:
        self.updates: list[ReplyUpdate] = []
        self._changed = asyncio.Event()

    def deliver(self, update: ReplyUpdate) -> None:
        if self.updates and self.updates[-1].result is not None:
            raise AssertionError("an update was delivered after the result")
        self.updates.append(update)
        self._changed.set()

    @property
    def text(self) -> str:
        return "".join(u.text for u in self.updates)

    @property
    def queued(self) -> list[int]:
        return [u.queued for u in self.updates if u.queued is not None]

    @property
    def done(self) -> bool:
        return bool(self.updates) and self.updates[-1].result is not None

    @property
    def result(self) -> GenerationResult:
        assert self.done, "the reply has not finished"
        result = self.updates[-1].result
        assert result is not None
        return result

    async def finished(self) -> GenerationResult:
        """Wait for the update that carries the result."""
        while not self.done:
            self._changed.clear()
            await self._changed.wait()
        return self.result

    async def wait_for_text(self) -> str:
        """Wait until some text (or the end) has arrived; return the text so far."""
        while not self.text and not self.done:
            self._changed.clear()
            await self._changed.wait()
        return self.text

    async def stream(self) -> AsyncIterator[ReplyUpdate]:
        """Every update in order, as it arrives, through the one with the result."""
        index = 0
        while True:
            while index < len(self.updates):
                update = self.updates[index]
                index += 1
                yield update
                if update.result is not None:
                    return
            self._changed.clear()
            await self._changed.wait()
