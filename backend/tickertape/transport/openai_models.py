"""OpenAI chat-completions shapes: the request fields we honor, and the response objects.

Tools (`tools`, `tool_choice`, `parallel_tool_calls`, `role: "tool"` messages and
assistant `tool_calls`), `response_format` and thinking (`chat_template_kwargs.
enable_thinking`, vLLM's extension) are honoured (docs/openai.md). Fields OpenAI defines
that would change the answer and that we do not implement (`logit_bias`, `logprobs`,
the legacy `functions`, ...) are refused with a 400 naming the field, unless they carry
their "off" value; fields nobody defines are ignored (agent frameworks send vendor extras).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from tickertape.chat.reply_log import ReplyEnd
from tickertape.chat.types import (
    NO_RULES,
    ChatMessage,
    OutputRules,
    SamplingParams,
    ToolCall,
)
from tickertape.transport.openai_inputs import (
    Message,
    NamedToolChoice,
    TemplateKwargs,
    ToolIn,
    unanswered_calls,
)
from tickertape.transport.output_rules import output_rules, tool_of

MAX_STOP_STRINGS = 4
MAX_STOP_CHARS = 64


def check_stop(value: str | list[str] | None) -> str | list[str] | None:
    """OpenAI's `stop` (one string or a list), within the contract's limits."""
    strings = [value] if isinstance(value, str) else value or []
    if len(strings) > MAX_STOP_STRINGS:
        raise ValueError(f"at most {MAX_STOP_STRINGS} stop sequences")
    if any(not 1 <= len(s) <= MAX_STOP_CHARS for s in strings):
        raise ValueError(f"each stop sequence must be 1 to {MAX_STOP_CHARS} characters")
    return value


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


# OpenAI request fields not implemented yet -> whether a value means "off".
UNIMPLEMENTED: dict[str, Callable[[Any], bool]] = {
    # The legacy function calling: `tools` replaced it (same schemas, `tool_choice`).
    "functions": _empty,
    "function_call": lambda v: v is None or v == "none",
    "logit_bias": _empty,
    "logprobs": lambda v: v is None or v is False,
    "top_logprobs": lambda v: v is None or v == 0,
    "audio": _empty,
    "modalities": lambda v: v is None or v == ["text"],
    "prediction": _empty,
    "web_search_options": _empty,
}


@dataclass(slots=True)
class Answer:
    """A finished reply's parts, for a non-streamed completion."""

    text: str = ""
    reasoning: str = ""
    calls: list[ToolCall] = field(default_factory=list)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1, description="extension (vLLM): 0 or -1 = off")
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    repetition_penalty: float | None = Field(
        None, gt=0, le=10, description="extension (vLLM, transformers): 1 = off"
    )
    stop: str | list[str] | None = None
    seed: int | None = None
    ignore_eos: bool = Field(False, description="extension (vLLM): generate to max_tokens")
    n: StrictInt | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=256)
    store: bool = Field(False, description="extension: keep the exchange as a conversation")
    tools: list[ToolIn] | None = Field(None, max_length=64)
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    chat_template_kwargs: TemplateKwargs | None = Field(
        None, description="extension (vLLM): {enable_thinking: bool}"
    )
    # As Responses' `reasoning.effort`: switches thinking on ("none": off); no budget.
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_unimplemented(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, is_off in UNIMPLEMENTED.items():
                if name in data and not is_off(data[name]):
                    raise ValueError(f"{name}: not supported by this server")
        return data

    @field_validator("n")
    @classmethod
    def _only_one_choice(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError("only n=1 is supported")
        return value

    @field_validator("stop")
    @classmethod
    def _check_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        return check_stop(value)

    @model_validator(mode="after")
    def _calls_answered(self) -> ChatCompletionRequest:
        broken = unanswered_calls(self.chat_messages())
        if broken is not None:
            index, problem = broken
            raise ValueError(f"messages[{min(index, len(self.messages) - 1)}]: {problem}")
        return self

    def chat_messages(self) -> list[ChatMessage]:
        return [m.to_chat() for m in self.messages]

    def requested_max_tokens(self) -> int | None:
        # max_completion_tokens is the newer name; it wins when both are sent.
        return self.max_completion_tokens or self.max_tokens

    def output_rules(self) -> OutputRules:
        """Tools, tool choice, thinking and format; raises RulesError naming the field."""
        choice = self.tool_choice
        named = choice.function.name if isinstance(choice, NamedToolChoice) else None
        tools = [
            tool_of(t.function.name, t.function.description, t.function.parameters, k)
            for k, t in enumerate(self.tools or ())
        ]
        kwargs = self.chat_template_kwargs
        thinking = kwargs.enable_thinking if kwargs is not None else None
        if thinking is None and self.reasoning_effort is not None:
            thinking = self.reasoning_effort != "none"
        return output_rules(
            tools,
            "function" if named is not None else (choice if isinstance(choice, str) else None),
            named,
            self.parallel_tool_calls is not False,
            thinking,
            self.response_format,
        )

    def sampling(self, max_tokens: int, output: OutputRules = NO_RULES) -> SamplingParams:
        """Our SamplingParams; fields the client left out keep the server's defaults."""
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=max(0, self.top_k) if self.top_k is not None else None,
            stop=stop,
            seed=self.seed,
            ignore_eos=self.ignore_eos,
            repetition_penalty=self.repetition_penalty,
            frequency_penalty=self.frequency_penalty or 0.0,
            presence_penalty=self.presence_penalty or 0.0,
            output=output,
        )

    def last_user_text(self) -> str:
        """What a stored exchange keeps as the user's message."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.to_chat().content
        return "(no user message)"


def openai_finish_reason(end: ReplyEnd) -> str:
    # OpenAI knows no "stopped": a reply cut short on request ended normally for the client.
    # A call cut by max_tokens is left out of the answer, which ends "length".
    if end.finish_reason in ("length", "tool_calls"):
        return end.finish_reason
    if end.error is not None and end.error.code == "tool_call_incomplete":
        return "length"
    return "stop"


def usage_object(end: ReplyEnd) -> dict[str, int]:
    prompt = end.usage.get("prompt_tokens", 0)
    completion = end.usage.get("completion_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_object(reply_id: str, model: str, answer: Answer, end: ReplyEnd) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.calls:
        if not answer.text:
            message["content"] = None  # as OpenAI answers a message of calls only
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in answer.calls
        ]
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": openai_finish_reason(end),
                "logprobs": None,
            }
        ],
        "usage": usage_object(end),
    }


def chunk_delta(chunk: dict[str, Any]) -> dict[str, Any]:
    delta: dict[str, Any] = chunk["choices"][0]["delta"]
    return delta


class ChunkFactory:
    """`chat.completion.chunk` objects of one streamed reply (same id and created)."""

    def __init__(self, reply_id: str, model: str, include_usage: bool) -> None:
        self._head = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self._include_usage = include_usage

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            **self._head,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }
        if self._include_usage:
            chunk["usage"] = None  # as OpenAI does: only the last chunk carries usage
        return chunk

    def role(self, text_first: bool) -> dict[str, Any]:
        # OpenAI's first delta has `content: ""` before text and `content: null` before
        # calls, so a streamed message of calls accumulates to `content: None`, as the
        # same answer does non-streamed.
        return self._chunk({"role": "assistant", "content": "" if text_first else None}, None)

    def text(self, text: str) -> dict[str, Any]:
        return self._chunk({"content": text}, None)

    def reasoning(self, text: str) -> dict[str, Any]:
        return self._chunk({"reasoning_content": text}, None)

    def tool_call(
        self, index: int, call_id: str, name: str | None, arguments: str
    ) -> dict[str, Any]:
        """OpenAI's streamed call: id, type and name on its first chunk, then arguments."""
        call: dict[str, Any] = {"index": index}
        function: dict[str, str] = {"arguments": arguments}
        if name is not None:
            call.update(id=call_id, type="function")
            function = {"name": name, "arguments": arguments}
        call["function"] = function
        return self._chunk({"tool_calls": [call]}, None)

    def finish(self, end: ReplyEnd) -> dict[str, Any]:
        return self._chunk({}, openai_finish_reason(end))

    def usage(self, end: ReplyEnd) -> dict[str, Any] | None:
        if not self._include_usage:
            return None
        return {**self._head, "choices": [], "usage": usage_object(end)}
