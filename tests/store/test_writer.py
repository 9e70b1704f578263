"""The writer's batches: where they run, and what a lone failing operation leaves behind."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tickertape.store.errors import StoreError
from tickertape.store.models import User, new_id, utcnow
from tickertape.store.sql_store import SqlStore


def _add_user_then_fail(name: str) -> Any:
    def op(session: Session) -> None:
        session.add(User(id=new_id(), name=name, role="user", created_at=utcnow()))
        session.flush()  # the row is written inside the transaction...
        raise ValueError("boom")  # ...and must not survive this

    return op


def _users_named(session: Session, name: str) -> int:
    return int(session.scalar(select(func.count()).where(User.name == name)) or 0)


async def _count_users(store: SqlStore, name: str) -> int:
    async with store.engine.connect() as conn:
        return await conn.run_sync(lambda c: _users_named(Session(c), name))


async def test_sqlite_writes_commit_off_the_event_loop_thread(migrated_sqlite: str) -> None:
    store = SqlStore.from_url(migrated_sqlite)
    threads: set[int] = set()

    def on_commit(_conn: Any) -> None:
        threads.add(threading.get_ident())

    event.listen(store.write_engine, "commit", on_commit)
    await store.start()
    try:
        user = await store.ensure_user("alice", "user")
        turn = await store.start_turn(user.id, "m1", "hi", None, {})
        store.checkpoint_reply(turn.reply_id, "partial", 1)
        await store.flush()
    finally:
        await store.close()
    assert threads, "no commit was observed"
    assert threading.get_ident() not in threads


async def test_a_lone_failing_op_rolls_back_its_writes(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="boom"):
        await store._writer.submit(_add_user_then_fail("ghost"))
    assert await _count_users(store, "ghost") == 0
    assert store.stats.failed == 1
    await store.ensure_user("after", "user")  # the writer carries on
    assert await _count_users(store, "after") == 1


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-a-batch"])
async def test_a_failing_background_op_rolls_back_and_is_logged(
    store: SqlStore, caplog: pytest.LogCaptureFixture, alone: bool
) -> None:
    failing = _add_user_then_fail("ghost")
    with caplog.at_level(logging.ERROR, logger="tickertape.store.writer"):
        taken = asyncio.Event()

        def prepare() -> Any:  # runs when the writer forms the batch that holds it
            taken.set()
            return failing

        store._writer.submit_coalesced("test", prepare)
        if alone:  # nothing else joins its batch: flush only once that batch has formed
            await taken.wait()
        await store.flush()  # a batch of its own after it, or a second op beside it
    assert await _count_users(store, "ghost") == 0
    assert store.stats.background_failed == 1
    assert "background write 'test' failed" in caplog.text


async def test_a_failing_prepare_loses_only_its_own_write(store: SqlStore) -> None:
    def broken() -> Any:
        raise RuntimeError("cannot prepare")

    store._writer.submit_coalesced("broken", broken)
    user = await store.ensure_user("after", "user")  # the writer is still running
    assert user.name == "after"
    assert store.stats.background_failed == 1
