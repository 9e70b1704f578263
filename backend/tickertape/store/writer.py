"""The single writer: one asyncio task owns every write and commits them in batches.

Awaited operations (`submit`) resolve after the transaction that holds them has committed.
Coalesced operations (`submit_coalesced`, e.g. reply checkpoints) are fire and forget and the
latest one per key wins. When a batch holds several operations each runs inside its own
SAVEPOINT, so one that fails is rolled back alone and fails only its own future; the rest of
the batch commits. Group commit comes for free: while one batch commits, new operations queue
up and form the next batch.

Operations are plain synchronous functions of a `Session`, and a whole batch runs as one
call (see `transactions.py`): with SQLite on its own thread, so the event loop pays one
hand-off per batch instead of several thread round trips per statement; with PostgreSQL
through the async driver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tickertape.store.errors import Conflict, StoreClosed, StoreError
from tickertape.store.transactions import Transactions

T = TypeVar("T")
Op = Callable[[Session], T]

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


@dataclass(slots=True)
class _BatchOutcome:
    """What a batch did, built on the writer's thread and read back on the event loop."""

    committed: bool = True
    applied: int = 0  # coalesced operations that succeeded
    background_failed: int = 0
    results: list[tuple[bool, Any]] = field(default_factory=list)  # per awaited op: ok, value


def _noop(_session: Session) -> None:
    return None


class _LoneFailure(Exception):
    """The operation alone in its batch failed (`__cause__`): roll the transaction back."""


@contextmanager
def _isolated(session: Session, lone: bool) -> Iterator[None]:
    # A SAVEPOINT keeps one failing operation from rolling back the others; an operation
    # alone in its batch (the steady state: one checkpoint per tick) needs none, and on
    # failure its whole transaction rolls back instead. It saves two statements a batch.
    if lone:
        try:
            yield
        except Exception as exc:
            raise _LoneFailure from exc
    else:
        with session.begin_nested():
            yield


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


def _apply(
    session: Session, coalesced: dict[Hashable, Op[Any]], ops: list[Op[Any]]
) -> _BatchOutcome:
    """Run one batch in one transaction. Runs off the event loop: touches no future."""
    outcome = _BatchOutcome()
    lone = len(coalesced) + len(ops) == 1
    try:
        with session.begin():
            for key, op in coalesced.items():
                try:
                    with _isolated(session, lone):
                        op(session)
                    outcome.applied += 1
                except _LoneFailure:
                    raise
                except Exception as exc:
                    outcome.background_failed += 1
                    log.error("background write %r failed", key, exc_info=exc)
            for op in ops:
                try:
                    with _isolated(session, lone):
                        value = op(session)
                except _LoneFailure as failure:
                    outcome.results.append((False, failure.__cause__))
                    raise
                except Exception as exc:
                    outcome.results.append((False, exc))
                else:
                    outcome.results.append((True, value))
    except _LoneFailure as failure:  # rolled back; an awaited op's failure is in results
        outcome.committed = False
        if coalesced:
            outcome.background_failed += 1
            log.error("background write %r failed", *coalesced, exc_info=failure.__cause__)
    return outcome


class Writer:
    def __init__(self, transactions: Transactions, *, max_batch: int = 500) -> None:
        self._transactions = transactions
        self._max_batch = max_batch
        self._queue: deque[_Pending] = deque()
        self._coalesced: dict[Hashable, Callable[[], Op[Any] | None]] = {}
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

    def submit_coalesced(self, key: Hashable, prepare: Callable[[], Op[Any] | None]) -> None:
        """Queue a background write under `key`, replacing one not yet started. `prepare`
        runs on the event loop when the batch forms and returns the operation (None: skip),
        so it can take a snapshot of loop-owned state; the operation runs with the batch.
        Failures are logged."""
        self._check_open()
        self._coalesced[key] = prepare
        self._wakeup.set()

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
                prepared, self._coalesced = self._coalesced, {}
                coalesced = self._prepare(prepared)
                if coalesced or batch:
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

    def _prepare(
        self, prepared: dict[Hashable, Callable[[], Op[Any] | None]]
    ) -> dict[Hashable, Op[Any]]:
        """Call each background write's `prepare`; one that raises loses only its own write."""
        ops: dict[Hashable, Op[Any]] = {}
        for key, prepare in prepared.items():
            try:
                op = prepare()
            except Exception:
                self.stats.background_failed += 1
                log.exception("preparing background write %r failed", key)
                continue
            if op is not None:
                ops[key] = op
        return ops

    async def _run_batch(self, coalesced: dict[Hashable, Op[Any]], batch: list[_Pending]) -> None:
        batch = [item for item in batch if not item.future.done()]  # cancelled callers
        ops = [item.op for item in batch]
        started = time.perf_counter()
        try:
            outcome = await self._transactions.run(lambda s: _apply(s, coalesced, ops))
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
        self.stats.background_failed += outcome.background_failed
        if outcome.committed:
            self._committed(outcome.applied, time.perf_counter() - started)
        for item, (ok, value) in zip(batch, outcome.results, strict=True):
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

    def _committed(self, applied: int, seconds: float) -> None:
        self.stats.batches += 1
        self.stats.coalesced += applied
        if self.commit_observer is not None:
            try:
                self.commit_observer(seconds)
            except Exception:
                log.exception("commit observer failed")
