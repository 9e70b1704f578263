"""The in-memory frame log of one reply, shared by every connection that follows it.

Frames are sealed lazily: generated text collects in an open tail, and the tail becomes
frame `seq = n + 1` only when a reader asks for the next frame (or a checkpoint needs a
seq). A reader that keeps up gets one frame per engine step; a reader that lags gets the
tokens generated meanwhile in one frame. Seq numbers stay reply-wide, so `resume` works on
any connection, and on one connection they never gap or repeat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReplyEnd:
    seq: int
    finish_reason: str
    status: str
    usage: dict[str, int]
    timing: dict[str, float]


class ReplyLog:
    def __init__(self, reply_id: str, user_id: str, conversation_id: str, on_disconnect: str):
        self.reply_id = reply_id
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.on_disconnect = on_disconnect
        self.frames: list[str] = []
        self.tail = ""
        self.queue_position: int | None = None
        self.end: ReplyEnd | None = None
        self.finished_at: float | None = None
        self.stop_requested_at: float | None = None
        self.coalesced_frames = 0  # frames that carry more than one engine event's text
        self._tail_events = 0
        self._listeners: set[Callable[[], None]] = set()

    # writer side (the reply's pump task)

    def append(self, text: str) -> None:
        if text:
            self.tail += text
            self._tail_events += 1
            self._notify()

    def set_queue_position(self, position: int | None) -> None:
        if position != self.queue_position:
            self.queue_position = position
            self._notify()

    def finish(self, end: ReplyEnd) -> None:
        self.seal()
        self.end = end
        self.queue_position = None
        self.finished_at = time.monotonic()
        self._notify()

    # shared

    def seal(self) -> int:
        """Close the open tail into a frame; return the last seq."""
        if self.tail:
            self.frames.append(self.tail)
            self.tail = ""
            if self._tail_events > 1:
                self.coalesced_frames += 1
            self._tail_events = 0
        return len(self.frames)

    @property
    def sealed_seq(self) -> int:
        return len(self.frames)

    def text_through(self, seq: int) -> str:
        return "".join(self.frames[:seq])

    # reader side (connections)

    def frame(self, seq: int) -> str | None:
        """Frame `seq` (1-based), sealing the tail if the reader has caught up."""
        if seq == len(self.frames) + 1:
            self.seal()
        if 1 <= seq <= len(self.frames):
            return self.frames[seq - 1]
        return None

    def add_listener(self, wake: Callable[[], None]) -> None:
        self._listeners.add(wake)

    def remove_listener(self, wake: Callable[[], None]) -> int:
        self._listeners.discard(wake)
        return len(self._listeners)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def _notify(self) -> None:
        for wake in list(self._listeners):
            wake()


class ReplyHub:
    """Every reply still streaming, and finished ones for `retention_s` (for resume)."""

    def __init__(self, retention_s: float) -> None:
        self._retention_s = retention_s
        self._logs: dict[str, ReplyLog] = {}

    def create(
        self, reply_id: str, user_id: str, conversation_id: str, on_disconnect: str
    ) -> ReplyLog:
        log = ReplyLog(reply_id, user_id, conversation_id, on_disconnect)
        self._logs[reply_id] = log
        return log

    def get(self, reply_id: str) -> ReplyLog | None:
        return self._logs.get(reply_id)

    def finished(self, log: ReplyLog) -> None:
        """Keep a finished log for resumes for a while, then fall back to snapshots."""
        asyncio.get_running_loop().call_later(self._retention_s, self._forget, log)

    def _forget(self, log: ReplyLog) -> None:
        if self._logs.get(log.reply_id) is log:
            del self._logs[log.reply_id]

    def in_flight(self, user_id: str) -> int:
        return sum(1 for log in self._logs.values() if log.user_id == user_id and log.end is None)

    def streaming(self) -> list[ReplyLog]:
        return [log for log in self._logs.values() if log.end is None]
