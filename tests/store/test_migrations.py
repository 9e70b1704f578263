"""Alembic owns the schema: models and migrations agree, and the round trip works."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tickertape.store.db import create_engine
from tickertape.store.errors import DatabaseUnavailable, InvalidDatabaseUrl, StoreError
from tickertape.store.migrations import downgrade, is_at_head, upgrade, upgrade_to_head
from tickertape.store.models import Base
from tickertape.store.sql_store import SqlStore
from tickertape.store.types import ReplyFinal, TurnRecord
from tickertape.transport.views import transcript_json

TABLES = {"users", "api_tokens", "web_sessions", "audit_log", "conversations", "messages"}
# Every revision, oldest first: a new migration is added here too.
REVISIONS = [
    "0001_initial",
    "0002_reply_error_code",
    "0003_message_tree",
    "0004_response_frames",
    "0005_reasoning_tools",
    "0006_streaming_index",
    "0007_reply_retry_after",
]


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_models_and_migrations_agree(db_url: str) -> None:
    lines: list[str] = []
    await upgrade_to_head(db_url, lines.append)  # from inside the running event loop
    assert [line.split(":")[0] for line in lines] == [f"applying {r}" for r in REVISIONS]
    assert lines[0].startswith("applying 0001_initial: initial schema ... ok (")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        assert await is_at_head(engine)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert not await is_at_head(engine)
        lines: list[str] = []
        await upgrade_to_head(db_url, lines.append)
        await upgrade_to_head(db_url, lines.append)  # at head already: nothing applied
        assert len(lines) == len(REVISIONS)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) >= TABLES
        await downgrade(db_url, "base", lines.append)
        assert lines[-1].startswith("reverting 0001_initial")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) & TABLES == set()
        assert not await is_at_head(engine)
        await upgrade_to_head(db_url, lines.append)
        assert await is_at_head(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_the_store_works_after_a_round_trip(db_url: str) -> None:
    await upgrade_to_head(db_url, lambda _: None)
    await downgrade(db_url, "base", lambda _: None)
    await upgrade_to_head(db_url, lambda _: None)
    store = SqlStore.from_url(db_url)
    await store.start()
    try:
        user = await store.ensure_user("alice", "user")
        turn = await store.start_turn(user.id, "m", "hi", None, {})
        assert turn.created
    finally:
        await store.close()


def test_invalid_url_is_a_typed_error() -> None:
    with pytest.raises(InvalidDatabaseUrl):
        create_engine("not a url")
    with pytest.raises(InvalidDatabaseUrl, match="unsupported"):
        create_engine("mysql://x@localhost/db")


async def test_unreachable_databases_are_typed_one_line_errors(tmp_path: Path) -> None:
    bad = [
        f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}",
        "postgresql+asyncpg://nobody@127.0.0.1:1/nothing",
    ]
    for url in bad:
        with pytest.raises(DatabaseUnavailable) as info:
            await upgrade_to_head(url, lambda _: None)
        assert "\n" not in str(info.value)
        assert str(info.value)
        store = SqlStore.from_url(url)
        with pytest.raises(DatabaseUnavailable):
            await store.start()
        await store.close()
    with pytest.raises(StoreError):
        await upgrade_to_head("bogus://", lambda _: None)


async def test_missing_alembic_dir_is_reported(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="alembic scripts not found"):
        await upgrade_to_head(sqlite_url, lambda _: None, script_location=tmp_path)


# Rows as the 0002 schema stored them: linear conversations, ordinals 0, 1, 2, ...
_OLD_ROWS = """
INSERT INTO users (id, name, role, created_at) VALUES ('u1', 'alice', 'user', :t);
INSERT INTO conversations (id, user_id, title, message_count, created_at, updated_at)
    VALUES ('c1', 'u1', 'Old', 4, :t, :t), ('c2', 'u1', 'Short', 2, :t, :t);
INSERT INTO messages (id, conversation_id, user_id, ordinal, role, content, client_msg_id,
                      status, finish_reason, seq, error, error_code, created_at, updated_at)
VALUES ('m0', 'c1', 'u1', 0, 'user', 'hi', 'k0', 'complete', NULL, 0, NULL, NULL, :t, :t),
       ('m1', 'c1', 'u1', 1, 'assistant', '', NULL, 'error', 'error', 0, 'busy', 'overloaded',
        :t, :t),
       ('m2', 'c1', 'u1', 2, 'user', 'again', 'k2', 'complete', NULL, 0, NULL, NULL, :t, :t),
       ('m3', 'c1', 'u1', 3, 'assistant', 'hello', NULL, 'complete', 'stop', 1, NULL, NULL,
        :t, :t),
       ('n0', 'c2', 'u1', 0, 'user', 'one', 'k4', 'complete', NULL, 0, NULL, NULL, :t, :t),
       ('n1', 'c2', 'u1', 1, 'assistant', 'two', NULL, 'complete', 'stop', 1, NULL, NULL,
        :t, :t)
"""


async def test_linear_conversations_become_trees(db_url: str) -> None:
    """0003 on a database filled through the 0002 schema: each message's parent is the one
    before it, the active leaf is the last one, and the app reads and continues it."""
    await upgrade(db_url, "0002_reply_error_code", lambda _: None)
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            for statement in filter(str.strip, _OLD_ROWS.split(";")):
                await conn.execute(text(statement), {"t": datetime(2026, 1, 1, tzinfo=UTC)})
    finally:
        await engine.dispose()
    await upgrade_to_head(db_url, lambda _: None)
    store = SqlStore.from_url(db_url)
    await store.start()
    try:
        transcript = await store.get_transcript("c1", "u1")
        parents = [(m.id, m.parent_id) for m in transcript.messages]
        assert parents == [("m0", None), ("m1", "m0"), ("m2", "m1"), ("m3", "m2")]
        assert transcript.summary.active_leaf_id == "m3"
        assert transcript.summary.message_count == 4
        view = transcript_json(transcript)
        assert [m["id"] for m in view["messages"]] == ["m0", "m1", "m2", "m3"]
        assert view["messages"][1]["error"] == {"code": "overloaded", "message": "busy"}
        assert view["messages"][3]["sibling_ids"] == ["m3"]
        assert (await store.get_transcript("c2", "u1")).summary.active_leaf_id == "n1"
        # Old idempotency keys still answer; a new turn continues the active leaf.
        assert (await store.find_turn("u1", "k2")) == TurnRecord(
            "c1", "m2", "m3", "k2", False, "m1"
        )
        turn = await store.start_turn("u1", "k5", "more", "c1", {})
        after = await store.get_transcript("c1", "u1")
        assert [(m.id, m.parent_id) for m in after.messages[4:]] == [
            (turn.user_message_id, "m3"),
            (turn.reply_id, turn.user_message_id),
        ]
        assert after.summary.active_leaf_id == turn.reply_id
    finally:
        await store.close()


async def test_replies_gain_reasoning_and_tool_calls(db_url: str) -> None:
    """0005 on a database filled through the 0004 schema: old replies read back with no
    reasoning and no calls; new ones keep both, through checkpoints and the final write;
    the downgrade keeps every answer."""
    await upgrade(db_url, "0004_response_frames", lambda _: None)
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            for statement in filter(str.strip, _OLD_ROWS.split(";")):
                await conn.execute(text(statement), {"t": datetime(2026, 1, 1, tzinfo=UTC)})
    finally:
        await engine.dispose()
    await upgrade_to_head(db_url, lambda _: None)
    calls = [
        {
            "index": 0,
            "id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
            "result": '{"condition": "sunny"}',
            "round": 0,
            "content_end": 0,
            "reasoning_end": 5,
        }
    ]
    store = SqlStore.from_url(db_url)
    await store.start()
    try:
        old = await store.get_message("m3")
        assert old is not None
        assert (old.content, old.reasoning, old.tool_calls) == ("hello", None, None)
        turn = await store.start_turn("u1", "k6", "weather?", "c2", {})
        store.checkpoint_reply(turn.reply_id, "", 2, [0, 0], reasoning="Hmm.", tool_calls=None)
        await store.flush()
        streaming = await store.get_message(turn.reply_id)
        assert streaming is not None
        assert (streaming.seq, streaming.reasoning) == (2, "Hmm.")
        final = ReplyFinal(
            turn.reply_id,
            "Sunny.",
            5,
            "complete",
            "stop",
            {},
            {},
            frame_ends=(0, 0, 0, 0, 6),
            reasoning="Hmm..",
            tool_calls=tuple(calls),
        )
        await store.finish_reply(final)
        done = await store.get_message(turn.reply_id)
        assert done is not None
        assert (done.content, done.reasoning, done.tool_calls) == ("Sunny.", "Hmm..", calls)
        view = transcript_json(await store.get_transcript("c2", "u1"))
        assert view["messages"][-1]["reasoning"] == "Hmm.."
        assert view["messages"][-1]["tool_calls"][0]["result"] == '{"condition": "sunny"}'
    finally:
        await store.close()
    await downgrade(db_url, "0004_response_frames", lambda _: None)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT content FROM messages WHERE id = 'm3'"))
            assert rows.scalar() == "hello"
    finally:
        await engine.dispose()
