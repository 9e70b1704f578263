"""What a turn is at the chat service's boundary: the request every entry point builds,
and what starting it gives back. Plain data; `service.py` acts on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tickertape.chat.errors import ChatError
from tickertape.chat.reply_log import ReplyLog
from tickertape.engine.types import ChatMessage, EngineError, OutputRules, SamplingParams
from tickertape.store.types import StoreError, TurnRecord


@dataclass(frozen=True, slots=True)
class ChatConfig:
    system_prompt: str | None
    checkpoint_interval_ms: int
    checkpoint_tokens: int
    tool_wait_s: float = 300.0  # how long a reply waits for its tool results


@dataclass(frozen=True, slots=True)
class TurnRequest:
    client_msg_id: str  # the idempotency key of stored turns
    content: str  # the user's message: what is stored
    params: SamplingParams
    conversation_id: str | None = None
    on_disconnect: str = "continue"
    # The whole prompt, when the caller sends it (OpenAI API); None: the conversation's
    # stored history followed by `content`.
    messages: tuple[ChatMessage, ...] | None = None
    store: bool = True
    origin: str | None = None  # the session it came from (its notice is not sent back)
    # Where the turn goes in the conversation's tree; at most one of these (none: after
    # the active leaf, as in a linear conversation). Each needs `conversation_id`.
    parent_id: str | None = None  # continue from this reply (a branch from an older point)
    edit_of: str | None = None  # a new user message beside this one (same parent)
    regenerate_of: str | None = None  # a new reply to this user message; `content` unused
    # Kept beside the reply's generation parameters (the Responses API keeps its request
    # there: instructions, input items, metadata...).
    record: dict[str, object] | None = None
    # The client answers tool calls inside the reply (`tool_result` frames, WebSocket);
    # False: a reply ends on its calls (the OpenAI API sends results in a new request).
    tool_results: bool = False
    # False: a history that does not fit the context is refused (`too_long`) instead of
    # losing its oldest turns (OpenAI's chat completions; Responses unless `truncation:
    # "auto"`).
    truncate: bool = True


@dataclass(frozen=True, slots=True)
class TurnStarted:
    client_msg_id: str
    reply_id: str
    conversation_id: str | None  # None when the turn is not stored
    user_message_id: str | None
    log: ReplyLog | None  # None when a retried turn's reply is no longer in memory
    truncated: int = 0  # oldest messages left out of the prompt to fit the context
    # The new user message's parent (a regenerated reply: its user message); None for a
    # conversation's first message and for turns that are not stored.
    parent_id: str | None = None

    @classmethod
    def of(cls, turn: TurnRecord, reply_log: ReplyLog | None, truncated: int) -> TurnStarted:
        return cls(
            turn.client_msg_id,
            turn.reply_id,
            turn.conversation_id,
            turn.user_message_id,
            reply_log,
            truncated,
            turn.parent_id,
        )


def params_record(request: TurnRequest) -> dict[str, object]:
    p = request.params
    return {
        "max_tokens": p.max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "top_k": p.top_k,
        "stop": list(p.stop),
        "seed": p.seed,
        "repetition_penalty": p.repetition_penalty,
        "frequency_penalty": p.frequency_penalty,
        "presence_penalty": p.presence_penalty,
        "on_disconnect": request.on_disconnect,
        **_output_record(p.output),
        **(request.record or {}),
    }


def _output_record(rules: OutputRules) -> dict[str, object]:
    """Tools, tool choice, thinking and format of a reply's request (only when set)."""
    out: dict[str, object] = {}
    if rules.tools:
        out["tools"] = [t.template_json() for t in rules.tools]
        out["tool_choice"] = (
            {"type": "function", "function": {"name": rules.function_name}}
            if rules.tool_choice == "function"
            else rules.tool_choice
        )
        out["parallel_tool_calls"] = rules.parallel_tool_calls
    if rules.enable_thinking is not None:
        out["enable_thinking"] = rules.enable_thinking
    if rules.response_format is not None:
        out["format"] = dict(rules.response_format)
    return out


def typed_error(exc: EngineError | StoreError, ref: str) -> ChatError:
    if isinstance(exc, EngineError):
        return ChatError(exc.code, exc.message, ref, exc.retry_after_ms)
    return ChatError(exc.code, str(exc) or exc.code, ref)


def new_session_id() -> str:
    return uuid.uuid4().hex
