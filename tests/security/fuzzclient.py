"""A blocking WebSocket client that checks every answer against the contract.

The oracle is the server's own frame parser: it says whether a frame is invalid (so the
answer must be an `error` with `bad_request`) or which valid frame it is.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tickertape.transport.frames import AuthIn, ChatIn, FrameError, PingIn, parse_frame

RECV_TIMEOUT_S = 20.0
MAX_FRAMES_PER_REPLY = 64  # a max_tokens 1 reply is a token or two, a snapshot and an end
ERROR_CODES = {
    "bad_request",
    "not_found",
    "conflict",
    "too_long",
    "rate_limited",
    "overloaded",
    "internal",
}


class ContractViolation(AssertionError):
    pass


class FuzzClient:
    """One authenticated connection; reopened only when the contract closes it (auth)."""

    def __init__(self, url: str, token: str) -> None:
        self._url = url
        self._token = token
        self._ws: ClientConnection | None = None
        self._stack = ExitStack()
        self.frames_sent = 0
        self.reconnects = 0
        self.kinds: Counter[str] = Counter()  # frames by what the oracle expected
        self.seconds: Counter[str] = Counter()

    def __enter__(self) -> FuzzClient:
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _open(self) -> None:
        self._stack.close()  # the previous connection, if the contract closed it
        self._stack = ExitStack()
        self._ws = self._stack.enter_context(
            connect(
                self._url,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                compression=None,
                max_size=2**22,
                open_timeout=RECV_TIMEOUT_S,
                # Keepalive pings would draw from `random` in a background thread, under
                # Hypothesis' feet; the fuzz keeps the connection busy anyway.
                ping_interval=None,
            )
        )
        hello = self.recv()
        if hello.get("type") != "hello":
            raise ContractViolation(f"first frame {hello}")

    @property
    def ws(self) -> ClientConnection:
        assert self._ws is not None
        return self._ws

    def recv(self) -> dict[str, Any]:
        raw = self.ws.recv(timeout=RECV_TIMEOUT_S)
        if not isinstance(raw, str):
            raise ContractViolation("the server sent a binary frame")
        frame: dict[str, Any] = json.loads(raw)
        if not isinstance(frame.get("type"), str):
            raise ContractViolation(f"untyped frame {frame}")
        return frame

    def send_text(self, text: str) -> None:
        self.frames_sent += 1
        self.ws.send(text)

    def exchange(self, text: str) -> None:
        """Send one frame and check the whole answer to it."""
        started = time.perf_counter()
        kind = self._exchange(text)
        self.kinds[kind] += 1
        self.seconds[kind] += time.perf_counter() - started

    def _exchange(self, text: str) -> str:
        try:
            frame = parse_frame(text)
        except FrameError:
            self.send_text(text)
            self._expect_error({"bad_request"})
            return "invalid"
        self.send_text(text)
        if isinstance(frame, PingIn):
            answer = self.recv()
            if answer != {"type": "pong", "data": frame.data}:
                raise ContractViolation(f"ping {text[:200]!r} answered {answer}")
        elif isinstance(frame, AuthIn):
            self._expect_close(1008)  # a token that is not this user's ends the session
            self.reconnects += 1
            self._open()
        elif isinstance(frame, ChatIn):
            self._expect_reply(frame)
        else:  # stop / resume of a reply that does not exist (or is not ours)
            self._expect_error({"not_found", "bad_request"})
        return type(frame).__name__

    def ping(self) -> None:
        data = uuid.uuid4().hex
        self.send_text(json.dumps({"type": "ping", "data": data}))
        answer = self.recv()
        if answer != {"type": "pong", "data": data}:
            raise ContractViolation(f"ping answered {answer}")

    def _expect_error(self, codes: set[str]) -> dict[str, Any]:
        answer = self.recv()
        if answer.get("type") != "error" or answer.get("code") not in codes:
            raise ContractViolation(f"expected an error in {codes}, got {answer}")
        if not isinstance(answer.get("message"), str):
            raise ContractViolation(f"error without a message: {answer}")
        return answer

    def _expect_close(self, code: int) -> None:
        try:
            extra = self.ws.recv(timeout=RECV_TIMEOUT_S)
        except ConnectionClosed as exc:
            got = exc.rcvd.code if exc.rcvd else None
            if got != code:
                raise ContractViolation(f"closed with {got}, expected {code}") from None
            return
        raise ContractViolation(f"expected close {code}, got a frame {extra!r}")

    def _expect_reply(self, frame: ChatIn) -> None:
        """`accepted` ... `end` of a one-token reply, or one typed error about the message."""
        for _ in range(MAX_FRAMES_PER_REPLY):
            answer = self.recv()
            kind = answer["type"]
            if kind == "error":
                if answer.get("code") not in ERROR_CODES:
                    raise ContractViolation(f"unknown error code {answer}")
                return
            if kind == "end":
                return
            if kind not in ("accepted", "queued", "token", "snapshot"):
                raise ContractViolation(f"unexpected frame in a reply: {answer}")
        raise ContractViolation(f"no end after {MAX_FRAMES_PER_REPLY} frames")
