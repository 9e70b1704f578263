"""The typed failure of one chat request: a contract error code, in words, and whom it is
about. Transports render it (a WebSocket `error` frame, an HTTP error body)."""

from __future__ import annotations


class ChatError(Exception):
    def __init__(
        self, code: str, message: str, ref: str | None = None, retry_after_ms: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.retry_after_ms = retry_after_ms
