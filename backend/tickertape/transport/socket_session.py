"""An authenticated WebSocket, whatever it speaks: the receive loop, the single sender and
the rules for closing. Subclasses say what a frame means (`/ws`: protocol v1;
`/v1/responses`: OpenAI's WebSocket mode)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tickertape.auth.authenticator import Authenticator
from tickertape.chat.turns import new_session_id
from tickertape.logs import session_id_var
from tickertape.services import Services
from tickertape.store.types import StoreError, UserRecord
from tickertape.transport.connection import Connection, ConnectionConfig, SlowClient

log = logging.getLogger(__name__)

CLOSE_UNSUPPORTED = 1003
CLOSE_TOO_BIG = 1009
CLOSE_POLICY = 1008
OVERFLOW_CLOSE_TIMEOUT_S = 1.0
# A socket's credential is looked up again before every frame it sends (one indexed read;
# the receive loop awaits it, so a client that floods frames only slows itself), and
# every IDLE_RECHECK_S while no frame comes.
IDLE_RECHECK_S = 30.0


class Credential:
    """What authenticated a socket (a token, a web session cookie), looked up again while
    the socket lives: a revoked token, a disabled user or a logged-out web session closes
    it with 1008, instead of serving it until it disconnects."""

    def __init__(self, lookup: Callable[[], Awaitable[UserRecord | None]]) -> None:
        self._lookup = lookup

    @classmethod
    def of_token(cls, authenticator: Authenticator, token: str) -> Credential:
        return cls(lambda: authenticator.user_for_token(token))

    @classmethod
    def of_cookie(cls, authenticator: Authenticator, conn: HTTPConnection) -> Credential:
        return cls(lambda: authenticator.user_for_cookie(conn))

    async def user(self) -> UserRecord | None:
        return await self._lookup()


class SocketSession:
    def __init__(
        self, websocket: WebSocket, user: UserRecord, services: Services, credential: Credential
    ) -> None:
        self._ws = websocket
        self._user = user
        self._credential = credential
        self._checked_at = time.monotonic()
        self._services = services
        self._settings = services.settings
        self._chat = services.chat
        self._metrics = services.metrics
        self._conn = Connection(
            websocket,
            ConnectionConfig(
                send_timeout_s=self._settings.slow_client_timeout_s,
                max_control_bytes=self._settings.max_control_bytes,
            ),
            self._metrics,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._dropping = False
        self.session_id = new_session_id()

    # -- what a subclass defines -------------------------------------------------------
    def _opened(self) -> None:
        """The session starts (before the first frame is read)."""

    def _closed(self) -> None:
        """The session ends (before its replies are released)."""

    async def _handle(self, text: str) -> None:
        raise NotImplementedError

    def _internal_error(self) -> dict[str, Any]:
        """The frame that says a frame handler failed."""
        raise NotImplementedError

    # -- the session -------------------------------------------------------------------
    async def run(self) -> None:
        session_id_var.set(self.session_id)
        log.info("session opened for user %s", self._user.name)
        self._opened()
        sender = asyncio.create_task(self._conn.run_sender(), name="ws-sender")
        sender.add_done_callback(self._sender_done)
        rechecks = asyncio.create_task(self._recheck_while_idle(), name="ws-credential")
        self._services.connections.add(self._conn)
        self._metrics.connections.inc()
        try:
            await self._receive_loop()
        finally:
            self._closed()
            self._services.connections.discard(self._conn)
            self._metrics.connections.dec()
            sender.cancel()
            rechecks.cancel()
            for reply_log in self._conn.detach_all():
                self._chat.reader_left(reply_log)
            log.info("session closed")

    async def _receive_loop(self) -> None:
        max_bytes = self._settings.max_frame_bytes
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self._close(CLOSE_UNSUPPORTED, "binary frames are not supported")
                return
            if len(text) > max_bytes // 4 and len(text.encode("utf-8")) > max_bytes:
                await self._close(CLOSE_TOO_BIG, "frame too large")
                return
            if not await self._authentic():
                await self._close(CLOSE_POLICY, "the credential was withdrawn")
                return
            await self._handle(text)
            if self._conn.overflowed:
                # It sends faster than it reads our answers: stop reading it at once (its
                # sender may be waiting out the send deadline on a full socket).
                await self._drop_overflowed()
                return

    async def _authentic(self) -> bool:
        """The socket's credential still names its user (else it was revoked, its user
        disabled, or its web session ended)."""
        self._checked_at = time.monotonic()
        try:
            user = await self._credential.user()
        except StoreError as exc:
            # The database is out: the socket stays (turns are refused on their own until
            # it is back); the credential is checked again at the next frame.
            log.warning("cannot check a socket's credential: %s", exc)
            return True
        return user is not None and user.id == self._user.id

    async def _recheck_while_idle(self) -> None:
        while True:
            await asyncio.sleep(IDLE_RECHECK_S)
            if time.monotonic() - self._checked_at >= IDLE_RECHECK_S and not (
                await self._authentic()
            ):
                log.info("closing a socket whose credential was withdrawn")
                await self._close(CLOSE_POLICY, "the credential was withdrawn")
                return

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # Turns are not cancelled with the socket: a committed message must get its reply.
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a frame handler failed", exc_info=exc)
            self._conn.send(self._internal_error())

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, SlowClient):
            if self._conn.overflowed:
                self._spawn(self._drop_overflowed())
                return
            log.info("disconnecting a slow client: %s", exc)
            self._metrics.slow_disconnects.inc()
        elif isinstance(exc, WebSocketDisconnect):
            return
        elif exc is not None:
            log.error("the sender failed", exc_info=exc)
        # The receive loop learns of it through the disconnect that follows.
        self._conn.abort()

    async def _drop_overflowed(self) -> None:
        """Say why (1008) if the socket takes a close frame at once; drop it either way."""
        if self._dropping:
            return
        self._dropping = True
        log.info("disconnecting a slow client: unread control frames passed the cap")
        self._metrics.slow_disconnects.inc()
        try:
            async with asyncio.timeout(OVERFLOW_CLOSE_TIMEOUT_S):
                await self._close(CLOSE_POLICY, "too many unread frames: read what is sent")
        except TimeoutError:
            pass  # the peer reads nothing: the abort below is the answer
        finally:
            self._conn.abort()

    async def _close(self, code: int, reason: str) -> None:
        if self._ws.client_state == WebSocketState.CONNECTED:
            await self._ws.close(code=code, reason=reason)
