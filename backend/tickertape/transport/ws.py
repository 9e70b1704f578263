"""`GET /ws`: the handshake (Origin, rate limit, authentication), then a session.

`serve_socket` is that handshake for every WebSocket endpoint (`/v1/responses` too)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import APIRouter, WebSocket
from starlette.responses import JSONResponse
from starlette.websockets import WebSocketState

from tickertape.auth.authenticator import Authenticator, bearer_token
from tickertape.logs import RateLimitedLog
from tickertape.services import Services
from tickertape.settings import Settings
from tickertape.store.types import UserRecord
from tickertape.transport.deps import services_or_none
from tickertape.transport.frames import AuthIn
from tickertape.transport.socket_session import Credential, SocketSession
from tickertape.transport.strict_json import strict_loads
from tickertape.transport.ws_session import WsSession

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_POLICY = 1008
# Refusals are logged at most this often per kind: anyone can make them happen, and a log
# line per refused handshake would let anyone flood the log (and trip alerts on it).
_refusals = RateLimitedLog(log, logging.INFO, interval_s=10.0)


SessionFactory = Callable[[WebSocket, UserRecord, Services, Credential], SocketSession]


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    await serve_socket(websocket, WsSession, first_frame_auth=True)


async def serve_socket(
    websocket: WebSocket, make_session: SessionFactory, *, first_frame_auth: bool
) -> None:
    """The handshake every WebSocket endpoint shares (Origin allowlist, per-IP handshake
    rate, authentication, per-user connection cap), then a session."""
    services = services_or_none(websocket)
    if services is None:
        await websocket.close(code=1013)  # before accept: the server is still starting
        return
    authenticator = services.authenticator
    if not authenticator.origin_allowed(websocket):
        _refusals.log(
            "origin",
            "refused WebSocket handshakes from foreign origins, e.g. %r",
            websocket.headers.get("origin"),
        )
        await websocket.close(code=CLOSE_POLICY)  # before accept: an HTTP 403
        return
    client_ip = websocket.client.host if websocket.client else "unknown"
    if (wait_ms := services.handshake_limiter.take(client_ip)) is not None:
        _refusals.log(
            "rate", "refused WebSocket handshakes over the per-IP rate, e.g. from %s", client_ip
        )
        await websocket.send_denial_response(_too_many(wait_ms))
        return
    authenticated = await _authenticate(
        websocket, authenticator, services.settings, first_frame_auth
    )
    if authenticated is None:
        return
    user, credential = authenticated
    if not await services.limits.open_connection(user.id):
        _refusals.log(
            "connections", "refused connections over the per-user cap, e.g. user %s", user.name
        )
        await websocket.close(code=CLOSE_POLICY, reason="too many connections for this user")
        return
    try:
        await make_session(websocket, user, services, credential).run()
    finally:
        services.limits.close_connection(user.id)


async def _authenticate(
    websocket: WebSocket, authenticator: Authenticator, settings: Settings, first_frame: bool
) -> tuple[UserRecord, Credential] | None:
    """Accept, then establish the user and what proves it (checked again while the socket
    lives); on failure close 1008 with no other frame."""
    token = bearer_token(websocket)
    await websocket.accept()
    credential: Credential | None = None
    if token is not None:
        credential = Credential.of_token(authenticator, token)
    elif "origin" in websocket.headers and await authenticator.user_for_cookie(websocket):
        credential = Credential.of_cookie(authenticator, websocket)
    elif authenticator.mode == "none":
        credential = Credential.of_token(authenticator, "")
    elif first_frame:
        credential = await _first_frame_auth(websocket, authenticator, settings.auth_timeout_s)
    user = await credential.user() if credential is not None else None
    if user is not None and credential is not None:
        return user, credential
    if websocket.client_state == WebSocketState.CONNECTED:
        await websocket.close(code=CLOSE_POLICY, reason="authentication failed")
    return None


async def _first_frame_auth(
    websocket: WebSocket, authenticator: Authenticator, timeout_s: float
) -> Credential | None:
    try:
        async with asyncio.timeout(timeout_s):
            message = await websocket.receive()
    except TimeoutError:
        return None
    text = message.get("text")
    if message["type"] != "websocket.receive" or not isinstance(text, str):
        return None
    try:
        frame = AuthIn.model_validate(strict_loads(text))
    except (ValueError, RecursionError):
        return None
    return Credential.of_token(authenticator, frame.token)


def _too_many(wait_ms: int) -> JSONResponse:
    return JSONResponse(
        {
            "error": {"code": "rate_limited", "message": "too many handshakes"},
            "retry_after_ms": wait_ms,
        },
        status_code=429,
        headers={"Retry-After": str(max(1, wait_ms // 1000))},
    )
