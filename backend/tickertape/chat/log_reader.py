"""A reader's position in a reply log: the one way every transport reads a reply.

`LogCursor.next_item()` is called when the reader can take more (the socket or the HTTP
response is ready), never pushed to: that is what makes a slow reader cost nothing but a
bigger next frame. `follow()` is the same cursor as an async iterator, for HTTP streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from tickertape.chat.reply_log import LogFrame, ReplyEnd, ReplyLog


@dataclass(frozen=True, slots=True)
class Queued:
    position: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole text through `seq`: sent instead of frames a log does not have (a reply of
    a replica that died, ended on the store's text; see chat/redis_reaper.py)."""

    seq: int
    text: str
    status: str


LogItem = Queued | LogFrame | Snapshot | ReplyEnd


class LogCursor:
    def __init__(self, log: ReplyLog, last_seq: int = 0) -> None:
        self.log = log
        self.next_seq = last_seq + 1
        self.sent_position: int | None = None
        self.done = False  # the end has been read

    def next_item(self) -> LogItem | None:
        """The next thing to send, or None when there is nothing new yet."""
        log = self.log
        if self.done:
            return None
        position = log.queue_position
        if position is not None and position != self.sent_position and log.end is None:
            self.sent_position = position
            return Queued(position)
        frame = log.frame(self.next_seq)
        if frame is not None:
            self.next_seq += 1
            return frame
        if log.end is not None:
            if log.end.seq != self.next_seq - 1:
                # The end is not where this reader's frames lead (never for a local log).
                self.next_seq = log.end.seq + 1
                return Snapshot(log.end.seq, log.text_through(log.end.seq), log.end.status)
            self.done = True
            return log.end
        return None


async def follow(log: ReplyLog, last_seq: int = 0) -> AsyncGenerator[LogItem]:
    """Every item after `last_seq` as it becomes available, through the end."""
    cursor = LogCursor(log, last_seq)
    wake = asyncio.Event()
    log.add_listener(wake.set)
    try:
        while True:
            item = cursor.next_item()
            if item is None:
                wake.clear()
                # Re-check after clearing: an append between the read and the clear would
                # otherwise be missed until the next one.
                item = cursor.next_item()
                if item is None:
                    await wake.wait()
                    continue
            yield item
            if cursor.done:
                return
    finally:
        log.remove_listener(wake.set)
