"""Wire frames of protocol v1: validation of what clients send, builders of what we send."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tickertape.chat.reply_log import (
    AWAITING_TOOLS,
    REASONING,
    TOOL_CALL,
    TOOL_RESULT,
    LogFrame,
    ReplyEnd,
)
from tickertape.store.types import MessageRecord
from tickertape.transport.strict_json import InvalidJson, strict_loads

PROTOCOL_VERSION = 1
ClientMsgId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
StopString = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# Seeds are taken as 64-bit integers; larger ones are a client bug, not a wish.
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]


class _Frame(BaseModel):
    # Unknown top-level fields are ignored so that newer clients still work; values are
    # strict, so "1" is not an integer and true is not a number.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class JsonSchemaIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "answer"
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class FormatIn(BaseModel):
    """`params.format`: OpenAI's `response_format` (text, json_object, json_schema)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaIn | None = None


class ChatParamsIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, le=1_000_000)
    stop: list[StopString] | None = Field(None, max_length=4)
    seed: Seed | None = None
    repetition_penalty: float | None = Field(None, gt=0, le=10)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    on_disconnect: Literal["continue", "stop"] = "continue"
    # Extension (docs/protocol.md): keep generating past end-of-sequence, for load tests.
    ignore_eos: bool = False
    enable_thinking: bool | None = None  # None: the chat template's default
    format: FormatIn | None = None


ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class FunctionIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    name: ToolName
    description: Annotated[str, StringConstraints(max_length=4096)] | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolIn(BaseModel):
    """A tool in OpenAI's chat-completions form: `{"type": "function", "function": {...}}`."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    type: Literal["function"]
    function: FunctionIn


class FunctionNameIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    name: ToolName


class NamedToolChoiceIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    type: Literal["function"]
    function: FunctionNameIn


ToolChoiceIn = Literal["auto", "none", "required"] | NamedToolChoiceIn
MAX_TOOLS = 64


class _TurnFrame(_Frame):
    """What every turn frame may add: tools the model may call inside the reply."""

    tools: Annotated[list[ToolIn], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoiceIn | None = None
    parallel_tool_calls: bool = True


class AuthIn(_Frame):
    type: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ChatIn(_TurnFrame):
    type: Literal["chat"]
    client_msg_id: ClientMsgId
    content: Annotated[str, StringConstraints(min_length=1)]
    conversation_id: Id | None = None
    parent_id: Id | None = None  # a reply of the conversation to continue from
    params: ChatParamsIn = ChatParamsIn()


class RegenerateIn(_TurnFrame):
    """A new reply to a stored user message (a sibling of its other replies)."""

    type: Literal["regenerate"]
    client_msg_id: ClientMsgId
    conversation_id: Id
    user_message_id: Id
    params: ChatParamsIn = ChatParamsIn()


class EditIn(_TurnFrame):
    """A new user message beside `message_id` (same parent), and its reply."""

    type: Literal["edit"]
    client_msg_id: ClientMsgId
    conversation_id: Id
    message_id: Id
    content: Annotated[str, StringConstraints(min_length=1)]
    params: ChatParamsIn = ChatParamsIn()


TurnIn = ChatIn | RegenerateIn | EditIn


class StopIn(_Frame):
    type: Literal["stop"]
    reply_id: Id


class ResumeIn(_Frame):
    type: Literal["resume"]
    reply_id: Id
    last_seq: Annotated[int, Field(ge=0, le=2**53)]


class PingIn(_Frame):
    type: Literal["ping"]
    data: Any = None


class ToolResultIn(_Frame):
    """The result of a call the reply waits on (`awaiting_tools`)."""

    type: Literal["tool_result"]
    reply_id: Id
    call_id: Id
    content: str


ClientFrame = AuthIn | ChatIn | RegenerateIn | EditIn | StopIn | ResumeIn | PingIn | ToolResultIn
_MODELS: dict[str, type[BaseModel]] = {
    "auth": AuthIn,
    "chat": ChatIn,
    "regenerate": RegenerateIn,
    "edit": EditIn,
    "stop": StopIn,
    "resume": ResumeIn,
    "ping": PingIn,
    "tool_result": ToolResultIn,
}


class FrameError(Exception):
    """A frame we cannot act on: answered with `bad_request`, the socket stays open."""

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ref = ref


def parse_frame(text: str) -> ClientFrame:
    try:
        raw = strict_loads(text)
    except InvalidJson as exc:
        raise FrameError(f"frame is not strict JSON: {exc}", _lenient_ref(text)) from exc
    except (ValueError, RecursionError) as exc:
        raise FrameError("frame is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise FrameError("frame must be a JSON object")
    kind = raw.get("type")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise FrameError("unknown or missing frame type")
    ref = _ref_of(raw)
    try:
        frame = model.model_validate(raw)
    except ValidationError as exc:
        raise FrameError(_first_problem(exc), ref) from exc
    except RecursionError as exc:
        raise FrameError("frame is nested too deeply", ref) from exc
    assert isinstance(
        frame, AuthIn | ChatIn | RegenerateIn | EditIn | StopIn | ResumeIn | PingIn | ToolResultIn
    )
    return frame


def _lenient_ref(text: str) -> str | None:
    """The ref of a frame refused for what strict JSON forbids, so the client knows which
    message it was (Python's parser still reads it)."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return _ref_of(raw) if isinstance(raw, dict) else None


def _ref_of(raw: dict[str, Any]) -> str | None:
    for key in ("client_msg_id", "reply_id"):
        value = raw.get(key)
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return None


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "frame"
    return f"{where}: {first['msg']}"


def dump(frame: dict[str, Any]) -> str:
    # allow_nan=False: a frame JSON.parse would reject is a bug to fail loudly on here.
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def error_frame(
    code: str, message: str, ref: str | None = None, retry_after_ms: int | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    if retry_after_ms is not None:
        frame["retry_after_ms"] = retry_after_ms
    return frame


def token_frame(reply_id: str, seq: int, text: str) -> dict[str, Any]:
    return {"type": "token", "reply_id": reply_id, "seq": seq, "text": text}


def end_frame(reply_id: str, end: ReplyEnd) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "end",
        "reply_id": reply_id,
        "seq": end.seq,
        "finish_reason": end.finish_reason,
        "usage": end.usage,
        "timing": end.timing,
    }
    if end.error is not None:
        error: dict[str, Any] = {"code": end.error.code, "message": end.error.message}
        if end.error.retry_after_ms is not None:
            error["retry_after_ms"] = end.error.retry_after_ms
        frame["error"] = error
    return frame


def stored_end_frame(record: MessageRecord) -> dict[str, Any]:
    """`end` of a finished reply read back from the store."""
    frame: dict[str, Any] = {
        "type": "end",
        "reply_id": record.id,
        "seq": record.seq,
        "finish_reason": record.finish_reason or record.status,
        "usage": record.usage or {"prompt_tokens": 0, "completion_tokens": 0},
        "timing": record.timing or {"queued_ms": 0, "ttft_ms": 0, "total_ms": 0},
    }
    if record.status == "error":
        frame["error"] = {
            "code": record.error_code or "internal",
            "message": record.error_message or "the reply failed",
        }
        if record.error_retry_after_ms is not None:
            frame["error"]["retry_after_ms"] = record.error_retry_after_ms
    return frame


def snapshot_frame(
    reply_id: str,
    seq: int,
    text: str,
    status: str,
    reasoning: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    awaiting: bool = False,
) -> dict[str, Any]:
    """The whole reply through `seq`; its reasoning and tool calls (with results) when it
    has any; `awaiting_tools` while it waits for results."""
    frame: dict[str, Any] = {
        "type": "snapshot",
        "reply_id": reply_id,
        "seq": seq,
        "text": text,
        "status": status,
    }
    if reasoning:
        frame["reasoning"] = reasoning
    if tool_calls:
        frame["tool_calls"] = tool_calls
    if awaiting:
        frame["awaiting_tools"] = True
    return frame


def part_frame(reply_id: str, conversation_id: str | None, frame: LogFrame) -> dict[str, Any]:
    """A reasoning, tool-call, tool-result or awaiting-tools frame of a reply."""
    out: dict[str, Any] = {
        "type": frame.kind,
        "reply_id": reply_id,
        "seq": frame.seq,
        "conversation_id": conversation_id,
    }
    call = frame.call
    if frame.kind == REASONING:
        out["text"] = frame.text
    elif frame.kind == TOOL_CALL and call is not None:
        out.update(index=call.index, call_id=call.call_id)
        if call.name is not None:
            out["name"] = call.name
        out["arguments"] = frame.text
    elif frame.kind == TOOL_RESULT and call is not None:
        out.update(index=call.index, call_id=call.call_id, content=frame.text)
    elif frame.kind == AWAITING_TOOLS:
        out["calls"] = [
            {"index": c.index, "call_id": c.call_id, "name": c.name, "arguments": c.arguments}
            for c in frame.calls
        ]
    return out
