"""Persistence: `SqlStore` implements the `Store` protocol of `types.py` on SQLAlchemy.

    from tickertape.store import SqlStore, upgrade_to_head
    await upgrade_to_head(url, print)      # Alembic; raises DatabaseUnavailable
    store = SqlStore.from_url(url)
    await store.start(); await store.recover_interrupted()
    ...
    await store.close()

See docs/storage.md.
"""

from tickertape.store.db import DEFAULT_DATABASE_URL, create_engine
from tickertape.store.errors import (
    BadRequest,
    Conflict,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    NotFound,
    StoreClosed,
    StoreError,
)
from tickertape.store.migrations import is_at_head, upgrade_to_head
from tickertape.store.sql_store import SqlStore

__all__ = [
    "DEFAULT_DATABASE_URL",
    "BadRequest",
    "Conflict",
    "DatabaseUnavailable",
    "InvalidDatabaseUrl",
    "NotFound",
    "SqlStore",
    "StoreClosed",
    "StoreError",
    "create_engine",
    "is_at_head",
    "upgrade_to_head",
]
