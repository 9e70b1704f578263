"""One WebSocket connection's outbound side: a single sender task, never the batch's problem.

Control frames (hello, accepted, errors, pongs) wait in a queue bounded in BYTES; reply
frames are not queued at all: each followed reply is a cursor into its shared ReplyLog,
read when the socket can take more. A reader that lags therefore costs no memory per
frame and gets coalesced frames; a reader that takes nothing for `send_timeout_s` is cut
off, and a client that makes us queue more control bytes than the cap (pings faster than
it reads the pongs) is closed at once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

from tickertape.chat.log_reader import LogCursor, LogItem, Queued, Snapshot
from tickertape.chat.reply_log import TEXT, LogFrame, ReplyLog
from tickertape.chat.reply_parts import awaits_tools, client_calls, parts_of
from tickertape.metrics import Metrics
from tickertape.store.types import MessageRecord
from tickertape.transport import frames

log = logging.getLogger(__name__)

DELIVERED_KEPT = 256  # finished replies a connection remembers having sent


class SlowClient(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    send_timeout_s: float  # slow_client_timeout_s
    max_control_bytes: int  # unsent control frames one connection may hold


# How one log item becomes frames: `/ws` sends one frame per item; the Responses API's
# WebSocket mode renders events (several for some items, none for others).
Render = Callable[[LogItem], list[dict[str, Any]]]


def render(reply_log: ReplyLog, item: Queued | LogFrame | Snapshot | Any) -> dict[str, Any]:
    """One log item as a WebSocket frame."""
    reply_id = reply_log.reply_id
    if isinstance(item, Queued):
        return {"type": "queued", "reply_id": reply_id, "position": item.position}
    if isinstance(item, LogFrame):
        if item.kind == TEXT:
            return frames.token_frame(reply_id, item.seq, item.text)
        return frames.part_frame(reply_id, reply_log.conversation_id, item)
    if isinstance(item, Snapshot):
        return frames.snapshot_frame(reply_id, item.seq, item.text, item.status)
    return frames.end_frame(reply_id, item)


class Connection:
    def __init__(self, websocket: WebSocket, config: ConnectionConfig, metrics: Metrics) -> None:
        self._ws = websocket
        self._config = config
        self._frames_sent = metrics.frames_sent
        self._control: collections.deque[tuple[str, str]] = collections.deque()  # type, JSON
        self._control_bytes = 0
        self._follows: dict[str, LogCursor] = {}
        # Replies this connection sent to their end, with the last seq sent: a retried
        # `chat` continues after it instead of repeating the reply on this connection.
        self._delivered: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._renders: dict[str, Render] = {}  # followed replies with their own rendering
        # Frames of one rendered item beyond its first: sent before the next item is read
        # (a handful at most, never a backlog).
        self._rendered: collections.deque[tuple[str, str]] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing waits to be sent
        self.overflowed = False  # the control queue hit its cap: the connection is done

    def send(self, frame: dict[str, Any]) -> None:
        if self.overflowed:
            return
        text = frames.dump(frame)
        size = len(text)  # characters: a lower bound of the bytes, and cheap
        if self._control_bytes + size > self._config.max_control_bytes:
            # The client sends faster than it reads our answers: holding more would let
            # one client make the server hold any amount of memory.
            self.overflowed = True
            self._control.clear()
            self._control_bytes = 0
        else:
            self._control.append((frame["type"], text))
            self._control_bytes += size
        self._wake.set()

    def follow(
        self,
        reply_log: ReplyLog,
        last_seq: int,
        rendered_by: Render | None = None,
        first: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Attach this connection to a live reply from `last_seq + 1` on.

        Following a reply this connection already follows continues where it is, so that
        frames never repeat on one connection. `rendered_by` replaces the `/ws` frames of
        its items, and `first` goes out before them.
        """
        if rendered_by is not None:
            self._renders[reply_log.reply_id] = rendered_by
            self._rendered.extend((f["type"], frames.dump(f)) for f in first)
        current = self._follows.get(reply_log.reply_id)
        if current is not None and not current.done:
            current.next_seq = max(current.next_seq, last_seq + 1)
            self._wake.set()
            return
        if last_seq > reply_log.seal():
            # The client holds more than this log has (it cannot, unless it is confused):
            # the truth is a snapshot.
            seq = reply_log.sealed_seq
            status = "streaming" if reply_log.end is None else reply_log.end.status
            parts = parts_of(reply_log.frames_through(seq), last_round_complete=False)
            self.send(
                frames.snapshot_frame(
                    reply_log.reply_id,
                    seq,
                    parts.text,
                    status,
                    parts.reasoning,
                    client_calls(parts.tool_calls),
                    reply_log.end is None and awaits_tools(reply_log.frames_through(seq)),
                )
            )
            last_seq = seq
        self._follows[reply_log.reply_id] = LogCursor(reply_log, last_seq)
        reply_log.add_listener(self._wake.set)
        self._wake.set()

    def send_stored(self, record: MessageRecord, last_seq: int) -> None:
        """Resume from the database: what is missing as one snapshot, then `end`."""
        if last_seq != record.seq or record.status == "streaming":
            self.send(
                frames.snapshot_frame(
                    record.id,
                    record.seq,
                    record.content,
                    record.status,
                    record.reasoning,
                    client_calls(record.tool_calls),
                )
            )
        if record.status != "streaming":
            self.send(frames.stored_end_frame(record))

    def detach_all(self) -> list[ReplyLog]:
        """Stop following every reply; return those that were still streaming."""
        left = []
        for cursor in self._follows.values():
            cursor.log.remove_listener(self._wake.set)
            if cursor.log.end is None:
                left.append(cursor.log)
        self._follows.clear()
        self._renders.clear()
        return left

    def following(self, reply_id: str) -> bool:
        return reply_id in self._follows

    def delivered(self, reply_id: str) -> int:
        """The last seq of `reply_id` this connection has sent (0: none)."""
        cursor = self._follows.get(reply_id)
        if cursor is not None:
            return cursor.next_seq - 1
        return self._delivered.get(reply_id, 0)

    async def run_sender(self) -> None:
        """Send until cancelled; raise SlowClient when the peer stops reading."""
        while True:
            self._wake.clear()
            if self.overflowed:
                raise SlowClient("unread control frames passed the cap")
            item = self._next_frame()
            if item is None:
                self._idle.set()
                await self._wait_idle()
                self._idle.clear()
                continue
            kind, text = item
            try:
                async with asyncio.timeout(self._config.send_timeout_s):
                    await self._ws.send_text(text)
                self._frames_sent.labels(kind).inc()
            except TimeoutError as exc:
                raise SlowClient("a send waited too long") from exc

    def _next_frame(self) -> tuple[str, str] | None:
        if self._control:
            kind, text = self._control.popleft()
            self._control_bytes -= len(text)
            return kind, text
        if self._rendered:
            return self._rendered.popleft()
        for reply_id, cursor in list(self._follows.items()):
            out = self._read(reply_id, cursor)
            if out:
                # Rotate so that one busy reply cannot starve the others on this socket.
                self._follows.pop(reply_id, None)
                if not cursor.done:
                    self._follows[reply_id] = cursor
                self._rendered.extend(out[1:])
                return out[0]
        return None

    def _read(self, reply_id: str, cursor: LogCursor) -> list[tuple[str, str]]:
        """The frames of the cursor's next item that renders to any (none: nothing new)."""
        rendered_by = self._renders.get(reply_id)
        while True:
            item = cursor.next_item()
            if cursor.done and self._follows.pop(reply_id, None) is not None:
                cursor.log.remove_listener(self._wake.set)
                self._renders.pop(reply_id, None)
                self._delivered[reply_id] = cursor.next_seq - 1
                if len(self._delivered) > DELIVERED_KEPT:
                    self._delivered.popitem(last=False)
            if item is None:
                return []
            out = [render(cursor.log, item)] if rendered_by is None else rendered_by(item)
            if out:
                return [(frame["type"], frames.dump(frame)) for frame in out]

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
            async with asyncio.timeout(self._config.send_timeout_s):
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
