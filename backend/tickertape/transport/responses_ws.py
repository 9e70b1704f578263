"""OpenAI Responses API, WebSocket mode: `/v1/responses`.

The handshake is `/ws`'s (Origin allowlist, per-IP rate, bearer token or session cookie,
per-user connection cap). Client events: `response.create` (the POST body's fields; the
same events come back), `response.cancel` and, beyond OpenAI, `response.attach` (follow a
response by id from `starting_after`, e.g. a background response after a reconnect). A
lane (`stream_id`, none by default) runs one response at a time; several lanes run side by
side. A bad event is answered with a typed `error` event and the connection stays open.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError

from tickertape.chat.errors import ChatError
from tickertape.chat.reply_log import ReplyLog
from tickertape.services import Services
from tickertape.store.types import UserRecord
from tickertape.transport.openai_errors import OpenAIError, from_chat_error, from_validation
from tickertape.transport.responses_book import ResponseBook
from tickertape.transport.responses_events import EventRenderer
from tickertape.transport.responses_models import ResponsesRequest
from tickertape.transport.responses_turns import start_response
from tickertape.transport.socket_session import Credential, SocketSession
from tickertape.transport.strict_json import strict_loads
from tickertape.transport.ws import serve_socket

log = logging.getLogger(__name__)
router = APIRouter()
Lane = str | None


@router.websocket("/v1/responses")
async def responses_socket(websocket: WebSocket) -> None:
    await serve_socket(websocket, ResponsesSession, first_frame_auth=False)


class ResponsesSession(SocketSession):
    def __init__(
        self, websocket: WebSocket, user: UserRecord, services: Services, credential: Credential
    ) -> None:
        super().__init__(websocket, user, services, credential)
        self._lanes: dict[Lane, EventRenderer] = {}
        self._starting: set[Lane] = set()  # lanes whose response.create is being handled
        self._book = ResponseBook.of(websocket, services)
        self._gone = False

    def _closed(self) -> None:
        self._gone = True

    def _internal_error(self) -> dict[str, Any]:
        return _error(OpenAIError.from_code("internal", "internal error"), None)

    async def _handle(self, text: str) -> None:
        try:
            event = strict_loads(text)
        except (ValueError, RecursionError) as exc:
            self._conn.send(_error(OpenAIError(400, f"not valid JSON: {exc}"), None))
            return
        if not isinstance(event, dict):
            self._conn.send(_error(OpenAIError(400, "an event is a JSON object"), None))
            return
        lane = event.get("stream_id") if isinstance(event.get("stream_id"), str) else None
        kind = event.get("type")
        if kind == "response.create":
            self._create(event, lane)
        elif kind == "response.cancel":
            self._spawn(self._cancel(event, lane))
        elif kind == "response.attach":
            self._attach(event, lane)
        else:
            shown = kind if isinstance(kind, str) else repr(kind)
            message = f"type: unknown event type {shown[:64]!r}"
            self._conn.send(_error(OpenAIError(400, message, param="type"), lane))

    def _create(self, event: dict[str, Any], lane: Lane) -> None:
        fields = {k: v for k, v in event.items() if k != "type"}
        try:
            body = ResponsesRequest.model_validate(fields)
        except ValidationError as exc:
            self._conn.send(_error(from_validation(exc.errors()), lane))
            return
        if self._refuse_busy(lane):
            return
        self._starting.add(lane)
        self._spawn(self._start(body, lane))

    async def _start(self, body: ResponsesRequest, lane: Lane) -> None:
        try:
            reply_log, meta = await start_response(
                self._services, self._book, self._user, body, origin=self.session_id
            )
        except (OpenAIError, ChatError) as exc:
            self._conn.send(_error(exc, lane))
            return
        finally:
            self._starting.discard(lane)
        self._follow(EventRenderer(reply_log.reply_id, meta, extra=_lane(lane)), reply_log, lane)

    def _attach(self, event: dict[str, Any], lane: Lane) -> None:
        response_id, after = event.get("response_id"), event.get("starting_after", -1)
        if not isinstance(response_id, str) or not response_id:
            error = OpenAIError(400, "response_id: required", param="response_id")
            self._conn.send(_error(error, lane))
            return
        if type(after) is not int or after < -1:
            error = OpenAIError(400, "starting_after: an integer >= 0", param="starting_after")
            self._conn.send(_error(error, lane))
            return
        if self._refuse_busy(lane):
            return
        self._starting.add(lane)
        self._spawn(self._attach_to(response_id, after, lane))

    async def _attach_to(self, response_id: str, after: int, lane: Lane) -> None:
        try:
            found = await self._book.find(self._user, response_id, "response_id")
            if self._conn.following(found.reply_id):
                raise OpenAIError(409, "this connection already streams that response")
            if not found.live and not found.finished:
                raise OpenAIError(409, "the response is in progress on another server")
        except OpenAIError as exc:
            self._conn.send(_error(exc, lane))
            return
        finally:
            self._starting.discard(lane)
        renderer = EventRenderer(found.reply_id, found.meta, after, _lane(lane))
        self._follow(renderer, found.log, lane)

    def _follow(self, renderer: EventRenderer, reply_log: ReplyLog, lane: Lane) -> None:
        if self._gone:  # the socket closed while the response started: nobody reads it
            self._chat.reader_left(reply_log)
            return
        self._lanes[lane] = renderer
        self._conn.follow(reply_log, 0, renderer.render, renderer.start())

    async def _cancel(self, event: dict[str, Any], lane: Lane) -> None:
        response_id = event.get("response_id")
        try:
            if not isinstance(response_id, str) or not response_id:
                raise OpenAIError(400, "response_id: required", param="response_id")
            found = await self._book.find(self._user, response_id, "response_id")
            if found.live and not found.finished:
                self._chat.stop(self._user, found.reply_id)
        except (OpenAIError, ChatError) as exc:
            self._conn.send(_error(exc, lane))

    def _refuse_busy(self, lane: Lane) -> bool:
        current = self._lanes.get(lane)
        if lane in self._starting or (current is not None and not current.done):
            where = f"stream_id {lane!r}" if lane is not None else "this connection"
            message = f"a response is already in flight on {where}; use another stream_id"
            error = OpenAIError(409, message, code="response_already_in_flight")
            self._conn.send(_error(error, lane))
            return True
        return False


def _lane(lane: Lane) -> dict[str, Any]:
    return {} if lane is None else {"stream_id": lane}


def _error(exc: OpenAIError | ChatError, lane: Lane) -> dict[str, Any]:
    """OpenAI's WebSocket `error` event: the HTTP status and the API error object."""
    error = from_chat_error(exc) if isinstance(exc, ChatError) else exc
    detail: dict[str, Any] = {
        "type": error.type,
        "code": error.code,
        "message": error.message,
        "param": error.param,
    }
    if error.retry_after_ms is not None:
        detail["headers"] = {"retry-after-ms": str(error.retry_after_ms)}
    return {"type": "error", "status": error.status, "error": detail, **_lane(lane)}
