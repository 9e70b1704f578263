"""Tool calls out of the streamed text of a tool-call region: names and argument deltas.

A region holds one call (`{"name": ..., "arguments": {...}}`, Hermes), a JSON array of
them (Mistral) or objects separated by `;` (Llama 3). The splitter walks the text one
character at a time (strings, escapes and nesting tracked), so it knows at every point
whether it is inside a call's name, inside its arguments, or between calls.

What it emits depends on whether the calls are **constrained** (written under the tool
grammar, engine/tool_grammar.py): then every prefix the model writes is a prefix of a call
that parses and fits its schema, so the name goes out as soon as it is complete and the
arguments as deltas. Unconstrained calls (a format or model the grammar cannot drive, or a
remote engine) are held until complete, parsed and validated, then emitted whole; one
that does not parse or validate ends the reply with `invalid_tool_call`. Either way the
arguments of every call emitted whole concatenate to JSON that parses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tickertape.engine.types import OutputPiece, PieceKind, Tool, ToolCall

Validator = Callable[[Tool, str], str | None]  # why the arguments do not fit, or None

_SEPARATORS = frozenset(" \t\r\n[],;")
_NAME_KEYS = frozenset({"name"})
_ARGUMENT_KEYS = frozenset({"arguments", "parameters"})


class CallProblem(Exception):
    """A call that cannot be emitted: `code` is `invalid_tool_call` or
    `tool_call_incomplete`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class _Value:
    """A JSON value being skipped or captured, character by character."""

    text: list[str] = field(default_factory=list)
    depth: int = 0
    in_string: bool = False
    escaped: bool = False
    scalar: bool = False

    def push(self, ch: str) -> bool:
        """Add `ch`; True when the value is complete (a scalar ends BEFORE `ch`, which
        is then not added)."""
        if self.scalar:
            if ch in ",}] \t\r\n":
                return True
            self.text.append(ch)
            return False
        self.text.append(ch)
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = False
                return self.depth == 0
            return False
        if ch == '"':
            self.in_string = True
        elif ch in "{[":
            self.depth += 1
        elif ch in "}]":
            self.depth -= 1
            return self.depth == 0
        elif len(self.text) == 1:
            self.scalar = True  # a number, true, false, null
        return False


@dataclass(slots=True)
class _Call:
    index: int
    call_id: str
    name: str | None = None
    arguments: str | None = None
    announced: bool = False  # its first piece (name) went out
    sent: int = 0  # argument characters that went out


class CallSplitter:
    def __init__(
        self,
        tools: Mapping[str, Tool],
        constrained: bool,
        new_id: Callable[[], str],
        validate: Validator,
    ) -> None:
        self._tools = tools
        self._constrained = constrained
        self._new_id = new_id
        self._validate = validate
        self.calls: list[ToolCall] = []  # complete, valid calls, in order
        self._call: _Call | None = None
        self._depth = 0  # 0: between calls; 1: inside a call object
        self._key: list[str] | None = None  # a key being read
        self._key_escaped = False
        self._last_key: str | None = None
        self._value: _Value | None = None
        self._value_key: str | None = None
        self._expect_value = False

    @property
    def open(self) -> bool:
        """A call has started and not ended."""
        return self._call is not None

    def feed(self, text: str) -> list[OutputPiece]:
        """Raises CallProblem for text that cannot be a call, or a call that does not fit."""
        out: list[OutputPiece] = []
        for ch in text:
            self._char(ch, out)
        call, value = self._call, self._value
        streaming = call is not None and call.announced and call.arguments is None
        if streaming and value is not None and self._value_key in _ARGUMENT_KEYS:
            assert call is not None
            self._send_arguments(call, "".join(value.text), out)
        return out

    def close(self) -> None:
        """The region (or the reply) ended: a call still open is incomplete."""
        if self._call is not None:
            raise CallProblem("tool_call_incomplete", "the reply ended inside a tool call")

    # -- the walk ------------------------------------------------------------------
    def _char(self, ch: str, out: list[OutputPiece]) -> None:
        value = self._value
        if value is not None:
            if not value.push(ch):
                return
            self._end_value(out)
            if value.scalar:
                self._char(ch, out)  # the character that ended a scalar is not its own
            return
        if self._key is not None:
            self._key_char(ch)
            return
        if self._depth == 0:
            if ch == "{":
                self._depth = 1
                self._call = _Call(len(self.calls), self._new_id())
            elif ch not in _SEPARATORS:
                raise CallProblem("invalid_tool_call", f"unexpected {ch!r} in a tool call")
            return
        if self._expect_value:
            if ch in " \t\r\n":
                return
            if ch == ":":
                return
            self._expect_value = False
            self._value = _Value()
            self._value_key = self._last_key
            self._value.push(ch)
            return
        if ch == '"':
            self._key = []
        elif ch == "}":
            self._end_call(out)
        elif ch not in " \t\r\n,":
            raise CallProblem("invalid_tool_call", f"unexpected {ch!r} in a tool call")

    def _key_char(self, ch: str) -> None:
        assert self._key is not None
        if self._key_escaped:
            self._key_escaped = False
        elif ch == "\\":
            self._key_escaped = True
        elif ch == '"':
            self._last_key = _decode_string("".join(self._key))
            self._key = None
            self._expect_value = True
            return
        self._key.append(ch)

    def _end_value(self, out: list[OutputPiece]) -> None:
        value, key = self._value, self._value_key
        self._value = self._value_key = None
        call = self._call
        assert value is not None
        assert call is not None
        text = "".join(value.text)
        if key in _NAME_KEYS and call.name is None:
            try:
                name = json.loads(text) if text.startswith('"') else None
            except ValueError:  # a raw control character in an unconstrained name, say
                name = None
            if not isinstance(name, str) or name not in self._tools:
                raise CallProblem("invalid_tool_call", f"the model called an unknown tool {text}")
            call.name = name
            if self._constrained:
                call.announced = True
                out.append(OutputPiece(PieceKind.TOOL_CALL, "", call.index, call.call_id, name))
        elif key in _ARGUMENT_KEYS and call.arguments is None:
            if call.announced:
                self._send_arguments(call, text, out)
            call.arguments = text

    def _send_arguments(self, call: _Call, text: str, out: list[OutputPiece]) -> None:
        if len(text) > call.sent:
            out.append(OutputPiece(PieceKind.TOOL_CALL, text[call.sent :], call.index))
            call.sent = len(text)

    def _end_call(self, out: list[OutputPiece]) -> None:
        call = self._call
        assert call is not None
        self._call = None
        self._depth = 0
        if call.name is None or call.arguments is None:
            raise CallProblem("invalid_tool_call", "a tool call without a name or arguments")
        tool = self._tools[call.name]
        problem = _parse_problem(call.arguments) or self._validate(tool, call.arguments)
        if problem is not None:
            raise CallProblem(
                "invalid_tool_call", f"the arguments of {call.name} do not fit: {problem}"
            )
        self.calls.append(ToolCall(call.call_id, call.name, call.arguments))
        if not call.announced:
            out.append(
                OutputPiece(
                    PieceKind.TOOL_CALL, call.arguments, call.index, call.call_id, call.name
                )
            )


def _parse_problem(arguments: str) -> str | None:
    try:
        value = json.loads(arguments)
    except ValueError as exc:
        return f"not JSON ({exc})"
    return None if isinstance(value, dict) else "not a JSON object"


def _decode_string(body: str) -> str:
    try:
        value = json.loads(f'"{body}"')
    except ValueError:
        return body
    return value if isinstance(value, str) else body
