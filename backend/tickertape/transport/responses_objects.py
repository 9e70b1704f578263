"""The Responses API's objects for a reply: ids, how it ended, its output items and the
Response object. Pure functions of the reply's log and the response's meta.

Output items, in the order the reply produced them (`output_index`):

- `message` (`msg_<reply id>` for the first, `msg_<reply id>_<n>` for a later one: a
  `/ws` reply that answered again after its tool results), content one `output_text`;
- `reasoning` (`rs_<reply id>_<n>`), content one `reasoning_text`, `summary` empty;
- `function_call` (`fc_<reply id>_<call index>`), with the engine's `call_id`, `name`
  and the `arguments` JSON text.

`n` is the item's output index, so ids are the same live, retrieved and from the store.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from tickertape.chat.reply_log import ReplyEnd
from tickertape.transport.responses_models import ResponseMeta

RESPONSE_PREFIX = "resp_"
ITEM_PREFIX = "msg_"
MESSAGE, REASONING_ITEM, FUNCTION_CALL = "message", "reasoning", "function_call"
# OpenAI's Response.error codes; everything but a rate limit is a server error.
_ERROR_CODES = {"rate_limited": "rate_limit_exceeded"}
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "interrupted": "interrupted"}


def response_id(reply_id: str) -> str:
    return RESPONSE_PREFIX + reply_id


def reply_id_of(response_id: str) -> str | None:
    """The reply behind `resp_<reply id>`; None for anything else."""
    if not response_id.startswith(RESPONSE_PREFIX):
        return None
    reply_id = response_id.removeprefix(RESPONSE_PREFIX)
    return reply_id if 0 < len(reply_id) <= 64 else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a reply ended, in the Responses API's terms."""

    status: str  # completed, incomplete, failed, cancelled
    usage: dict[str, Any]
    error: dict[str, str] | None = None
    incomplete_reason: str | None = None
    seconds: float = 0.0  # from the request to the reply's end

    @property
    def terminal_event(self) -> str:
        # The API has no `response.cancelled` event: a cancelled stream ends incomplete.
        if self.status in ("completed", "failed"):
            return f"response.{self.status}"
        return "response.incomplete"

    @property
    def has_output(self) -> bool:
        """An ended reply without text still has its (empty) message, unless it failed."""
        return self.status in ("completed", "incomplete")


def outcome_of(end: ReplyEnd) -> Outcome:
    prompt = end.usage.get("prompt_tokens", 0)
    completion = end.usage.get("completion_tokens", 0)
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        # The log does not count the tokens of its reasoning frames (the engine reports
        # only the totals): 0 means "not counted" here.
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }
    reason = end.finish_reason
    error = end.error
    if reason in ("stop", "tool_calls") and error is None:
        return Outcome("completed", usage, seconds=end.timing.get("total_ms", 0.0) / 1000)
    if error is not None and error.code == "tool_call_incomplete":
        # max_output_tokens ran out inside a call: its item ends `incomplete`, as a
        # message cut by the same limit does.
        return Outcome("incomplete", usage, incomplete_reason="max_output_tokens")
    if reason == "error":
        code = error.code if error else "internal"
        message = error.message if error else "the reply failed"
        return Outcome(
            "failed", usage, {"code": _ERROR_CODES.get(code, "server_error"), "message": message}
        )
    if reason == "stopped":
        return Outcome("cancelled", usage)
    if reason in _INCOMPLETE_REASONS:
        return Outcome("incomplete", usage, incomplete_reason=_INCOMPLETE_REASONS[reason])
    return Outcome("completed", usage)  # stop, tool_calls


@dataclass(slots=True)
class OutputItem:
    """An output item as it grows: its kind, id, place and text (the message's text, the
    reasoning, or the call's arguments so far)."""

    kind: str
    id: str
    output_index: int
    call_id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)
    status: str = "in_progress"

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def final_status(self, completed: bool) -> str:
        """A call is complete when its arguments are a whole JSON object (the grammar
        guarantees it for a call the engine finished); other items when the reply is."""
        if self.kind == FUNCTION_CALL:
            return "completed" if _an_object(self.text) else "incomplete"
        return "completed" if completed else "incomplete"

    def json(self, with_content: bool = True) -> dict[str, Any]:
        """The item object; `with_content` False: as `output_item.added` shows it."""
        text = self.text if with_content else ""
        if self.kind == FUNCTION_CALL:
            return {
                "id": self.id,
                "type": FUNCTION_CALL,
                "call_id": self.call_id,
                "name": self.name,
                "arguments": text,
                "status": self.status,
            }
        if self.kind == REASONING_ITEM:
            return {
                "id": self.id,
                "type": REASONING_ITEM,
                "summary": [],
                "content": [reasoning_part(text)] if with_content else [],
                "status": self.status,
            }
        return {
            "id": self.id,
            "type": MESSAGE,
            "role": "assistant",
            "status": self.status,
            "content": [text_part(text)] if with_content else [],
        }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_part(text: str) -> dict[str, Any]:
    return {"type": "reasoning_text", "text": text}


def _an_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def response_object(
    reply_id: str,
    meta: ResponseMeta,
    status: str,
    output: list[dict[str, Any]],
    outcome: Outcome | None = None,
) -> dict[str, Any]:
    """The Response object, with its output items as they stand."""
    incomplete = None
    if outcome is not None and outcome.incomplete_reason is not None:
        incomplete = {"reason": outcome.incomplete_reason}
    echo, client = meta.echo, meta.client
    completed_at = None
    if outcome is not None and outcome.status == "completed":
        completed_at = meta.created_at + math.ceil(outcome.seconds)
    return {
        "id": response_id(reply_id),
        "object": "response",
        "created_at": meta.created_at,
        "completed_at": completed_at,
        "status": status,
        "background": meta.background,
        "error": outcome.error if outcome else None,
        "incomplete_details": incomplete,
        "instructions": meta.instructions,
        "max_output_tokens": meta.max_output_tokens,
        "metadata": meta.metadata,
        "model": meta.model,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": meta.previous_response_id,
        "reasoning": echo.reasoning,
        "store": meta.store,
        "temperature": meta.temperature,
        "text": {"format": echo.text_format, "verbosity": client.get("verbosity", "medium")},
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": meta.top_p,
        "truncation": meta.truncation,
        "usage": outcome.usage if outcome else None,
        "user": client.get("user"),
        "safety_identifier": client.get("safety_identifier"),
        "prompt_cache_key": client.get("prompt_cache_key"),
        "service_tier": client.get("service_tier"),
    }
