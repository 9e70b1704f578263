"""Write operations on a conversation's tree: where a new turn goes, and which branch is
active. Synchronous functions of a `Session`, run by the writer inside its transaction."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tickertape.store.errors import BadRequest, Conflict, NotFound
from tickertape.store.models import Conversation, Message, utcnow
from tickertape.store.tree import Tree
from tickertape.store.types import Placement, TurnDeletion


class Link(NamedTuple):
    id: str
    parent_id: str | None


class Node(NamedTuple):
    id: str
    parent_id: str | None
    status: str
    ordinal: int


def claim(
    session: Session,
    conversation_id: str,
    user_id: str,
    added: int,
    reply_id: str,
    at: Placement | None,
    now: datetime,
) -> tuple[int, str | None]:
    """Reserve `added` ordinals in the user's conversation, make `reply_id` its active leaf
    and check the new turn may go `at` its place; return (first ordinal, parent id).

    The UPDATE locks the conversation row (PostgreSQL), so the streaming check below cannot
    race another writer process. Raises NotFound, BadRequest or Conflict, in that order.
    """
    mine = (Conversation.id == conversation_id, Conversation.user_id == user_id)
    bump = (
        update(Conversation)
        .where(*mine)
        .values(message_count=Conversation.message_count + added, updated_at=now)
    )
    parent_id: str | None
    if at is None:  # after the active leaf (RETURNING gives it before it moves below)
        row = session.execute(
            bump.returning(Conversation.message_count, Conversation.active_leaf_id)
        ).one_or_none()
        if row is None:
            raise NotFound("conversation not found")
        count, parent_id = row
        if parent_id is None:  # no active leaf recorded: the last message
            parent_id = session.scalar(
                select(Message.id)
                .where(Message.conversation_id == conversation_id, Message.ordinal < count - added)
                .order_by(Message.ordinal.desc())
                .limit(1)
            )
        session.execute(update(Conversation).where(*mine).values(active_leaf_id=reply_id))
    else:
        new_count = session.scalar(
            bump.values(active_leaf_id=reply_id).returning(Conversation.message_count)
        )
        if new_count is None:
            raise NotFound("conversation not found")
        count, parent_id = new_count, at.parent_id
        _check_parent(session, conversation_id, at)
    streaming = session.scalar(
        select(Message.id)
        .where(Message.conversation_id == conversation_id, Message.status == "streaming")
        .limit(1)
    )
    if streaming is not None:
        raise Conflict(f"conversation already has a reply in flight ({streaming})")
    return count - added, parent_id


def _check_parent(session: Session, conversation_id: str, at: Placement) -> None:
    if at.parent_id is None:
        if at.regenerate:
            raise BadRequest("a regenerated reply needs its user message")
        return  # a new root: an edit of the conversation's first message
    role = session.scalar(
        select(Message.role).where(
            Message.id == at.parent_id, Message.conversation_id == conversation_id
        )
    )
    if role is None:
        raise NotFound("message not found in that conversation")
    wanted = "user" if at.regenerate else "assistant"
    if role != wanted:
        raise BadRequest(
            f"message {at.parent_id} is not {'a user message' if at.regenerate else 'a reply'}"
        )


def set_active_message(
    session: Session, conversation_id: str, user_id: str, message_id: str
) -> str:
    """Make the newest leaf under `message_id` the active leaf; return it. Switching does
    not move the conversation in the listing (its `updated_at` stays)."""
    links = [
        Link(*row)
        for row in session.execute(
            select(Message.id, Message.parent_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.conversation_id == conversation_id, Conversation.user_id == user_id)
            .order_by(Message.ordinal)
        )
    ]
    if not links:
        raise NotFound("conversation not found")
    tree = Tree(links)
    if message_id not in tree.by_id:
        raise NotFound("message not found in that conversation")
    leaf = tree.newest_leaf_under(message_id)
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(active_leaf_id=leaf)
    )
    return leaf


def delete_turn(session: Session, reply_id: str, user_id: str) -> TurnDeletion:
    """Delete a reply's turn and every turn that continued from it: the reply's subtree,
    with its user message when that message has no other reply. A conversation left empty
    goes too. Raises NotFound (missing, another user's, not a reply) and Conflict (a reply
    of what would go is still streaming: stop it first)."""
    conversation_id = session.scalar(
        select(Message.conversation_id).where(
            Message.id == reply_id, Message.user_id == user_id, Message.role == "assistant"
        )
    )
    if conversation_id is None:
        raise NotFound("reply not found")
    rows = session.execute(
        select(Message.id, Message.parent_id, Message.status, Message.ordinal)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.ordinal)
    )
    tree = Tree([Node(*row) for row in rows])
    asked = tree.by_id[reply_id].parent_id
    alone = asked is not None and tree.children.get(asked) == [reply_id]
    root = asked if alone and asked is not None else reply_id
    doomed = tree.subtree(root)
    streaming = next((i for i in doomed if tree.by_id[i].status == "streaming"), None)
    if streaming is not None:
        raise Conflict(f"reply {streaming} is still streaming")
    session.execute(delete(Message).where(Message.id.in_(doomed)))
    kept = [n for n in tree.nodes if n.id not in set(doomed)]
    if not kept:
        session.execute(delete(Conversation).where(Conversation.id == conversation_id))
        return TurnDeletion(conversation_id, conversation_deleted=True)
    _renumber(session, kept)
    parent = tree.by_id[root].parent_id
    survivors = Tree(kept)
    leaf = survivors.newest_leaf_under(parent) if parent is not None else kept[-1].id
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(message_count=len(kept), active_leaf_id=leaf, updated_at=utcnow())
    )
    return TurnDeletion(conversation_id, conversation_deleted=False)


def _renumber(session: Session, kept: list[Node]) -> None:
    """Ordinals 0..n-1 again, so the next turn's (the message count) is free. Ascending:
    each message moves only down, to a place already vacated."""
    for ordinal, node in enumerate(kept):
        if node.ordinal != ordinal:
            session.execute(update(Message).where(Message.id == node.id).values(ordinal=ordinal))
