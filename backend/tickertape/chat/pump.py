"""One reply's pump: engine events into the frame log, checkpoints and the final write."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tickertape.chat.reply_log import ReplyEnd, ReplyHub, ReplyLog
from tickertape.engine.types import (
    FinishEvent,
    FinishReason,
    GenerationResult,
    QueuedEvent,
    ReplyStream,
    TextEvent,
    Timing,
    Usage,
)
from tickertape.metrics import Metrics
from tickertape.settings import Settings
from tickertape.store.types import MessageStatus, NotFound, ReplyFinal, Store

log = logging.getLogger(__name__)

_STATUS_BY_REASON: dict[FinishReason, MessageStatus] = {
    FinishReason.STOP: "complete",
    FinishReason.LENGTH: "complete",
    FinishReason.STOPPED: "stopped",
    FinishReason.ERROR: "error",
    FinishReason.INTERRUPTED: "interrupted",
}
_FINAL_WRITE_ATTEMPTS = 5


class ReplyPump:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        hub: ReplyHub,
        reply_log: ReplyLog,
        stream: ReplyStream,
        draining: Callable[[], bool],
        metrics: Metrics,
    ) -> None:
        self._metrics = metrics
        self._last_text_at: float | None = None
        self._store = store
        self._hub = hub
        self._log = reply_log
        self._stream = stream
        self._draining = draining
        self._every_events = settings.checkpoint_tokens
        self._events_since_checkpoint = 0
        self._checkpointed_seq = 0

    async def run(self) -> None:
        result: GenerationResult | None = None
        try:
            async for event in self._stream:
                if isinstance(event, TextEvent):
                    now = time.monotonic()
                    if self._last_text_at is not None:
                        self._metrics.inter_token.observe(now - self._last_text_at)
                    self._last_text_at = now
                    self._log.set_queue_position(None)
                    self._log.append(event.text)
                    self._maybe_checkpoint()
                elif isinstance(event, QueuedEvent):
                    self._log.set_queue_position(event.position)
                elif isinstance(event, FinishEvent):
                    result = event.result
        except asyncio.CancelledError:
            result = _interrupted()
            await self._finish(result)
            raise
        except Exception:
            log.exception("reply %s: the engine stream failed", self._log.reply_id)
            result = GenerationResult(FinishReason.ERROR, Usage(), Timing(), "internal")
        await self._finish(result or GenerationResult(FinishReason.ERROR, Usage(), Timing()))

    def _maybe_checkpoint(self) -> None:
        self._events_since_checkpoint += 1
        if self._events_since_checkpoint >= self._every_events:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Queue the reply's text so far for the store, if anything is new.

        Called after every `checkpoint_tokens` text events, and by the chat service's
        ticker every `checkpoint_interval_ms` for all streaming replies at once, so that
        they share one commit instead of each paying for its own.
        """
        reply = self._log
        if reply.end is not None or (not reply.tail and reply.sealed_seq == self._checkpointed_seq):
            return
        seq = reply.seal()
        self._store.checkpoint_reply(reply.reply_id, reply.text_through(seq), seq)
        self._checkpointed_seq = seq
        self._events_since_checkpoint = 0

    async def _finish(self, result: GenerationResult) -> None:
        reason = result.finish_reason
        self._observe(result)
        if self._draining() and reason == FinishReason.STOPPED:
            # Stopped by a shutdown, not by the client: history must say so.
            reason = FinishReason.INTERRUPTED
        seq = self._log.seal()
        usage, timing = usage_and_timing(result)
        status: MessageStatus = _STATUS_BY_REASON[reason]
        final = ReplyFinal(
            self._log.reply_id,
            self._log.text_through(seq),
            seq,
            status,
            reason.value,
            usage,
            timing,
        )
        try:
            await self._write_final(final)
        except Exception:
            # Followers must not hang on a reply whose end cannot be stored; they are told
            # it failed, and the row stays `streaming` until recovery marks it interrupted.
            log.exception("reply %s: the final state could not be stored", final.reply_id)
            reason, status = FinishReason.ERROR, "error"
        self._log.finish(ReplyEnd(seq, reason.value, status, usage, timing))
        self._hub.finished(self._log)

    def _observe(self, result: GenerationResult) -> None:
        m = self._metrics
        m.replies.labels(result.finish_reason.value).inc()
        if result.usage.completion_tokens:
            m.ttft.observe(result.timing.ttft_ms / 1000)
        if self._log.stop_requested_at is not None:
            m.stop_latency.observe(time.monotonic() - self._log.stop_requested_at)
        if self._log.coalesced_frames:
            m.coalesced_frames.inc(self._log.coalesced_frames)

    async def _write_final(self, final: ReplyFinal) -> None:
        """`end` goes out only after this commit, so retry a passing database fault."""
        delay = 0.1
        for attempt in range(1, _FINAL_WRITE_ATTEMPTS + 1):
            try:
                await self._store.finish_reply(final)
                return
            except NotFound:
                # The conversation was deleted while the reply streamed: nothing to keep.
                log.info("reply %s: its conversation was deleted", final.reply_id)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == _FINAL_WRITE_ATTEMPTS:
                    raise
                log.warning("reply %s: final write failed, retrying", final.reply_id, exc_info=True)
                await asyncio.sleep(delay)
                delay *= 2


def usage_and_timing(result: GenerationResult) -> tuple[dict[str, int], dict[str, float]]:
    """The `usage` and `timing` objects of `end` frames and stored messages."""
    usage = {
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
    }
    timing = {
        "queued_ms": round(result.timing.queued_ms, 1),
        "ttft_ms": round(result.timing.ttft_ms, 1),
        "total_ms": round(result.timing.total_ms, 1),
    }
    return usage, timing


def _interrupted() -> GenerationResult:
    return GenerationResult(FinishReason.INTERRUPTED, Usage(), Timing())
