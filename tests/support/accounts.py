"""Accounts for token-mode servers, created straight in the store before the server starts."""

from __future__ import annotations

import asyncio
import secrets
from typing import Literal

from tickertape.auth.authenticator import hash_token
from tickertape.store.migrations import upgrade_to_head
from tickertape.store.sql_store import SqlStore


async def _create(database_url: str, users: dict[str, Literal["user", "admin"]]) -> dict[str, str]:
    await upgrade_to_head(database_url, lambda _line: None)
    store = SqlStore.from_url(database_url)
    await store.start()
    tokens: dict[str, str] = {}
    try:
        for name, role in users.items():
            user = await store.ensure_user(name, role)
            token = "tt_" + secrets.token_urlsafe(32)
            await store.add_api_token(user.id, hash_token(token), "test")
            tokens[name] = token
    finally:
        await store.close()
    return tokens


def create_users(database_url: str, users: dict[str, Literal["user", "admin"]]) -> dict[str, str]:
    """Create users with one API token each; return name -> token."""
    return asyncio.run(_create(database_url, users))
