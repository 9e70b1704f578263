"""A reply's frames as the parts of a completion: streamed chunks (`delta.content`,
`delta.reasoning_content`, `delta.tool_calls` as OpenAI streams them) or one message."""

from __future__ import annotations

import json
from typing import Any

from tickertape.chat.reply_log import REASONING, TEXT, TOOL_CALL, LogFrame
from tickertape.chat.types import ToolCall
from tickertape.transport.openai_models import Answer, ChunkFactory


def chunk_of(chunks: ChunkFactory, frame: LogFrame) -> dict[str, Any] | None:
    if frame.kind == TEXT:
        return chunks.text(frame.text)
    if frame.kind == REASONING:
        return chunks.reasoning(frame.text)
    if frame.kind == TOOL_CALL and frame.call is not None:
        call = frame.call
        return chunks.tool_call(call.index, call.call_id, call.name, frame.text)
    return None  # tool results and waits belong to WebSocket replies


class AnswerBuilder:
    """A reply's frames gathered into the parts of one completion message."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, list[str]] = {}  # index -> id, name, arguments

    def add(self, frame: LogFrame) -> None:
        if frame.kind == TEXT:
            self._text.append(frame.text)
        elif frame.kind == REASONING:
            self._reasoning.append(frame.text)
        elif frame.kind == TOOL_CALL and frame.call is not None:
            call = frame.call
            if call.name is not None:
                self._calls[call.index] = [call.call_id, call.name, ""]
            if call.index in self._calls:
                self._calls[call.index][2] += frame.text

    def finished(self, last_call_complete: bool) -> Answer:
        calls = [ToolCall(*self._calls[i]) for i in sorted(self._calls)]
        if not last_call_complete and calls and not _an_object(calls[-1].arguments):
            # Cut short by max_tokens inside its arguments: never handed out as if
            # complete. (A call cut before its name was complete has no frame at all;
            # one cut after its arguments is whole: under the grammar, arguments that
            # parse are a complete value of the schema.)
            calls.pop()
        return Answer("".join(self._text), "".join(self._reasoning), calls)


def _an_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
