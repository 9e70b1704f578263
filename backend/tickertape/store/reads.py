"""Read queries. Each opens its own session (its own connection and snapshot); none goes
through the writer, so with SQLite WAL a read never waits for a write transaction."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickertape.store.errors import BadRequest, NotFound
from tickertape.store.models import Conversation, Message, User
from tickertape.store.turns import existing_turn
from tickertape.store.types import (
    ConversationSummary,
    MessageRecord,
    MessageStatus,
    Page,
    Transcript,
    TurnRecord,
    UserRecord,
)

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


def to_user(user: User) -> UserRecord:
    return UserRecord(user.id, user.name, cast(Literal["user", "admin"], user.role))


def to_message(m: Message) -> MessageRecord:
    return MessageRecord(
        id=m.id,
        conversation_id=m.conversation_id,
        role=cast(Literal["user", "assistant", "system"], m.role),
        content=m.content,
        status=cast(MessageStatus, m.status),
        finish_reason=m.finish_reason,
        seq=m.seq,
        created_at=m.created_at,
        usage=m.usage,
        timing=m.timing,
        user_id=m.user_id,
        error_code=m.error_code,
        error_message=m.error,
    )


def to_summary(c: Conversation, user: User) -> ConversationSummary:
    return ConversationSummary(
        c.id, c.title, c.created_at, c.updated_at, c.message_count, to_user(user)
    )


class Reader:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def history(self, conversation_id: str, before_message_id: str) -> list[MessageRecord]:
        async with self._sessionmaker() as session:
            ordinal = await session.scalar(
                select(Message.ordinal).where(
                    Message.id == before_message_id, Message.conversation_id == conversation_id
                )
            )
            if ordinal is None:
                raise NotFound("message not found in that conversation")
            rows = await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.ordinal < ordinal)
                .order_by(Message.ordinal)
            )
            return [to_message(m) for m in rows]

    async def find_turn(self, user_id: str, client_msg_id: str) -> TurnRecord | None:
        async with self._sessionmaker() as session:
            return await session.run_sync(existing_turn, user_id, client_msg_id)

    async def get_message(self, message_id: str) -> MessageRecord | None:
        async with self._sessionmaker() as session:
            message = await session.get(Message, message_id)
            return None if message is None else to_message(message)

    async def list_conversations(
        self,
        user_id: str | None,
        limit: int,
        cursor: str | None,
        query: str | None = None,
        user_name: str | None = None,
    ) -> Page:
        limit = max(1, min(MAX_PAGE, limit))
        stmt = select(Conversation, User).join(User, User.id == Conversation.user_id)
        if user_id is not None:
            stmt = stmt.where(Conversation.user_id == user_id)
        if user_name:
            stmt = stmt.where(User.name == user_name)
        if query:
            pattern = "%" + escape_like(query.lower()) + "%"
            stmt = stmt.where(
                exists().where(
                    Message.conversation_id == Conversation.id,
                    func.lower(Message.content).like(pattern, escape="\\"),
                )
            )
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
            items = [to_summary(c, u) for c, u in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.updated_at, last.id)
        return Page(items, next_cursor)

    async def get_transcript(self, conversation_id: str, user_id: str | None) -> Transcript:
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(Conversation, User)
                    .join(User, User.id == Conversation.user_id)
                    .where(Conversation.id == conversation_id)
                )
            ).one_or_none()
            if row is None or (user_id is not None and row[0].user_id != user_id):
                raise NotFound("conversation not found")
            messages = await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.ordinal)
            )
            return Transcript(to_summary(row[0], row[1]), [to_message(m) for m in messages])

    async def export_conversations(
        self, user_id: str | None = None, batch_size: int = 100
    ) -> AsyncIterator[Transcript]:
        """Every conversation (oldest first), read `batch_size` at a time; no session is held
        while the consumer handles a batch."""
        after: tuple[datetime, str] | None = None
        while True:
            stmt: Any = select(Conversation, User).join(User, User.id == Conversation.user_id)
            if user_id is not None:
                stmt = stmt.where(Conversation.user_id == user_id)
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
                ids = [c.id for c, _ in rows]
                by_conversation: dict[str, list[MessageRecord]] = {i: [] for i in ids}
                if ids:
                    messages = await session.scalars(
                        select(Message)
                        .where(Message.conversation_id.in_(ids))
                        .order_by(Message.conversation_id, Message.ordinal)
                    )
                    for m in messages:
                        by_conversation[m.conversation_id].append(to_message(m))
                batch = [Transcript(to_summary(c, u), by_conversation[c.id]) for c, u in rows]
            for transcript in batch:
                yield transcript
            if len(rows) < batch_size:
                return
            last = batch[-1].summary
            after = (last.created_at, last.id)
