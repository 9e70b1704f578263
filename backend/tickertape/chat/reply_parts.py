"""What a reply holds besides its answer text, derived from its frames: its reasoning and
its tool calls (with their results and the round they belong to); and a stored reply as
the messages a chat template expects.

A reply with tool round trips is one reply (one id, one `seq` space): its rounds are
delimited in the log by `awaiting_tools` frames. The store keeps the reply's answer text
(`content`, every round's text in order, exactly what its `token` frames concatenate
to), its `reasoning` (likewise), and `tool_calls`: each complete call with its `result`
and where its round's text and reasoning end (`content_end`, `reasoning_end`), which is
enough to render it back as the template's assistant / tool / assistant messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tickertape.chat.reply_log import (
    AWAITING_TOOLS,
    REASONING,
    TEXT,
    TOOL_CALL,
    TOOL_RESULT,
    LogFrame,
)
from tickertape.engine.types import ChatMessage, ToolCall

StoredCall = dict[str, Any]  # index, id, name, arguments, result, round, content_end, reasoning_end


@dataclass(slots=True)
class ReplyParts:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[StoredCall] = field(default_factory=list)


def parts_of(frames: Sequence[LogFrame], last_round_complete: bool) -> ReplyParts:
    """The reply's parts through these frames. A round's calls are complete once the
    reply waits on them (`awaiting_tools`); the last round's calls only when the reply
    ended on them (`last_round_complete`): a call still being written is never stored."""
    fold = PartsFold()
    for frame in frames:
        fold.add(frame)
    return fold.parts(last_round_complete)


class PartsFold:
    """`parts_of`, one frame at a time: a streaming reply's checkpoints fold in only the
    frames sealed since the previous one (walking every frame at every checkpoint made
    the checkpoint ticker quadratic in a reply's length)."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._text_chars = 0
        self._reasoning_chars = 0
        self._calls: dict[int, StoredCall] = {}
        self._done: list[StoredCall] = []  # calls of closed rounds
        self._current: list[StoredCall] = []  # calls of the open round
        self._round = 0
        self.seq = 0  # frames folded in

    def add(self, frame: LogFrame) -> None:
        self.seq += 1
        if frame.kind == TEXT:
            self._text.append(frame.text)
            self._text_chars += len(frame.text)
        elif frame.kind == REASONING:
            self._reasoning.append(frame.text)
            self._reasoning_chars += len(frame.text)
        elif frame.kind == TOOL_CALL and frame.call is not None:
            ref = frame.call
            if ref.name is not None:
                call: StoredCall = {
                    "index": ref.index,
                    "id": ref.call_id,
                    "name": ref.name,
                    "arguments": frame.text,
                    "result": None,
                    "round": self._round,
                }
                self._calls[ref.index] = call
                self._current.append(call)
            elif ref.index in self._calls:
                self._calls[ref.index]["arguments"] += frame.text
        elif frame.kind == AWAITING_TOOLS:
            for call in self._current:
                call["content_end"], call["reasoning_end"] = self._text_chars, self._reasoning_chars
            self._done.extend(self._current)
            self._current.clear()
            self._round += 1
        elif (
            frame.kind == TOOL_RESULT and frame.call is not None and frame.call.index in self._calls
        ):
            self._calls[frame.call.index]["result"] = frame.text

    def parts(self, last_round_complete: bool) -> ReplyParts:
        """The parts so far (copies: the fold goes on without changing them)."""
        calls = [dict(call) for call in self._done]
        if last_round_complete:
            ends = {"content_end": self._text_chars, "reasoning_end": self._reasoning_chars}
            calls += [{**call, **ends} for call in self._current]
        return ReplyParts("".join(self._text), "".join(self._reasoning), calls)


def client_calls(calls: Sequence[StoredCall] | None) -> list[dict[str, Any]]:
    """Stored calls as clients see them (snapshots, transcripts)."""
    return [
        {
            "index": c["index"],
            "call_id": c["id"],
            "name": c["name"],
            "arguments": c["arguments"],
            "result": c.get("result"),
        }
        for c in calls or ()
    ]


def as_messages(
    content: str, reasoning: str | None, calls: Sequence[StoredCall] | None
) -> list[ChatMessage]:
    """A reply as the messages its template renders: per round of answered calls an
    assistant message (that round's text, reasoning and calls) and a `tool` message per
    result; then the rest of the answer. Calls that never got a result are left out (the
    template would show a call without its answer)."""
    out: list[ChatMessage] = []
    at_text = at_reasoning = 0
    rounds: dict[int, list[StoredCall]] = {}
    for call in calls or ():
        rounds.setdefault(int(call["round"]), []).append(call)
    for number in sorted(rounds):
        answered = [c for c in rounds[number] if c.get("result") is not None]
        if not answered:
            continue
        end_text, end_reasoning = answered[0]["content_end"], answered[0]["reasoning_end"]
        out.append(
            ChatMessage(
                "assistant",
                content[at_text:end_text],
                (reasoning or "")[at_reasoning:end_reasoning] or None,
                tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in answered),
            )
        )
        out += [ChatMessage("tool", str(c["result"]), tool_call_id=c["id"]) for c in answered]
        at_text, at_reasoning = end_text, end_reasoning
    rest, thought = content[at_text:], (reasoning or "")[at_reasoning:]
    if rest or thought or not out:
        out.append(ChatMessage("assistant", rest, thought or None))
    return out


def with_open_calls(
    messages: list[ChatMessage], calls: Sequence[StoredCall] | None
) -> list[ChatMessage]:
    """`as_messages` plus the calls that got no result inside the reply (one that ended
    on them: the OpenAI APIs' clients send the results in their next request) on its last
    assistant message, so that the results that follow it answer them."""
    open_calls = tuple(
        ToolCall(c["id"], c["name"], c["arguments"]) for c in calls or () if c.get("result") is None
    )
    if not open_calls or not messages or messages[-1].role != "assistant":
        return messages
    last = messages[-1]
    return [*messages[:-1], replace(last, tool_calls=(*last.tool_calls, *open_calls))]


def awaits_tools(frames: Sequence[LogFrame]) -> bool:
    """The reply's last round ended on calls and no generation followed yet."""
    for frame in reversed(frames):
        if frame.kind != TOOL_RESULT:
            return frame.kind == AWAITING_TOOLS
    return False
