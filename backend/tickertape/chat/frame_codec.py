"""A log frame as compact JSON (the Redis mirror of a reply): `[kind, text]`, plus the
call it is about and the calls an `awaiting_tools` frame lists."""

from __future__ import annotations

from typing import Any

from tickertape.chat.reply_log import CallRef, LogFrame, PendingCall


def encode_frame(frame: LogFrame) -> list[Any]:
    out: list[Any] = [frame.kind, frame.text]
    if frame.call is not None or frame.calls:
        call = frame.call
        out.append([call.index, call.call_id, call.name] if call is not None else None)
        out.append([[c.index, c.call_id, c.name, c.arguments] for c in frame.calls])
    return out


def decode_frame(seq: int, encoded: list[Any]) -> LogFrame:
    kind, text = str(encoded[0]), str(encoded[1])
    call: CallRef | None = None
    calls: tuple[PendingCall, ...] = ()
    if len(encoded) >= 4:
        if encoded[2] is not None:
            index, call_id, name = encoded[2]
            call = CallRef(int(index), str(call_id), name)
        calls = tuple(PendingCall(int(i), str(c), str(n), str(a)) for i, c, n, a in encoded[3])
    return LogFrame(seq, kind, text, call, calls)
