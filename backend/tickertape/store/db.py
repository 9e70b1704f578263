"""Engine construction: SQLite (default) tuned for a server, PostgreSQL through asyncpg."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tickertape.store.errors import DatabaseUnavailable, InvalidDatabaseUrl

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tickertape.db"
# Execution option that makes the SQLite BEGIN take the write lock at once (the writer's).
WRITE_OPTION = "tickertape_write"
SQLITE_BUSY_TIMEOUT_MS = 5000

SqliteSync = Literal["FULL", "NORMAL"]


def _parse(database_url: str) -> URL:
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise InvalidDatabaseUrl(f"invalid database URL {database_url!r}: {exc}") from exc
    if url.drivername == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    elif url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise InvalidDatabaseUrl(
            f"unsupported database URL scheme {url.drivername!r}: use sqlite+aiosqlite:/// "
            "or postgresql+asyncpg://"
        )
    return url


def create_engine(
    database_url: str,
    *,
    sqlite_synchronous: SqliteSync = "FULL",
    sqlite_foreign_keys: bool = True,
    **kwargs: Any,
) -> AsyncEngine:
    """An AsyncEngine for `database_url`. Raises InvalidDatabaseUrl; connects lazily.

    `sqlite+aiosqlite:///path` (plain `sqlite://` is accepted) or `postgresql+asyncpg://...`.
    SQLite connections get WAL, busy_timeout, foreign_keys=ON and synchronous=FULL (see
    docs/storage.md for why not NORMAL); SQLAlchemy emits BEGIN itself, so savepoints and
    transactional DDL work, and the writer's BEGIN is IMMEDIATE. Migrations pass
    `sqlite_foreign_keys=False`: with it ON, the table rebuilds of SQLite batch migrations
    would cascade-delete rows (they check `PRAGMA foreign_key_check` instead).
    """
    url = _parse(database_url)
    if url.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {"timeout": 10})  # asyncpg's default is 60 s
        kwargs.setdefault("pool_pre_ping", True)
    try:
        engine = create_async_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise InvalidDatabaseUrl(f"cannot use database URL {url!r}: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine.sync_engine, sqlite_synchronous, sqlite_foreign_keys)
    return engine


def create_sqlite_writer_engine(
    database_url: str, *, sqlite_synchronous: SqliteSync = "FULL"
) -> Engine | None:
    """A synchronous engine (the standard `sqlite3` driver) on the same SQLite file, for the
    writer's own thread (see transactions.py); None for PostgreSQL or an in-memory SQLite,
    whose writes must go through the async engine's connections."""
    url = _parse(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    engine = create_sync_engine(
        url.set(drivername="sqlite+pysqlite"), execution_options={WRITE_OPTION: True}
    )
    _configure_sqlite(engine, sqlite_synchronous, True)
    return engine


def _configure_sqlite(sync_engine: Engine, synchronous: SqliteSync, foreign_keys: bool) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it would skip it before SELECT / SAVEPOINT
        # / DDL); SQLAlchemy emits it in `_on_begin`. This is SQLAlchemy's documented recipe.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
        finally:
            cursor.close()
        # Unicode-aware lower() for the case-insensitive search (SQLite's is ASCII only).
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _describe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _missing_sqlite_dir(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    parent = Path(url.database).expanduser().resolve().parent
    return None if parent.is_dir() else parent


async def check_connection(engine: AsyncEngine) -> None:
    """Open one connection; raise DatabaseUnavailable (one line) when that fails."""
    url = engine.url
    missing = _missing_sqlite_dir(url)
    if missing is not None:
        raise DatabaseUnavailable(
            f"cannot open database {_describe(url)}: directory {missing} does not exist"
        )
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    except (TimeoutError, SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailable(f"cannot connect to {_describe(url)}: {_one_line(exc)}") from exc
    except Exception as exc:  # asyncpg raises its own hierarchy for auth / missing database
        if type(exc).__module__.startswith("asyncpg"):
            raise DatabaseUnavailable(
                f"cannot connect to {_describe(url)}: {_one_line(exc)}"
            ) from exc
        raise


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc) or type(exc).__name__
    return " ".join(text.split())[:300]
