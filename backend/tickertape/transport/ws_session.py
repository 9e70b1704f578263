"""An authenticated WebSocket session: read frames, hand each to the chat service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tickertape.chat.errors import ChatError
from tickertape.chat.notices import Notice
from tickertape.chat.reply_log import ReplyLog
from tickertape.chat.service import TurnRequest, TurnStarted, new_session_id
from tickertape.engine.types import SamplingParams
from tickertape.logs import session_id_var
from tickertape.services import Services
from tickertape.store.types import UserRecord
from tickertape.transport import frames
from tickertape.transport.connection import Connection, ConnectionConfig, SlowClient
from tickertape.transport.frames import AuthIn, ChatIn, FrameError, PingIn, ResumeIn, StopIn

log = logging.getLogger(__name__)

CLOSE_UNSUPPORTED = 1003
CLOSE_TOO_BIG = 1009
CLOSE_POLICY = 1008
OVERFLOW_CLOSE_TIMEOUT_S = 1.0


class WsSession:
    def __init__(self, websocket: WebSocket, user: UserRecord, services: Services) -> None:
        self._ws = websocket
        self._user = user
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

    async def run(self) -> None:
        session_id_var.set(self.session_id)
        log.info("session opened for user %s", self._user.name)
        self._conn.send(self._hello())
        sender = asyncio.create_task(self._conn.run_sender(), name="ws-sender")
        sender.add_done_callback(self._sender_done)
        self._services.connections.add(self._conn)
        self._metrics.connections.inc()
        unsubscribe = self._chat.notices.subscribe(self._user.id, self._notice)
        try:
            await self._receive_loop()
        finally:
            unsubscribe()
            self._services.connections.discard(self._conn)
            self._metrics.connections.dec()
            sender.cancel()
            for reply_log in self._conn.detach_all():
                self._chat.reader_left(reply_log)
            log.info("session closed")

    def _notice(self, notice: Notice) -> None:
        if notice.origin != self.session_id:
            self._conn.send(notice.frame)

    async def _receive_loop(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self._close(CLOSE_UNSUPPORTED, "binary frames are not supported")
                return
            if len(text) > self._settings.max_frame_bytes // 4 and (
                len(text.encode("utf-8")) > self._settings.max_frame_bytes
            ):
                await self._close(CLOSE_TOO_BIG, "frame too large")
                return
            await self._handle(text)
            if self._conn.overflowed:
                # It sends faster than it reads our answers: stop reading it at once (its
                # sender may be waiting out the send deadline on a full socket).
                await self._drop_overflowed()
                return

    async def _handle(self, text: str) -> None:
        try:
            frame = frames.parse_frame(text)
        except FrameError as exc:
            self._conn.send(frames.error_frame("bad_request", exc.message, exc.ref))
            return
        if isinstance(frame, PingIn):
            self._conn.send({"type": "pong", "data": frame.data})
        elif isinstance(frame, ChatIn):
            self._spawn(self._chat_turn(frame))
        elif isinstance(frame, StopIn):
            try:
                self._chat.stop(self._user, frame.reply_id)
            except ChatError as exc:
                self._send_error(exc)
        elif isinstance(frame, ResumeIn):
            self._spawn(self._resume(frame))
        elif isinstance(frame, AuthIn):
            await self._reauthenticate(frame)

    async def _chat_turn(self, frame: ChatIn) -> None:
        try:
            started = await self._chat.start_turn(self._user, self._turn_request(frame))
        except ChatError as exc:
            self._send_error(exc)
            return
        self._conn.send(accepted_frame(started))
        if started.log is not None:
            self._conn.follow(started.log, 0)
        else:
            await self._resume(
                frames.ResumeIn(type="resume", reply_id=started.reply_id, last_seq=0)
            )

    async def _resume(self, frame: ResumeIn) -> None:
        try:
            found = await self._chat.find_reply(self._user, frame.reply_id)
        except ChatError as exc:
            self._send_error(exc)
            return
        if isinstance(found, ReplyLog):
            self._metrics.resumes.labels("memory").inc()
            self._conn.follow(found, frame.last_seq)
        else:
            self._metrics.resumes.labels("database").inc()
            self._conn.send_stored(found, frame.last_seq)

    async def _reauthenticate(self, frame: AuthIn) -> None:
        user = await self._services.authenticator.user_for_token(frame.token)
        if user is None or user.id != self._user.id:
            await self._close(CLOSE_POLICY, "authentication failed")
            return
        self._conn.send(self._hello())

    def _turn_request(self, frame: ChatIn) -> TurnRequest:
        settings = self._settings
        ref = frame.client_msg_id
        if len(frame.content) > settings.max_content_chars:
            raise ChatError(
                "bad_request", f"content: at most {settings.max_content_chars} characters", ref
            )
        p = frame.params
        if p.max_tokens is not None and p.max_tokens > settings.max_tokens:
            raise ChatError("bad_request", f"params.max_tokens: at most {settings.max_tokens}", ref)
        params = SamplingParams(
            max_tokens=p.max_tokens or settings.default_max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            top_k=p.top_k,
            stop=tuple(p.stop or ()),
            seed=None if p.seed is None else p.seed % 2**63,
            ignore_eos=p.ignore_eos,
            repetition_penalty=p.repetition_penalty,
            frequency_penalty=p.frequency_penalty or 0.0,
            presence_penalty=p.presence_penalty or 0.0,
        )
        return TurnRequest(
            client_msg_id=ref,
            content=frame.content,
            params=params,
            conversation_id=frame.conversation_id,
            on_disconnect=p.on_disconnect,
            origin=self.session_id,
        )

    def _hello(self) -> dict[str, Any]:
        s = self._settings
        return {
            "type": "hello",
            "protocol": frames.PROTOCOL_VERSION,
            "session_id": self.session_id,
            "user": {"id": self._user.id, "name": self._user.name, "role": self._user.role},
            "model": self._services.engine.model_name,
            "limits": {
                "max_frame_bytes": s.max_frame_bytes,
                "max_content_chars": s.max_content_chars,
                "max_tokens": s.max_tokens,
                "max_concurrent_replies": s.max_concurrent_replies,
            },
        }

    def _send_error(self, exc: ChatError) -> None:
        self._conn.send(frames.error_frame(exc.code, exc.message, exc.ref, exc.retry_after_ms))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # Turns are not cancelled with the socket: a committed message must get its reply.
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a frame handler failed", exc_info=exc)
            self._conn.send(frames.error_frame("internal", "internal error"))

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


def accepted_frame(started: TurnStarted) -> dict[str, Any]:
    return {
        "type": "accepted",
        "client_msg_id": started.client_msg_id,
        "conversation_id": started.conversation_id,
        "user_message_id": started.user_message_id,
        "reply_id": started.reply_id,
        "truncated": started.truncated,
    }
