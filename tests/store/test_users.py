"""Users, API tokens, web sessions and the audit log."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest

from tickertape.store.errors import BadRequest
from tickertape.store.models import utcnow
from tickertape.store.sql_store import SqlStore
from tickertape.store.types import Conflict, NotFound


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def test_users(store: SqlStore) -> None:
    local = await store.ensure_user("local", "admin")
    assert await store.ensure_user("local", "user") == local  # existing role kept
    bob = await store.create_user("bob", "user", "argon2-hash")
    with pytest.raises(Conflict):
        await store.create_user("bob", "admin")
    with pytest.raises(BadRequest):
        await store.create_user("eve", "root")  # type: ignore[arg-type]
    account = await store.get_user_by_name("bob")
    assert account is not None
    assert account.password_hash == "argon2-hash"
    assert account.record.name == "bob"
    assert account.created_at.tzinfo is not None
    await store.set_password_hash(bob.id, "new-hash")
    assert (await store.get_user(bob.id)).password_hash == "new-hash"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await store.set_password_hash("0" * 32, "x")
    assert [u.name for u in await store.list_users()] == ["bob", "local"]


async def test_api_tokens(store: SqlStore) -> None:
    bob = await store.create_user("bob", "user")
    token = await store.add_api_token(bob.id, sha("secret"), "laptop")
    await store.add_api_token(bob.id, sha("other"), "phone")
    with pytest.raises(Conflict):
        await store.add_api_token(bob.id, sha("secret"), "again")
    with pytest.raises(NotFound):
        await store.add_api_token("0" * 32, sha("x"), "nobody")
    assert await store.user_by_token_hash(sha("secret")) == bob.record
    assert await store.user_by_token_hash(sha("unknown")) is None
    await store.flush()  # the background last_used_at update
    tokens = {t.id: t for t in await store.list_api_tokens(bob.id)}
    assert tokens[token.id].last_used_at is not None
    assert await store.revoke_tokens(bob.id, token.id) == 1
    assert await store.user_by_token_hash(sha("secret")) is None
    assert await store.user_by_token_hash(sha("other")) == bob.record
    assert await store.revoke_tokens(bob.id) == 1
    assert await store.user_by_token_hash(sha("other")) is None
    carol = await store.create_user("carol", "user")
    await store.add_api_token(carol.id, sha("carol"), "x")
    await store.set_user_disabled(carol.id, True)
    assert await store.user_by_token_hash(sha("carol")) is None
    await store.set_user_disabled(carol.id, False)
    assert await store.user_by_token_hash(sha("carol")) == carol.record


async def test_web_sessions(store: SqlStore) -> None:
    bob = await store.create_user("bob", "user")
    soon = utcnow() + timedelta(hours=1)
    await store.create_web_session(sha("cookie"), bob.id, sha("csrf"), soon)
    await store.create_web_session(sha("old"), bob.id, sha("csrf"), utcnow() - timedelta(seconds=1))
    session = await store.get_web_session(sha("cookie"))
    assert session is not None
    assert session.user == bob.record
    assert session.csrf_hash == sha("csrf")
    assert session.expires_at == soon
    assert await store.get_web_session(sha("old")) is None  # expired
    assert await store.purge_expired_web_sessions() == 1
    await store.delete_web_session(sha("cookie"))
    assert await store.get_web_session(sha("cookie")) is None
    await store.create_web_session(sha("a"), bob.id, sha("c"), soon)
    await store.create_web_session(sha("b"), bob.id, sha("c"), soon)
    assert await store.delete_user_web_sessions(bob.id) == 2


async def test_audit_log_pages_newest_first(store: SqlStore) -> None:
    admin = await store.ensure_user("root", "admin")
    await asyncio.gather(*(store.add_audit(admin.id, "token.create", f"t{i}") for i in range(12)))
    await store.add_audit(None, "server.start", None)
    seen = []
    cursor = None
    while True:
        page = await store.list_audit(5, cursor)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 13
    assert seen[0].action == "server.start"
    assert [e.id for e in seen] == sorted((e.id for e in seen), reverse=True)
    with pytest.raises(BadRequest):
        await store.list_audit(5, "x")
