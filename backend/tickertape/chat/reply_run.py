"""One reply in flight: the engine's sink, its checkpoints and its final write.

The engine calls `deliver` on the event loop once per step with that step's output; the
output goes straight into the reply's log, which wakes the readers that follow it. There
is no task per reply while it streams: only its end starts one, for the final write that
must commit before `end` becomes visible.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tickertape.chat.errors import ChatError
from tickertape.chat.hub import ReplyHub
from tickertape.chat.limits import ReplyLease
from tickertape.chat.reply_log import (
    REASONING,
    TEXT,
    TOOL_CALL,
    CallRef,
    PendingCall,
    ReplyEnd,
    ReplyError,
    ReplyLog,
)
from tickertape.chat.reply_parts import PartsFold, parts_of
from tickertape.chat.reply_result import combined, usage_and_timing
from tickertape.chat.tools import LoopState, ToolLoop
from tickertape.engine.types import (
    EngineError,
    FinishReason,
    GenerationResult,
    OutputPiece,
    PieceKind,
    ReplyUpdate,
    Timing,
    Usage,
)
from tickertape.metrics import Metrics
from tickertape.store.types import MessageStatus, NotFound, ReplyFinal, Store

log = logging.getLogger(__name__)

STATUS_BY_REASON: dict[FinishReason, MessageStatus] = {
    FinishReason.STOP: "complete",
    FinishReason.LENGTH: "complete",
    FinishReason.STOPPED: "stopped",
    FinishReason.ERROR: "error",
    FinishReason.INTERRUPTED: "interrupted",
    FinishReason.TOOL_CALLS: "complete",
}
_KINDS = {PieceKind.TEXT: TEXT, PieceKind.REASONING: REASONING}
_FINAL_WRITE_ATTEMPTS = 5


class ReplyRun:
    def __init__(
        self,
        reply_log: ReplyLog,
        *,
        store: Store | None,  # None: the reply is not stored (OpenAI `store: false`)
        hub: ReplyHub,
        lease: ReplyLease,
        metrics: Metrics,
        draining: Callable[[], bool],
        checkpoint_every: int,
        on_done: Callable[[ReplyRun], None],
        tools: ToolLoop | None = None,
    ) -> None:
        self.log = reply_log
        self._store = store
        self._hub = hub
        self._lease = lease
        self._metrics = metrics
        self._draining = draining
        self._checkpoint_every = checkpoint_every
        self._on_done = on_done
        self._updates_since_checkpoint = 0
        self._checkpointed_seq = 0
        self._checkpoint_parts = PartsFold()  # the parts through the last checkpoint
        self._last_text_at: float | None = None
        self._finishing: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        # Tool round trips (WebSocket turns with tools); None: a reply that ends on its
        # calls (the OpenAI API, whose client sends the results in a new request).
        self.tools = tools
        self._started_at = time.monotonic()
        self._results: list[GenerationResult] = []  # one per generation (round)
        self._calls_before = 0  # calls of earlier rounds: this round's indexes follow
        self._round: dict[int, list[str]] = {}  # this round's calls: index -> id, name, args
        self._round_kinds: set[str] = set()  # kinds of text this round has written

    # -- the engine's sink ---------------------------------------------------------
    def deliver(self, update: ReplyUpdate) -> None:
        if update.queued is not None:
            self.log.set_queue_position(update.queued)
        if update.pieces:
            now = time.monotonic()
            if self._last_text_at is not None:
                self._metrics.inter_token.observe(now - self._last_text_at)
            self._last_text_at = now
            for piece in update.pieces:
                self._append(piece)
            self._updates_since_checkpoint += 1
            if self._updates_since_checkpoint >= self._checkpoint_every:
                self.checkpoint()
        if update.result is not None and self._finishing is None:
            self._results.append(update.result)
            tools = self.tools
            reason = update.result.finish_reason
            waits = reason is FinishReason.TOOL_CALLS and self._round
            if tools is not None and waits:
                if not tools.stop_requested:
                    self._await_tools(tools)
                    return
                # The stop came while this round was ending on its calls: it still wins.
                reason = FinishReason.STOPPED
            self._end_with(reason)

    def _append(self, piece: OutputPiece) -> None:
        if piece.kind is not PieceKind.TOOL_CALL:
            kind = _KINDS[piece.kind]
            text = piece.text
            if kind not in self._round_kinds:
                # A later round's first text (or reasoning) after an earlier round's: a
                # paragraph of its own, not glued to the words before the calls.
                if self._calls_before and any(f.kind == kind for f in self.log.frames):
                    text = "\n\n" + text
                self._round_kinds.add(kind)
            self.log.append(text, kind)
            return
        index = self._calls_before + piece.index
        if piece.name is not None and piece.call_id is not None:
            self._round[index] = [piece.call_id, piece.name, ""]
        call = self._round.get(index)
        if call is None:  # cannot happen: a call's first piece carries its name
            log.error("reply %s: a tool-call piece of an unknown call", self.log.reply_id)
            return
        call[2] += piece.text
        self.log.append(piece.text, TOOL_CALL, CallRef(index, call[0], piece.name))

    def _end_with(self, reason: FinishReason, error: EngineError | None = None) -> None:
        if self._finishing is not None:
            return
        if self.tools is not None:
            self.tools.end()
        result = combined(self._results, reason, error, self._started_at)
        self._finishing = asyncio.create_task(
            self._finish(result), name=f"finish-{self.log.reply_id}"
        )

    # -- tool round trips ------------------------------------------------------------
    def _await_tools(self, tools: ToolLoop) -> None:
        calls = [PendingCall(i, c[0], c[1], c[2]) for i, c in sorted(self._round.items())]
        self._calls_before += len(calls)
        self._round = {}
        self._round_kinds = set()
        self._last_text_at = None  # the wait for results is not an inter-token gap
        self.log.append_sealed("awaiting_tools", calls=tuple(calls))
        tools.await_results(calls, self._wait_expired)
        self.checkpoint()

    def tool_result(self, call_id: str, content: str) -> None:
        """A client's result for one awaited call (raises ChatError)."""
        tools = self.tools
        if tools is None:
            raise ChatError("conflict", "this reply takes no tool results", self.log.reply_id)
        if tools.add_result(self.log, call_id, content):
            tools.continue_reply(self.log, self, self._failed_to_continue)

    def _failed_to_continue(self, exc: EngineError) -> None:
        self._end_with(FinishReason.ERROR, exc)

    def _wait_expired(self) -> None:
        log.info("reply %s: no tool results in time; it ends on its calls", self.log.reply_id)
        self._end_with(FinishReason.TOOL_CALLS)

    def stop_waiting(self) -> bool:
        """A stop while no generation runs (the reply waits for results, or prepares its
        next round): the reply ends now. False when a generation runs (the engine stops it)."""
        tools = self.tools
        if tools is None or tools.state is LoopState.ENDED:
            return False
        # Also while a generation runs: should it end on calls before the engine's stop
        # lands, the reply must not go on to wait for their results.
        tools.stop_requested = True
        if tools.state is LoopState.GENERATING:
            return False
        self._end_with(FinishReason.STOPPED)
        return True

    def fail(self, code: str, message: str, retry_after_ms: int | None = None) -> None:
        """End a reply the engine never took (its submit was refused after the commit);
        the user's in-flight place is given back at once, before the final write."""
        self._lease.release()
        self.deliver(
            ReplyUpdate(
                result=GenerationResult(
                    FinishReason.ERROR,
                    Usage(),
                    Timing(),
                    error_code=code,
                    error_message=message,
                    retry_after_ms=retry_after_ms,
                )
            )
        )

    # -- persistence ---------------------------------------------------------------
    def checkpoint(self) -> None:
        """Queue the reply's text so far for the store, if anything is new.

        Called after every `checkpoint_every` engine updates, and by the chat service's
        ticker for all streaming replies at once, so that they share one commit.
        """
        reply = self.log
        if self._store is None or reply.end is not None or self._finishing is not None:
            return
        if not reply.has_tail and reply.sealed_seq == self._checkpointed_seq:
            return
        seq = reply.seal()
        for frame in reply.frames[self._checkpoint_parts.seq : seq]:
            self._checkpoint_parts.add(frame)
        parts = self._checkpoint_parts.parts(last_round_complete=False)
        self._store.checkpoint_reply(
            reply.reply_id,
            parts.text,
            seq,
            reply.frame_ends(seq),
            reasoning=parts.reasoning or None,
            tool_calls=parts.tool_calls or None,
        )
        self._checkpointed_seq = seq
        self._updates_since_checkpoint = 0

    async def _finish(self, result: GenerationResult) -> None:
        try:
            await self._end(result)
        finally:
            # Whatever happened, the user's place is free and nobody waits on this reply.
            self._lease.release()
            self.done.set()
            self._on_done(self)

    async def _end(self, result: GenerationResult) -> None:
        reason = result.finish_reason
        self._observe(result)
        if self._draining() and reason == FinishReason.STOPPED:
            # Stopped by a shutdown, not by the client: history must say so.
            reason = FinishReason.INTERRUPTED
        error = None
        if reason == FinishReason.ERROR:
            error = ReplyError(
                result.error_code or "internal",
                result.error_message or "the reply failed",
                result.retry_after_ms,
            )
        seq = self.log.seal()
        usage, timing = usage_and_timing(result)
        status = STATUS_BY_REASON[reason]
        if self._store is not None:
            on_calls = reason is FinishReason.TOOL_CALLS
            parts = parts_of(self.log.frames_through(seq), last_round_complete=on_calls)
            final = ReplyFinal(
                self.log.reply_id,
                parts.text,
                seq,
                status,
                reason.value,
                usage,
                timing,
                error_code=error.code if error else None,
                error_message=error.message if error else None,
                error_retry_after_ms=error.retry_after_ms if error else None,
                frame_ends=tuple(self.log.frame_ends(seq)),
                reasoning=parts.reasoning or None,
                tool_calls=tuple(parts.tool_calls) or None,
            )
            try:
                await self._write_final(self._store, final)
            except Exception:
                # Followers must not hang on a reply whose end cannot be stored; they are
                # told it failed, and the row stays `streaming` until recovery marks it
                # interrupted.
                log.exception("reply %s: the final state could not be stored", final.reply_id)
                reason, status = FinishReason.ERROR, "error"
                error = ReplyError("internal", "the reply could not be stored")
        self.log.finish(ReplyEnd(seq, reason.value, status, usage, timing, error))
        self._hub.finished(self.log)

    def _observe(self, result: GenerationResult) -> None:
        m = self._metrics
        m.replies.labels(result.finish_reason.value).inc()
        if result.usage.completion_tokens:
            m.ttft.observe(result.timing.ttft_ms / 1000)
        if self.log.stop_requested_at is not None:
            m.stop_latency.observe(time.monotonic() - self.log.stop_requested_at)
        if self.log.coalesced_frames:
            m.coalesced_frames.inc(self.log.coalesced_frames)

    @staticmethod
    async def _write_final(store: Store, final: ReplyFinal) -> None:
        """`end` goes out only after this commit, so retry a passing database fault."""
        delay = 0.1
        for attempt in range(1, _FINAL_WRITE_ATTEMPTS + 1):
            try:
                await store.finish_reply(final)
                return
            except NotFound:
                # The conversation was deleted while the reply streamed: nothing to keep.
                log.info("reply %s: its conversation was deleted", final.reply_id)
                return
            except Exception:
                if attempt == _FINAL_WRITE_ATTEMPTS:
                    raise
                log.warning("reply %s: final write failed, retrying", final.reply_id, exc_info=True)
                await asyncio.sleep(delay)
                delay *= 2
