"""Finding a response (a reply, live or stored) and what a continuation of it sends.

A response is a turn: `resp_<reply id>`. Its frames come from the reply's live log while
the hub holds it, else from the store, rebuilt frame by frame from `content` and
`frame_ends` into a finished log; both render the same events. Its meta (instructions,
input items, metadata...) is kept beside the live log while it lives and with the reply's
parameters in the store.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from tickertape.chat.errors import ChatError
from tickertape.chat.reply_log import (
    REASONING,
    TEXT,
    TOOL_CALL,
    ReplyEnd,
    ReplyError,
    ReplyLog,
)
from tickertape.chat.reply_parts import as_messages, parts_of, with_open_calls
from tickertape.chat.stored_frames import stored_frames
from tickertape.services import Services
from tickertape.store.tree import Tree
from tickertape.store.types import MessageRecord, StoreError, UserRecord
from tickertape.transport.openai_errors import OpenAIError
from tickertape.transport.responses_inputs import InputItem
from tickertape.transport.responses_models import ResponseMeta
from tickertape.transport.responses_objects import reply_id_of

HISTORY_STATUSES = frozenset({"complete", "stopped", "interrupted"})
META_KEY = "response"  # the key of a response's meta in the reply's stored params


@dataclass(frozen=True, slots=True)
class Found:
    reply_id: str
    meta: ResponseMeta
    log: ReplyLog  # the live log, or one rebuilt from the store
    live: bool  # the hub's log: it may still grow
    conversation_id: str | None  # None: not stored

    @property
    def finished(self) -> bool:
        return self.log.end is not None


@dataclass(frozen=True, slots=True)
class Continuation:
    conversation_id: str | None  # the stored conversation the new turn joins
    history: tuple[InputItem, ...]  # what the new turn's prompt starts with
    parent_id: str | None = None  # the stored reply the new turn answers (its branch)


class ResponseBook:
    """One per app: the meta of the responses this process started, while their logs live
    (keyed weakly by the log: a meta goes when the hub forgets its reply), and what was
    deleted here. `responses_retention_s` is how long after its creation a response can be
    found at all (0: forever)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self.clock: Callable[[], float] = time.time  # for `responses_retention_s`
        self._metas: weakref.WeakKeyDictionary[ReplyLog, ResponseMeta] = weakref.WeakKeyDictionary()
        self._deleted: weakref.WeakSet[ReplyLog] = weakref.WeakSet()
        # Conversations that lost turns here, and when: their logs still in memory are
        # checked against the store until every such log has left memory.
        self._truncated: dict[str, float] = {}

    @classmethod
    def of(cls, conn: HTTPConnection, services: Services) -> ResponseBook:
        """The app's book (made on first use, for the running app's services)."""
        book = getattr(conn.app.state, "responses_book", None)
        if not isinstance(book, ResponseBook) or book._services is not services:
            book = cls(services)
            conn.app.state.responses_book = book
        return book

    def remember(self, log: ReplyLog, meta: ResponseMeta) -> None:
        self._metas[log] = meta

    async def find(self, user: UserRecord, response_id: str, param: str | None = None) -> Found:
        """The user's response, or a 404 (unknown, another user's, expired, not stored)."""
        reply_id = reply_id_of(response_id)
        if reply_id is None:
            raise _not_found(response_id, param)
        try:
            found = await self._services.chat.find_reply(user, reply_id)
        except ChatError as exc:
            if exc.code == "not_found":
                raise _not_found(response_id, param) from None
            raise
        if isinstance(found, ReplyLog):
            if found in self._deleted or await self._truncated_away(found):
                raise _not_found(response_id, param)
            meta = self._metas.get(found)
            if meta is None:  # a reply started on another entry point (a `/ws` chat)
                record = await self._record(found) if found.conversation_id else None
                meta = self._meta_of(record)
            result = Found(reply_id, meta, found, True, found.conversation_id)
        else:
            result = Found(
                reply_id, self._meta_of(found), stored_log(found), False, found.conversation_id
            )
        retention_s = self._services.settings.responses_retention_s
        if retention_s and result.meta.created_at + retention_s < self.clock():
            raise _not_found(response_id, param)
        return result

    def deleted(self, found: Found, conversation_id: str | None) -> None:
        """A response was deleted (with the later turns of `conversation_id`, if stored)."""
        self._deleted.add(found.log)
        now = time.monotonic()
        keep_s = self._services.settings.resume_retention_s + 60
        for key, when in list(self._truncated.items()):
            if when + keep_s < now:
                del self._truncated[key]
        if conversation_id is not None:
            self._truncated[conversation_id] = now

    async def _truncated_away(self, log: ReplyLog) -> bool:
        if log.conversation_id is None or log.conversation_id not in self._truncated:
            return False
        return await self._record(log) is None

    async def continuation(self, user: UserRecord, previous_response_id: str) -> Continuation:
        """What a turn that continues `previous_response_id` starts from."""
        param = "previous_response_id"
        prev = await self.find(user, previous_response_id, param)
        if not prev.finished:
            raise OpenAIError(
                409, "the previous response is still in progress", code="conflict", param=param
            )
        if prev.conversation_id is None:  # not stored: what this process remembers of it
            history = [*prev.meta.context, *prev.meta.input]
            if _in_history(prev.log):
                history += _reply_items(prev.log)
            return Continuation(None, tuple(history))
        try:
            transcript = await self._services.store.get_transcript(prev.conversation_id, user.id)
        except StoreError as exc:
            raise _not_found(previous_response_id, param) from exc
        # The path to that reply, whatever else the conversation's tree grew since: an
        # older response continues as a branch.
        path = Tree(transcript.messages).path_to(prev.reply_id)
        if not path:
            raise _not_found(previous_response_id, param)
        return Continuation(prev.conversation_id, tuple(stored_history(path)), prev.reply_id)

    async def _record(self, log: ReplyLog) -> MessageRecord | None:
        try:
            return await self._services.store.get_message(log.reply_id)
        except StoreError:
            return None

    def _meta_of(self, record: MessageRecord | None) -> ResponseMeta:
        model = self._services.chat.model.name
        stored = (record.params or {}).get(META_KEY) if record is not None else None
        if isinstance(stored, dict):
            return ResponseMeta.from_record(stored, model)
        if record is None:
            return ResponseMeta(model=model)
        return ResponseMeta(model=model, created_at=int(record.created_at.timestamp()))


def stored_history(messages: list[MessageRecord]) -> list[InputItem]:
    """A stored conversation as prompt items: each turn's own input (the Responses API
    keeps it with the reply; other entry points store the user's message), then its
    reply when it has text worth continuing from."""
    items: list[InputItem] = []
    for i, message in enumerate(messages):
        if message.role == "user":
            reply = messages[i + 1] if i + 1 < len(messages) else None
            meta = (reply.params or {}).get(META_KEY) if reply is not None else None
            if isinstance(meta, dict):
                stored = ResponseMeta.from_record(meta, "")
                items += [*stored.context, *stored.input]
            else:
                items.append(InputItem("user", message.content))
        elif message.role == "assistant" and _worth_continuing(message):
            said = as_messages(message.content, message.reasoning, message.tool_calls)
            items += [InputItem.of(m) for m in with_open_calls(said, message.tool_calls)]
    return items


def _worth_continuing(message: MessageRecord) -> bool:
    return message.status in HISTORY_STATUSES and bool(message.content or message.tool_calls)


def _reply_items(log: ReplyLog) -> list[InputItem]:
    """A finished reply in memory as prompt items: its text, reasoning and calls, as the
    store would keep them (the calls of its last round only if it ended on them)."""
    on_calls = log.end is not None and log.end.finish_reason == "tool_calls"
    parts = parts_of(log.frames, last_round_complete=on_calls)
    reply = as_messages(parts.text, parts.reasoning or None, parts.tool_calls)
    return [InputItem.of(m) for m in with_open_calls(reply, parts.tool_calls)]


def _in_history(log: ReplyLog) -> bool:
    end = log.end
    shown = log.text_through(log.sealed_seq) or any(f.kind == TOOL_CALL for f in log.frames)
    return end is not None and end.status in HISTORY_STATUSES and bool(shown)


def stored_log(record: MessageRecord) -> ReplyLog:
    """The reply's log rebuilt from the store: its frames as they streamed, kinds and
    seqs included (chat/stored_frames.py), finished unless the row is still `streaming`
    (a reply of another process)."""
    log = ReplyLog(record.id, record.user_id, record.conversation_id)
    frames = stored_frames(record.content, record.reasoning or "", record.frame_ends, record.seq)
    for frame in frames:
        if frame.kind in (TEXT, REASONING, TOOL_CALL):
            log.append(frame.text, frame.kind, frame.call)
            log.seal()
        else:
            log.append_sealed(frame.kind, frame.text)
    if record.status != "streaming":
        log.finish(_stored_end(record))
    return log


def _stored_end(record: MessageRecord) -> ReplyEnd:
    error = None
    if record.status == "error":
        error = ReplyError(record.error_code or "internal", record.error_message or "failed")
    usage: dict[str, int] = dict(record.usage or {})
    timing: dict[str, float] = dict(record.timing or {})
    reason = record.finish_reason or record.status
    return ReplyEnd(record.seq, reason, record.status, usage, timing, error)


def _not_found(response_id: str, param: str | None) -> OpenAIError:
    shown = response_id if len(response_id) <= 80 else response_id[:80] + "…"
    code = "previous_response_not_found" if param == "previous_response_id" else "not_found"
    return OpenAIError(404, f"no response with id {shown!r}", code=code, param=param)
