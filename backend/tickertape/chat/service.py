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

from tickertape.chat.errors import ChatError
from tickertape.chat.hub import ReplyHub
from tickertape.chat.limits import NO_PLACE, ReplyLease, UserLimits
from tickertape.chat.notices import Notice, NoticeBus
from tickertape.chat.plan import Plan, plan_turn
from tickertape.chat.reply_log import ReplyLog
from tickertape.chat.reply_run import ReplyRun
from tickertape.chat.shared import SharedReplies
from tickertape.chat.tools import ToolLoop, answered
from tickertape.chat.turns import (
    ChatConfig,
    TurnRequest,
    TurnStarted,
    params_record,
    typed_error,
)
from tickertape.chat.types import ModelInfo
from tickertape.engine.types import Engine, EngineError, PromptTooLong
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

DRAIN_RETRY_AFTER_MS = 2000
IN_FLIGHT_RETRY_AFTER_MS = 1000


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
        shared: SharedReplies | None = None,
    ) -> None:
        self._config = config
        self._engine = engine
        self._store = store
        self.hub = hub
        self._limits = limits
        self.notices = notices
        self._metrics = metrics
        self._shared = shared  # several replicas: replies visible to and from the others
        self._runs: dict[str, ReplyRun] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._draining = False
        self._starting = 0  # start_turn calls under way (drain() waits for them)
        self._no_starts = asyncio.Event()
        self._no_starts.set()
        self._created = int(time.time())

    @property
    def model(self) -> ModelInfo:
        """What the engine serves, for the API's model listings."""
        return ModelInfo(self._engine.model_name, self._engine.context_length, self._created)

    # -- turns ---------------------------------------------------------------------
    async def start_turn(self, user: UserRecord, request: TurnRequest) -> TurnStarted:
        self._starting += 1
        self._no_starts.clear()
        try:
            return await self._start_turn(user, request)
        finally:
            self._starting -= 1
            if not self._starting:
                self._no_starts.set()

    async def _start_turn(self, user: UserRecord, request: TurnRequest) -> TurnStarted:
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
            return TurnStarted.of(existing, self.hub.get(existing.reply_id), existing.truncated)
        try:
            plan = await plan_turn(self._store, self._config.system_prompt, user, request)
            prompt = await self._engine.prepare(plan.messages, request.params)
            if prompt.dropped_messages and not request.truncate:
                raise PromptTooLong(
                    f"the messages do not fit the model's context: {prompt.dropped_messages}"
                    " of them would have to be left out, and truncation is off"
                )
            turn = await self._commit(user, request, plan, prompt.dropped_messages)
        except (EngineError, StoreError) as exc:
            self._refused(user, lease)
            raise typed_error(exc, ref) from exc
        except BaseException:
            self._refused(user, lease)
            raise
        if not turn.created:  # an idempotent retry that passed the limits
            self._refused(user, lease)
            return TurnStarted.of(turn, self.hub.get(turn.reply_id), turn.truncated)
        conversation_id = turn.conversation_id if request.store else None
        reply_log = ReplyLog(turn.reply_id, user.id, conversation_id, request.on_disconnect)
        self.hub.add(reply_log)
        if self._shared is not None:
            await self._shared.register(reply_log, request.store)
        tools = ToolLoop.for_turn(self._engine, user.id, request, plan.messages, self._config)
        run = self._run(reply_log, lease, stored=request.store, tools=tools)
        try:
            self._engine.submit(turn.reply_id, user.id, prompt, request.params, run)
        except EngineError as exc:
            # Committed already: the reply ends as failed (its followers get `end`, a
            # retry gets this outcome from the store) and the user's place is free now.
            run.fail(exc.code, exc.message, exc.retry_after_ms)
        if self._draining:
            # The shutdown began while this turn was being committed: it passed the check
            # above, and drain() did not see it among the replies streaming. Stopped like
            # them (stored `interrupted`, its `end` sent before the sockets close).
            self._stop_reply(turn.reply_id)
        if not request.store:
            return TurnStarted(ref, turn.reply_id, None, None, reply_log, prompt.dropped_messages)
        started = TurnStarted.of(turn, reply_log, prompt.dropped_messages)
        self._notify(user, request, started, plan.content)
        return started

    def _notify(
        self, user: UserRecord, request: TurnRequest, started: TurnStarted, content: str
    ) -> None:
        """The user's other connections learn of the turn (and may follow its reply)."""
        frame = {
            "type": "turn_started",
            "conversation_id": started.conversation_id,
            "user_message_id": started.user_message_id,
            "reply_id": started.reply_id,
            "client_msg_id": started.client_msg_id,
            "content": content,
            "parent_id": started.parent_id,
        }
        self.notices.publish(Notice(user.id, frame, request.origin))

    async def _admit(self, user: UserRecord, ref: str) -> ReplyLease:
        """The checks every turn passes, in this order; a lease on success."""
        if self._draining:
            raise ChatError("overloaded", "server is restarting", ref, DRAIN_RETRY_AFTER_MS)
        try:
            # The place and the message at once (with Redis: one script, one round trip).
            wait_ms = await self._limits.admit_turn(user.id)
        except ChatError as exc:  # shared limits that cannot be checked (Redis down)
            exc.ref = exc.ref or ref
            raise
        if wait_ms == NO_PLACE:
            raise ChatError(
                "rate_limited", "too many replies in flight", ref, IN_FLIGHT_RETRY_AFTER_MS
            )
        if wait_ms is not None:
            raise ChatError("rate_limited", "too many messages", ref, wait_ms)
        lease = ReplyLease(self._limits, user.id)
        try:
            self._engine.check_capacity()
        except EngineError as exc:
            self._refused(user, lease)
            raise typed_error(exc, ref) from exc
        return lease

    def _refused(self, user: UserRecord, lease: ReplyLease) -> None:
        """A turn that took its places but does not go on gives both back."""
        lease.release()
        self._limits.give_back_message(user.id)

    async def _find_turn(self, user: UserRecord, request: TurnRequest) -> TurnRecord | None:
        try:
            return await self._store.find_turn(user.id, request.client_msg_id)
        except StoreError as exc:
            raise typed_error(exc, request.client_msg_id) from exc

    async def _commit(
        self, user: UserRecord, request: TurnRequest, plan: Plan, truncated: int
    ) -> TurnRecord:
        if not request.store:
            reply_id = uuid.uuid4().hex
            return TurnRecord("", "", reply_id, request.client_msg_id, created=True)
        return await self._store.start_turn(
            user.id,
            request.client_msg_id,
            plan.content,
            request.conversation_id,
            {**params_record(request), "truncated": truncated},
            plan.at,
        )

    def _run(
        self, reply_log: ReplyLog, lease: ReplyLease, *, stored: bool, tools: ToolLoop | None
    ) -> ReplyRun:
        run = ReplyRun(
            reply_log,
            store=self._store if stored else None,
            hub=self.hub,
            lease=lease,
            metrics=self._metrics,
            draining=lambda: self._draining,
            checkpoint_every=self._config.checkpoint_tokens,
            on_done=self._run_done,
            tools=tools,
        )
        self._runs[reply_log.reply_id] = run
        if stored and (self._ticker is None or self._ticker.done()):
            self._ticker = asyncio.create_task(self._checkpoint_ticker(), name="checkpoints")
        return run

    def _run_done(self, run: ReplyRun) -> None:
        self._runs.pop(run.log.reply_id, None)

    async def _checkpoint_ticker(self) -> None:
        """Checkpoint every streaming reply on one clock; ends when none is left."""
        interval_s = self._config.checkpoint_interval_ms / 1000
        while self._runs:
            await asyncio.sleep(interval_s)
            for run in list(self._runs.values()):
                run.checkpoint()

    # -- replies in flight -----------------------------------------------------------
    def stop(self, user: UserRecord, reply_id: str) -> None:
        reply_log = self.hub.get(reply_id)
        if reply_log is None or reply_log.user_id != user.id:
            raise ChatError("not_found", "no such reply in progress", reply_id)
        if reply_log.end is None:
            if reply_log.stop_requested_at is None:
                reply_log.stop_requested_at = time.monotonic()
            self._stop_reply(reply_id)

    def _stop_reply(self, reply_id: str) -> None:
        """Stop a reply of this process: its generation, or its wait for tool results."""
        run = self._runs.get(reply_id)
        if run is None or not run.stop_waiting():
            self._engine.stop(reply_id)

    async def tool_result(
        self, user: UserRecord, reply_id: str, call_id: str, content: str
    ) -> None:
        """A client's result for a call its reply waits on (chat/tools.py), on this
        replica or relayed to the one that runs the reply. Raises ChatError: not_found (no
        such reply of the user), conflict (not waiting), bad_request (no such call)."""
        run = self._runs.get(reply_id)
        if run is None or run.log.user_id != user.id:
            reply_log = self.hub.get(reply_id)
            shared = self._shared if reply_log is None else None
            if shared is not None and await shared.tool_result(user.id, reply_id, call_id, content):
                return  # the owner applies it (a refusal there is not reported back)
            if reply_log is None or reply_log.user_id != user.id:
                raise ChatError("not_found", "no such reply in progress", reply_id)
            if not answered(reply_log.frames, call_id):  # a repeat is a no-op, even now
                raise ChatError("conflict", "the reply is not waiting for tool results", reply_id)
            return
        run.tool_result(call_id, content)

    def tool_result_owned(self, reply_id: str, call_id: str, content: str) -> None:
        """A result another replica relayed (it checked the user) for a reply run here."""
        run = self._runs.get(reply_id)
        try:
            if run is not None:
                run.tool_result(call_id, content)
        except ChatError as exc:
            log.info("relayed tool result for %s refused: %s", reply_id, exc.message)

    async def stop_anywhere(self, user: UserRecord, reply_id: str) -> None:
        """A client's `stop`: the reply may run on this replica or on another one."""
        if self.hub.get(reply_id) is not None:
            self.stop(user, reply_id)
            return
        if self._shared is not None and await self._shared.stop(user.id, reply_id):
            return
        # Not running anywhere: a reply of the user's that ended (long ago, or before a
        # restart) has nothing to stop; any other id is not_found.
        await self.find_reply(user, reply_id)

    def stop_owned(self, reply_id: str) -> None:
        """A stop another replica relayed (it checked the user) for a reply running here."""
        reply_log = self.hub.get(reply_id)
        if reply_log is not None and reply_log.end is None:
            if reply_log.stop_requested_at is None:
                reply_log.stop_requested_at = time.monotonic()
            self._stop_reply(reply_id)

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
                self._stop_reply(reply_log.reply_id)
        self.hub.withdraw_conversation(conversation_id)
        if self._shared is not None:  # its reply may run on another replica
            await self._shared.stop_conversation(user.id, conversation_id)
        frame = {"type": "conversation_deleted", "conversation_id": conversation_id}
        self.notices.publish(Notice(user.id, frame))

    async def switch_branch(self, user: UserRecord, conversation_id: str, message_id: str) -> str:
        """Make the newest leaf under `message_id` active; tell the user's connections."""
        leaf = await self._store.set_active_message(conversation_id, user.id, message_id)
        frame = {
            "type": "branch_changed",
            "conversation_id": conversation_id,
            "active_leaf_id": leaf,
        }
        self.notices.publish(Notice(user.id, frame))
        return leaf

    def reader_left(self, reply_log: ReplyLog) -> None:
        """A reader went away; honour `on_disconnect: stop` when it was the last one (with
        several replicas: the last one on any of them)."""
        if (
            reply_log.on_disconnect != "stop"
            or reply_log.end is not None
            or reply_log.listener_count != 0
        ):
            return
        reply_id = reply_log.reply_id
        if self._shared is None:
            self._stop_reply(reply_id)
        else:
            self._shared.last_reader_left(reply_log, lambda: self._stop_reply(reply_id))

    async def find_reply(
        self, user: UserRecord, reply_id: str, last_seq: int = 0
    ) -> ReplyLog | MessageRecord:
        """The live log of a reply (this replica's, else another's through the shared
        layer), or its stored record; not_found hides other users'."""
        reply_log = self.hub.get(reply_id)
        if reply_log is None and self._shared is not None:
            reply_log = await self._shared.find(user.id, reply_id, last_seq)
        if reply_log is not None:
            if reply_log.user_id == user.id and not reply_log.withdrawn:
                return reply_log
            raise ChatError("not_found", "no such reply", reply_id)
        try:
            record = await self._store.get_message(reply_id)
        except StoreError as exc:
            raise typed_error(exc, reply_id) from exc
        if record is None or record.user_id != user.id or record.role != "assistant":
            raise ChatError("not_found", "no such reply", reply_id)
        return record

    def in_flight(self, user: UserRecord) -> int:
        return self._limits.in_flight(user.id)

    async def drain(self) -> None:
        """Graceful shutdown: refuse new turns, stop every reply, wait for final writes."""
        self._draining = True
        for reply_log in self.hub.streaming():
            self._stop_reply(reply_log.reply_id)
        # Turns committing at this moment start their runs (already stopped) after this
        # snapshot: wait for them, then until no run is left.
        await self._no_starts.wait()
        while runs := [run for run in self._runs.values() if not run.done.is_set()]:
            await asyncio.gather(*(run.done.wait() for run in runs))
        if self._ticker is not None:
            self._ticker.cancel()
