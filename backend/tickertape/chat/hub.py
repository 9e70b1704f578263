"""Every reply log this process holds: the ones streaming, and finished ones for a while
(`resume_retention_s`) so that a reconnecting client gets its missing frames, not a
snapshot."""

from __future__ import annotations

import asyncio

from tickertape.chat.reply_log import ReplyLog


class ReplyHub:
    def __init__(self, retention_s: float) -> None:
        self._retention_s = retention_s
        self._logs: dict[str, ReplyLog] = {}

    def add(self, log: ReplyLog) -> None:
        self._logs[log.reply_id] = log

    def get(self, reply_id: str) -> ReplyLog | None:
        return self._logs.get(reply_id)

    def finished(self, log: ReplyLog) -> None:
        """Keep a finished log for resumes for a while, then fall back to the store."""
        if log.withdrawn:
            self._forget(log)
            return
        asyncio.get_running_loop().call_later(self._retention_s, self._forget, log)

    def withdraw_conversation(self, conversation_id: str) -> None:
        """Its conversation is deleted: its replies are gone for resumes at once (one still
        streaming is being stopped, and leaves when it ends)."""
        for log in [log for log in self._logs.values() if log.conversation_id == conversation_id]:
            log.withdrawn = True
            if log.end is not None:
                self._forget(log)

    def _forget(self, log: ReplyLog) -> None:
        if self._logs.get(log.reply_id) is log:
            del self._logs[log.reply_id]

    def streaming(self) -> list[ReplyLog]:
        return [log for log in self._logs.values() if log.end is None]
