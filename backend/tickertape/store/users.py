"""Users, API tokens, web sessions and the audit log: write ops (synchronous, run by the
writer inside its transaction) and reads (own async sessions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from tickertape.store.errors import BadRequest, Conflict, NotFound, check_length
from tickertape.store.models import ApiToken, AuditEntry, User, WebSession, new_id, utcnow
from tickertape.store.reads import to_user
from tickertape.store.records import (
    ApiTokenRecord,
    AuditPage,
    AuditRecord,
    UserAccount,
    WebSessionRecord,
)
from tickertape.store.types import UserRecord

Role = Literal["user", "admin"]


def to_account(u: User) -> UserAccount:
    return UserAccount(
        u.id, u.name, cast(Role, u.role), u.password_hash, u.created_at, u.disabled_at
    )


def to_token(t: ApiToken) -> ApiTokenRecord:
    return ApiTokenRecord(t.id, t.user_id, t.name, t.created_at, t.last_used_at, t.revoked_at)


def _check_user(name: str, role: str) -> None:
    check_length(name, "user name", 64)
    if role not in ("user", "admin"):
        raise BadRequest(f"unknown role {role!r}")


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


# --- write operations (called by the writer) ---------------------------------------------


def ensure_user(session: Session, name: str, role: Role) -> UserRecord:
    """The user called `name`, created with `role` if missing (an existing role is kept)."""
    existing = session.scalar(select(User).where(User.name == name))
    if existing is not None:
        return to_user(existing)
    return (create_user(session, name, role, None)).record


def create_user(session: Session, name: str, role: Role, password_hash: str | None) -> UserAccount:
    _check_user(name, role)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(id=new_id(), name=name, role=role, password_hash=password_hash, created_at=utcnow())
    session.add(user)
    session.flush()
    return to_account(user)


def set_password_hash(session: Session, user_id: str, password_hash: str | None) -> None:
    result = session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )
    if _rowcount(result) == 0:
        raise NotFound("user not found")


def set_user_disabled(session: Session, user_id: str, disabled: bool) -> None:
    result = session.execute(
        update(User).where(User.id == user_id).values(disabled_at=utcnow() if disabled else None)
    )
    if _rowcount(result) == 0:
        raise NotFound("user not found")


def add_api_token(session: Session, user_id: str, token_hash: str, name: str) -> ApiTokenRecord:
    check_length(name, "token name", 100, minimum=0)
    check_length(token_hash, "token hash", 64)
    if session.get(User, user_id) is None:
        raise NotFound("user not found")
    if session.scalar(select(ApiToken.id).where(ApiToken.token_hash == token_hash)):
        raise Conflict("token hash already registered")
    token = ApiToken(
        id=new_id(), user_id=user_id, token_hash=token_hash, name=name, created_at=utcnow()
    )
    session.add(token)
    session.flush()
    return to_token(token)


def revoke_tokens(session: Session, user_id: str, token_id: str | None) -> int:
    stmt = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        stmt = stmt.where(ApiToken.id == token_id)
    return _rowcount(session.execute(stmt.values(revoked_at=utcnow())))


def touch_token(session: Session, token_hash: str, when: datetime) -> None:
    session.execute(
        update(ApiToken).where(ApiToken.token_hash == token_hash).values(last_used_at=when)
    )


def add_audit(session: Session, actor_user_id: str | None, action: str, target: str | None) -> None:
    check_length(action, "audit action", 64)
    if target is not None:
        check_length(target, "audit target", 255, minimum=0)
    session.add(
        AuditEntry(actor_user_id=actor_user_id, action=action, target=target, created_at=utcnow())
    )
    session.flush()


def create_web_session(
    session: Session, session_id: str, user_id: str, csrf_hash: str, expires_at: datetime
) -> None:
    check_length(session_id, "session id", 64)
    check_length(csrf_hash, "csrf hash", 64)
    if session.get(User, user_id) is None:
        raise NotFound("user not found")
    session.add(
        WebSession(
            id=session_id,
            user_id=user_id,
            csrf_hash=csrf_hash,
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    session.flush()


def delete_web_sessions(
    session: Session, session_id: str | None, user_id: str | None, expired: bool
) -> int:
    stmt = delete(WebSession)
    if session_id is not None:
        stmt = stmt.where(WebSession.id == session_id)
    if user_id is not None:
        stmt = stmt.where(WebSession.user_id == user_id)
    if expired:
        stmt = stmt.where(WebSession.expires_at <= utcnow())
    return _rowcount(session.execute(stmt))


# --- reads ---------------------------------------------------------------------------------


class UserReader:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def get_user(self, user_id: str) -> UserAccount | None:
        async with self._sessionmaker() as session:
            user = await session.get(User, user_id)
            return None if user is None else to_account(user)

    async def get_user_by_name(self, name: str) -> UserAccount | None:
        async with self._sessionmaker() as session:
            user = await session.scalar(select(User).where(User.name == name))
            return None if user is None else to_account(user)

    async def list_users(self) -> list[UserAccount]:
        async with self._sessionmaker() as session:
            return [to_account(u) for u in await session.scalars(select(User).order_by(User.name))]

    async def user_by_token_hash(self, token_hash: str) -> UserRecord | None:
        """The owner of an unrevoked token, unless that user is disabled."""
        async with self._sessionmaker() as session:
            user = await session.scalar(
                select(User)
                .join(ApiToken, ApiToken.user_id == User.id)
                .where(
                    ApiToken.token_hash == token_hash,
                    ApiToken.revoked_at.is_(None),
                    User.disabled_at.is_(None),
                )
            )
            return None if user is None else to_user(user)

    async def list_api_tokens(self, user_id: str) -> list[ApiTokenRecord]:
        async with self._sessionmaker() as session:
            tokens = await session.scalars(
                select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)
            )
            return [to_token(t) for t in tokens]

    async def get_web_session(self, session_id: str) -> WebSessionRecord | None:
        """An unexpired session of an enabled user."""
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(WebSession, User)
                    .join(User, User.id == WebSession.user_id)
                    .where(
                        WebSession.id == session_id,
                        WebSession.expires_at > utcnow(),
                        User.disabled_at.is_(None),
                    )
                )
            ).one_or_none()
            if row is None:
                return None
            ws, user = row
            return WebSessionRecord(
                ws.id, to_user(user), ws.csrf_hash, ws.created_at, ws.expires_at
            )

    async def list_audit(self, limit: int = 50, cursor: str | None = None) -> AuditPage:
        """Newest first; `cursor` is the opaque `next_cursor` of the previous page."""
        limit = max(1, min(500, limit))
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
        if cursor:
            if not cursor.isdigit():
                raise BadRequest("invalid cursor")
            stmt = stmt.where(AuditEntry.id < int(cursor))
        async with self._sessionmaker() as session:
            rows = list(await session.scalars(stmt))
        items = [
            AuditRecord(e.id, e.actor_user_id, e.action, e.target, e.created_at)
            for e in rows[:limit]
        ]
        return AuditPage(items, str(items[-1].id) if len(rows) > limit else None)
