"""Read queries. Each opens its own session (its own connection and snapshot); none goes
through the writer, so with SQLite WAL a read never waits for a write transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickertape.store.errors import NotFound
from tickertape.store.models import Conversation, Message, User
from tickertape.store.tree import Tree
from tickertape.store.turns import existing_turn
from tickertape.store.types import (
    ConversationSummary,
    MessageRecord,
    MessageStatus,
    Transcript,
    TurnRecord,
    UserRecord,
)


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
        error_retry_after_ms=m.error_retry_after_ms,
        parent_id=m.parent_id,
        params=m.params,
        frame_ends=m.frame_ends,
        reasoning=m.reasoning,
        tool_calls=m.tool_calls,
    )


def to_summary(c: Conversation, user: User, has_error: bool = False) -> ConversationSummary:
    return ConversationSummary(
        c.id,
        c.title,
        c.created_at,
        c.updated_at,
        c.message_count,
        to_user(user),
        c.active_leaf_id,
        has_error,
    )


class Reader:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def history(self, conversation_id: str, before_message_id: str) -> list[MessageRecord]:
        """The path from the root to the parent of `before_message_id` (a linear
        conversation: every message before it)."""
        async with self._sessionmaker() as session:
            messages = [to_message(m) for m in await session.scalars(_messages_of(conversation_id))]
        tree = Tree(messages)
        message = tree.by_id.get(before_message_id)
        if message is None:
            raise NotFound("message not found in that conversation")
        return tree.path_to(message.parent_id)

    async def find_turn(self, user_id: str, client_msg_id: str) -> TurnRecord | None:
        async with self._sessionmaker() as session:
            return await session.run_sync(existing_turn, user_id, client_msg_id)

    async def streaming_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of replies `streaming` whose last write (start or checkpoint) is older than
        `cutoff`, oldest first (ix_messages_streaming holds only streaming rows)."""
        stmt = (
            select(Message.id)
            .where(Message.status == "streaming", Message.updated_at < cutoff)
            .order_by(Message.updated_at)
            .limit(limit)
        )
        async with self._sessionmaker() as session:
            return list(await session.scalars(stmt))

    async def get_message(self, message_id: str) -> MessageRecord | None:
        async with self._sessionmaker() as session:
            message = await session.get(Message, message_id)
            return None if message is None else to_message(message)

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
            messages = await session.scalars(_messages_of(conversation_id))
            return Transcript(to_summary(row[0], row[1]), [to_message(m) for m in messages])


def _messages_of(conversation_id: str) -> Select[Message]:
    """Every message of the conversation, oldest first (the history index)."""
    return (
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.ordinal)
    )
