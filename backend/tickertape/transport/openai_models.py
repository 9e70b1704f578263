"""OpenAI chat-completions shapes: the request fields we honor, and the response objects.

Fields OpenAI defines that would change the answer and that we do not implement yet
(`tools`, `tool_choice`, `functions`, `response_format`, `logit_bias`, `logprobs`, ...) are
refused with a 400 naming the field, unless they carry their "off" value; fields nobody
defines are ignored (agent frameworks send vendor extras).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from tickertape.chat.reply_log import ReplyEnd
from tickertape.engine.types import ChatMessage, SamplingParams

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
    "tools": _empty,
    "tool_choice": lambda v: v is None or v == "none",
    "parallel_tool_calls": lambda v: v is None,
    "functions": _empty,
    "function_call": lambda v: v is None or v == "none",
    "response_format": lambda v: v is None or v == {"type": "text"},
    "logit_bias": _empty,
    "logprobs": lambda v: v is None or v is False,
    "top_logprobs": lambda v: v is None or v == 0,
    "audio": _empty,
    "modalities": lambda v: v is None or v == ["text"],
    "prediction": _empty,
    "web_search_options": _empty,
}


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # "developer" is OpenAI's newer name for the system role.
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def to_chat(self) -> ChatMessage:
        text = (
            self.content
            if isinstance(self.content, str)
            else "".join(part.text for part in self.content)
        )
        role: Literal["system", "user", "assistant"] = (
            "system" if self.role == "developer" else self.role
        )
        return ChatMessage(role=role, content=text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

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

    def chat_messages(self) -> list[ChatMessage]:
        return [m.to_chat() for m in self.messages]

    def requested_max_tokens(self) -> int | None:
        # max_completion_tokens is the newer name; it wins when both are sent.
        return self.max_completion_tokens or self.max_tokens

    def sampling(self, max_tokens: int) -> SamplingParams:
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
        )

    def last_user_text(self) -> str:
        """What a stored exchange keeps as the user's message."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.to_chat().content
        return "(no user message)"


def openai_finish_reason(end: ReplyEnd) -> str:
    # OpenAI knows no "stopped": a reply cut short on request ended normally for the client.
    return "length" if end.finish_reason == "length" else "stop"


def usage_object(end: ReplyEnd) -> dict[str, int]:
    prompt = end.usage.get("prompt_tokens", 0)
    completion = end.usage.get("completion_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_object(reply_id: str, model: str, text: str, end: ReplyEnd) -> dict[str, Any]:
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": openai_finish_reason(end),
                "logprobs": None,
            }
        ],
        "usage": usage_object(end),
    }


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

    def _chunk(self, delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            **self._head,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }
        if self._include_usage:
            chunk["usage"] = None  # as OpenAI does: only the last chunk carries usage
        return chunk

    def role(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""}, None)

    def text(self, text: str) -> dict[str, Any]:
        return self._chunk({"content": text}, None)

    def finish(self, end: ReplyEnd) -> dict[str, Any]:
        return self._chunk({}, openai_finish_reason(end))

    def usage(self, end: ReplyEnd) -> dict[str, Any] | None:
        if not self._include_usage:
            return None
        return {**self._head, "choices": [], "usage": usage_object(end)}
