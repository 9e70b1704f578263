"""Alembic environment for tickertape (async engines: aiosqlite, asyncpg).

The database URL, first found wins: `config.attributes["database_url"]` (the app),
`-x database_url=...`, env TICKERTAPE_DATABASE_URL, `sqlalchemy.url` in the ini file,
then sqlite+aiosqlite:///./tickertape.db.

The app (tickertape.store.migrations) passes an open connection in
`config.attributes["connection"]`, so nothing here calls asyncio.run inside its event loop.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tickertape.store.db import DEFAULT_DATABASE_URL, create_engine
from tickertape.store.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and not config.attributes.get("connection"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    return str(
        config.attributes.get("database_url")
        or context.get_x_argument(as_dictionary=True).get("database_url")
        or os.environ.get("TICKERTAPE_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
        or DEFAULT_DATABASE_URL
    )


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
        on_version_apply=config.attributes.get("on_version_apply", ()),
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    url = database_url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    # SQLite cannot ALTER most things: batch mode rebuilds tables (foreign_keys is OFF on
    # migration connections, so a rebuild cannot cascade; the check below replaces it).
    # SQLAlchemy emits BEGIN itself on our SQLite connections (see store/db.py), so DDL is
    # transactional there too: a failed revision leaves nothing half-applied.
    _configure(connection=connection, render_as_batch=sqlite, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
        if broken:
            raise RuntimeError(f"foreign key violations after migrating: {broken[:5]}")


async def run_async_migrations() -> None:
    engine = create_engine(database_url(), sqlite_foreign_keys=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
elif (shared := config.attributes.get("connection")) is not None:
    do_run_migrations(shared)
else:
    asyncio.run(run_async_migrations())
