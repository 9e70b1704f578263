"""Conversation listings (a user's, the admin's search) and the admin export: keyset
pages and batches, each read in its own session."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickertape.store.errors import BadRequest
from tickertape.store.models import Conversation, Message, User
from tickertape.store.reads import to_message, to_summary
from tickertape.store.types import ConversationFilter, MessageRecord, Page, Transcript

MAX_PAGE = 100


def escape_like(text: str) -> str:
    """Make `%`, `_` and `\\` literal in a LIKE pattern used with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(updated_at: datetime, conversation_id: str) -> str:
    raw = json.dumps([updated_at.isoformat(), conversation_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, conversation_id = json.loads(raw)
        updated_at = datetime.fromisoformat(stamp)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("invalid cursor") from None
    if not isinstance(conversation_id, str) or updated_at.tzinfo is None:
        raise BadRequest("invalid cursor")
    return updated_at, conversation_id


def _has_status(status: str) -> ColumnElement[bool]:
    return exists().where(Message.conversation_id == Conversation.id, Message.status == status)


def _filtered(stmt: Any, user_id: str | None, where: ConversationFilter) -> Any:
    if user_id is not None:
        stmt = stmt.where(Conversation.user_id == user_id)
    if where.user_name:
        name = "%" + escape_like(where.user_name.lower()) + "%"
        stmt = stmt.where(func.lower(User.name).like(name, escape="\\"))
    if where.since is not None:
        stmt = stmt.where(Conversation.updated_at >= where.since)
    if where.until is not None:
        stmt = stmt.where(Conversation.created_at < where.until)
    if where.conversation_id:
        stmt = stmt.where(Conversation.id == where.conversation_id)
    if where.status:
        stmt = stmt.where(_has_status(where.status))
    if where.query:
        pattern = "%" + escape_like(where.query.lower()) + "%"
        stmt = stmt.where(
            exists().where(
                Message.conversation_id == Conversation.id,
                func.lower(Message.content).like(pattern, escape="\\"),
            )
        )
    return stmt


class Listing:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def list_conversations(
        self,
        user_id: str | None,
        limit: int,
        cursor: str | None,
        where: ConversationFilter,
    ) -> Page:
        """Newest first by (updated_at, id). An admin listing (user_id None) also says
        whether each conversation has a failed reply."""
        limit = max(1, min(MAX_PAGE, limit))
        columns: list[Any] = [Conversation, User]
        if user_id is None:
            columns.append(_has_status("error").label("has_error"))
        stmt = select(*columns).join(User, User.id == Conversation.user_id)
        stmt = _filtered(stmt, user_id, where)
        if cursor:
            updated_at, last_id = decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    Conversation.updated_at < updated_at,
                    and_(Conversation.updated_at == updated_at, Conversation.id < last_id),
                )
            )
        stmt = stmt.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        async with self._sessionmaker() as session:
            rows = (await session.execute(stmt.limit(limit + 1))).all()
            items = [to_summary(*row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.updated_at, last.id)
        return Page(items, next_cursor)

    async def export_conversations(
        self, user_id: str | None, batch_size: int, where: ConversationFilter
    ) -> AsyncIterator[Transcript]:
        """The selected conversations (oldest first) with every message, read `batch_size`
        at a time; no session is held while the consumer handles a batch."""
        after: tuple[datetime, str] | None = None
        while True:
            stmt: Any = select(Conversation, User, _has_status("error").label("has_error"))
            stmt = _filtered(stmt.join(User, User.id == Conversation.user_id), user_id, where)
            if after is not None:
                stmt = stmt.where(
                    or_(
                        Conversation.created_at > after[0],
                        and_(Conversation.created_at == after[0], Conversation.id > after[1]),
                    )
                )
            stmt = stmt.order_by(Conversation.created_at, Conversation.id).limit(batch_size)
            async with self._sessionmaker() as session:
                rows = (await session.execute(stmt)).all()
                ids = [row[0].id for row in rows]
                by_conversation: dict[str, list[MessageRecord]] = {i: [] for i in ids}
                if ids:
                    messages = await session.scalars(
                        select(Message)
                        .where(Message.conversation_id.in_(ids))
                        .order_by(Message.conversation_id, Message.ordinal)
                    )
                    for m in messages:
                        by_conversation[m.conversation_id].append(to_message(m))
                batch = [Transcript(to_summary(*row), by_conversation[row[0].id]) for row in rows]
            for transcript in batch:
                yield transcript
            if len(rows) < batch_size:
                return
            last = batch[-1].summary
            after = (last.created_at, last.id)
