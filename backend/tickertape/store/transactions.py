"""Where the writer's batches run: a dedicated thread (SQLite) or the async driver.

A batch is one synchronous function of a `Session` that opens, fills and commits one
transaction. Through aiosqlite every statement costs the event loop several thread round
trips (cursor, execute, fetch, close), and a batch of a few dozen statements cost more
event-loop time than streaming the tokens it records; on its own thread with the standard
`sqlite3` driver the loop pays one hand-off per batch. PostgreSQL keeps the async driver
(`AsyncSession.run_sync`): its statements wait on the network, not on a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

R = TypeVar("R")


class Transactions(Protocol):
    async def run(self, body: Callable[[Session], R]) -> R:
        """Call `body` with a fresh session (it begins and commits the transaction)."""

    async def close(self) -> None: ...


class ThreadTransactions:
    """Batches on one thread of their own, over a synchronous engine that only it uses."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessionmaker = sessionmaker(engine, expire_on_commit=False)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="tickertape-store-writer")
        self._closed = False

    async def run(self, body: Callable[[Session], R]) -> R:
        def call() -> R:
            with self._sessionmaker() as session:
                return body(session)

        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def close(self) -> None:
        """Idempotent."""
        if self._closed:
            return
        self._closed = True
        # The connections were opened on that thread: close them there too.
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=True)


class AsyncTransactions:
    """Batches through the async engine's driver, on the event loop's greenlet bridge."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def run(self, body: Callable[[Session], R]) -> R:
        async with self._sessionmaker() as session:
            return await session.run_sync(body)

    async def close(self) -> None:
        pass
