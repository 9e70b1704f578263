"""A reply's frame boundaries as the store keeps them (`messages.frame_ends`), and the
frames rebuilt from them, so that a stored reply replays frame by frame with the kinds,
texts and seqs it streamed with (the Responses API numbers its events by them).

One entry per frame, in seq order:

- a text frame: an int, where the frame ends in the reply's `content`;
- a reasoning frame: `["reasoning", end]`, where it ends in the reply's `reasoning`;
- a tool-call frame: `["tool_call", index, call_id, name or null, delta]`: the argument
  delta itself (a call cut short is in no other column: `tool_calls` keeps whole calls);
- any other frame (a tool result, the awaited calls): an int, the text offset so far,
  as every frame was stored before kinds were kept. It is rebuilt as an `OTHER_PART`
  frame: the Responses rendering shows nothing of it, but it keeps its seq.
"""

from __future__ import annotations

from typing import Any

from tickertape.chat.reply_log import (
    OTHER_PART,
    REASONING,
    TEXT,
    TOOL_CALL,
    CallRef,
    LogFrame,
)
from tickertape.store.types import FrameEnd


def stored_frames(
    content: str, reasoning: str, ends: list[FrameEnd] | None, seq: int
) -> list[LogFrame]:
    """The frames of a stored reply; one frame of all its text when its boundaries are
    missing or do not fit its columns (stored before they were kept, or by a crash
    between writes)."""
    frames = _rebuilt(content, reasoning, ends, seq)
    if frames is not None:
        return frames
    return [LogFrame(1, TEXT, content)] if content else []


def _rebuilt(
    content: str, reasoning: str, ends: list[FrameEnd] | None, seq: int
) -> list[LogFrame] | None:
    if ends is None or len(ends) != seq:
        return None
    frames: list[LogFrame] = []
    at_text = at_reasoning = 0
    for number, entry in enumerate(ends, start=1):
        if isinstance(entry, int) and not isinstance(entry, bool):
            if not at_text <= entry <= len(content):
                return None
            if entry == at_text:
                # A text frame is never empty: a frame of another kind (or of a reply
                # stored before kinds were kept).
                frames.append(LogFrame(number, OTHER_PART, ""))
            else:
                frames.append(LogFrame(number, TEXT, content[at_text:entry]))
            at_text = entry
        elif isinstance(entry, list) and _is_reasoning(entry):
            end = entry[1]
            if not at_reasoning < end <= len(reasoning):
                return None
            frames.append(LogFrame(number, REASONING, reasoning[at_reasoning:end]))
            at_reasoning = end
        elif isinstance(entry, list) and _is_call(entry):
            _, index, call_id, name, delta = entry
            frames.append(LogFrame(number, TOOL_CALL, delta, CallRef(index, call_id, name)))
        else:
            return None
    # Rows stored before reasoning frames were kept have a reasoning column but no
    # reasoning entries: their reasoning is simply not replayed.
    if at_text != len(content) or at_reasoning not in (0, len(reasoning)):
        return None
    return frames


def _is_reasoning(entry: list[Any]) -> bool:
    return len(entry) == 2 and entry[0] == REASONING and type(entry[1]) is int


def _is_call(entry: list[Any]) -> bool:
    return (
        len(entry) == 5
        and entry[0] == TOOL_CALL
        and type(entry[1]) is int
        and isinstance(entry[2], str)
        and (entry[3] is None or isinstance(entry[3], str))
        and isinstance(entry[4], str)
    )
