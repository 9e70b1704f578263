"""Request body size limit, as pure ASGI middleware (WebSockets and responses pass untouched).

A declared `Content-Length` over the limit is refused before any of the body is read. A body
without one (chunked, or a lying client) is counted as it is received, and the read that
crosses the limit raises `BodyTooLarge`, a 413 `HTTPException`: the app's error handlers
turn it into the contract's `{"error": {"code": "too_large", ...}}`, and if it escapes them
(it was raised outside the routes) this middleware answers the same 413 itself.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
STATUS_TOO_LARGE = 413


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(STATUS_TOO_LARGE, f"request body larger than {limit} bytes")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _content_length(scope)
        openai_shape = scope["path"].startswith("/v1/")
        if declared is not None and declared > limit:
            await _send_too_large(send, limit, openai_shape)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if response_started:
                raise
            await _send_too_large(send, limit, openai_shape)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server's HTTP parser rejects it before we are called
    return None


async def _send_too_large(send: Send, limit: int, openai_shape: bool) -> None:
    """The same 413 whether the body declared its length or not; in OpenAI's error shape on
    the /v1 routes (their route class answers a 413 raised inside them the same way)."""
    message = f"request body larger than {limit} bytes"
    error: dict[str, object] = (
        {"message": message, "type": "invalid_request_error", "param": None, "code": "too_large"}
        if openai_shape
        else {"code": "too_large", "message": message}
    )
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": STATUS_TOO_LARGE,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The unread rest of the body makes the connection unusable for another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
