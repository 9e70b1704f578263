"""The Responses rendering of a reply log is a pure function of its frames and its end, and a
log rebuilt from the store renders the same events as the live one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tickertape.chat.log_reader import LogItem
from tickertape.chat.reply_log import LogFrame, ReplyEnd, ReplyError, ReplyLog
from tickertape.store.types import MessageRecord
from tickertape.transport.responses_book import stored_log
from tickertape.transport.responses_events import EventRenderer, render_all
from tickertape.transport.responses_models import ResponseMeta

META = ResponseMeta(model="m", created_at=1)
USAGE = {"prompt_tokens": 3, "completion_tokens": 2}
TIMING = {"queued_ms": 0.0, "ttft_ms": 0.0, "total_ms": 0.0}
HEAD = ["response.created", "response.in_progress"]
OPEN = ["response.output_item.added", "response.content_part.added"]
CLOSE = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]


def end(reason: str, status: str = "complete", error: ReplyError | None = None) -> ReplyEnd:
    return ReplyEnd(2, reason, status, USAGE, TIMING, error)


def frames(*texts: str) -> list[LogItem]:
    return [LogFrame(i + 1, "text", t) for i, t in enumerate(texts)]


@pytest.mark.parametrize(
    ("items", "types", "status"),
    [
        (
            [*frames("a", "b"), end("stop")],
            [*HEAD, *OPEN, "response.output_text.delta", "response.output_text.delta", *CLOSE,
             "response.completed"],
            "completed",
        ),
        ([end("length")], [*HEAD, *OPEN, *CLOSE, "response.incomplete"], "incomplete"),
        (
            [end("error", "error", ReplyError("overloaded", "full"))],
            [*HEAD, "response.failed"],
            "failed",
        ),
        ([end("stopped", "stopped")], [*HEAD, "response.incomplete"], "cancelled"),
        (
            [*frames("a"), end("interrupted", "interrupted")],
            [*HEAD, *OPEN, "response.output_text.delta", *CLOSE, "response.incomplete"],
            "incomplete",
        ),
    ],
)  # fmt: skip
def test_the_event_sequence(items: list[LogItem], types: list[str], status: str) -> None:
    events = render_all("r", META, items)
    assert [e["type"] for e in events] == types
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["response"]["status"] == status
    assert events[-1]["response"]["id"] == "resp_r"


def test_a_failure_says_why() -> None:
    failed = render_all("r", META, [end("error", "error", ReplyError("rate_limited", "slow"))])
    assert failed[-1]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow"}
    cut = render_all("r", META, [end("interrupted", "interrupted")])
    assert cut[-1]["response"]["incomplete_details"] == {"reason": "interrupted"}


def test_starting_after_is_the_same_rendering_without_its_head() -> None:
    items = [*frames("x", "y", "z"), end("stop")]
    full = render_all("r", META, items)
    for after in range(-1, len(full)):
        assert render_all("r", META, items, after) == full[after + 1 :]
    # Rendered item by item while the reply streams: a prefix of the finished rendering.
    renderer = EventRenderer("r", META)
    live = renderer.start()
    for item in items:
        live += renderer.render(item)
        assert live == full[: len(live)]


def test_past_the_end_the_terminal_event_alone() -> None:
    """After a crash the store may hold fewer frames than a client saw: a `starting_after`
    past the stored rendering gets its terminal event, whose object is the truth."""
    stored = [*frames("x"), end("interrupted", "interrupted")]
    events = render_all("r", META, stored, starting_after=40)
    assert [e["type"] for e in events] == ["response.incomplete"]
    # The terminal of an interrupted response was never streamed (the server died): a
    # client holding its number held a delta there, so it still gets the terminal.
    last = render_all("r", META, stored)[-1]["sequence_number"]
    held = render_all("r", META, stored, starting_after=last)
    assert [e["type"] for e in held] == ["response.incomplete"]
    # A finished response's terminal was streamed: holding its number means holding all.
    done = [*frames("x"), end("stop", "complete")]
    last = render_all("r", META, done)[-1]["sequence_number"]
    assert render_all("r", META, done, starting_after=last) == []


def record(log: ReplyLog, ends: list[int] | None) -> MessageRecord:
    assert log.end is not None
    return MessageRecord(
        id=log.reply_id,
        conversation_id="c",
        role="assistant",
        content=log.text_through(log.sealed_seq),
        status=log.end.status,  # type: ignore[arg-type]
        finish_reason=log.end.finish_reason,
        seq=log.sealed_seq,
        created_at=datetime.now(UTC),
        usage=log.end.usage,
        timing=log.end.timing,
        user_id="u",
        frame_ends=ends,
    )


def test_a_stored_reply_replays_frame_by_frame() -> None:
    live = ReplyLog("r", "u", "c")
    for chunk in ["Hé", "llo", " wörld", "!"]:
        live.append(chunk)
        if chunk != "llo":  # "llo" and " wörld" share a frame: a reader lagged
            live.seal()
    live.finish(ReplyEnd(live.sealed_seq, "stop", "complete", USAGE, TIMING))
    assert [f.text for f in live.frames] == ["Hé", "llo wörld", "!"]
    rebuilt = stored_log(record(live, live.frame_ends(live.sealed_seq)))
    assert rebuilt.frames == live.frames
    assert _events(rebuilt) == _events(live)
    # Stored before frame boundaries were kept: one frame of all the text.
    legacy = stored_log(record(live, None))
    assert [f.text for f in legacy.frames] == ["Hé" + "llo wörld!"]


def _events(log: ReplyLog) -> list[dict[str, Any]]:
    assert log.end is not None
    return render_all(log.reply_id, META, [*log.frames, log.end])
