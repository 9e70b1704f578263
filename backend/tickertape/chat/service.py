"""Where every turn starts, whatever its entry point (WebSocket, HTTP, OpenAI API).

`start_turn` applies the same checks in the same order for everyone (drain, replies in
flight, messages per minute, queue capacity, prompt size), commits the user's message
(unless the caller asked not to store), hands the prompt to the engine and returns the
reply's log. Transports only render that log. A reply belongs to the service, not to a
connection, so it outlives the socket that asked for it (`on_disconnect: continue`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from tickertape.chat.errors import ChatError
from tickertape.chat.hub import ReplyHub
from tickertape.chat.limits import ReplyLease, UserLimits
from tickertape.chat.notices import Notice, NoticeBus
from tickertape.chat.reply_log import ReplyLog
from tickertape.chat.reply_run import ReplyRun
from tickertape.engine.types import ChatMessage, Engine, EngineError, SamplingParams
from tickertape.metrics import Metrics
from tickertape.store.types import (
    ConversationSummary,
    MessageRecord,
    Store,
    StoreError,
    TurnRecord,
    UserRecord,
)

log = logging.getLogger(__name__)

_HISTORY_STATUSES = frozenset({"complete", "stopped", "interrupted"})
DRAIN_RETRY_AFTER_MS = 2000
IN_FLIGHT_RETRY_AFTER_MS = 1000


@dataclass(frozen=True, slots=True)
class ChatConfig:
    system_prompt: str | None
    checkpoint_interval_ms: int
    checkpoint_tokens: int


@dataclass(frozen=True, slots=True)
class TurnRequest:
    client_msg_id: str  # the idempotency key of stored turns
    content: str  # the user's message: what is stored
    params: SamplingParams
    conversation_id: str | None = None
    on_disconnect: str = "continue"
    # The whole prompt, when the caller sends it (OpenAI API); None: the conversation's
    # stored history followed by `content`.
    messages: tuple[ChatMessage, ...] | None = None
    store: bool = True
    origin: str | None = None  # the session it came from (its notice is not sent back)


@dataclass(frozen=True, slots=True)
class TurnStarted:
    client_msg_id: str
    reply_id: str
    conversation_id: str | None  # None when the turn is not stored
    user_message_id: str | None
    log: ReplyLog | None  # None when a retried turn's reply is no longer in memory
    truncated: int = 0  # oldest messages left out of the prompt to fit the context

    @classmethod
    def of(cls, turn: TurnRecord, reply_log: ReplyLog | None, truncated: int) -> TurnStarted:
        return cls(
            turn.client_msg_id,
            turn.reply_id,
            turn.conversation_id,
            turn.user_message_id,
            reply_log,
            truncated,
        )


class ChatService:
    def __init__(
        self,
        config: ChatConfig,
        engine: Engine,
        store: Store,
        hub: ReplyHub,
        limits: UserLimits,
        notices: NoticeBus,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._engine = engine
        self._store = store
        self.hub = hub
        self._limits = limits
        self.notices = notices
        self._metrics = metrics
        self._runs: set[ReplyRun] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._draining = False

    # -- turns ---------------------------------------------------------------------
    async def start_turn(self, user: UserRecord, request: TurnRequest) -> TurnStarted:
        ref = request.client_msg_id
        try:
            lease = await self._admit(user, ref)
        except ChatError:
            # A retry answers its original `accepted` whatever the limits say now: the
            # message was accepted once, and a client at its limit is the one that
            # retries. Looked up only on refusal: `start_turn` is idempotent anyway.
            existing = await self._find_turn(user, request) if request.store else None
            if existing is None:
                raise
            return TurnStarted.of(existing, self.hub.get(existing.reply_id), 0)
        try:
            prompt = await self._engine.prepare(
                await self._prompt_messages(user, request), request.params
            )
            turn = await self._commit(user, request)
        except (EngineError, StoreError) as exc:
            self._refused(user, lease)
            raise _typed(exc, ref) from exc
        except BaseException:
            self._refused(user, lease)
            raise
        if not turn.created:  # an idempotent retry that passed the limits
            self._refused(user, lease)
            return TurnStarted.of(turn, self.hub.get(turn.reply_id), 0)
        conversation_id = turn.conversation_id if request.store else None
        reply_log = ReplyLog(turn.reply_id, user.id, conversation_id, request.on_disconnect)
        self.hub.add(reply_log)
        run = self._run(reply_log, lease, stored=request.store)
        try:
            self._engine.submit(turn.reply_id, user.id, prompt, request.params, run)
        except EngineError as exc:
            # Committed already: the reply ends as failed (its followers get `end`, a
            # retry gets this outcome from the store) and the user's place is free now.
            run.fail(exc.code, exc.message, exc.retry_after_ms)
        if not request.store:
            return TurnStarted(ref, turn.reply_id, None, None, reply_log, prompt.dropped_messages)
        started = TurnStarted.of(turn, reply_log, prompt.dropped_messages)
        self._notify(user, request, started)
        return started

    def _notify(self, user: UserRecord, request: TurnRequest, started: TurnStarted) -> None:
        """The user's other connections learn of the turn (and may follow its reply)."""
        frame = {
            "type": "turn_started",
            "conversation_id": started.conversation_id,
            "user_message_id": started.user_message_id,
            "reply_id": started.reply_id,
            "client_msg_id": started.client_msg_id,
            "content": request.content,
        }
        self.notices.publish(Notice(user.id, frame, request.origin))

    async def _admit(self, user: UserRecord, ref: str) -> ReplyLease:
        """The checks every turn passes, in this order; a lease on success."""
        if self._draining:
            raise ChatError("overloaded", "server is restarting", ref, DRAIN_RETRY_AFTER_MS)
        if not await self._limits.acquire_reply(user.id):
            raise ChatError(
                "rate_limited", "too many replies in flight", ref, IN_FLIGHT_RETRY_AFTER_MS
            )
        lease = ReplyLease(self._limits, user.id)
        try:
            wait_ms = await self._limits.take_message(user.id)
        except BaseException:
            lease.release()
            raise
        if wait_ms is not None:
            lease.release()
            raise ChatError("rate_limited", "too many messages", ref, wait_ms)
        try:
            self._engine.check_capacity()
        except EngineError as exc:
            self._refused(user, lease)
            raise _typed(exc, ref) from exc
        return lease

    def _refused(self, user: UserRecord, lease: ReplyLease) -> None:
        """A turn that took its places but does not go on gives both back."""
        lease.release()
        self._limits.give_back_message(user.id)

    async def _find_turn(self, user: UserRecord, request: TurnRequest) -> TurnRecord | None:
        try:
            return await self._store.find_turn(user.id, request.client_msg_id)
        except StoreError as exc:
            raise _typed(exc, request.client_msg_id) from exc

    async def _commit(self, user: UserRecord, request: TurnRequest) -> TurnRecord:
        if not request.store:
            reply_id = uuid.uuid4().hex
            return TurnRecord("", "", reply_id, request.client_msg_id, created=True)
        return await self._store.start_turn(
            user.id,
            request.client_msg_id,
            request.content,
            request.conversation_id,
            _params_record(request),
        )

    def _run(self, reply_log: ReplyLog, lease: ReplyLease, *, stored: bool) -> ReplyRun:
        run = ReplyRun(
            reply_log,
            store=self._store if stored else None,
            hub=self.hub,
            lease=lease,
            metrics=self._metrics,
            draining=lambda: self._draining,
            checkpoint_every=self._config.checkpoint_tokens,
            on_done=self._runs.discard,
        )
        self._runs.add(run)
        if stored and (self._ticker is None or self._ticker.done()):
            self._ticker = asyncio.create_task(self._checkpoint_ticker(), name="checkpoints")
        return run

    async def _checkpoint_ticker(self) -> None:
        """Checkpoint every streaming reply on one clock; ends when none is left."""
        interval_s = self._config.checkpoint_interval_ms / 1000
        while self._runs:
            await asyncio.sleep(interval_s)
            for run in list(self._runs):
                run.checkpoint()

    async def _prompt_messages(self, user: UserRecord, request: TurnRequest) -> list[ChatMessage]:
        if request.messages is not None:
            return list(request.messages)
        messages: list[ChatMessage] = []
        if self._config.system_prompt:
            messages.append(ChatMessage("system", self._config.system_prompt))
        if request.conversation_id is not None:
            transcript = await self._store.get_transcript(request.conversation_id, user.id)
            for record in transcript.messages:
                if record.role == "user" or (
                    record.role == "assistant"
                    and record.status in _HISTORY_STATUSES
                    and record.content
                ):
                    messages.append(ChatMessage(record.role, record.content))
        messages.append(ChatMessage("user", request.content))
        return messages

    # -- replies in flight -----------------------------------------------------------
    def stop(self, user: UserRecord, reply_id: str) -> None:
        reply_log = self.hub.get(reply_id)
        if reply_log is None or reply_log.user_id != user.id:
            raise ChatError("not_found", "no such reply in progress", reply_id)
        if reply_log.end is None:
            if reply_log.stop_requested_at is None:
                reply_log.stop_requested_at = time.monotonic()
            self._engine.stop(reply_id)

    # -- conversations -------------------------------------------------------------
    async def rename_conversation(
        self, user: UserRecord, conversation_id: str, title: str
    ) -> ConversationSummary:
        await self._store.rename_conversation(conversation_id, user.id, title)
        summary = (await self._store.get_transcript(conversation_id, user.id)).summary
        frame = {
            "type": "conversation_renamed",
            "conversation_id": conversation_id,
            "title": summary.title,
        }
        self.notices.publish(Notice(user.id, frame))
        return summary

    async def delete_conversation(self, user: UserRecord, conversation_id: str) -> None:
        """Delete it, stop its reply if one streams, and tell the user's connections."""
        await self._store.delete_conversation(conversation_id, user.id)
        for reply_log in self.hub.streaming():
            if reply_log.conversation_id == conversation_id:
                self._engine.stop(reply_log.reply_id)
        frame = {"type": "conversation_deleted", "conversation_id": conversation_id}
        self.notices.publish(Notice(user.id, frame))

    def reader_left(self, reply_log: ReplyLog) -> None:
        """A reader went away; honour `on_disconnect: stop` when it was the last one."""
        if (
            reply_log.on_disconnect == "stop"
            and reply_log.end is None
            and reply_log.listener_count == 0
        ):
            self._engine.stop(reply_log.reply_id)

    async def find_reply(self, user: UserRecord, reply_id: str) -> ReplyLog | MessageRecord:
        """The live log of a reply, or its stored record; not_found hides other users'."""
        reply_log = self.hub.get(reply_id)
        if reply_log is not None:
            if reply_log.user_id == user.id:
                return reply_log
            raise ChatError("not_found", "no such reply", reply_id)
        try:
            record = await self._store.get_message(reply_id)
        except StoreError as exc:
            raise _typed(exc, reply_id) from exc
        if record is None or record.user_id != user.id or record.role != "assistant":
            raise ChatError("not_found", "no such reply", reply_id)
        return record

    def in_flight(self, user: UserRecord) -> int:
        return self._limits.in_flight(user.id)

    async def drain(self) -> None:
        """Graceful shutdown: refuse new turns, stop every reply, wait for final writes."""
        self._draining = True
        for reply_log in self.hub.streaming():
            self._engine.stop(reply_log.reply_id)
        await asyncio.gather(*(run.done.wait() for run in list(self._runs)))
        if self._ticker is not None:
            self._ticker.cancel()


def _params_record(request: TurnRequest) -> dict[str, object]:
    p = request.params
    return {
        "max_tokens": p.max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "top_k": p.top_k,
        "stop": list(p.stop),
        "seed": p.seed,
        "repetition_penalty": p.repetition_penalty,
        "frequency_penalty": p.frequency_penalty,
        "presence_penalty": p.presence_penalty,
        "on_disconnect": request.on_disconnect,
    }


def _typed(exc: EngineError | StoreError, ref: str) -> ChatError:
    if isinstance(exc, EngineError):
        return ChatError(exc.code, exc.message, ref, exc.retry_after_ms)
    return ChatError(exc.code, str(exc) or exc.code, ref)


def new_session_id() -> str:
    return uuid.uuid4().hex
