"""OpenAI-compatible HTTP API: `POST /v1/chat/completions` (JSON or SSE) and `GET /v1/models`.

Any OpenAI client (and another tickertape's RemoteEngine) can use the engine through it.
A reply is not stored unless the request says `store: true`; storing goes through the seam
`request.app.state.chat_service.record_exchange(user, messages, reply_text, result)`
(awaited, called once the reply ended with stop or length) when the app provides it.

A client that goes away stops its generation: before the response starts, a watcher task
waits for `http.disconnect`; once streaming, Starlette cancels the body and the response's
close hook calls `engine.stop(reply_id)`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tickertape.engine.types import (
    ChatMessage,
    Engine,
    EngineError,
    FinishEvent,
    FinishReason,
    GenerationResult,
    StreamEvent,
    TextEvent,
)
from tickertape.store.types import UserRecord
from tickertape.transport.deps import EngineDep, SettingsDep, UserDep
from tickertape.transport.openai_errors import OpenAIError, OpenAIRoute, openai_error_responses
from tickertape.transport.openai_models import (
    ChatCompletionRequest,
    ChunkFactory,
    completion_object,
)

log = logging.getLogger(__name__)
_STARTED = int(time.time())


def build_openai_router() -> APIRouter:
    router = APIRouter(
        route_class=OpenAIRoute,
        tags=["openai"],
        responses=openai_error_responses(400, 401, 404, 429, 503),
    )

    @router.get("/v1/models")
    async def list_models(engine: EngineDep, user: UserDep) -> dict[str, Any]:
        return {"object": "list", "data": [_model_object(engine)]}

    @router.get("/v1/models/{model}")
    async def get_model(model: str, engine: EngineDep, user: UserDep) -> dict[str, Any]:
        _check_model(engine, model)
        return _model_object(engine)

    @router.post("/v1/chat/completions", response_model=None)
    async def chat_completions(
        body: ChatCompletionRequest,
        request: Request,
        engine: EngineDep,
        user: UserDep,
        settings: SettingsDep,
    ) -> Response:
        _check_model(engine, body.model)
        max_tokens = body.requested_max_tokens() or settings.default_max_tokens
        if max_tokens > settings.max_tokens:
            raise OpenAIError(
                400, f"max_tokens is at most {settings.max_tokens}", param="max_tokens"
            )
        if not engine.alive:
            raise OpenAIError.from_code("overloaded", "the engine is not available", 1000)
        params = body.sampling(max_tokens)
        messages = body.chat_messages()
        prompt = await engine.prepare(messages, params)
        reply_id = f"chatcmpl-{uuid.uuid4().hex}"
        events = aiter(engine.submit(reply_id, user.id, prompt, params))
        ex = _Exchange(request, user, body, messages, reply_id)
        # Until the response starts, nothing else listens for the client going away.
        watcher = asyncio.create_task(_stop_on_disconnect(request, engine, reply_id))
        try:
            first = await _first_output(events)
            if isinstance(first, FinishEvent):
                return await _finish_unstreamed(ex, "", first.result)
            if not body.stream:
                text = [first.text]
                async for event in events:
                    if isinstance(event, TextEvent):
                        text.append(event.text)
                    elif isinstance(event, FinishEvent):
                        return await _finish_unstreamed(ex, "".join(text), event.result)
                raise EngineError("the reply stream ended without a finish event")
        except BaseException:
            engine.stop(reply_id)  # whatever went wrong, nobody will read this reply now
            raise
        finally:
            await _cancel(watcher)
        return _ReplyResponse(_sse(ex, first, events), on_close=lambda: engine.stop(reply_id))

    return router


def _model_object(engine: Engine) -> dict[str, Any]:
    return {
        "id": engine.model_name,
        "object": "model",
        "created": _STARTED,
        "owned_by": "tickertape",
        "max_model_len": engine.context_length,  # as vLLM reports it; RemoteEngine reads it
    }


def _check_model(engine: Engine, model: str) -> None:
    if model != engine.model_name:
        raise OpenAIError(
            404,
            f"the model {model!r} does not exist; this server serves {engine.model_name!r}",
            code="model_not_found",
            param="model",
        )


def _include_usage(body: ChatCompletionRequest) -> bool:
    return body.stream_options is not None and body.stream_options.include_usage


async def _first_output(events: AsyncIterator[StreamEvent]) -> TextEvent | FinishEvent:
    """The first text or the finish; queue positions mean nothing to an OpenAI client."""
    async for event in events:
        if isinstance(event, TextEvent | FinishEvent):
            return event
    raise EngineError("the reply stream ended without a finish event")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait([task])  # unlike `await task`, never mistakes its cancel for ours
    if not task.cancelled() and task.exception() is not None:
        log.error("disconnect watcher failed", exc_info=task.exception())


async def _stop_on_disconnect(request: Request, engine: Engine, reply_id: str) -> None:
    # The body is already read, so the next ASGI message is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        continue
    log.info("client left before %s started; stopping it", reply_id)
    engine.stop(reply_id)


@dataclass(frozen=True, slots=True)
class _Exchange:
    """One request's context, for the finishing steps."""

    request: Request
    user: UserRecord
    body: ChatCompletionRequest
    messages: list[ChatMessage]
    reply_id: str


async def _finish_unstreamed(ex: _Exchange, text: str, result: GenerationResult) -> Response:
    if result.finish_reason is FinishReason.ERROR:
        raise _result_error(result)
    if result.finish_reason is FinishReason.STOPPED:
        # Stopped before the client saw anything: the client left or the server is closing.
        raise OpenAIError.from_code("overloaded", "the generation was stopped", 1000)
    await _record(ex, text, result)
    return JSONResponse(completion_object(ex.reply_id, ex.body.model, text, result))


def _result_error(result: GenerationResult) -> OpenAIError:
    retry: int | None = getattr(result, "retry_after_ms", None)  # RemoteResult carries it
    if retry is None and result.error_code in ("rate_limited", "overloaded"):
        retry = 1000
    return OpenAIError.from_code(
        result.error_code or "internal", result.error_message or "generation failed", retry
    )


async def _record(ex: _Exchange, text: str, result: GenerationResult) -> None:
    """The `store: true` seam; a failing store fails the request, it is not swallowed."""
    if not ex.body.store or result.finish_reason not in (FinishReason.STOP, FinishReason.LENGTH):
        return
    service = getattr(ex.request.app.state, "chat_service", None)
    record = getattr(service, "record_exchange", None)
    if record is None:
        log.warning("store: true requested but the app has no chat_service.record_exchange")
        return
    await record(ex.user, ex.messages, text, result)


def _data(obj: dict[str, Any] | str) -> str:
    payload = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return f"data: {payload}\n\n"


async def _sse(
    ex: _Exchange, first: TextEvent, events: AsyncIterator[StreamEvent]
) -> AsyncIterator[str]:
    chunks = ChunkFactory(ex.reply_id, ex.body.model, _include_usage(ex.body))
    yield _data(chunks.role())
    text = [first.text]
    yield _data(chunks.text(first.text))
    result: GenerationResult | None = None
    async for event in events:
        if isinstance(event, TextEvent):
            text.append(event.text)
            yield _data(chunks.text(event.text))
        elif isinstance(event, FinishEvent):
            result = event.result
            break
    if result is None:
        raise EngineError("the reply stream ended without a finish event")
    if result.finish_reason is FinishReason.ERROR:
        # Headers are sent: an error object in the stream is what OpenAI clients raise on.
        yield _data(_result_error(result).body())
        yield _data("[DONE]")
        return
    await _record(ex, "".join(text), result)
    yield _data(chunks.finish(result))
    usage = chunks.usage(result)
    if usage is not None:
        yield _data(usage)
    yield _data("[DONE]")


class _ReplyResponse(StreamingResponse):
    """An SSE response that stops its generation however the response ends.

    Starlette cancels the body on a client disconnect wherever it happens to be (possibly
    in `send`, leaving our generator suspended), so the stop is tied to the response.
    """

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._content = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Stopping a finished reply is a no-op, so this needs no "finished" flag.
            self._on_close()
            aclose = getattr(self._content, "aclose", None)
            if aclose is not None:
                await aclose()
