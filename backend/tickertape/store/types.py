"""Records the store hands to the chat service and the HTTP routes.

Plain dataclasses so that callers never hold an ORM object (or a session) across an await.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

# Where a reply's frame ends: an int offset in its content, or a list describing a frame
# of another kind (chat/stored_frames.py). The store keeps them as JSON, unread.
FrameEnd = int | list[Any]
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
    # The parent of the new user message (None: the conversation's first); for a
    # regenerated reply, its user message (then `user_message_id` is that message too).
    parent_id: str | None = None
    truncated: int = 0  # oldest messages its prompt left out (a retry's `accepted` says so)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a turn goes in its conversation's tree (`start_turn`'s `at`; None: after the
    active leaf, as in a linear conversation)."""

    parent_id: str | None  # the new user message's parent: a reply, or None for a new root
    regenerate: bool = False  # True: no new user message; `parent_id` is the user message


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
    error_retry_after_ms: int | None = None
    parent_id: str | None = None  # the message this one answers (None: a root)
    params: dict[str, Any] | None = None  # a reply's generation parameters (and request)
    frame_ends: list[FrameEnd] | None = None  # chat/stored_frames.py: frames 1..seq
    reasoning: str | None = None  # a reply's thinking (frames of kind reasoning)
    # A reply's complete tool calls: {index, id, name, arguments, result, round,
    # content_end, reasoning_end} (chat/reply_parts.py)
    tool_calls: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class TurnDeletion:
    conversation_id: str
    conversation_deleted: bool  # nothing was left in it


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    user: UserRecord
    active_leaf_id: str | None = None  # the end of the branch shown and continued
    has_error: bool = False  # some reply failed (filled by admin listings only)


@dataclass(frozen=True, slots=True)
class Transcript:
    """Every message of the conversation (the whole tree) in creation order; `store.tree`
    gives the active path and siblings."""

    summary: ConversationSummary
    messages: list[MessageRecord]


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """What an admin listing or export selects; empty fields select everything."""

    query: str | None = None  # a substring of some message's text, case-insensitive
    user_name: str | None = None  # a substring of the owner's name, case-insensitive
    status: MessageStatus | None = None  # some message has this status (`error`: failed)
    conversation_id: str | None = None
    since: datetime | None = None  # active since: updated at or after it
    until: datetime | None = None  # started before it (exclusive)


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
    error_retry_after_ms: int | None = None
    frame_ends: tuple[FrameEnd, ...] | None = None  # chat/stored_frames.py
    reasoning: str | None = None
    tool_calls: tuple[dict[str, Any], ...] | None = None


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
        at: Placement | None = None,
    ) -> TurnRecord:
        """Commit the user's message and an empty `streaming` reply in one transaction
        (only the reply when `at.regenerate`); the reply becomes the active leaf.

        Idempotent on (user_id, client_msg_id): a retry returns the original record with
        created=False. Raises NotFound (conversation missing or another user's, or
        `at.parent_id` not a message of it), BadRequest (`at.parent_id` of the wrong role)
        or Conflict (the conversation already has a reply `streaming`).
        """

    async def find_turn(self, user_id: str, client_msg_id: str) -> TurnRecord | None:
        """The committed turn of (user_id, client_msg_id) with created=False, or None.
        A read: it never waits for the writer, so a turn still being committed is None."""

    def checkpoint_reply(
        self,
        reply_id: str,
        content: str,
        seq: int,
        frame_ends: list[FrameEnd] | None = None,
        *,
        reasoning: str | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None:
        """Queue a checkpoint of a streaming reply (fire and forget; latest one wins).
        `frame_ends`: where each of frames 1..seq ends (`FrameEnd`; not copied: the
        caller hands over a list it no longer changes); `reasoning` and `tool_calls`:
        the reply's other parts through seq."""

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
        status: MessageStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page:
        """Newest first by updated_at. user_id None = every user's (admin; then each
        summary says `has_error`). `status`: only conversations with a message in it;
        `since` / `until`: see ConversationFilter."""

    async def get_transcript(self, conversation_id: str, user_id: str | None) -> Transcript:
        """Raises NotFound when missing or (user_id given) not that user's."""

    async def delete_turn(self, reply_id: str, user_id: str) -> TurnDeletion:
        """Delete a reply's turn and the rest of its conversation after it (NotFound,
        Conflict while a reply of that range streams); an emptied conversation goes too."""

    async def rename_conversation(self, conversation_id: str, user_id: str, title: str) -> None: ...
    async def set_active_message(self, conversation_id: str, user_id: str, message_id: str) -> str:
        """Make the newest leaf under `message_id` the active leaf and return it. Raises
        NotFound (conversation or message missing, or another user's)."""

    async def delete_conversation(self, conversation_id: str, user_id: str) -> None: ...
