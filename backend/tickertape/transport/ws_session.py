"""An authenticated WebSocket session of protocol v1: read frames, hand each to the chat
service."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tickertape.chat.errors import ChatError
from tickertape.chat.notices import Notice
from tickertape.chat.remote_reply import RemoteReplyLog
from tickertape.chat.reply_log import ReplyLog
from tickertape.chat.turns import TurnRequest, TurnStarted
from tickertape.chat.types import OutputRules, SamplingParams
from tickertape.transport import frames
from tickertape.transport.frames import (
    AuthIn,
    ChatIn,
    EditIn,
    FrameError,
    PingIn,
    RegenerateIn,
    ResumeIn,
    StopIn,
    ToolResultIn,
    TurnIn,
)
from tickertape.transport.output_rules import RulesError, output_rules, tool_of
from tickertape.transport.socket_session import CLOSE_POLICY, Credential, SocketSession

log = logging.getLogger(__name__)


class WsSession(SocketSession):
    _unsubscribe: Callable[[], None] | None = None

    def _opened(self) -> None:
        self._conn.send(self._hello())
        self._unsubscribe = self._chat.notices.subscribe(self._user.id, self._notice)

    def _closed(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _internal_error(self) -> dict[str, Any]:
        return frames.error_frame("internal", "internal error")

    def _notice(self, notice: Notice) -> None:
        if notice.origin != self.session_id:
            self._conn.send(notice.frame)

    async def _handle(self, text: str) -> None:
        try:
            frame = frames.parse_frame(text)
        except FrameError as exc:
            self._conn.send(frames.error_frame("bad_request", exc.message, exc.ref))
            return
        if isinstance(frame, PingIn):
            self._conn.send({"type": "pong", "data": frame.data})
        elif isinstance(frame, ChatIn | RegenerateIn | EditIn):
            self._spawn(self._chat_turn(frame))
        elif isinstance(frame, StopIn):
            self._spawn(self._stop(frame))
        elif isinstance(frame, ResumeIn):
            self._spawn(self._resume(frame))
        elif isinstance(frame, ToolResultIn):
            self._spawn(self._tool_result(frame))
        elif isinstance(frame, AuthIn):
            await self._reauthenticate(frame)

    async def _chat_turn(self, frame: TurnIn) -> None:
        try:
            started = await self._chat.start_turn(self._user, self._turn_request(frame))
        except ChatError as exc:
            self._send_error(exc)
            return
        self._conn.send(accepted_frame(started))
        # A retry on the connection that already got (part of) the reply goes on after
        # what it got: frames never repeat on one connection.
        sent = self._conn.delivered(started.reply_id)
        if started.log is not None:
            self._conn.follow(started.log, sent)
        else:
            await self._resume(
                frames.ResumeIn(type="resume", reply_id=started.reply_id, last_seq=sent)
            )

    async def _stop(self, frame: StopIn) -> None:
        try:
            await self._chat.stop_anywhere(self._user, frame.reply_id)
        except ChatError as exc:
            self._send_error(exc)

    async def _resume(self, frame: ResumeIn) -> None:
        try:
            found = await self._chat.find_reply(self._user, frame.reply_id, frame.last_seq)
        except ChatError as exc:
            self._send_error(exc)
            return
        if isinstance(found, ReplyLog):
            source = "redis" if isinstance(found, RemoteReplyLog) else "memory"
            self._metrics.resumes.labels(source).inc()
            self._conn.follow(found, frame.last_seq)
        else:
            self._metrics.resumes.labels("database").inc()
            self._conn.send_stored(found, frame.last_seq)

    async def _tool_result(self, frame: ToolResultIn) -> None:
        limit = self._settings.max_content_chars
        try:
            if len(frame.content) > limit:
                raise ChatError(
                    "bad_request", f"content: at most {limit} characters", frame.reply_id
                )
            await self._chat.tool_result(self._user, frame.reply_id, frame.call_id, frame.content)
        except ChatError as exc:
            self._send_error(exc)

    async def _reauthenticate(self, frame: AuthIn) -> None:
        credential = Credential.of_token(self._services.authenticator, frame.token)
        user = await credential.user()
        if user is None or user.id != self._user.id:
            await self._close(CLOSE_POLICY, "authentication failed")
            return
        self._credential = credential  # the one checked from now on
        self._conn.send(self._hello())

    def _turn_request(self, frame: TurnIn) -> TurnRequest:
        settings = self._settings
        ref = frame.client_msg_id
        content = "" if isinstance(frame, RegenerateIn) else frame.content
        if isinstance(frame, ChatIn) and frame.parent_id and frame.conversation_id is None:
            raise ChatError("bad_request", "parent_id: needs a conversation_id", ref)
        if len(content) > settings.max_content_chars:
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
            output=_rules(frame, ref),
        )
        return TurnRequest(
            client_msg_id=ref,
            content=content,
            params=params,
            conversation_id=frame.conversation_id,
            on_disconnect=p.on_disconnect,
            origin=self.session_id,
            parent_id=frame.parent_id if isinstance(frame, ChatIn) else None,
            edit_of=frame.message_id if isinstance(frame, EditIn) else None,
            regenerate_of=frame.user_message_id if isinstance(frame, RegenerateIn) else None,
            tool_results=True,
        )

    def _hello(self) -> dict[str, Any]:
        s = self._settings
        return {
            "type": "hello",
            "protocol": frames.PROTOCOL_VERSION,
            "session_id": self.session_id,
            "user": {"id": self._user.id, "name": self._user.name, "role": self._user.role},
            "model": self._services.chat.model.name,
            "limits": {
                "max_frame_bytes": s.max_frame_bytes,
                "max_content_chars": s.max_content_chars,
                "max_tokens": s.max_tokens,
                "max_concurrent_replies": s.max_concurrent_replies,
            },
        }

    def _send_error(self, exc: ChatError) -> None:
        self._conn.send(frames.error_frame(exc.code, exc.message, exc.ref, exc.retry_after_ms))


def _rules(frame: TurnIn, ref: str) -> OutputRules:
    """The frame's tools, tool choice, thinking and format (docs/protocol.md)."""
    choice = frame.tool_choice
    named = choice if isinstance(choice, frames.NamedToolChoiceIn) else None
    fmt = frame.params.format
    try:
        tools = [
            tool_of(t.function.name, t.function.description, t.function.parameters, k)
            for k, t in enumerate(frame.tools or ())
        ]
        return output_rules(
            tools,
            "function" if named is not None else (choice if isinstance(choice, str) else None),
            named.function.name if named is not None else None,
            frame.parallel_tool_calls,
            frame.params.enable_thinking,
            fmt.model_dump(by_alias=True, exclude_none=True) if fmt is not None else None,
        )
    except RulesError as exc:
        param = exc.param.replace("response_format", "params.format")
        raise ChatError("bad_request", f"{param}: {exc.message}", ref) from exc


def accepted_frame(started: TurnStarted) -> dict[str, Any]:
    return {
        "type": "accepted",
        "client_msg_id": started.client_msg_id,
        "conversation_id": started.conversation_id,
        "user_message_id": started.user_message_id,
        "reply_id": started.reply_id,
        "truncated": started.truncated,
        "parent_id": started.parent_id,
    }
