"""The frame log's lazy sealing: reply-wide seq, coalescing for readers that lag."""

from __future__ import annotations

from tickertape.chat.limits import RateLimiter
from tickertape.chat.log_reader import LogCursor, Queued
from tickertape.chat.reply_log import ReplyEnd, ReplyLog


def make_log() -> ReplyLog:
    return ReplyLog("r1", "u1", "c1", "continue")


def texts(log: ReplyLog, *seqs: int) -> list[str | None]:
    return [None if (f := log.frame(seq)) is None else f.text for seq in seqs]


def test_a_reader_that_keeps_up_gets_one_frame_per_append() -> None:
    log = make_log()
    log.append("Hel")
    assert texts(log, 1) == ["Hel"]
    log.append("lo")
    assert texts(log, 2, 3) == ["lo", None]
    assert log.coalesced_frames == 0


def test_a_lagging_reader_gets_the_tail_in_one_frame() -> None:
    log = make_log()
    for piece in ("a", "b", "c"):
        log.append(piece)
    assert texts(log, 1) == ["abc"]
    assert log.coalesced_frames == 1


def test_seq_means_the_same_text_for_every_reader() -> None:
    log = make_log()
    log.append("x")
    fast = texts(log, 1)
    log.append("y")
    log.append("z")
    fast += texts(log, 2)
    slow = texts(log, 1, 2)
    assert fast == slow == ["x", "yz"]
    assert log.text_through(2) == "xyz"


def test_finish_seals_the_tail_and_notifies() -> None:
    log = make_log()
    woken: list[int] = []
    log.add_listener(lambda: woken.append(1))
    log.append("tail")
    log.finish(ReplyEnd(1, "stop", "complete", {}, {}))
    assert log.sealed_seq == 1
    assert texts(log, 1) == ["tail"]
    assert log.end is not None
    assert log.end.seq == 1
    assert len(woken) == 2


def test_empty_text_makes_no_frame() -> None:
    log = make_log()
    log.append("")
    assert log.frame(1) is None
    assert log.seal() == 0


def test_output_of_another_kind_seals_the_tail_first() -> None:
    log = make_log()
    log.append("thinking", kind="reasoning")
    log.append("answer")
    log.append(" more")
    frames = [(f.seq, f.kind, f.text) for seq in (1, 2) if (f := log.frame(seq))]
    assert frames == [(1, "reasoning", "thinking"), (2, "text", "answer more")]
    assert log.text_through(2) == "answer more"


def test_a_queue_position_is_stale_once_output_has_started() -> None:
    log = make_log()
    cursor = LogCursor(log)
    log.set_queue_position(2)
    assert cursor.next_item() == Queued(2)
    assert cursor.next_item() is None
    log.append("a")
    log.set_queue_position(1)  # late: ignored
    item = cursor.next_item()
    assert item is not None
    assert not isinstance(item, Queued)
    log.finish(ReplyEnd(1, "stop", "complete", {}, {}))
    assert isinstance(cursor.next_item(), ReplyEnd)
    assert cursor.done
    assert cursor.next_item() is None


def test_rate_limiter_refills_over_time() -> None:
    limiter = RateLimiter(per_minute=2)
    assert limiter.take("k", now=0.0) is None
    assert limiter.take("k", now=0.0) is None
    wait = limiter.take("k", now=0.0)
    assert wait is not None
    assert 29_000 <= wait <= 30_000
    assert limiter.take("k", now=30.0) is None
    assert limiter.take("other", now=0.0) is None


def test_rate_limiter_give_back_returns_one_token_up_to_the_burst() -> None:
    limiter = RateLimiter(per_minute=2)
    assert limiter.take("k", now=0.0) is None
    assert limiter.take("k", now=0.0) is None
    limiter.give_back("k")
    assert limiter.take("k", now=0.0) is None
    assert limiter.take("k", now=0.0) is not None
    limiter.give_back("k")
    limiter.give_back("k")
    limiter.give_back("k")  # never above the burst
    assert limiter.take("k", now=0.0) is None
    assert limiter.take("k", now=0.0) is None
    assert limiter.take("k", now=0.0) is not None
