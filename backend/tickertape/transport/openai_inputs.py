"""Request shapes of `/v1/chat/completions` beyond sampling: messages (with assistant
`tool_calls` and `role: "tool"` results), tools, tool choice, template kwargs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tickertape.chat.types import ChatMessage, ToolCall


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    type: Literal["text"]
    text: str


class FunctionCallIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    name: str = Field(min_length=1, max_length=64)
    arguments: str  # JSON text, as OpenAI sends it


class ToolCallIn(BaseModel):
    """An assistant message's call (a previous answer sent back with its results)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    id: str = Field(min_length=1, max_length=64)
    type: Literal["function"] = "function"
    function: FunctionCallIn


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    # "developer" is OpenAI's newer name for the system role.
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None  # null: an assistant message with calls
    tool_calls: list[ToolCallIn] | None = None  # assistant
    tool_call_id: str | None = Field(None, max_length=64)  # tool
    reasoning_content: str | None = None  # assistant (vLLM's name)

    @model_validator(mode="after")
    def _complete(self) -> Message:
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content: required (null only for an assistant's tool calls)")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("tool_call_id: required in a tool message")
        return self

    def to_chat(self) -> ChatMessage:
        content = self.content or ""
        text = content if isinstance(content, str) else "".join(p.text for p in content)
        role: Literal["system", "user", "assistant", "tool"] = (
            "system" if self.role == "developer" else self.role
        )
        calls = tuple(
            ToolCall(c.id, c.function.name, c.function.arguments) for c in self.tool_calls or ()
        )
        return ChatMessage(
            role=role,
            content=text,
            reasoning=self.reasoning_content if role == "assistant" else None,
            tool_calls=calls if role == "assistant" else (),
            tool_call_id=self.tool_call_id if role == "tool" else None,
        )


class FunctionIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = Field(None, max_length=4096)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    type: Literal["function"]
    function: FunctionIn


class FunctionName(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    name: str = Field(min_length=1, max_length=64)


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    type: Literal["function"]
    function: FunctionName


class TemplateKwargs(BaseModel):
    """vLLM's `chat_template_kwargs`: only `enable_thinking` is taken (other keys would
    change the prompt in ways we do not know)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    enable_thinking: bool | None = None


def unanswered_calls(messages: list[ChatMessage]) -> tuple[int, str] | None:
    """Where the history breaks OpenAI's pairing of calls and results, and how: every
    assistant message with `tool_calls` is followed by one tool message per call, and a
    tool message answers a call of the assistant message before it. None: it holds."""
    pending: dict[str, bool] = {}  # the open calls' ids -> answered
    for index, message in enumerate(messages):
        if message.role == "tool":
            if message.tool_call_id not in pending:
                return index, (
                    f"a tool message answers a call id ({message.tool_call_id!r}) that the "
                    "assistant message before it did not make"
                )
            pending[message.tool_call_id] = True
            continue
        missing = [call_id for call_id, answered in pending.items() if not answered]
        if missing:
            return index, (
                "an assistant message with tool_calls must be followed by a tool message for "
                f"each call; no result for: {', '.join(missing)}"
            )
        pending = {c.id: False for c in message.tool_calls} if message.role == "assistant" else {}
    missing = [call_id for call_id, answered in pending.items() if not answered]
    if missing:
        return len(messages), f"no tool message answers the calls: {', '.join(missing)}"
    return None
