"""The in-memory frame log of one reply, shared by every reader that follows it.

Every entry point renders this one log: WebSocket `token` frames, SSE chunks of the OpenAI
API and Responses events are views of the same frames, so `seq` means the same thing to
every reader and `resume` works on any connection.

Frames are sealed lazily: output collects in an open tail, and the tail becomes frame
`seq = n + 1` only when a reader asks for the next frame (or a checkpoint needs a seq). A
reader that keeps up gets one frame per engine step; a reader that lags gets what was
generated meanwhile in one frame. A frame has a kind; output of another kind (or of
another tool call) seals the tail first, so one frame never mixes kinds or calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tickertape.store.types import FrameEnd

TEXT = "text"  # the reply's answer text: WebSocket `token` frames
REASONING = "reasoning"  # the model's thinking: `reasoning` frames
TOOL_CALL = "tool_call"  # a delta of a tool call's arguments (its first frame: the name)
TOOL_RESULT = "tool_result"  # a client's result for a call (one frame each)
AWAITING_TOOLS = "awaiting_tools"  # the reply waits for the results of these calls
OTHER_PART = "part"  # a stored reply's non-text frame, rebuilt without its content


@dataclass(frozen=True, slots=True)
class CallRef:
    """Which tool call a frame is about. `index` counts the calls of the whole reply
    (0, 1, ...: every round of calls continues the count); `name` is on a call's first
    frame only."""

    index: int
    call_id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A complete call the reply waits on (an `awaiting_tools` frame lists them)."""

    index: int
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class LogFrame:
    seq: int
    kind: str
    text: str  # text, reasoning, argument delta, or a tool result's content
    call: CallRef | None = None  # tool_call and tool_result frames
    calls: tuple[PendingCall, ...] = ()  # awaiting_tools frames


def frame_end(frame: LogFrame, text_chars: int, reasoning_chars: int) -> FrameEnd:
    """Where a frame ends, as the store keeps it (chat/stored_frames.py); the counts are
    the reply's text and reasoning lengths through this frame."""
    if frame.kind == REASONING:
        return [REASONING, reasoning_chars]
    if frame.kind == TOOL_CALL and frame.call is not None:
        call = frame.call
        return [TOOL_CALL, call.index, call.call_id, call.name, frame.text]
    return text_chars


@dataclass(frozen=True, slots=True)
class ReplyError:
    """Why a reply failed, in words a person can act on (`end.error`)."""

    code: str
    message: str
    retry_after_ms: int | None = None  # for codes a client may retry later (overloaded)


@dataclass(frozen=True, slots=True)
class ReplyEnd:
    seq: int
    finish_reason: str
    status: str
    usage: dict[str, int]
    timing: dict[str, float]
    error: ReplyError | None = None


class ReplyLog:
    def __init__(
        self,
        reply_id: str,
        user_id: str,
        conversation_id: str | None,
        on_disconnect: str = "continue",
    ) -> None:
        self.reply_id = reply_id
        self.user_id = user_id
        self.conversation_id = conversation_id  # None for a reply that is not stored
        self.on_disconnect = on_disconnect
        self.frames: list[LogFrame] = []
        self.queue_position: int | None = None
        self.end: ReplyEnd | None = None
        self.stop_requested_at: float | None = None
        self.withdrawn = False  # its conversation was deleted: nobody may resume it
        self.coalesced_frames = 0  # frames that carry more than one engine step's output
        self._tail: list[str] = []
        self._tail_kind = TEXT
        self._tail_call: CallRef | None = None
        self._ends: list[FrameEnd] = []  # where frame n ends (what the store keeps)
        self._text_chars = 0
        self._reasoning_chars = 0
        self._listeners: set[Callable[[], None]] = set()

    # writer side (the reply's run, on the event loop)

    def append(self, text: str, kind: str = TEXT, call: CallRef | None = None) -> None:
        """Output of one kind; a tool call's first piece (`call.name`) may be empty."""
        starts_call = call is not None and call.name is not None
        if (not text and not starts_call) or self.end is not None:
            return
        if self._tail and (
            kind != self._tail_kind or starts_call or not _same_call(self._tail_call, call)
        ):
            self.seal()
        if not self._tail:
            self._tail_kind, self._tail_call = kind, call
        self._tail.append(text)
        self.queue_position = None  # output has started: a queue position is stale
        self._notify()

    def append_sealed(
        self,
        kind: str,
        text: str = "",
        call: CallRef | None = None,
        calls: tuple[PendingCall, ...] = (),
    ) -> int:
        """A frame of its own (a tool result, the awaited calls); returns its seq."""
        if self.end is not None:
            return self.sealed_seq
        self.seal()
        frame = LogFrame(len(self.frames) + 1, kind, text, call, calls)
        self.frames.append(frame)
        self._ends.append(frame_end(frame, self._text_chars, self._reasoning_chars))
        self.queue_position = None
        self._notify()
        return len(self.frames)

    def set_queue_position(self, position: int) -> None:
        if self.frames or self._tail or self.end is not None:
            return  # output has started: positions arriving late mean nothing
        if position != self.queue_position:
            self.queue_position = position
            self._notify()

    def finish(self, end: ReplyEnd) -> None:
        self.seal()
        self.end = end
        self.queue_position = None
        self._notify()

    # shared

    @property
    def has_tail(self) -> bool:
        return bool(self._tail)

    def seal(self) -> int:
        """Close the open tail into a frame; return the last seq."""
        if self._tail:
            text = "".join(self._tail)
            if len(self._tail) > 1:
                self.coalesced_frames += 1
            self._tail.clear()
            frame = LogFrame(len(self.frames) + 1, self._tail_kind, text, self._tail_call)
            self.frames.append(frame)
            if self._tail_kind == TEXT:
                self._text_chars += len(text)
            elif self._tail_kind == REASONING:
                self._reasoning_chars += len(text)
            self._ends.append(frame_end(frame, self._text_chars, self._reasoning_chars))
        return len(self.frames)

    @property
    def sealed_seq(self) -> int:
        return len(self.frames)

    def text_through(self, seq: int, kind: str = TEXT) -> str:
        """The reply's text of one kind in frames 1..seq (a snapshot's `text`)."""
        return "".join(f.text for f in self.frames[:seq] if f.kind == kind)

    def frames_through(self, seq: int) -> list[LogFrame]:
        return self.frames[:seq]

    def frame_ends(self, seq: int) -> list[FrameEnd]:
        """Where each of frames 1..seq ends (a new list; `FrameEnd`): what the store
        keeps so that a stored reply replays frame by frame, its kinds included."""
        return self._ends[:seq]

    # reader side

    def frame(self, seq: int) -> LogFrame | None:
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


def _same_call(a: CallRef | None, b: CallRef | None) -> bool:
    return (a.index if a is not None else None) == (b.index if b is not None else None)
