"""Responses input items as the chat messages of a prompt.

Items: `message` (roles user, system, developer, assistant; text content),
`function_call` (a call the model made, sent back), `function_call_output` (the client's
result for a call: a `tool` message) and `reasoning` (the model's thinking, sent back).
Consecutive assistant items (reasoning, a message, calls) are one assistant turn, as the
chat template expects: a reasoning item goes with the assistant message or calls that
follow it, and calls join the assistant message just before them. Other item kinds
(`item_reference`, built-in tool calls...) and non-text parts are 400 naming the item.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from tickertape.chat.types import ChatMessage, ToolCall
from tickertape.transport.openai_errors import OpenAIError

Role = Literal["user", "system", "developer", "assistant", "tool"]
ROLES: frozenset[str] = frozenset({"user", "system", "developer", "assistant"})
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
MAX_ID = 64
ITEM_PREFIX = "msg_"  # input items are listed as `msg_<reply id>_<n>` whatever their type


@dataclass(frozen=True, slots=True)
class InputItem:
    """One message of the prompt: a text message, an assistant turn with its reasoning and
    calls, or a call's result (`tool`, with the `call_id` it answers)."""

    role: Role
    text: str
    reasoning: str | None = None
    calls: tuple[ToolCall, ...] = ()
    call_id: str | None = None

    def chat(self) -> ChatMessage:
        # "developer" is OpenAI's newer name for the system role.
        role: Literal["system", "user", "assistant", "tool"] = (
            "system" if self.role == "developer" else self.role
        )
        return ChatMessage(role, self.text, self.reasoning, self.calls, self.call_id)

    @classmethod
    def of(cls, message: ChatMessage) -> InputItem:
        return cls(
            message.role, message.content, message.reasoning, message.tool_calls,
            message.tool_call_id,
        )  # fmt: skip

    def record(self) -> list[str] | dict[str, Any]:
        """As kept in the store: `[role, text]` for a text message (as before items had
        more), a dict otherwise."""
        if self.reasoning is None and not self.calls and self.call_id is None:
            return [self.role, self.text]
        return {
            "role": self.role,
            "text": self.text,
            "reasoning": self.reasoning,
            "calls": [[c.id, c.name, c.arguments] for c in self.calls],
            "call_id": self.call_id,
        }

    @classmethod
    def from_record(cls, stored: Any) -> InputItem:
        if isinstance(stored, dict):
            return cls(
                stored["role"],
                stored.get("text") or "",
                stored.get("reasoning"),
                tuple(ToolCall(*c) for c in stored.get("calls") or ()),
                stored.get("call_id"),
            )
        role, text = stored
        return cls(role, text)


def parse_input(value: str | list[dict[str, Any]] | None) -> tuple[InputItem, ...]:
    """The input as prompt messages; a 400 naming the field for anything else."""
    if isinstance(value, str):
        if not value:
            raise OpenAIError(400, "input: must not be empty", param="input")
        return (InputItem("user", value),)
    if not value:
        raise OpenAIError(400, "input: required (a string or a list of items)", param="input")
    items: list[InputItem] = []
    reasoning: str | None = None  # a reasoning item waiting for its assistant turn
    joins = False  # the previous item was part of an assistant turn calls may join
    for i, raw in enumerate(value):
        where = f"input[{i}]"
        kind = raw.get("type", "message")
        if kind == "reasoning":
            reasoning = (reasoning or "") + _reasoning_text(raw, where)
            continue
        if kind == "message":
            item = _message(raw, where)
            if item.role == "assistant" and reasoning is not None:
                item, reasoning = replace(item, reasoning=reasoning), None
            items.append(item)
            joins = item.role == "assistant"
        elif kind == "function_call":
            call = ToolCall(
                _string(raw, "call_id", where, MAX_ID),
                _string(raw, "name", where, MAX_ID),
                _string(raw, "arguments", where),
            )
            if joins and reasoning is None:
                items[-1] = replace(items[-1], calls=(*items[-1].calls, call))
            else:
                items.append(InputItem("assistant", "", reasoning, (call,)))
                reasoning = None
            joins = True
        elif kind == "function_call_output":
            call_id = _string(raw, "call_id", where, MAX_ID)
            items.append(InputItem("tool", _output(raw.get("output"), where), call_id=call_id))
            joins = False
        else:
            raise unsupported(
                f"{where}.type", kind,
                "message, function_call, function_call_output or reasoning items",
            )  # fmt: skip
    if not items:
        raise OpenAIError(400, "input: no message, call or call output", param="input")
    return tuple(items)


def _message(item: dict[str, Any], where: str) -> InputItem:
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise unsupported(f"{where}.role", role, "user, system, developer or assistant")
    content = item.get("content")
    if isinstance(content, str):
        return InputItem(role, content)  # type: ignore[arg-type]
    return InputItem(role, _text_parts(content, f"{where}.content"))  # type: ignore[arg-type]


def _text_parts(content: Any, where: str, kinds: frozenset[str] = TEXT_PARTS) -> str:
    if not isinstance(content, list) or not content:
        raise OpenAIError(400, f"{where}: a string or a list of text parts", param=where)
    texts: list[str] = []
    for j, part in enumerate(content):
        spot = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str) or kind not in kinds:  # (a list is not hashable)
            raise unsupported(f"{spot}.type", kind, "only text parts are supported")
        text = part.get("text")
        if not isinstance(text, str):
            raise OpenAIError(400, f"{spot}.text: a string is required", param=f"{spot}.text")
        texts.append(text)
    return "".join(texts)


def _output(output: Any, where: str) -> str:
    if isinstance(output, str):
        return output
    return _text_parts(output, f"{where}.output", frozenset({"input_text"}))


def _reasoning_text(item: dict[str, Any], where: str) -> str:
    """The thinking a reasoning item carries: its `reasoning_text` content (what this
    server sends), else its summary; encrypted content is not ours to read."""
    content = item.get("content")
    if content:
        return _text_parts(content, f"{where}.content", frozenset({"reasoning_text"}))
    summary = item.get("summary")
    if summary:
        return _text_parts(summary, f"{where}.summary", frozenset({"summary_text"}))
    return ""


def _string(item: dict[str, Any], key: str, where: str, limit: int | None = None) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value or (limit is not None and len(value) > limit):
        size = f", at most {limit} characters" if limit is not None else ""
        raise OpenAIError(
            400, f"{where}.{key}: a non-empty string is required{size}", param=f"{where}.{key}"
        )
    return value


def unsupported(param: str, value: Any, hint: str) -> OpenAIError:
    shown = repr(value) if not isinstance(value, str) else value
    shown = shown if len(shown) <= 64 else shown[:61] + "..."  # the client's own value
    return OpenAIError(400, f"{param}: {shown} is not supported ({hint})", param=param)


def stored_text(items: tuple[InputItem, ...]) -> str:
    """What the conversation shows as the user's message: the last user text, else the
    last call output (a turn that only sends results)."""
    for item in reversed(items):
        if item.role == "user":
            return item.text
    return items[-1].text or "(tool output)"


def input_items(reply_id: str, items: list[InputItem]) -> list[dict[str, Any]]:
    """A response's input as the API lists it: messages, and an assistant turn's
    reasoning and calls as their own items, a result as a `function_call_output`."""
    out: list[dict[str, Any]] = []

    def add(item: dict[str, Any]) -> None:
        out.append({"id": f"{ITEM_PREFIX}{reply_id}_{len(out)}", **item})

    for item in items:
        if item.role == "tool":
            add({"type": "function_call_output", "call_id": item.call_id, "output": item.text})
            out[-1]["status"] = "completed"
            continue
        if item.reasoning:
            reasoning = [{"type": "reasoning_text", "text": item.reasoning}]
            add({"type": "reasoning", "summary": [], "content": reasoning, "status": "completed"})
        if item.text or not item.calls:
            kind = "output_text" if item.role == "assistant" else "input_text"
            content = [{"type": kind, "text": item.text}]
            add({"type": "message", "role": item.role, "status": "completed", "content": content})
        for call in item.calls:
            add(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                    "status": "completed",
                }
            )
    return out
