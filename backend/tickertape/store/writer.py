"""The single writer: one asyncio task owns every write and commits them in batches.

Awaited operations (`submit`) resolve after the transaction that holds them has committed.
Coalesced operations (`submit_coalesced`, e.g. reply checkpoints) are fire and forget and the
latest one per key wins. Each operation runs inside its own SAVEPOINT, so one that fails is
rolled back alone and fails only its own future; the rest of the batch commits. Group commit
comes for free: while one batch commits, new operations queue up and form the next batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickertape.store.errors import Conflict, StoreClosed, StoreError

T = TypeVar("T")
Op = Callable[[AsyncSession], Awaitable[T]]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriterStats:
    batches: int = 0  # committed transactions
    operations: int = 0  # awaited operations that committed
    coalesced: int = 0  # coalesced operations that committed
    failed: int = 0  # awaited operations that raised
    background_failed: int = 0  # coalesced operations that failed (logged at ERROR)


@dataclass(slots=True)
class _Pending:
    op: Op[Any]
    future: asyncio.Future[Any]


async def _noop(_session: AsyncSession) -> None:
    return None


def wrap_error(exc: BaseException) -> StoreError:
    """A fresh typed error for one caller (instances are not shared between futures)."""
    if isinstance(exc, StoreError):
        return exc
    detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
    err: StoreError
    if isinstance(exc, IntegrityError):
        err = Conflict(f"conflicts with stored data: {detail}")
    else:
        err = StoreError(f"database error: {type(exc).__name__}: {detail}")
    err.__cause__ = exc
    return err


class Writer:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, max_batch: int = 500
    ) -> None:
        self._sessionmaker = sessionmaker
        self._max_batch = max_batch
        self._queue: deque[_Pending] = deque()
        self._coalesced: dict[Hashable, Op[Any]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = WriterStats()
        self.commit_observer: Callable[[float], None] | None = None

    @property
    def queue_depth(self) -> int:
        """Operations waiting for a batch (awaited ones plus coalesced ones)."""
        return len(self._queue) + len(self._coalesced)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tickertape-store-writer")

    def _check_open(self) -> None:
        if self._task is None or self._closing or self._task.done():
            raise StoreClosed(
                "the store is closed" if self._closing else "the store writer is not running"
            )

    async def submit(self, op: Op[T]) -> T:
        """Run `op` in the next batch; return its result once committed, or raise its error.

        If the caller is cancelled before the batch picks the operation up, it is skipped;
        once running, it commits with its batch whether or not anyone still waits.
        """
        self._check_open()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(op, future))
        self._wakeup.set()
        return await future

    def submit_coalesced(self, key: Hashable, op: Op[Any]) -> None:
        """Queue `op` under `key`, replacing one not yet started. Failures are logged."""
        self._check_open()
        self._coalesced[key] = op
        self._wakeup.set()

    def discard_coalesced(self, key: Hashable) -> None:
        self._coalesced.pop(key, None)

    async def flush(self) -> None:
        """Return once everything submitted before this call has been committed."""
        await self.submit(_noop)

    async def close(self) -> None:
        """Commit everything pending, then stop the task. Idempotent."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        try:
            while True:
                if not self._queue and not self._coalesced:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))
                ]
                coalesced, self._coalesced = self._coalesced, {}
                await self._run_batch(coalesced, batch)
        except BaseException as exc:
            self._closing = True
            for item in self._queue:
                if not item.future.done():
                    item.future.set_exception(StoreClosed(f"the store writer stopped: {exc!r}"))
            self._queue.clear()
            if self._coalesced:
                log.error("store writer stopped; %d checkpoint(s) dropped", len(self._coalesced))
            raise

    async def _run_batch(self, coalesced: dict[Hashable, Op[Any]], batch: list[_Pending]) -> None:
        outcomes: list[tuple[_Pending, bool, Any]] = []
        applied = 0
        started = time.perf_counter()
        try:
            async with self._sessionmaker() as session, session.begin():
                for key, op in coalesced.items():
                    try:
                        async with session.begin_nested():
                            await op(session)
                        applied += 1
                    except Exception as exc:
                        self.stats.background_failed += 1
                        log.error("background write %r failed", key, exc_info=exc)
                for item in batch:
                    if item.future.done():  # its caller was cancelled before it ran
                        continue
                    try:
                        async with session.begin_nested():
                            value = await item.op(session)
                    except Exception as exc:
                        outcomes.append((item, False, exc))
                    else:
                        outcomes.append((item, True, value))
        except Exception as exc:  # BEGIN or COMMIT failed: nothing in this batch is durable
            if coalesced:
                self.stats.background_failed += len(coalesced)
                log.error("commit of %d background write(s) failed", len(coalesced), exc_info=exc)
            for item in batch:
                self.stats.failed += 1
                if not item.future.done():
                    item.future.set_exception(wrap_error(exc))
            return
        except BaseException as exc:  # cancelled mid-batch: fail what was in flight, re-raise
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(StoreClosed(f"the store writer stopped: {exc!r}"))
            raise
        self.stats.batches += 1
        self.stats.coalesced += applied
        if self.commit_observer is not None:
            try:
                self.commit_observer(time.perf_counter() - started)
            except Exception:
                log.exception("commit observer failed")
        for item, ok, value in outcomes:
            if ok:
                self.stats.operations += 1
            else:
                self.stats.failed += 1
            if item.future.done():
                continue
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(wrap_error(value))
