"""Where a turn goes in its conversation's tree, and the prompt that follows from it.

The prompt is the path from the root to the new message's parent, then the new message:
the active path, unless the turn names another place (a reply to continue from, a user
message to edit or to answer again). The turn is stored where its prompt came from, even
if the active leaf moves meanwhile (another device's turn): a branch, never a reply to a
context it did not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tickertape.chat.errors import ChatError
from tickertape.chat.reply_parts import as_messages
from tickertape.engine.types import ChatMessage
from tickertape.store.tree import Tree
from tickertape.store.types import MessageRecord, Placement, Store, UserRecord

if TYPE_CHECKING:
    from tickertape.chat.turns import TurnRequest

HISTORY_STATUSES = frozenset({"complete", "stopped", "interrupted"})


@dataclass(frozen=True, slots=True)
class Plan:
    """What a turn sends the engine, and what it stores where."""

    messages: list[ChatMessage]
    content: str  # the user's message (a regenerated reply's: the stored one)
    at: Placement | None  # None: a new conversation, or a prompt the caller sent


async def plan_turn(
    store: Store, system_prompt: str | None, user: UserRecord, request: TurnRequest
) -> Plan:
    """Raises ChatError (not_found, bad_request) and the store's NotFound."""
    if request.messages is not None:
        # The caller built the prompt (the OpenAI APIs); with `parent_id` it continues that
        # reply's branch (a Responses continuation), else it goes after the active leaf.
        at = Placement(request.parent_id) if request.parent_id and request.conversation_id else None
        return Plan(list(request.messages), request.content, at)
    head: list[ChatMessage] = []
    if system_prompt:
        head.append(ChatMessage("system", system_prompt))
    content, ref = request.content, request.client_msg_id
    if request.conversation_id is None:
        if request.parent_id or request.edit_of or request.regenerate_of:
            raise ChatError("bad_request", "conversation_id: required to branch", ref)
        return Plan([*head, ChatMessage("user", content)], content, None)
    transcript = await store.get_transcript(request.conversation_id, user.id)
    tree = Tree(transcript.messages)
    if request.regenerate_of is not None:
        asked = _message_of(tree, request.regenerate_of, "user", ref)
        history = _history(tree.path_to(asked.id))
        return Plan([*head, *history], asked.content, Placement(asked.id, regenerate=True))
    if request.edit_of is not None:
        parent_id = _message_of(tree, request.edit_of, "user", ref).parent_id
    elif request.parent_id is not None:
        parent_id = _message_of(tree, request.parent_id, "assistant", ref).id
    else:
        parent_id = tree.active_leaf(transcript.summary.active_leaf_id)
    history = _history(tree.path_to(parent_id))
    return Plan([*head, *history, ChatMessage("user", content)], content, Placement(parent_id))


def _message_of(tree: Tree[MessageRecord], message_id: str, role: str, ref: str) -> MessageRecord:
    """Unknown ids (another conversation's, another user's) are `not_found`."""
    message = tree.by_id.get(message_id)
    if message is None:
        raise ChatError("not_found", "no such message in this conversation", ref)
    if message.role != role:
        kind = "a user message" if role == "user" else "a reply"
        raise ChatError("bad_request", f"message {message_id} is not {kind}", ref)
    return message


def _history(path: list[MessageRecord]) -> list[ChatMessage]:
    """The stored messages of a path that go into a prompt (no failed or empty replies).
    A reply with reasoning or tool calls becomes the messages its template expects
    (assistant with its calls, a `tool` message per result, then the rest)."""
    out: list[ChatMessage] = []
    for m in path:
        if m.role == "user":
            out.append(ChatMessage("user", m.content))
        elif m.role == "assistant" and m.status in HISTORY_STATUSES:
            if m.tool_calls:
                out += as_messages(m.content, m.reasoning, m.tool_calls)
            elif m.content:
                out.append(ChatMessage("assistant", m.content, m.reasoning))
    return out
