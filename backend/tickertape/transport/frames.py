"""Wire frames of protocol v1: validation of what clients send, builders of what we send."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tickertape.chat.reply_log import ReplyEnd
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


class AuthIn(_Frame):
    type: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ChatIn(_Frame):
    type: Literal["chat"]
    client_msg_id: ClientMsgId
    content: Annotated[str, StringConstraints(min_length=1)]
    conversation_id: Id | None = None
    parent_id: Id | None = None  # a reply of the conversation to continue from
    params: ChatParamsIn = ChatParamsIn()


class RegenerateIn(_Frame):
    """A new reply to a stored user message (a sibling of its other replies)."""

    type: Literal["regenerate"]
    client_msg_id: ClientMsgId
    conversation_id: Id
    user_message_id: Id
    params: ChatParamsIn = ChatParamsIn()


class EditIn(_Frame):
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


ClientFrame = AuthIn | ChatIn | RegenerateIn | EditIn | StopIn | ResumeIn | PingIn
_MODELS: dict[str, type[BaseModel]] = {
    "auth": AuthIn,
    "chat": ChatIn,
    "regenerate": RegenerateIn,
    "edit": EditIn,
    "stop": StopIn,
    "resume": ResumeIn,
    "ping": PingIn,
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
    assert isinstance(frame, AuthIn | ChatIn | RegenerateIn | EditIn | StopIn | ResumeIn | PingIn)
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
    return frame


def snapshot_frame(reply_id: str, seq: int, text: str, status: str) -> dict[str, Any]:
    return {"type": "snapshot", "reply_id": reply_id, "seq": seq, "text": text, "status": status}
