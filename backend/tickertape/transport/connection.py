"""One WebSocket connection's outbound side: a single sender task, never the batch's problem.

Control frames wait in a small bounded queue; reply frames are not queued at all: each
followed reply is a cursor into its shared ReplyLog, read when the socket can take more.
A reader that lags therefore costs no memory per frame and gets coalesced frames, and a
reader that takes nothing for `slow_client_timeout_s` is cut off.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from starlette.websockets import WebSocket

from tickertape.chat.reply_log import ReplyLog
from tickertape.metrics import Metrics
from tickertape.store.types import MessageRecord
from tickertape.transport import frames

log = logging.getLogger(__name__)

MAX_CONTROL_FRAMES = 256


class SlowClient(Exception):
    pass


class Follow:
    """A connection's cursor into one reply."""

    def __init__(self, reply_log: ReplyLog, last_seq: int) -> None:
        self.log = reply_log
        self.next_seq = last_seq + 1
        self.sent_position: int | None = None
        self.done = False

    def next_frame(self) -> dict[str, Any] | None:
        reply = self.log
        position = reply.queue_position
        if position is not None and position != self.sent_position and reply.end is None:
            self.sent_position = position
            return {"type": "queued", "reply_id": reply.reply_id, "position": position}
        text = reply.frame(self.next_seq)
        if text is not None:
            self.next_seq += 1
            return frames.token_frame(reply.reply_id, self.next_seq - 1, text)
        if reply.end is not None and not self.done:
            self.done = True
            return frames.end_frame(reply.reply_id, reply.end)
        return None


class Connection:
    def __init__(self, websocket: WebSocket, send_timeout_s: float, metrics: Metrics) -> None:
        self._ws = websocket
        self._frames_sent = metrics.frames_sent
        self._send_timeout_s = send_timeout_s
        self._control: collections.deque[dict[str, Any]] = collections.deque()
        self._follows: dict[str, Follow] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing waits to be sent
        self.slow = False

    def send(self, frame: dict[str, Any]) -> None:
        if len(self._control) >= MAX_CONTROL_FRAMES:
            # The client sends faster than it reads our answers.
            self.slow = True
        self._control.append(frame)
        self._wake.set()

    def follow(self, reply_log: ReplyLog, last_seq: int) -> None:
        """Attach this connection to a live reply from `last_seq + 1` on.

        Following a reply this connection already follows continues where it is, so that
        frames never repeat on one connection.
        """
        current = self._follows.get(reply_log.reply_id)
        if current is not None and not current.done:
            current.next_seq = max(current.next_seq, last_seq + 1)
            self._wake.set()
            return
        if last_seq > reply_log.seal():
            # The client holds more than this log has (it cannot, unless it is confused):
            # the truth is a snapshot.
            seq = reply_log.sealed_seq
            self.send(
                frames.snapshot_frame(
                    reply_log.reply_id,
                    seq,
                    reply_log.text_through(seq),
                    "streaming" if reply_log.end is None else reply_log.end.status,
                )
            )
            last_seq = seq
        self._follows[reply_log.reply_id] = Follow(reply_log, last_seq)
        reply_log.add_listener(self._wake.set)
        self._wake.set()

    def send_stored(self, record: MessageRecord, last_seq: int) -> None:
        """Resume from the database: what is missing as one snapshot, then `end`."""
        if last_seq != record.seq or record.status == "streaming":
            self.send(frames.snapshot_frame(record.id, record.seq, record.content, record.status))
        if record.status != "streaming":
            self.send(
                {
                    "type": "end",
                    "reply_id": record.id,
                    "seq": record.seq,
                    "finish_reason": record.finish_reason or record.status,
                    "usage": record.usage or {"prompt_tokens": 0, "completion_tokens": 0},
                    "timing": record.timing or {"queued_ms": 0, "ttft_ms": 0, "total_ms": 0},
                }
            )

    def followed_logs(self) -> list[ReplyLog]:
        return [f.log for f in self._follows.values()]

    def detach_all(self) -> list[ReplyLog]:
        """Stop following every reply; return those that were still streaming."""
        left = []
        for follow in self._follows.values():
            follow.log.remove_listener(self._wake.set)
            if follow.log.end is None:
                left.append(follow.log)
        self._follows.clear()
        return left

    async def run_sender(self) -> None:
        """Send until cancelled; raise SlowClient when the peer stops reading."""
        while True:
            self._wake.clear()
            if self.slow:
                raise SlowClient("control frames piled up")
            frame = self._next_frame()
            if frame is None:
                self._idle.set()
                await self._wait_idle()
                self._idle.clear()
                continue
            try:
                async with asyncio.timeout(self._send_timeout_s):
                    await self._ws.send_text(frames.dump(frame))
                self._frames_sent.labels(frame["type"]).inc()
            except TimeoutError as exc:
                raise SlowClient("a send waited too long") from exc

    def _next_frame(self) -> dict[str, Any] | None:
        if self._control:
            return self._control.popleft()
        for reply_id, follow in list(self._follows.items()):
            frame = follow.next_frame()
            if follow.done:
                follow.log.remove_listener(self._wake.set)
                del self._follows[reply_id]
            if frame is not None:
                # Rotate so that one busy reply cannot starve the others on this socket.
                self._follows.pop(reply_id, None)
                if not follow.done:
                    self._follows[reply_id] = follow
                return frame
        return None

    async def _wait_idle(self) -> None:
        """Wait for something to send; meanwhile, bytes already written must drain in time.

        With nothing to send no send deadline runs, so a peer that stopped reading right
        after our last frame would keep its socket (and its unsent bytes) forever.
        """
        writable = self._writable_event()
        if writable is None or writable.is_set():
            await self._wake.wait()
            return
        try:
            async with asyncio.timeout(self._send_timeout_s):
                await writable.wait()
        except TimeoutError as exc:
            raise SlowClient("unsent frames did not drain in time") from exc

    def _writable_event(self) -> asyncio.Event | None:
        # Uvicorn's protocol clears this event while the transport's write buffer is full.
        event = getattr(self._protocol(), "writable", None)
        return event if isinstance(event, asyncio.Event) else None

    def _protocol(self) -> object:
        return getattr(getattr(self._ws, "_receive", None), "__self__", None)

    async def flushed(self) -> None:
        """Return once every frame available so far has been sent."""
        await self._idle.wait()

    def abort(self) -> None:
        """Drop the TCP connection now: a close frame would wait behind unread data."""
        transport = getattr(self._protocol(), "transport", None)
        if transport is not None:
            transport.abort()
        else:
            log.warning("cannot abort the transport of a slow client; it will time out")
