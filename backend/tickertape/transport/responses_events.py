"""A reply log rendered as OpenAI Responses objects and stream events: pure functions.

Given a response's meta, its frames (seq 1..n) and its end, the event sequence is fixed:

    0 response.created            1 response.in_progress
    2 response.output_item.added  3 response.content_part.added    (with the first text)
    4 .. 3+n  response.output_text.delta, one per text frame
    response.output_text.done, response.content_part.done, response.output_item.done
    response.completed | response.incomplete | response.failed

and every event's `sequence_number` is its index. The output item opens with the first text
frame, or at the end of a reply that produced no text but did not fail or get cancelled (so
a live stream is always a prefix of the finished one). `starting_after=N` is this
rendering with the first N+1 events left out; from memory and from the store alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tickertape.chat.log_reader import LogItem
from tickertape.chat.reply_log import TEXT, LogFrame, ReplyEnd
from tickertape.transport.responses_models import ResponseMeta

RESPONSE_PREFIX = "resp_"
ITEM_PREFIX = "msg_"
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
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }
    reason = end.finish_reason
    if reason == "error":
        error = end.error
        code = error.code if error else "internal"
        message = error.message if error else "the reply failed"
        return Outcome(
            "failed", usage, {"code": _ERROR_CODES.get(code, "server_error"), "message": message}
        )
    if reason == "stopped":
        return Outcome("cancelled", usage)
    if reason in _INCOMPLETE_REASONS:
        return Outcome("incomplete", usage, incomplete_reason=_INCOMPLETE_REASONS[reason])
    return Outcome("completed", usage)


def message_item(reply_id: str, text: str | None, status: str) -> dict[str, Any]:
    content = [] if text is None else [_part(text)]
    return {
        "id": ITEM_PREFIX + reply_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def response_object(
    reply_id: str,
    meta: ResponseMeta,
    status: str,
    text: str | None,
    outcome: Outcome | None = None,
) -> dict[str, Any]:
    """The Response object; `text` None: no output item (yet)."""
    output: list[dict[str, Any]] = []
    if text is not None:
        if outcome is None:
            item_status = "in_progress"
        else:
            item_status = "completed" if outcome.status == "completed" else "incomplete"
        output.append(message_item(reply_id, text, item_status))
    incomplete = None
    if outcome is not None and outcome.incomplete_reason is not None:
        incomplete = {"reason": outcome.incomplete_reason}
    return {
        "id": response_id(reply_id),
        "object": "response",
        "created_at": meta.created_at,
        "status": status,
        "background": meta.background,
        "error": outcome.error if outcome else None,
        "incomplete_details": incomplete,
        "instructions": meta.instructions,
        "max_output_tokens": meta.max_output_tokens,
        "metadata": meta.metadata,
        "model": meta.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": meta.previous_response_id,
        "reasoning": {"effort": None, "summary": None},
        "store": meta.store,
        "temperature": meta.temperature,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": meta.top_p,
        "truncation": meta.truncation,
        "usage": outcome.usage if outcome else None,
        "user": None,
    }


class EventRenderer:
    """Turns a reply's log items into Responses events, numbering them as it goes.

    Feed `start()`, then every item of the log in order (`render`). Events numbered up to
    `starting_after` are left out, except that a finished response whose whole rendering
    is at or before that number still gets its terminal event when the number is past it
    (a client that held more than the store kept after a crash learns the end).
    """

    def __init__(
        self,
        reply_id: str,
        meta: ResponseMeta,
        starting_after: int = -1,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.reply_id = reply_id
        self.meta = meta
        self.starting_after = starting_after
        self._extra = extra or {}
        self._number = 0
        self._item_open = False
        self._text: list[str] = []
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    def start(self) -> list[dict[str, Any]]:
        first = "queued" if self.meta.background else "in_progress"
        return self._keep(
            [
                self._event("response.created", response=self._object(first)),
                self._event("response.in_progress", response=self._object("in_progress")),
            ]
        )

    def render(self, item: LogItem) -> list[dict[str, Any]]:
        if self.done:
            return []
        if isinstance(item, LogFrame):
            if item.kind != TEXT:
                return []  # other kinds (reasoning, tool calls) have no rendering yet
            events = self._open() if not self._item_open else []
            self._text.append(item.text)
            events.append(self._delta(item.text))
            return self._keep(events)
        if isinstance(item, ReplyEnd):
            return self._finish(outcome_of(item))
        return []  # queue positions mean nothing to Responses clients

    def _finish(self, outcome: Outcome) -> list[dict[str, Any]]:
        self.done = True
        events: list[dict[str, Any]] = []
        if not self._item_open and outcome.has_output:
            events += self._open()
        if self._item_open:
            text = self.text
            item_status = "completed" if outcome.status == "completed" else "incomplete"
            events += [
                self._event("response.output_text.done", **self._at(), text=text, logprobs=[]),
                self._event("response.content_part.done", **self._at(), part=_part(text)),
                self._event(
                    "response.output_item.done",
                    output_index=0,
                    item=message_item(self.reply_id, text, item_status),
                ),
            ]
        body = response_object(
            self.reply_id,
            self.meta,
            outcome.status,
            self.text if self._item_open else None,
            outcome,
        )
        terminal = self._event(outcome.terminal_event, response=body)
        kept = self._keep([*events, terminal])
        number = terminal["sequence_number"]
        # After a crash the stored rendering is shorter than what was streamed: a number
        # the client holds may be this terminal's own (it held a delta there), and the
        # terminal of an interrupted response was never streamed before.
        interrupted = outcome.incomplete_reason == "interrupted"
        if not kept and (
            number < self.starting_after or (number == self.starting_after and interrupted)
        ):
            return [terminal]
        return kept

    def _open(self) -> list[dict[str, Any]]:
        self._item_open = True
        return [
            self._event(
                "response.output_item.added",
                output_index=0,
                item=message_item(self.reply_id, None, "in_progress"),
            ),
            self._event("response.content_part.added", **self._at(), part=_part("")),
        ]

    def _delta(self, text: str) -> dict[str, Any]:
        return self._event("response.output_text.delta", **self._at(), delta=text, logprobs=[])

    def _at(self) -> dict[str, Any]:
        return {"item_id": ITEM_PREFIX + self.reply_id, "output_index": 0, "content_index": 0}

    def _object(self, status: str) -> dict[str, Any]:
        return response_object(self.reply_id, self.meta, status, None)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, **fields, "sequence_number": self._number, **self._extra}
        self._number += 1
        return event

    def _keep(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events if e["sequence_number"] > self.starting_after]


def render_all(
    reply_id: str, meta: ResponseMeta, items: list[LogItem], starting_after: int = -1
) -> list[dict[str, Any]]:
    """Every event of a reply whose items are all known (the pure function)."""
    renderer = EventRenderer(reply_id, meta, starting_after)
    events = renderer.start()
    for item in items:
        events += renderer.render(item)
    return events
