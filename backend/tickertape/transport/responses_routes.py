"""OpenAI Responses API over HTTP: create (JSON, SSE, background), retrieve and resume,
cancel, delete, input items. Every route renders a reply log (`responses_events.py`); a
response is started by the chat service like every other turn (`responses_turns.py`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from tickertape.chat.log_reader import LogCursor, follow
from tickertape.chat.notices import Notice
from tickertape.chat.reply_log import ReplyLog
from tickertape.chat.service import ChatService
from tickertape.store.types import Conflict, NotFound
from tickertape.transport import frames
from tickertape.transport.deps import ServicesDep, UserDep
from tickertape.transport.openai_api import ReplyResponse, stopping_on_disconnect
from tickertape.transport.openai_errors import OpenAIError, OpenAIRoute, openai_error_responses
from tickertape.transport.responses_book import ResponseBook
from tickertape.transport.responses_events import EventRenderer
from tickertape.transport.responses_inputs import InputItem, input_items
from tickertape.transport.responses_models import ResponsesRequest
from tickertape.transport.responses_objects import outcome_of
from tickertape.transport.responses_turns import ended, snapshot, start_response

log = logging.getLogger(__name__)
Include = Annotated[list[str] | None, Query()]


def build_responses_router() -> APIRouter:
    router = APIRouter(
        route_class=OpenAIRoute,
        tags=["openai"],
        responses=openai_error_responses(400, 401, 404, 409, 429, 503),
    )

    @router.post("/v1/responses", response_model=None)
    async def create_response(
        body: ResponsesRequest, request: Request, services: ServicesDep, user: UserDep
    ) -> Response:
        book = ResponseBook.of(request, services)
        reply_log, meta = await start_response(services, book, user, body)
        if body.stream:
            return _sse(services.chat, reply_log, EventRenderer(reply_log.reply_id, meta), True)
        if not body.background:
            async with stopping_on_disconnect(request, services.chat, user, reply_log.reply_id):
                await ended(reply_log)
        return JSONResponse(snapshot(reply_log, meta))

    @router.get("/v1/responses/{response_id}", response_model=None)
    async def retrieve_response(
        response_id: str,
        request: Request,
        services: ServicesDep,
        user: UserDep,
        stream: bool = False,
        starting_after: Annotated[int | None, Query(ge=0)] = None,
        include_obfuscation: bool | None = None,  # nothing is obfuscated: accepted, unused
        include: Include = None,
    ) -> Response:
        _refuse_include(include, request)
        found = await ResponseBook.of(request, services).find(user, response_id)
        if not stream:
            return JSONResponse(snapshot(found.log, found.meta))
        after = -1 if starting_after is None else starting_after
        renderer = EventRenderer(found.reply_id, found.meta, after)
        return _sse(services.chat, found.log, renderer, found.live)

    @router.post("/v1/responses/{response_id}/cancel", response_model=None)
    async def cancel_response(
        response_id: str, request: Request, services: ServicesDep, user: UserDep
    ) -> Response:
        found = await ResponseBook.of(request, services).find(user, response_id)
        reply_log = found.log
        if reply_log.end is None:
            if not found.live:
                raise OpenAIError(409, "the response is in progress on another server")
            services.chat.stop(user, found.reply_id)
            await ended(reply_log)
        assert reply_log.end is not None
        status = outcome_of(reply_log.end).status
        if status != "cancelled":
            raise OpenAIError(409, f"the response already ended ({status})", code="conflict")
        return JSONResponse(snapshot(reply_log, found.meta))

    @router.delete("/v1/responses/{response_id}", response_model=None)
    async def delete_response(
        response_id: str, request: Request, services: ServicesDep, user: UserDep
    ) -> Response:
        book = ResponseBook.of(request, services)
        found = await book.find(user, response_id)
        if found.log.end is None and found.live:
            services.chat.stop(user, found.reply_id)
            await ended(found.log)
        if found.conversation_id is not None:
            try:
                deletion = await services.store.delete_turn(found.reply_id, user.id)
            except NotFound as exc:
                raise OpenAIError(404, f"no response with id {response_id!r}") from exc
            except Conflict as exc:
                raise OpenAIError(409, f"a later response is in progress: {exc}") from exc
            if deletion.conversation_deleted:
                frame = {"type": "conversation_deleted", "conversation_id": found.conversation_id}
                services.chat.notices.publish(Notice(user.id, frame))
        book.deleted(found, found.conversation_id)
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})

    @router.get("/v1/responses/{response_id}/input_items", response_model=None)
    async def list_input_items(
        response_id: str,
        request: Request,
        services: ServicesDep,
        user: UserDep,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        order: Literal["asc", "desc"] = "desc",
        include: Include = None,
    ) -> Response:
        _refuse_include(include, request)
        found = await ResponseBook.of(request, services).find(user, response_id)
        items = list(found.meta.input)
        if not items and found.conversation_id is not None:  # a turn of another entry point
            history = await services.store.history(found.conversation_id, found.reply_id)
            items = [InputItem("user", m.content) for m in history[-1:] if m.role == "user"]
        data = input_items(found.reply_id, items)
        if order == "desc":
            data.reverse()
        if after is not None:
            ids = [item["id"] for item in data]
            data = data[ids.index(after) + 1 :] if after in ids else []
        page = data[:limit]
        return JSONResponse(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(data) > limit,
            }
        )

    return router


def _refuse_include(include: list[str] | None, request: Request) -> None:
    # The openai SDK spells the list `include[]=...` (brackets), others `include=...`.
    if include or request.query_params.getlist("include[]"):
        raise OpenAIError(400, "include: not supported by this server", param="include")


def _sse(chat: ChatService, reply_log: ReplyLog, renderer: EventRenderer, live: bool) -> Response:
    """The response's events as SSE. A live log is followed to its end (and its reader
    released however the stream ends); a log rebuilt from the store is sent as it is."""

    async def events() -> AsyncIterator[str]:
        for event in renderer.start():
            yield _event(event)
        if live:
            async with aclosing(follow(reply_log)) as items:
                async for item in items:
                    for event in renderer.render(item):
                        yield _event(event)
            return
        cursor = LogCursor(reply_log)
        while (stored := cursor.next_item()) is not None:
            for event in renderer.render(stored):
                yield _event(event)

    def release() -> None:
        if live:
            chat.reader_left(reply_log)

    return ReplyResponse(events(), on_close=release)


def _event(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {frames.dump(event)}\n\n"
