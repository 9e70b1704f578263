"""Tool round trips inside one reply (WebSocket turns that declare `tools`).

When a generation ends on complete tool calls, the reply does not end: its log gets an
`awaiting_tools` frame listing the calls, and it waits (holding the user's in-flight
place) for one `tool_result` per call. Each accepted result is a `tool_result` frame of
the same log. When every call has its result, a new generation starts for the same reply
(same id, `seq` continues): its prompt is the turn's prompt, then the reply so far as
the template's assistant / tool messages. So every frame of every round is in one log,
and `resume` replays all of it.

A reply that waits longer than `--tool-wait-s` ends with `finish_reason: "tool_calls"`
(its calls unanswered); a `stop` while it waits ends it `stopped` at once.

`tool_choice` `required` or a named function applies to the first round only (forcing
every round would never end); later rounds are `auto`, and after MAX_ROUNDS rounds
`none`. `max_tokens` applies to each round's generation.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from tickertape.chat.errors import ChatError
from tickertape.chat.reply_log import TOOL_RESULT, CallRef, LogFrame, PendingCall, ReplyLog
from tickertape.chat.reply_parts import as_messages, parts_of
from tickertape.chat.turns import ChatConfig, TurnRequest
from tickertape.engine.types import (
    ChatMessage,
    Engine,
    EngineError,
    ReplySink,
    SamplingParams,
    ToolChoice,
)

logger = logging.getLogger(__name__)

MAX_ROUNDS = 16


class LoopState(enum.Enum):
    GENERATING = "generating"
    AWAITING = "awaiting"  # calls out, results coming in
    CONTINUING = "continuing"  # every result in: the next generation is being prepared
    ENDED = "ended"


class ToolLoop:
    @classmethod
    def for_turn(
        cls,
        engine: Engine,
        user_id: str,
        request: TurnRequest,
        messages: list[ChatMessage],
        config: ChatConfig,
    ) -> ToolLoop | None:
        """The loop of a turn whose client answers calls inside the reply (WebSocket
        turns with tools); None for the others."""
        if not request.tool_results or not request.params.output.calls_allowed:
            return None
        return cls(engine, user_id, messages, request.params, config.tool_wait_s)

    def __init__(
        self,
        engine: Engine,
        user_id: str,
        messages: list[ChatMessage],
        params: SamplingParams,
        wait_s: float,
    ) -> None:
        self._engine = engine
        self._user_id = user_id
        self._messages = messages  # the turn's prompt (before the reply)
        self._params = params
        self._wait_s = wait_s
        self.state = LoopState.GENERATING
        self.rounds = 0
        self._pending: dict[str, PendingCall] = {}
        self._answered: set[str] = set()  # every call id that got its result, all rounds
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.stop_requested = False

    @property
    def waiting(self) -> tuple[PendingCall, ...]:
        return tuple(self._pending.values())

    def await_results(self, calls: list[PendingCall], on_timeout: Callable[[], None]) -> None:
        self.state = LoopState.AWAITING
        self.rounds += 1
        self._pending = {c.call_id: c for c in calls}
        self._timer = asyncio.get_running_loop().call_later(self._wait_s, on_timeout)

    def add_result(self, log: ReplyLog, call_id: str, content: str) -> bool:
        """Record a client's result (a `tool_result` frame); True when it was the last
        one the reply waited for. A repeated result for a call is ignored (idempotent)."""
        if call_id in self._answered:
            return False
        call = self._pending.get(call_id)
        if self.state is not LoopState.AWAITING or call is None:
            if self.state is LoopState.AWAITING:
                raise ChatError(
                    "bad_request", f"call_id: no call {call_id} is awaited", log.reply_id
                )
            raise ChatError("conflict", "the reply is not waiting for tool results", log.reply_id)
        self._answered.add(call_id)
        log.append_sealed(TOOL_RESULT, content, CallRef(call.index, call.call_id))
        if not self._pending.keys() <= self._answered:
            return False
        self._cancel_timer()
        self.state = LoopState.CONTINUING
        return True

    def continue_reply(
        self, log: ReplyLog, sink: ReplySink, fail: Callable[[EngineError], None]
    ) -> None:
        """The next generation of the reply, once its prompt is prepared (off the loop)."""
        self._task = asyncio.create_task(
            self._continue(log, sink, fail), name=f"tools-{log.reply_id}"
        )

    async def _continue(
        self, log: ReplyLog, sink: ReplySink, fail: Callable[[EngineError], None]
    ) -> None:
        parts = parts_of(log.frames, last_round_complete=False)
        messages = [*self._messages, *as_messages(parts.text, parts.reasoning, parts.tool_calls)]
        output = self._params.output
        choice: ToolChoice = "none" if self.rounds >= MAX_ROUNDS else "auto"
        if output.tool_choice != "none":
            output = replace(output, tool_choice=choice, function_name=None)
        params = replace(self._params, output=output)
        try:
            prompt = await self._engine.prepare(messages, params)
            if self.stop_requested:
                return
            self.state = LoopState.GENERATING
            self._pending = {}
            self._engine.submit(log.reply_id, self._user_id, prompt, params, sink)
        except EngineError as exc:
            fail(exc)
        except Exception:
            # Anything else would leave the reply CONTINUING forever (its timer is gone):
            # end it like any engine failure, and keep the cause in the log.
            logger.exception("reply %s: its next round could not start", log.reply_id)
            fail(EngineError("the next round of the reply could not start"))

    def end(self) -> None:
        self.state = LoopState.ENDED
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def answered(frames: Sequence[LogFrame], call_id: str) -> bool:
    """Whether the reply took a result for this call."""
    return any(
        f.kind == TOOL_RESULT and f.call is not None and f.call.call_id == call_id for f in frames
    )
