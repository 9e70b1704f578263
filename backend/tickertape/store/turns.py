"""Write operations of a chat turn: synchronous functions the writer runs inside its
transaction (see writer.py for why they are not coroutines)."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tickertape.store import branches
from tickertape.store.errors import BadRequest, Conflict, NotFound, check_length, check_text
from tickertape.store.models import Conversation, Message, new_id, utcnow
from tickertape.store.types import FrameEnd, Placement, ReplyFinal, TurnRecord

TITLE_CHARS = 60
TITLE_MAX = 200
DEFAULT_TITLE = "New conversation"


def derive_title(content: str) -> str:
    """One line, at most ~60 characters, cut at a word boundary when there is one."""
    line = " ".join(content.split())
    if not line:
        return DEFAULT_TITLE
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS]
    space = cut.rfind(" ")
    if space >= TITLE_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def clean_title(title: str) -> str:
    line = " ".join(check_text(title, "title").split())
    if not line:
        raise BadRequest("title is empty")
    if len(line) > TITLE_MAX:
        raise BadRequest(f"title is longer than {TITLE_MAX} characters")
    return line


def existing_turn(session: Session, user_id: str, client_msg_id: str) -> TurnRecord | None:
    row = (
        session.execute(
            select(
                Message.id,
                Message.conversation_id,
                Message.ordinal,
                Message.role,
                Message.parent_id,
                Message.params,
            ).where(Message.user_id == user_id, Message.client_msg_id == client_msg_id)
        )
    ).one_or_none()
    if row is None:
        return None
    if row.role == "assistant":  # a regenerated reply carries the key itself
        user_message_id = row.parent_id or ""
        return TurnRecord(
            row.conversation_id,
            user_message_id,
            row.id,
            client_msg_id,
            False,
            user_message_id,
            _truncated(row.params),
        )
    reply = session.execute(
        select(Message.id, Message.params).where(
            Message.conversation_id == row.conversation_id, Message.ordinal == row.ordinal + 1
        )
    ).one_or_none()
    if reply is None:  # cannot happen: both rows are inserted in one transaction
        raise NotFound(f"the reply of message {row.id} is missing")
    return TurnRecord(
        row.conversation_id,
        row.id,
        reply.id,
        client_msg_id,
        False,
        row.parent_id,
        _truncated(reply.params),
    )


def _truncated(params: dict[str, Any] | None) -> int:
    """What the original `accepted` said (kept with the reply's parameters)."""
    value = (params or {}).get("truncated", 0)
    return value if isinstance(value, int) else 0


def start_turn(
    session: Session,
    user_id: str,
    client_msg_id: str,
    content: str,
    conversation_id: str | None,
    params: dict[str, Any],
    at: Placement | None = None,
) -> TurnRecord:
    """The user's message and its empty `streaming` reply (only the reply when
    `at.regenerate`), placed `at` a point of the tree (None: after the active leaf); the
    reply becomes the conversation's active leaf."""
    check_text(content, "content")
    check_length(client_msg_id, "client_msg_id", 64)
    existing = existing_turn(session, user_id, client_msg_id)
    if existing is not None:
        return existing
    now = utcnow()
    regenerate = at is not None and at.regenerate
    added = 1 if regenerate else 2
    reply_id = new_id()
    if conversation_id is None:
        if at is not None and (at.regenerate or at.parent_id is not None):
            raise BadRequest("a new conversation has no message to branch from")
        conversation_id = new_id()
        session.add(
            Conversation(
                id=conversation_id,
                user_id=user_id,
                title=derive_title(content),
                message_count=2,
                created_at=now,
                updated_at=now,
                active_leaf_id=reply_id,
            )
        )
        ordinal, parent_id = 0, None
    else:
        ordinal, parent_id = branches.claim(
            session, conversation_id, user_id, added, reply_id, at, now
        )
    user_message_id = parent_id if regenerate else new_id()
    rows = (
        []
        if regenerate
        else [
            Message(
                id=user_message_id,
                conversation_id=conversation_id,
                parent_id=parent_id,
                user_id=user_id,
                ordinal=ordinal,
                role="user",
                content=content,
                client_msg_id=client_msg_id,
                status="complete",
                seq=0,
                created_at=now,
                updated_at=now,
            )
        ]
    )
    rows.append(
        Message(
            id=reply_id,
            conversation_id=conversation_id,
            parent_id=user_message_id,
            user_id=user_id,
            ordinal=ordinal + added - 1,
            role="assistant",
            content="",
            client_msg_id=client_msg_id if regenerate else None,
            status="streaming",
            seq=0,
            params=params,
            created_at=now,
            updated_at=now,
        )
    )
    session.add_all(rows)
    try:
        session.flush()
    except IntegrityError:
        # Another writer process committed the same client_msg_id first (PostgreSQL).
        raise Conflict("a message with this client_msg_id is being stored concurrently") from None
    session.expunge_all()
    assert user_message_id is not None
    return TurnRecord(conversation_id, user_message_id, reply_id, client_msg_id, True, parent_id)


_MESSAGES = Message.__table__
assert isinstance(_MESSAGES, Table)
_CHECKPOINT = (
    update(_MESSAGES)
    .where(
        _MESSAGES.c.id == bindparam("reply_id"),
        _MESSAGES.c.status == "streaming",
        _MESSAGES.c.seq <= bindparam("new_seq"),
    )
    .values(
        content=bindparam("new_content"),
        seq=bindparam("new_seq"),
        frame_ends=bindparam("new_ends"),
        reasoning=bindparam("new_reasoning"),
        tool_calls=bindparam("new_calls"),
        updated_at=bindparam("now"),
    )
)


class Checkpoint(NamedTuple):
    content: str
    seq: int
    frame_ends: list[FrameEnd] | None
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


def checkpoint_replies(session: Session, pending: dict[str, Checkpoint]) -> None:
    """Every pending checkpoint in one executemany statement: with many replies streaming,
    one statement per reply per batch cost more than the rest of the write path together.

    Only a reply still `streaming` is checkpointed, and never backwards.
    """
    now = utcnow()
    rows = [
        {
            "reply_id": reply_id,
            "new_content": c.content,
            "new_seq": c.seq,
            "new_ends": c.frame_ends,
            "new_reasoning": c.reasoning,
            "new_calls": c.tool_calls,
            "now": now,
        }
        for reply_id, c in pending.items()
    ]
    session.execute(_CHECKPOINT, rows)


def finish_reply(session: Session, final: ReplyFinal) -> None:
    if final.status == "streaming":
        raise BadRequest("a final reply cannot be `streaming`")
    now = utcnow()
    conversation_id = session.scalar(
        update(Message)
        .where(Message.id == final.reply_id, Message.role == "assistant")
        .values(
            content=final.content,
            seq=final.seq,
            status=final.status,
            finish_reason=final.finish_reason,
            usage=dict(final.usage),
            timing=dict(final.timing),
            error_code=final.error_code,
            error=final.error_message,
            error_retry_after_ms=final.error_retry_after_ms,
            frame_ends=None if final.frame_ends is None else list(final.frame_ends),
            reasoning=final.reasoning,
            tool_calls=None if final.tool_calls is None else list(final.tool_calls),
            updated_at=now,
        )
        .returning(Message.conversation_id)
    )
    if conversation_id is None:
        raise NotFound(f"reply {final.reply_id} not found")
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(updated_at=now)
    )


def recover_interrupted(session: Session) -> int:
    result = session.execute(
        update(Message)
        .where(Message.status == "streaming")
        .values(status="interrupted", finish_reason="interrupted", updated_at=utcnow())
    )
    return _rowcount(result)


def interrupt_reply(session: Session, reply_id: str, content: str, seq: int) -> bool:
    """End a reply whose replica died as `interrupted` with this text; only while it is
    still `streaming` (its owner may have finished it after all). True if it was."""
    result = session.execute(
        update(Message)
        .where(Message.id == reply_id, Message.status == "streaming")
        .values(
            content=content,
            seq=seq,
            status="interrupted",
            finish_reason="interrupted",
            updated_at=utcnow(),
        )
    )
    return _rowcount(result) > 0


def rename_conversation(session: Session, conversation_id: str, user_id: str, title: str) -> None:
    result = session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
        .values(title=clean_title(title))
    )
    if _rowcount(result) == 0:
        raise NotFound("conversation not found")


def delete_conversation(session: Session, conversation_id: str, user_id: str) -> None:
    result = session.execute(
        delete(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    if _rowcount(result) == 0:
        raise NotFound("conversation not found")


def _rowcount(result: Any) -> int:  # CursorResult.rowcount (Result's type does not show it)
    return int(result.rowcount)
