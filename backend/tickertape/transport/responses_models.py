"""OpenAI Responses API: the request fields we honour, and what a response keeps of them.

`ResponsesRequest` is the body of `POST /v1/responses` and of a WebSocket `response.create`
event. Fields that would change the answer and that the server does not implement
(`tools`, `reasoning`, `text.format` other than text, ...) are refused with a 400 naming
the field unless they carry their "off" value; fields nobody defines are ignored.

`ResponseMeta` is what a response keeps of its request (model, instructions, its own input
items, metadata, sampling fields...): stored with the reply's parameters, so a response
renders the same from memory and from the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tickertape.chat.types import ChatMessage, SamplingParams
from tickertape.transport.openai_errors import OpenAIError
from tickertape.transport.openai_models import check_stop

Role = Literal["user", "system", "developer", "assistant"]
ROLES: frozenset[str] = frozenset({"user", "system", "developer", "assistant"})
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
MAX_METADATA = 16


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _reasoning_off(value: Any) -> bool:
    return _empty(value) or (isinstance(value, dict) and all(v is None for v in value.values()))


def _text_format_off(value: Any) -> bool:
    if _empty(value):
        return True
    if not isinstance(value, dict) or set(value) - {"format", "verbosity"}:
        return False
    fmt = value.get("format")
    return fmt is None or fmt == {"type": "text"}


# Responses request fields not implemented (tools and reasoning: issue 15) -> "off" values.
UNIMPLEMENTED: dict[str, Callable[[Any], bool]] = {
    "tools": _empty,
    "tool_choice": lambda v: v is None or v in ("none", "auto"),
    "reasoning": _reasoning_off,
    "text": _text_format_off,
    "include": _empty,
    "top_logprobs": lambda v: v is None or v == 0,
    "prompt": _empty,
    "conversation": _empty,
    "context_management": _empty,
    "max_tool_calls": lambda v: v is None,
}


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, min_length=1)
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    previous_response_id: str | None = Field(None, min_length=1, max_length=64)
    store: bool = True
    stream: bool = False
    background: bool = False
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    truncation: Literal["auto", "disabled"] | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    # Extensions, as in our chat completions (vLLM names).
    top_k: int | None = Field(None, ge=-1, description="extension: 0 or -1 = off")
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1, description="extension")
    stop: str | list[str] | None = Field(None, description="extension: stop sequences")
    ignore_eos: bool = Field(False, description="extension: generate to max_output_tokens")
    # WebSocket mode only: the lane the response's events name (OpenAI's multiplexing).
    stream_id: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unimplemented(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, is_off in UNIMPLEMENTED.items():
                if name in data and not is_off(data[name]):
                    raise ValueError(f"{name}: not supported by this server")
        return data

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > MAX_METADATA:
            raise ValueError(f"at most {MAX_METADATA} pairs")
        if any(len(k) > 64 or len(v) > 512 for k, v in value.items()):
            raise ValueError("keys are at most 64 characters, values at most 512")
        return value

    @field_validator("stop")
    @classmethod
    def _check_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        return check_stop(value)

    def sampling(self, max_tokens: int) -> SamplingParams:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=max(0, self.top_k) if self.top_k is not None else None,
            stop=stop,
            seed=None if self.seed is None else self.seed % 2**63,
            ignore_eos=self.ignore_eos,
        )


@dataclass(frozen=True, slots=True)
class InputItem:
    role: Role
    text: str

    def chat(self) -> ChatMessage:
        # "developer" is OpenAI's newer name for the system role.
        return ChatMessage("system" if self.role == "developer" else self.role, self.text)


def parse_input(value: str | list[dict[str, Any]] | None) -> tuple[InputItem, ...]:
    """The input as text messages; a 400 naming the field for anything else."""
    if isinstance(value, str):
        if not value:
            raise OpenAIError(400, "input: must not be empty", param="input")
        return (InputItem("user", value),)
    if not value:
        raise OpenAIError(400, "input: required (a string or a list of messages)", param="input")
    return tuple(_parse_item(item, f"input[{i}]") for i, item in enumerate(value))


def _parse_item(item: dict[str, Any], where: str) -> InputItem:
    kind = item.get("type", "message")
    if kind != "message":
        raise _unsupported(f"{where}.type", kind, "only message items are supported")
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise _unsupported(f"{where}.role", role, "user, system, developer or assistant")
    content = item.get("content")
    if isinstance(content, str):
        return InputItem(role, content)  # type: ignore[arg-type]
    if not isinstance(content, list) or not content:
        raise OpenAIError(400, f"{where}.content: a string or a list of text parts", param=where)
    texts: list[str] = []
    for j, part in enumerate(content):
        spot = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in TEXT_PARTS:
            raise _unsupported(f"{spot}.type", kind, "only text parts are supported")
        text = part.get("text")
        if not isinstance(text, str):
            raise OpenAIError(400, f"{spot}.text: a string is required", param=f"{spot}.text")
        texts.append(text)
    return InputItem(role, "".join(texts))  # type: ignore[arg-type]


def _unsupported(param: str, value: Any, hint: str) -> OpenAIError:
    shown = repr(value) if not isinstance(value, str) else value
    return OpenAIError(400, f"{param}: {shown} is not supported ({hint})", param=param)


@dataclass(frozen=True, slots=True)
class ResponseMeta:
    """What a response keeps of its request; stored as the reply's `params["response"]`."""

    model: str
    created_at: int = field(default_factory=lambda: int(time.time()))
    instructions: str | None = None
    input: tuple[InputItem, ...] = ()
    # History inherited from a previous response that is not stored (store: false), so a
    # stored continuation of it stays self-contained.
    context: tuple[InputItem, ...] = ()
    previous_response_id: str | None = None
    background: bool = False
    store: bool = True
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    truncation: str = "disabled"
    metadata: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        return {
            "model": self.model,
            "created_at": self.created_at,
            "instructions": self.instructions,
            "input": [[i.role, i.text] for i in self.input],
            "context": [[i.role, i.text] for i in self.context],
            "previous_response_id": self.previous_response_id,
            "background": self.background,
            "store": self.store,
            "max_output_tokens": self.max_output_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "truncation": self.truncation,
            "metadata": self.metadata,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], default_model: str) -> ResponseMeta:
        def items(key: str) -> tuple[InputItem, ...]:
            return tuple(InputItem(role, text) for role, text in record.get(key) or ())

        return cls(
            model=record.get("model") or default_model,
            created_at=int(record.get("created_at") or 0),
            instructions=record.get("instructions"),
            input=items("input"),
            context=items("context"),
            previous_response_id=record.get("previous_response_id"),
            background=bool(record.get("background")),
            store=record.get("store", True) is not False,
            max_output_tokens=record.get("max_output_tokens"),
            temperature=record.get("temperature"),
            top_p=record.get("top_p"),
            truncation=record.get("truncation") or "disabled",
            metadata=dict(record.get("metadata") or {}),
        )
