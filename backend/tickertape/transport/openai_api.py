"""OpenAI-compatible HTTP API: `POST /v1/chat/completions` (JSON or SSE) and `GET /v1/models`.

A completion is a turn of the chat service like any other: same limits, same accounts,
same reply log. The JSON response and the SSE chunks are renderings of that log. A reply
is stored as a conversation only when the request says `store: true`.

A client that goes away stops its generation (the turn is `on_disconnect: stop` and the
response is its only reader): before the response starts a watcher task waits for
`http.disconnect`; once streaming, the response's close hook releases the reader.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tickertape.chat.errors import ChatError
from tickertape.chat.log_reader import LogItem, Queued, follow
from tickertape.chat.reply_log import LogFrame, ReplyEnd, ReplyLog
from tickertape.chat.service import ChatService
from tickertape.chat.turns import TurnRequest
from tickertape.chat.types import ModelInfo
from tickertape.store.types import UserRecord
from tickertape.transport.deps import ServicesDep, UserDep
from tickertape.transport.openai_errors import (
    OpenAIError,
    OpenAIRoute,
    check_model,
    openai_error_responses,
)
from tickertape.transport.openai_models import (
    ChatCompletionRequest,
    ChunkFactory,
    chunk_delta,
    completion_object,
)
from tickertape.transport.openai_render import AnswerBuilder, chunk_of
from tickertape.transport.output_rules import RulesError

log = logging.getLogger(__name__)


def build_openai_router() -> APIRouter:
    router = APIRouter(
        route_class=OpenAIRoute,
        tags=["openai"],
        responses=openai_error_responses(400, 401, 404, 429, 503),
    )

    @router.get("/v1/models")
    async def list_models(services: ServicesDep, user: UserDep) -> dict[str, Any]:
        return {"object": "list", "data": [_model_object(services.chat.model)]}

    @router.get("/v1/models/{model}")
    async def get_model(model: str, services: ServicesDep, user: UserDep) -> dict[str, Any]:
        check_model(services.chat.model, model)
        return _model_object(services.chat.model)

    @router.post("/v1/chat/completions", response_model=None)
    async def chat_completions(
        body: ChatCompletionRequest, request: Request, services: ServicesDep, user: UserDep
    ) -> Response:
        check_model(services.chat.model, body.model)
        settings = services.settings
        max_tokens = body.requested_max_tokens() or settings.default_max_tokens
        if max_tokens > settings.max_tokens:
            raise OpenAIError(
                400, f"max_tokens is at most {settings.max_tokens}", param="max_tokens"
            )
        try:
            rules = body.output_rules()
        except RulesError as exc:
            raise OpenAIError(400, str(exc), code="invalid_value", param=exc.param) from exc
        turn = TurnRequest(
            client_msg_id=f"openai-{uuid.uuid4().hex}",
            content=body.last_user_text(),
            params=body.sampling(max_tokens, rules),
            on_disconnect="stop",
            messages=tuple(body.chat_messages()),
            store=body.store,
            truncate=False,  # as OpenAI: 400 context_length_exceeded, never a silent cut
        )
        chat = services.chat
        started = await chat.start_turn(user, turn)
        if started.log is None:  # cannot happen: the client_msg_id is new
            raise OpenAIError.from_code("internal", "the reply is not available")
        reply = _Reply(chat, user, started.log, f"chatcmpl-{started.reply_id}", body)
        if not body.stream:
            return await reply.json_response(request)
        return await reply.sse_response(request)

    return router


def _model_object(served: ModelInfo) -> dict[str, Any]:
    return {
        "id": served.name,
        "object": "model",
        "created": served.created,
        "owned_by": "tickertape",
        "max_model_len": served.context_length,  # as vLLM reports it; RemoteEngine reads it
    }


class _Reply:
    """One completion's reply log, rendered as a JSON body or as SSE chunks."""

    def __init__(
        self,
        chat: ChatService,
        user: UserRecord,
        reply_log: ReplyLog,
        completion_id: str,
        body: ChatCompletionRequest,
    ) -> None:
        self._chat = chat
        self._user = user
        self.log = reply_log
        self._id = completion_id
        self._body = body

    def reader_left(self) -> None:
        # Stopping a finished reply is a no-op, so this needs no "finished" flag.
        self._chat.reader_left(self.log)

    async def json_response(self, request: Request) -> Response:
        answer = AnswerBuilder()
        async with aclosing(follow(self.log)) as items, self._watching(request):
            async for item in items:
                if isinstance(item, LogFrame):
                    answer.add(item)
                elif isinstance(item, ReplyEnd):
                    cut = _call_cut(item)
                    if not cut:
                        _raise_unless_answered(item)
                    done = answer.finished(last_call_complete=not cut)
                    return JSONResponse(completion_object(self._id, self._body.model, done, item))
        raise OpenAIError.from_code("internal", "the reply ended without an end")

    async def sse_response(self, request: Request) -> Response:
        """Headers go out with the first text: a reply that fails before any text is an
        HTTP error with its status, which clients handle better than an error event."""
        items = follow(self.log)
        try:
            async with self._watching(request):
                first = await anext(items)
                while isinstance(first, Queued):  # positions mean nothing to OpenAI clients
                    first = await anext(items)
            if isinstance(first, ReplyEnd) and not _call_cut(first):
                _raise_unless_answered(first)
        except BaseException:
            await items.aclose()
            self.reader_left()
            raise
        return ReplyResponse(self._sse(first, items), on_close=self.reader_left)

    def _watching(self, request: Request) -> AbstractAsyncContextManager[None]:
        return stopping_on_disconnect(request, self._chat, self._user, self.log.reply_id)

    async def _sse(self, first: LogItem, items: AsyncGenerator[LogItem]) -> AsyncIterator[str]:
        body = self._body
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        chunks = ChunkFactory(self._id, body.model, include_usage)
        role_sent = False
        async with aclosing(items):
            item: LogItem | None = first
            while item is not None:
                if isinstance(item, LogFrame):
                    chunk = chunk_of(chunks, item)
                    if chunk is not None:
                        if not role_sent:
                            yield _data(chunks.role(text_first="content" in chunk_delta(chunk)))
                            role_sent = True
                        yield _data(chunk)
                elif isinstance(item, ReplyEnd):
                    if not role_sent:
                        yield _data(chunks.role(text_first=True))
                    for event in _closing_chunks(chunks, item):
                        yield _data(event)
                    return
                item = await anext(items, None)


@asynccontextmanager
async def stopping_on_disconnect(
    request: Request, chat: ChatService, user: UserRecord, reply_id: str
) -> AsyncIterator[None]:
    """Until a response starts, nothing else notices the client going away: while the
    block runs, a disconnect stops the reply."""
    watcher = asyncio.create_task(_stop_on_disconnect(request, chat, user, reply_id))
    try:
        yield
    finally:
        watcher.cancel()
        await asyncio.wait([watcher])


async def _stop_on_disconnect(
    request: Request, chat: ChatService, user: UserRecord, reply_id: str
) -> None:
    # The body is already read, so the next ASGI message is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        continue
    log.info("client left before %s ended; stopping it", reply_id)
    try:
        chat.stop(user, reply_id)
    except ChatError:
        log.debug("reply %s had already ended", reply_id)


def _call_cut(end: ReplyEnd) -> bool:
    """max_tokens ran out inside a tool call: for OpenAI clients an answer that ends
    "length" (what OpenAI sends), not an error."""
    return end.error is not None and end.error.code == "tool_call_incomplete"


def _closing_chunks(chunks: ChunkFactory, end: ReplyEnd) -> list[dict[str, Any] | str]:
    if end.error is not None and not _call_cut(end):
        # Headers are sent: an error object in the stream is what OpenAI clients raise on.
        error = OpenAIError.from_code(end.error.code, end.error.message, end.error.retry_after_ms)
        return [error.body(), "[DONE]"]
    if end.finish_reason == "interrupted":
        # Cut by a shutdown: not an answer that ended (`stop` would say it is whole), the
        # same error a non-streamed request gets.
        error = OpenAIError.from_code("overloaded", "the server is restarting", 1000)
        return [error.body(), "[DONE]"]
    usage = chunks.usage(end)
    return [chunks.finish(end), *([usage] if usage is not None else []), "[DONE]"]


def _raise_unless_answered(end: ReplyEnd) -> None:
    """A reply that did not produce an answer is an error response, not a completion."""
    if end.error is not None:
        error = end.error
        raise OpenAIError.from_code(error.code, error.message, error.retry_after_ms)
    if end.finish_reason == "interrupted":
        raise OpenAIError.from_code("overloaded", "the server is restarting", 1000)


def _data(obj: dict[str, Any] | str) -> str:
    payload = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return f"data: {payload}\n\n"


class ReplyResponse(StreamingResponse):
    """An SSE response that releases its reply however the response ends.

    Starlette cancels the body on a client disconnect wherever it happens to be (possibly
    in `send`, leaving our generator suspended), so the release is tied to the response.
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
            aclose = getattr(self._content, "aclose", None)
            if aclose is not None:
                await aclose()  # the reader's listener goes before the release looks
            self._on_close()
