"""A reply log rendered as OpenAI Responses stream events: a pure function of its frames.

Given a response's meta, its frames (seq 1..n) and its end, the event sequence is fixed:

    0 response.created            1 response.in_progress
    then per output item, in the order the frames open them (responses_objects.py):
      message:       output_item.added, content_part.added, output_text.delta per text
                     frame, output_text.done, content_part.done, output_item.done
      reasoning:     output_item.added, content_part.added (reasoning_text),
                     reasoning_text.delta per reasoning frame, reasoning_text.done,
                     content_part.done, output_item.done
      function_call: output_item.added (its first frame: call_id and name),
                     function_call_arguments.delta per argument frame,
                     function_call_arguments.done, output_item.done
    response.completed | response.incomplete | response.failed

and every event's `sequence_number` is its index. An item is done when the next one
opens or the reply ends. A reply that ends without a message or a call, and neither failed
nor was cancelled, gets an empty message at its end (so a live stream is always a prefix
of the finished one). Frames of other kinds (a `/ws` reply's tool results and waits, a
stored frame whose content was not kept) render nothing. `starting_after=N` is this
rendering with the first N+1 events left out; from memory and from the store alike.
"""

from __future__ import annotations

from typing import Any

from tickertape.chat.log_reader import LogItem
from tickertape.chat.reply_log import REASONING, TEXT, TOOL_CALL, LogFrame, ReplyEnd
from tickertape.transport.responses_models import ResponseMeta
from tickertape.transport.responses_objects import (
    FUNCTION_CALL,
    ITEM_PREFIX,
    MESSAGE,
    REASONING_ITEM,
    Outcome,
    OutputItem,
    outcome_of,
    reasoning_part,
    response_object,
    text_part,
)

_DELTA = {
    MESSAGE: "response.output_text.delta",
    REASONING_ITEM: "response.reasoning_text.delta",
    FUNCTION_CALL: "response.function_call_arguments.delta",
}
_KIND = {TEXT: MESSAGE, REASONING: REASONING_ITEM}


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
        self.items: list[OutputItem] = []
        self._open: OutputItem | None = None
        self.done = False
        self.response: dict[str, Any] | None = None  # the final object, once ended

    @property
    def output(self) -> list[dict[str, Any]]:
        """The output items as they stand."""
        return [item.json() for item in self.items]

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
            return self._keep(self._frame(item))
        if isinstance(item, ReplyEnd):
            return self._finish(outcome_of(item))
        return []  # queue positions mean nothing to Responses clients

    def _frame(self, frame: LogFrame) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        current = self._open
        if frame.kind in _KIND:
            kind = _KIND[frame.kind]
            if current is None or current.kind != kind:
                events += self._close(current, True)
                current = self._start(kind)
                events += self._opening(current)
        elif frame.kind == TOOL_CALL and frame.call is not None:
            call = frame.call
            if call.name is not None:
                events += self._close(current, True)
                current = self._start(FUNCTION_CALL, call.call_id, call.name, call.index)
                events += self._opening(current)
            elif current is None or current.call_id != call.call_id:
                return []  # cannot happen: a call's first frame carries its name
        else:
            return []  # tool results, waits, stored frames without content
        if frame.text:
            current.parts.append(frame.text)
            events.append(self._delta(current, frame.text))
        return events

    def _delta(self, item: OutputItem, text: str) -> dict[str, Any]:
        if item.kind == FUNCTION_CALL:  # a call's events have no content index
            at = {"item_id": item.id, "output_index": item.output_index}
            return self._event(_DELTA[item.kind], **at, delta=text)
        if item.kind == REASONING_ITEM:
            return self._event(_DELTA[item.kind], **self._at(item), delta=text)
        return self._event(_DELTA[item.kind], **self._at(item), delta=text, logprobs=[])

    def _start(self, kind: str, call_id: str = "", name: str = "", index: int = 0) -> OutputItem:
        at = len(self.items)
        if kind == MESSAGE:
            first = not any(i.kind == MESSAGE for i in self.items)
            item_id = ITEM_PREFIX + self.reply_id + ("" if first else f"_{at}")
        elif kind == REASONING_ITEM:
            item_id = f"rs_{self.reply_id}_{at}"
        else:
            item_id = f"fc_{self.reply_id}_{index}"
        item = OutputItem(kind, item_id, at, call_id, name)
        self.items.append(item)
        self._open = item
        return item

    def _opening(self, item: OutputItem) -> list[dict[str, Any]]:
        events = [
            self._event(
                "response.output_item.added",
                output_index=item.output_index,
                item=item.json(with_content=False),
            )
        ]
        if item.kind != FUNCTION_CALL:
            part = text_part("") if item.kind == MESSAGE else reasoning_part("")
            events.append(self._event("response.content_part.added", **self._at(item), part=part))
        return events

    def _close(self, item: OutputItem | None, completed: bool) -> list[dict[str, Any]]:
        if item is None:
            return []
        self._open = None
        item.status = item.final_status(completed)
        text = item.text
        if item.kind == FUNCTION_CALL:
            events = [
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item.id,
                    output_index=item.output_index,
                    arguments=text,
                )
            ]
        elif item.kind == REASONING_ITEM:
            events = [
                self._event("response.reasoning_text.done", **self._at(item), text=text),
                self._event(
                    "response.content_part.done", **self._at(item), part=reasoning_part(text)
                ),
            ]
        else:
            events = [
                self._event("response.output_text.done", **self._at(item), text=text, logprobs=[]),
                self._event("response.content_part.done", **self._at(item), part=text_part(text)),
            ]
        events.append(
            self._event(
                "response.output_item.done", output_index=item.output_index, item=item.json()
            )
        )
        return events

    def _finish(self, outcome: Outcome) -> list[dict[str, Any]]:
        self.done = True
        completed = outcome.status == "completed"
        events = self._close(self._open, completed)
        answered = any(i.kind in (MESSAGE, FUNCTION_CALL) for i in self.items)
        if not answered and outcome.has_output:
            events += self._opening(self._start(MESSAGE))
            events += self._close(self._open, completed)
        body = response_object(self.reply_id, self.meta, outcome.status, self.output, outcome)
        self.response = body
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

    def _at(self, item: OutputItem) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.output_index, "content_index": 0}

    def _object(self, status: str) -> dict[str, Any]:
        return response_object(self.reply_id, self.meta, status, [])

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
