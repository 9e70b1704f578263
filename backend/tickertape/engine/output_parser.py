"""One reply's detokenized text as typed pieces: reasoning, answer text, tool calls.

Regions come from transformers' streaming `ResponseParser` (transformers 5's response
parsing), driven by the checkpoint's response template or our preset for its format
(engine/output_format.py). It holds back text that could still be the start of a
delimiter (`<thi...`), so no piece ever carries part of a tag. Tool-call regions go to
the call splitter (engine/call_splitter.py).

Whitespace that belongs to the markup rather than to the text is dropped: the newlines
just inside `<think>...</think>` and the newlines between the reasoning (or a tool call)
and the answer. So the reasoning and the answer read as the template renders them back
(`<think>\\n{reasoning}\\n</think>\\n\\n{answer}`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers.utils.chat_parsing.response_parser import ResponseParser

from tickertape.engine.call_splitter import CallProblem, CallSplitter, Validator
from tickertape.engine.output_format import REASONING_FIELDS, TOOL_FIELD
from tickertape.engine.types import OutputPiece, OutputRules, PieceKind, ToolCall

_BLANK = " \t\r\n"


class ReplyParser:
    def __init__(
        self,
        template: Any,
        rules: OutputRules,
        generation_prefix: str,
        *,
        constrained_calls: bool,
        new_id: Callable[[], str],
        validate: Validator,
    ) -> None:
        # `template`: a response template (a dict, or transformers' loaded form) whose
        # tool region is left out when calls are not allowed; None: everything is answer.
        self._regions = (
            ResponseParser(template, prefix=generation_prefix) if template is not None else None
        )
        tools = {t.name: t for t in rules.callable_tools}
        self._splitter = CallSplitter(tools, constrained_calls, new_id, validate)
        self.problem: CallProblem | None = None
        self._answer_fresh = True  # nothing of the answer since the start or a region
        self._reasoning_fresh = True
        self._reasoned = False  # some reasoning went out
        self._held_blank = ""  # trailing whitespace of the reasoning, held
        self._in_tools = False
        self._calls_at_open = 0
        self._finishing = False

    @property
    def calls(self) -> list[ToolCall]:
        """The complete, valid tool calls so far."""
        return self._splitter.calls

    @property
    def in_call(self) -> bool:
        return self._in_tools

    def feed(self, text: str) -> list[OutputPiece]:
        if not text or self.problem is not None:
            return []
        if self._regions is None:
            return self._answer(text)
        return self._route(self._regions.feed(text))

    def finish(self) -> list[OutputPiece]:
        """The reply ended: release what was held, close open regions."""
        if self.problem is not None or self._regions is None:
            return []
        self._finishing = True
        _, events = self._regions.finalize()
        return self._route(events)

    # -- routing ---------------------------------------------------------------------
    def _route(self, events: list[dict[str, object]]) -> list[OutputPiece]:
        out: list[OutputPiece] = []
        for event in events:
            field, kind = event.get("field"), event.get("type")
            try:
                if field == TOOL_FIELD:
                    if kind == "region_open":
                        self._in_tools = True
                        self._calls_at_open = len(self._splitter.calls)
                    elif kind == "region_chunk":
                        out += self._splitter.feed(str(event["text"]))
                    elif kind == "region_close":
                        self._close_tools()
                elif field in REASONING_FIELDS:
                    if kind == "region_chunk":
                        out += self._reasoning(str(event["text"]))
                    elif kind == "region_close":
                        self._held_blank, self._answer_fresh = "", True
                        self._reasoning_fresh = True
                elif kind == "region_chunk":
                    out += self._answer(str(event["text"]))
            except CallProblem as problem:
                self.problem = problem
                return out
        return out

    def _close_tools(self) -> None:
        """A tool-call region ended: by its closing tag, or (formats without one, or a
        reply cut short) at the end of the reply."""
        self._in_tools, self._answer_fresh = False, True
        self._splitter.close()
        if len(self._splitter.calls) == self._calls_at_open:
            code = "tool_call_incomplete" if self._finishing else "invalid_tool_call"
            raise CallProblem(code, "a tool-call section without a complete call")

    def _reasoning(self, text: str) -> list[OutputPiece]:
        if self._reasoning_fresh:
            text = text.lstrip(_BLANK)
            if not text:
                return []
            self._reasoning_fresh = False
            if self._reasoned:
                text = "\n\n" + text  # a later think section: a paragraph of its own
            self._reasoned = True
        text = self._held_blank + text
        body = text.rstrip(_BLANK)
        self._held_blank = text[len(body) :]
        return [OutputPiece(PieceKind.REASONING, body)] if body else []

    def _answer(self, text: str) -> list[OutputPiece]:
        if self._answer_fresh:
            text = text.lstrip("\r\n")
            if not text:
                return []
            self._answer_fresh = False
        return [OutputPiece(PieceKind.TEXT, text)]
