"""A reply of another replica as a `ReplyLog`: the frames and the end its owner mirrored
to Redis (`redis_mirror.py`), applied in seq order (`RemoteLogs` in remote_log.py feeds it).
`encode_end` / `decode_end` are the end's form in the stream; `end_of_record` the end of a
reply the store already finished.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from tickertape.chat.frame_codec import decode_frame
from tickertape.chat.reply_log import ReplyEnd, ReplyError, ReplyLog

if TYPE_CHECKING:
    from collections.abc import Callable

    from tickertape.store.types import MessageRecord

_ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0}
_ZERO_TIMING = {"queued_ms": 0.0, "ttft_ms": 0.0, "total_ms": 0.0}


def encode_end(end: ReplyEnd) -> str:
    return json.dumps(asdict(end), separators=(",", ":"))


def end_of_record(record: MessageRecord) -> ReplyEnd:
    """The `end` of a reply the store holds as finished."""
    error = None
    if record.status == "error":
        error = ReplyError(
            record.error_code or "internal",
            record.error_message or "failed",
            record.error_retry_after_ms,
        )
    return ReplyEnd(
        record.seq,
        record.finish_reason or record.status,
        record.status,
        dict(record.usage or _ZERO_USAGE),
        dict(record.timing or _ZERO_TIMING),
        error,
    )


def failed_end(seq: int, error: ReplyError) -> ReplyEnd:
    """The end of a reply that failed where no usage or timing is known."""
    return ReplyEnd(seq, "error", "error", dict(_ZERO_USAGE), dict(_ZERO_TIMING), error)


def decode_end(text: str) -> ReplyEnd:
    data = json.loads(text)
    error = data.get("error")
    return ReplyEnd(
        int(data["seq"]),
        str(data["finish_reason"]),
        str(data["status"]),
        dict(data["usage"]),
        dict(data["timing"]),
        ReplyError(**error) if error else None,
    )


class RemoteReplyLog(ReplyLog):
    def __init__(
        self,
        reply_id: str,
        user_id: str,
        conversation_id: str | None,
        owner: str,
        stored: bool,
        stop_when_unread: bool = False,
    ) -> None:
        # `on_disconnect: stop` is decided by the owner (it is told when readers here go:
        # `stop_when_unread`), never by this replica's engine.
        super().__init__(reply_id, user_id, conversation_id, "continue")
        self.owner = owner
        self.stored = stored
        self.stop_when_unread = stop_when_unread
        self.last_id = "0-0"  # the stream entry read last
        self.last_used = time.monotonic()
        self.reaping = False
        self.finished_at: float | None = None
        # The stream cannot be trusted to bring the end (it vanished, or lost entries):
        # the store is asked until the reply is over there.
        self.degraded = False
        # Called when the first reader comes or the last one goes (see `readers`).
        self.on_readers: Callable[[RemoteReplyLog], None] | None = None
        self._waiters: set[Callable[[], None]] = set()
        self._final_text: str | None = None

    @classmethod
    def from_meta(cls, reply_id: str, meta: dict[str, str]) -> RemoteReplyLog:
        return cls(
            reply_id,
            meta["user"],
            meta.get("conv") or None,
            meta["owner"],
            meta["stored"] == "1",
            meta.get("od") == "stop",
        )

    # readers: the listeners that are connections (not this module's own short waits)

    @property
    def readers(self) -> int:
        return self.listener_count - len(self._waiters)

    def add_listener(self, wake: Callable[[], None]) -> None:
        had = self.readers
        super().add_listener(wake)
        if not had and self.readers and self.on_readers is not None:
            self.on_readers(self)

    def remove_listener(self, wake: Callable[[], None]) -> int:
        had = self.readers
        left = super().remove_listener(wake)
        if had and not self.readers and self.on_readers is not None:
            self.on_readers(self)
        return left

    def add_waiter(self, wake: Callable[[], None]) -> None:
        self._waiters.add(wake)
        super().add_listener(wake)

    def remove_waiter(self, wake: Callable[[], None]) -> None:
        self._waiters.discard(wake)
        super().remove_listener(wake)

    def settle(self, record: MessageRecord | None) -> bool:
        """End the log with the store's outcome of the reply, when the stream cannot bring
        it; False (nothing changes) while the store still has it `streaming`."""
        if self.end is not None:
            return True
        if record is not None and record.status == "streaming":
            return False
        seq = self.sealed_seq
        if record is None:  # its conversation was deleted meanwhile: the owner stopped it
            self.finish_with(
                ReplyEnd(seq, "stopped", "stopped", dict(_ZERO_USAGE), dict(_ZERO_TIMING))
            )
            return True
        same = record.seq == seq and record.content == self.text_through(seq)
        self.finish_with(end_of_record(record), None if same else record.content)
        return True

    def finish_with(self, end: ReplyEnd, final_text: str | None = None) -> None:
        """End the log here (not from the stream); `final_text` is the text through
        `end.seq` when the frames here do not lead to it (readers get a `snapshot`)."""
        if self.end is not None:
            return
        self._final_text = final_text
        self.end = end
        self.queue_position = None
        self._notify()

    def add_entries(self, entries: list[tuple[str, dict[str, str]]]) -> bool:
        """Apply stream entries in order (repeats are skipped); False on a gap."""
        ok = True
        for entry_id, fields in entries:
            ok = self._apply(fields) and ok
            self.last_id = entry_id
        self._notify()
        return ok

    def _apply(self, fields: dict[str, str]) -> bool:
        if self.end is not None:
            return True
        if "q" in fields and not self.frames:
            self.queue_position = int(fields["q"])
        if "f" in fields:
            seq = int(fields["s"])
            for encoded in json.loads(fields["f"]):
                if seq == len(self.frames) + 1:
                    self.frames.append(decode_frame(seq, encoded))
                    self.queue_position = None
                elif seq > len(self.frames) + 1:
                    return False  # frames missing: the stream lost entries
                seq += 1
        if "e" in fields:
            end = decode_end(fields["e"])
            if "x" in fields:
                self._final_text = fields["x"]
            elif end.seq != len(self.frames):
                return False
            self.end = end
            self.queue_position = None
        return True

    def text_through(self, seq: int, kind: str = "text") -> str:
        if self._final_text is not None and self.end is not None and seq == self.end.seq:
            return self._final_text  # an end rebased on the store's text (see the reaper)
        return super().text_through(seq, kind)
