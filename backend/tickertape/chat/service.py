"""Where a turn happens: validate, build the prompt, commit, generate, persist.

The transport calls in; this service calls the engine and the store. A reply's pump task
belongs to the service, not to a connection, so a reply outlives the socket that asked
for it (`on_disconnect: continue`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from tickertape.chat.limits import RateLimiter
from tickertape.chat.pump import ReplyPump, usage_and_timing
from tickertape.chat.reply_log import ReplyHub, ReplyLog
from tickertape.engine.types import (
    ChatMessage,
    Engine,
    EngineError,
    FinishReason,
    GenerationResult,
    SamplingParams,
)
from tickertape.metrics import Metrics
from tickertape.settings import Settings
from tickertape.store.types import (
    MessageRecord,
    MessageStatus,
    ReplyFinal,
    Store,
    StoreError,
    TurnRecord,
    UserRecord,
)

log = logging.getLogger(__name__)

_HISTORY_STATUSES = frozenset({"complete", "stopped", "interrupted"})


class ChatError(Exception):
    """A typed failure of one request; the socket stays open."""

    def __init__(
        self, code: str, message: str, ref: str | None = None, retry_after_ms: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.retry_after_ms = retry_after_ms


@dataclass(frozen=True, slots=True)
class ChatRequest:
    client_msg_id: str
    content: str
    conversation_id: str | None
    params: SamplingParams
    on_disconnect: str = "continue"


@dataclass(frozen=True, slots=True)
class TurnStarted:
    turn: TurnRecord
    log: ReplyLog | None  # None when a retried turn's reply is no longer in memory


class ChatService:
    def __init__(
        self, settings: Settings, engine: Engine, store: Store, hub: ReplyHub, metrics: Metrics
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._engine = engine
        self._store = store
        self.hub = hub
        self._message_limit = RateLimiter(settings.messages_per_minute)
        self._pumps: dict[asyncio.Task[None], ReplyPump] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._draining = False

    async def start_turn(self, user: UserRecord, request: ChatRequest) -> TurnStarted:
        ref = request.client_msg_id
        if (refusal := self._refusal(user, ref)) is not None:
            # A retry answers its original `accepted` whatever the limits say now: the
            # message was accepted once, and the client at its limit is the one that retries.
            # Looked up only here: on the way to the writer, `start_turn` is idempotent anyway.
            try:
                existing = await self._store.find_turn(user.id, ref)
            except StoreError as exc:
                raise _typed(exc, ref) from exc
            if existing is None:
                raise refusal
            return TurnStarted(existing, self.hub.get(existing.reply_id))
        try:
            prompt = await self._engine.prepare(await self._history(user, request), request.params)
            turn = await self._store.start_turn(
                user.id,
                request.client_msg_id,
                request.content,
                request.conversation_id,
                _params_record(request),
            )
        except (EngineError, StoreError) as exc:
            raise _typed(exc, ref) from exc
        if not turn.created:
            self._message_limit.give_back(user.id)
            return TurnStarted(turn, self.hub.get(turn.reply_id))
        reply_log = self.hub.create(
            turn.reply_id, user.id, turn.conversation_id, request.on_disconnect
        )
        try:
            stream = self._engine.submit(turn.reply_id, user.id, prompt, request.params)
        except EngineError as exc:
            await self._store.fail_turn(turn.reply_id, exc.message)
            self.hub.finished(reply_log)
            raise _typed(exc, turn.reply_id) from exc
        pump = ReplyPump(
            self._settings,
            self._store,
            self.hub,
            reply_log,
            stream,
            self._is_draining,
            self._metrics,
        )
        task = asyncio.create_task(pump.run(), name=f"reply-{turn.reply_id}")
        self._pumps[task] = pump
        task.add_done_callback(self._pumps.pop)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._checkpoint_ticker(), name="checkpoints")
        return TurnStarted(turn, reply_log)

    def _refusal(self, user: UserRecord, ref: str) -> ChatError | None:
        """Why a new turn cannot start now (draining, rate, replies in flight), or None."""
        if self._draining:
            return ChatError("overloaded", "server is restarting", ref, retry_after_ms=2000)
        if self.hub.in_flight(user.id) >= self._settings.max_concurrent_replies:
            return ChatError("rate_limited", "too many replies in flight", ref, retry_after_ms=1000)
        if (wait_ms := self._message_limit.take(user.id)) is not None:
            return ChatError("rate_limited", "too many messages", ref, retry_after_ms=wait_ms)
        return None

    async def _checkpoint_ticker(self) -> None:
        """Checkpoint every streaming reply on one clock; ends when none is left."""
        interval_s = self._settings.checkpoint_interval_ms / 1000
        while self._pumps:
            await asyncio.sleep(interval_s)
            for pump in list(self._pumps.values()):
                pump.checkpoint()

    def stop(self, user: UserRecord, reply_id: str) -> None:
        reply_log = self.hub.get(reply_id)
        if reply_log is None or reply_log.user_id != user.id:
            raise ChatError("not_found", "no such reply in progress", reply_id)
        if reply_log.end is None:
            if reply_log.stop_requested_at is None:
                reply_log.stop_requested_at = time.monotonic()
            self._engine.stop(reply_id)

    def stop_conversation(self, conversation_id: str) -> None:
        """Stop the reply streaming in a conversation that is being deleted."""
        for reply_log in self.hub.streaming():
            if reply_log.conversation_id == conversation_id:
                self._engine.stop(reply_log.reply_id)

    def connection_left(self, reply_log: ReplyLog) -> None:
        """A follower went away; honour `on_disconnect: stop` when it was the last one."""
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
        record = await self._store.get_message(reply_id)
        if record is None or record.user_id != user.id or record.role != "assistant":
            raise ChatError("not_found", "no such reply", reply_id)
        return record

    async def record_exchange(
        self,
        user: UserRecord,
        messages: list[ChatMessage],
        reply_text: str,
        result: GenerationResult,
    ) -> str:
        """Store an exchange made elsewhere (the OpenAI API's `store: true`) as a new
        conversation of its last user message and the reply; return the conversation id."""
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        turn = await self._store.start_turn(
            user.id, f"openai-{uuid.uuid4().hex}", last_user or "(no user message)", None, {}
        )
        reason = result.finish_reason
        usage, timing = usage_and_timing(result)
        status: MessageStatus = "stopped" if reason == FinishReason.STOPPED else "complete"
        seq = 1 if reply_text else 0  # stored whole: one frame
        await self._store.finish_reply(
            ReplyFinal(turn.reply_id, reply_text, seq, status, reason.value, usage, timing)
        )
        return turn.conversation_id

    async def drain(self) -> None:
        """Graceful shutdown: refuse new turns, stop every reply, wait for final writes."""
        self._draining = True
        for reply_log in self.hub.streaming():
            self._engine.stop(reply_log.reply_id)
        if self._pumps:
            await asyncio.gather(*list(self._pumps), return_exceptions=True)
        if self._ticker is not None:
            self._ticker.cancel()

    def _is_draining(self) -> bool:
        return self._draining

    async def _history(self, user: UserRecord, request: ChatRequest) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        if self._settings.system_prompt:
            messages.append(ChatMessage("system", self._settings.system_prompt))
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


def _params_record(request: ChatRequest) -> dict[str, object]:
    p = request.params
    return {
        "max_tokens": p.max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "top_k": p.top_k,
        "stop": list(p.stop),
        "seed": p.seed,
        "on_disconnect": request.on_disconnect,
    }


def _typed(exc: EngineError | StoreError, ref: str) -> ChatError:
    if isinstance(exc, EngineError):
        return ChatError(exc.code, exc.message, ref, exc.retry_after_ms)
    return ChatError(exc.code, str(exc) or exc.code, ref)


def new_session_id() -> str:
    return uuid.uuid4().hex
