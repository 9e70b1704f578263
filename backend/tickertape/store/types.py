"""Records the store hands to the chat service and the HTTP routes.

Plain dataclasses so that callers never hold an ORM object (or a session) across an await.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

MessageStatus = Literal["streaming", "complete", "stopped", "interrupted", "error"]


class StoreError(Exception):
    """A typed store failure; `code` is a contract error code."""

    code = "internal"


class NotFound(StoreError):
    code = "not_found"


class Conflict(StoreError):
    code = "conflict"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    name: str
    role: Literal["user", "admin"]


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """The result of starting a turn; `created` is False for an idempotent retry."""

    conversation_id: str
    user_message_id: str
    reply_id: str
    client_msg_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    conversation_id: str
    role: Literal["user", "assistant", "system"]
    content: str
    status: MessageStatus
    finish_reason: str | None
    seq: int  # last persisted token-frame seq (assistant replies); 0 otherwise
    created_at: datetime
    usage: dict[str, int] | None
    timing: dict[str, float] | None
    user_id: str
    error_code: str | None = None  # why a failed reply failed (status `error`)
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    user: UserRecord


@dataclass(frozen=True, slots=True)
class Transcript:
    summary: ConversationSummary
    messages: list[MessageRecord]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[ConversationSummary]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ReplyFinal:
    """The final state of a reply, committed before the `end` frame is sent."""

    reply_id: str
    content: str
    seq: int
    status: MessageStatus
    finish_reason: str
    usage: dict[str, int]
    timing: dict[str, float]
    error_code: str | None = None  # status `error`: why, as a contract code and in words
    error_message: str | None = None


class Store(Protocol):
    """Asynchronous persistence. Writes go through one writer task with batched commits."""

    async def start(self) -> None: ...
    async def close(self) -> None:
        """Flush every pending write, then dispose of the connections."""

    async def recover_interrupted(self) -> int:
        """Mark replies left `streaming` by a crash as `interrupted`; return how many."""

    # users
    async def ensure_user(self, name: str, role: Literal["user", "admin"]) -> UserRecord: ...

    # the write path of a turn
    async def start_turn(
        self,
        user_id: str,
        client_msg_id: str,
        content: str,
        conversation_id: str | None,
        params: dict[str, Any],
    ) -> TurnRecord:
        """Commit the user's message and an empty `streaming` reply in one transaction.

        Idempotent on (user_id, client_msg_id): a retry returns the original record with
        created=False. Raises NotFound (conversation missing or another user's) or Conflict
        (the conversation already has a reply `streaming`).
        """

    async def find_turn(self, user_id: str, client_msg_id: str) -> TurnRecord | None:
        """The committed turn of (user_id, client_msg_id) with created=False, or None.
        A read: it never waits for the writer, so a turn still being committed is None."""

    def checkpoint_reply(self, reply_id: str, content: str, seq: int) -> None:
        """Queue a checkpoint of a streaming reply (fire and forget; latest one wins)."""

    async def finish_reply(self, final: ReplyFinal) -> None:
        """Commit the final state of a reply; returns once it is durable."""

    # reads
    async def history(self, conversation_id: str, before_message_id: str) -> list[MessageRecord]:
        """The conversation's messages in order, up to and excluding `before_message_id`."""

    async def get_message(self, message_id: str) -> MessageRecord | None: ...
    async def list_conversations(
        self,
        user_id: str | None,
        limit: int,
        cursor: str | None,
        query: str | None = None,
        user_name: str | None = None,
    ) -> Page:
        """Newest first by updated_at. user_id None = every user's (admin)."""

    async def get_transcript(self, conversation_id: str, user_id: str | None) -> Transcript:
        """Raises NotFound when missing or (user_id given) not that user's."""

    async def rename_conversation(self, conversation_id: str, user_id: str, title: str) -> None: ...
    async def delete_conversation(self, conversation_id: str, user_id: str) -> None: ...
