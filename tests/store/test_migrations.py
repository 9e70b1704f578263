"""Alembic owns the schema: models and migrations agree, and the round trip works."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tickertape.store.db import create_engine
from tickertape.store.errors import DatabaseUnavailable, InvalidDatabaseUrl, StoreError
from tickertape.store.migrations import downgrade, is_at_head, upgrade_to_head
from tickertape.store.models import Base
from tickertape.store.sql_store import SqlStore

TABLES = {"users", "api_tokens", "web_sessions", "audit_log", "conversations", "messages"}
# Every revision, oldest first: a new migration is added here too.
REVISIONS = ["0001_initial", "0002_reply_error_code"]


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
