"""SQLite specifics: pragmas, WAL concurrency, integrity, a hard crash."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import text

from tests.store.helpers import final
from tickertape.store.sql_store import SqlStore


def _path(url: str) -> str:
    return url.removeprefix("sqlite+aiosqlite:///")


async def test_pragmas(migrated_sqlite: str) -> None:
    store = SqlStore.from_url(migrated_sqlite)
    try:
        async with store.engine.connect() as conn:
            values = {
                p: (await conn.exec_driver_sql(f"PRAGMA {p}")).scalar()
                for p in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
        assert values == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": 2,
            "busy_timeout": 5000,
        }
    finally:
        await store.close()


async def test_integrity_after_a_workload(migrated_sqlite: str) -> None:
    store = SqlStore.from_url(migrated_sqlite)
    await store.start()
    alice = await store.ensure_user("alice", "user")
    turns = await asyncio.gather(
        *(store.start_turn(alice.id, f"m{i}", "hi", None, {}) for i in range(40))
    )
    for t in turns:
        store.checkpoint_reply(t.reply_id, "part", 1)
    await asyncio.gather(*(store.finish_reply(final(t.reply_id, "done", 2)) for t in turns[::2]))
    await asyncio.gather(
        *(store.delete_conversation(t.conversation_id, alice.id) for t in turns[1::4])
    )
    await store.close()
    with sqlite3.connect(_path(migrated_sqlite)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (60,)


async def test_reads_proceed_while_a_write_transaction_is_open(migrated_sqlite: str) -> None:
    store = SqlStore.from_url(migrated_sqlite)
    await store.start()
    try:
        alice = await store.ensure_user("alice", "user")
        turn = await store.start_turn(alice.id, "m", "hi", None, {})
        # another connection holds the write lock with uncommitted changes
        other = sqlite3.connect(_path(migrated_sqlite), isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE messages SET content = 'uncommitted'")
            # the writer queues behind that lock (busy_timeout) ...
            pending = asyncio.ensure_future(store.finish_reply(final(turn.reply_id, "ok", 1)))
            # ... while reads neither block nor see the uncommitted write (bounded, no sleep)
            transcript = await asyncio.wait_for(store.get_transcript(turn.conversation_id, None), 2)
            assert [m.content for m in transcript.messages] == ["hi", ""]
            page = await asyncio.wait_for(store.list_conversations(None, 10, None), 2)
            assert len(page.items) == 1
            assert not pending.done()
            other.execute("ROLLBACK")  # the lock is released: the writer commits
            await asyncio.wait_for(pending, 10)
        finally:
            other.close()
        assert (await store.get_message(turn.reply_id)).content == "ok"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_checkpoints_survive_a_killed_process(migrated_sqlite: str, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        from tickertape.store.sql_store import SqlStore

        async def main():
            store = SqlStore.from_url({migrated_sqlite!r})
            await store.start()
            user = await store.ensure_user("alice", "user")
            turn = await store.start_turn(user.id, "m", "hi", None, {{}})
            store.checkpoint_reply(turn.reply_id, "partial answer", 7)
            await store.flush()
            print(turn.reply_id, flush=True)
            os._exit(9)  # no close(), no cleanup: as good as a kill

        asyncio.run(main())
        """
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 9, err.decode()
    reply_id = out.decode().strip()
    store = SqlStore.from_url(migrated_sqlite)
    await store.start()
    try:
        assert await store.recover_interrupted() == 1
        reply = await store.get_message(reply_id)
        assert reply is not None
        assert (reply.status, reply.content, reply.seq) == ("interrupted", "partial answer", 7)
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA integrity_check"))).scalar() == "ok"
    finally:
        await store.close()
