"""One remote generation's side of the sink: what the upstream reader task delivers.

The upstream reader must never wait for the consumer (a slow WebSocket client would hold the
upstream connection open and, through TCP backpressure, the upstream's batch slot), so
delivering never blocks: the sink (the chat service's reply log) merges text for readers
that lag.
"""

from __future__ import annotations

import time

from tickertape.engine.types import GenerationResult, OutputPiece, ReplySink, ReplyUpdate, Timing


class ReplyClock:
    """The three Timing marks of one reply, in monotonic time since submit()."""

    def __init__(self) -> None:
        self.submitted_at = time.monotonic()
        self.scheduled_at = 0.0
        self.first_text_at = 0.0

    def scheduled(self) -> None:
        self.scheduled_at = time.monotonic()

    def first_text(self) -> None:
        if not self.first_text_at:
            self.first_text_at = time.monotonic()

    def timing(self) -> Timing:
        now = time.monotonic()

        def since(t: float) -> float:
            return round((t - self.submitted_at) * 1000, 3) if t else 0.0

        return Timing(since(self.scheduled_at), since(self.first_text_at), since(now))


class RemoteReply:
    """Delivers one reply's updates to its sink; exactly one result, the first one wins."""

    def __init__(self, reply_id: str, sink: ReplySink) -> None:
        self.reply_id = reply_id
        self._sink = sink
        self._finished = False
        self._started = False  # text seen: a queue position is stale from then on
        self.text_chunks = 0  # content chunks delivered (one token each on vLLM, llama.cpp)

    @property
    def finished(self) -> bool:
        return self._finished

    def queued(self, position: int) -> None:
        if not self._finished and not self._started:
            self._sink.deliver(ReplyUpdate(queued=position))

    def push(self, pieces: tuple[OutputPiece, ...] | list[OutputPiece]) -> None:
        if pieces and not self._finished:
            self._started = True
            self.text_chunks += 1
            self._sink.deliver(ReplyUpdate(tuple(pieces)))

    def finish(self, result: GenerationResult) -> bool:
        """Record the outcome; the first one wins (a stop racing a natural end)."""
        if self._finished:
            return False
        self._finished = True
        self._sink.deliver(ReplyUpdate(result=result))
        return True
