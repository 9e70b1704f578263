"""Starting a response (a turn of the chat service, like every entry point's) and reading
its state: shared by `POST /v1/responses` and the WebSocket mode's `response.create`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tickertape.chat.errors import ChatError
from tickertape.chat.reply_log import ReplyLog
from tickertape.chat.turns import TurnRequest
from tickertape.chat.types import ChatMessage
from tickertape.services import Services
from tickertape.store.types import UserRecord
from tickertape.transport.openai_errors import OpenAIError, check_model
from tickertape.transport.openai_inputs import unanswered_calls
from tickertape.transport.responses_book import META_KEY, Continuation, ResponseBook
from tickertape.transport.responses_events import EventRenderer
from tickertape.transport.responses_inputs import parse_input, stored_text
from tickertape.transport.responses_models import ResponseMeta, ResponsesRequest
from tickertape.transport.responses_objects import response_object
from tickertape.transport.responses_rules import responses_name


async def start_response(
    services: Services,
    book: ResponseBook,
    user: UserRecord,
    body: ResponsesRequest,
    origin: str | None = None,
) -> tuple[ReplyLog, ResponseMeta]:
    """Check the request, build the prompt, start the turn; the reply's log and meta.

    Raises OpenAIError (invalid request, unknown previous response) and ChatError (the
    chat service's refusals: limits, drain, queue, prompt size).
    """
    served, settings = services.chat.model, services.settings
    if body.model is not None:
        check_model(served, body.model)
    if body.background and not body.store:
        raise OpenAIError(400, "background: requires store: true", param="background")
    max_tokens = body.max_output_tokens or settings.default_max_tokens
    if max_tokens > settings.max_tokens:
        raise OpenAIError(
            400, f"max_output_tokens: at most {settings.max_tokens}", param="max_output_tokens"
        )
    items = parse_input(body.input)
    rules, echo = body.output_rules()
    previous = Continuation(None, ())
    if body.previous_response_id is not None:
        previous = await book.continuation(user, body.previous_response_id)
    joins = previous.conversation_id if body.store else None
    meta = ResponseMeta(
        model=served.name,
        instructions=body.instructions,
        input=items,
        # Not in the store (or not in this conversation): kept with the response itself.
        context=previous.history if joins is None else (),
        previous_response_id=body.previous_response_id,
        background=body.background,
        store=body.store,
        max_output_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        truncation=body.truncation or "disabled",
        metadata=body.metadata or {},
        echo=echo,
        client=body.client_fields(),
    )
    system = body.instructions if body.instructions is not None else settings.system_prompt
    prompt = [ChatMessage("system", system)] if system else []
    prompt += [item.chat() for item in (*previous.history, *items)]
    if (broken := unanswered_calls(prompt)) is not None:
        # The calls of a response continued with previous_response_id need their
        # function_call_output items, each naming a call that was made.
        raise OpenAIError(400, f"input: {broken[1]}", code="invalid_value", param="input")
    turn = TurnRequest(
        client_msg_id=f"resp-{uuid.uuid4().hex}",
        content=stored_text(items),
        params=body.sampling(max_tokens, rules),
        conversation_id=joins,
        parent_id=previous.parent_id if joins is not None else None,
        # A background response outlives its client; any other stops when its last
        # reader goes away (like a chat completion).
        on_disconnect="continue" if body.background else "stop",
        messages=tuple(prompt),
        store=body.store,
        origin=origin,
        record={META_KEY: meta.record()} if body.store else None,
        truncate=body.truncation == "auto",
    )
    try:
        started = await services.chat.start_turn(user, turn)
    except ChatError as exc:
        # A schema the engine cannot compile is named by its chat completions field.
        message = responses_name(exc.message)
        if exc.code == "bad_request" and message != exc.message:
            raise ChatError(exc.code, message, exc.ref) from exc
        raise
    if started.log is None:  # cannot happen: the client_msg_id is new
        raise OpenAIError.from_code("internal", "the reply is not available")
    book.remember(started.log, meta)
    return started.log, meta


def snapshot(log: ReplyLog, meta: ResponseMeta) -> dict[str, Any]:
    """The Response object as it stands: the rendering of its sealed frames (`queued`
    before any output)."""
    renderer = EventRenderer(log.reply_id, meta)
    for frame in log.frames_through(log.sealed_seq):
        renderer.render(frame)
    if log.end is not None:
        renderer.render(log.end)
        assert renderer.response is not None
        return renderer.response
    status = "in_progress" if log.sealed_seq or log.has_tail else "queued"
    return response_object(log.reply_id, meta, status, renderer.output)


async def ended(log: ReplyLog) -> None:
    """Return once the reply has ended (its final state is stored)."""
    wake = asyncio.Event()
    log.add_listener(wake.set)
    try:
        while log.end is None:
            wake.clear()
            if log.end is None:
                await wake.wait()
    finally:
        log.remove_listener(wake.set)
