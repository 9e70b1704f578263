"""Run Alembic from the app: `upgrade_to_head` at startup / in the CLI, `is_at_head` for /readyz.

Alembic runs on a connection the app opens (`config.attributes["connection"]`), inside
`AsyncConnection.run_sync`, so this works from a running event loop (the scripts' env.py
only calls asyncio.run when the `alembic` command line drives it).

The scripts (env.py, versions/) are package data in `tickertape/store/alembic/`, next to this
module, so an installed wheel migrates without a source checkout or an alembic.ini.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from tickertape.store.db import check_connection, create_engine
from tickertape.store.errors import DatabaseUnavailable, StoreError

Progress = Callable[[str], None]


SCRIPTS_DIR = Path(__file__).resolve().parent / "alembic"


def alembic_dir(override: str | Path | None = None) -> Path:
    """`override`, else env TICKERTAPE_ALEMBIC_DIR, else the scripts shipped in the package."""
    if override is not None:
        return Path(override)
    if env := os.environ.get("TICKERTAPE_ALEMBIC_DIR"):
        return Path(env)
    return SCRIPTS_DIR


def make_config(
    database_url: str | None = None, script_location: str | Path | None = None
) -> Config:
    location = alembic_dir(script_location)
    if not (location / "env.py").is_file():
        raise StoreError(f"alembic scripts not found in {location} (set TICKERTAPE_ALEMBIC_DIR)")
    config = Config()
    config.set_main_option("script_location", str(location))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def _reporter(progress: Progress) -> Callable[..., None]:
    last = time.perf_counter()

    def on_version_apply(*, step: Any, **_kw: Any) -> None:
        nonlocal last
        now = time.perf_counter()
        verb = "applying" if step.is_upgrade else "reverting"
        # Both ways, `up_revision` is the revision applied or reverted by this step.
        label = step.up_revision_id
        doc = (getattr(step.up_revision, "doc", "") or "").strip().splitlines()
        progress(f"{verb} {label}: {doc[0] if doc else ''} ... ok ({(now - last) * 1000:.0f} ms)")
        last = now

    return on_version_apply


async def _run(
    database_url: str,
    progress: Progress,
    script_location: str | Path | None,
    action: Callable[[Config], None],
) -> None:
    config = make_config(database_url, script_location)
    config.attributes["on_version_apply"] = [_reporter(progress)]
    engine = create_engine(database_url, sqlite_foreign_keys=False)
    try:
        await check_connection(engine)

        def run(connection: Connection) -> None:
            config.attributes["connection"] = connection
            action(config)

        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


async def upgrade_to_head(
    database_url: str, progress: Progress, *, script_location: str | Path | None = None
) -> None:
    """Apply every pending revision; `progress` gets one line per applied revision.

    Raises InvalidDatabaseUrl / DatabaseUnavailable (one-line messages) when the database
    cannot be reached. Each revision commits in its own transaction.
    """
    await _run(database_url, progress, script_location, lambda c: command.upgrade(c, "head"))


async def upgrade(
    database_url: str,
    revision: str,
    progress: Progress,
    *,
    script_location: str | Path | None = None,
) -> None:
    """Apply the revisions up to `revision` (for tests that need an older schema)."""
    await _run(database_url, progress, script_location, lambda c: command.upgrade(c, revision))


async def downgrade(
    database_url: str,
    revision: str,
    progress: Progress,
    *,
    script_location: str | Path | None = None,
) -> None:
    """Revert to `revision` ("base" = drop everything). For tests and operators."""
    await _run(database_url, progress, script_location, lambda c: command.downgrade(c, revision))


@functools.cache
def _heads(location: Path) -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(make_config(None, location)).get_heads())


async def current_revisions(engine: AsyncEngine) -> frozenset[str]:
    def read(connection: Connection) -> frozenset[str]:
        return frozenset(MigrationContext.configure(connection).get_current_heads())

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    except (SQLAlchemyError, OSError) as exc:
        detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        raise DatabaseUnavailable(f"cannot read the schema revision: {detail}") from exc


async def is_at_head(engine: AsyncEngine, *, script_location: str | Path | None = None) -> bool:
    """True when the database's revision is the scripts' head. Raises DatabaseUnavailable."""
    return await current_revisions(engine) == _heads(alembic_dir(script_location))
