"""What the chat service needs from a layer shared by several replicas (Redis today:
`chat/redis_layer.py`). Without one, every reply lives and is found in this process only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tickertape.chat.reply_log import ReplyLog


class SharedReplies(Protocol):
    async def register(self, reply_log: ReplyLog, stored: bool) -> None:
        """Make a reply this replica runs visible to the others (before its engine starts);
        never raises."""

    async def find(self, user_id: str, reply_id: str, last_seq: int) -> ReplyLog | None:
        """A reply another replica runs or ran lately, as a log to follow from `last_seq`;
        None if the layer does not know it. `ChatError` `not_found` for another user's."""

    async def stop(self, user_id: str, reply_id: str) -> bool:
        """Ask the replica that runs the reply to stop it; False if the layer does not know
        the reply. `ChatError` `not_found` (another user's) or `overloaded` (unreachable)."""

    async def tool_result(self, user_id: str, reply_id: str, call_id: str, content: str) -> bool:
        """Hand a client's tool result to the replica that runs the reply (it applies it
        as its own connections' results); False if the layer does not know the reply.
        `ChatError` `not_found` (another user's) or `overloaded` (unreachable)."""

    async def stop_conversation(self, user_id: str, conversation_id: str) -> None:
        """The user deleted the conversation: stop its reply if another replica runs one;
        never raises (the deletion stands either way)."""

    def last_reader_left(self, reply_log: ReplyLog, stop: Callable[[], None]) -> None:
        """The last reader on this replica of a reply it runs with `on_disconnect: stop`
        went away: `stop()` it unless connections on other replicas follow it (then when
        the last of those goes)."""
