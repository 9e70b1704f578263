"""OpenAI Responses API: the request fields we honour, and what a response keeps of them.

`ResponsesRequest` is the body of `POST /v1/responses` and of a WebSocket `response.create`
event. Tools, tool choice, reasoning and `text.format` are taken as the engine's output
rules (responses_rules.py), input items as prompt messages (responses_inputs.py). Fields
that would change the answer and that the server does not implement (`include`,
`top_logprobs`, `max_tool_calls`, ...) are refused with a 400 naming the field unless they
carry their "off" value; fields nobody defines are ignored.

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

from tickertape.chat.types import NO_RULES, OutputRules, SamplingParams
from tickertape.transport.openai_models import check_stop
from tickertape.transport.responses_inputs import InputItem
from tickertape.transport.responses_rules import Echo, rules_of

MAX_METADATA = 16


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


# Responses request fields not implemented -> whether a value means "off".
UNIMPLEMENTED: dict[str, Callable[[Any], bool]] = {
    "include": _empty,
    "top_logprobs": lambda v: v is None or v == 0,
    "prompt": _empty,
    "conversation": _empty,
    "context_management": _empty,
    "max_tool_calls": lambda v: v is None,
}


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

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
    # Checked and mapped by responses_rules.py (a 400 there names the field inside).
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    # Extensions, as in our chat completions (vLLM names).
    top_k: int | None = Field(None, ge=-1, description="extension: 0 or -1 = off")
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1, description="extension")
    stop: str | list[str] | None = Field(None, description="extension: stop sequences")
    ignore_eos: bool = Field(False, description="extension: generate to max_output_tokens")
    # Echoed back on the Response object, no effect on the answer.
    user: str | None = Field(None, max_length=256)
    safety_identifier: str | None = Field(None, max_length=64)
    prompt_cache_key: str | None = Field(None, max_length=256)
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
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

    def client_fields(self) -> dict[str, str]:
        """The fields only echoed back (text.verbosity among them), those that were sent."""
        fields = {
            "user": self.user,
            "safety_identifier": self.safety_identifier,
            "prompt_cache_key": self.prompt_cache_key,
            "service_tier": self.service_tier,
            "verbosity": (self.text or {}).get("verbosity"),
        }
        return {k: v for k, v in fields.items() if isinstance(v, str)}

    def output_rules(self) -> tuple[OutputRules, Echo]:
        """Tools, tool choice, thinking and format; raises OpenAIError naming the field."""
        return rules_of(
            self.tools, self.tool_choice, self.parallel_tool_calls, self.reasoning, self.text
        )

    def sampling(self, max_tokens: int, output: OutputRules = NO_RULES) -> SamplingParams:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=max(0, self.top_k) if self.top_k is not None else None,
            stop=stop,
            seed=None if self.seed is None else self.seed % 2**63,
            ignore_eos=self.ignore_eos,
            output=output,
        )


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
    echo: Echo = field(default_factory=Echo)  # tools, tool choice, reasoning, text format
    client: dict[str, str] = field(default_factory=dict)  # ResponsesRequest.client_fields

    def record(self) -> dict[str, object]:
        return {
            "model": self.model,
            "created_at": self.created_at,
            "instructions": self.instructions,
            "input": [i.record() for i in self.input],
            "context": [i.record() for i in self.context],
            "previous_response_id": self.previous_response_id,
            "background": self.background,
            "store": self.store,
            "max_output_tokens": self.max_output_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "truncation": self.truncation,
            "metadata": self.metadata,
            "client": self.client,
            **self.echo.record(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], default_model: str) -> ResponseMeta:
        def items(key: str) -> tuple[InputItem, ...]:
            return tuple(InputItem.from_record(item) for item in record.get(key) or ())

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
            echo=Echo.from_record(record),
            client=dict(record.get("client") or {}),
        )
