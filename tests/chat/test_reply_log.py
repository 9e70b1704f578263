"""The frame log's lazy sealing: reply-wide seq, coalescing for readers that lag."""

from __future__ import annotations

from tickertape.chat.limits import RateLimiter
from tickertape.chat.reply_log import ReplyEnd, ReplyLog


def make_log() -> ReplyLog:
    return ReplyLog("r1", "u1", "c1", "continue")


def test_a_reader_that_keeps_up_gets_one_frame_per_append() -> None:
    log = make_log()
    log.append("Hel")
    assert log.frame(1) == "Hel"
    log.append("lo")
    assert log.frame(2) == "lo"
    assert log.frame(3) is None
    assert log.coalesced_frames == 0


def test_a_lagging_reader_gets_the_tail_in_one_frame() -> None:
    log = make_log()
    for piece in ("a", "b", "c"):
        log.append(piece)
    assert log.frame(1) == "abc"
    assert log.coalesced_frames == 1


def test_seq_means_the_same_text_for_every_reader() -> None:
    log = make_log()
    log.append("x")
    fast = [log.frame(1)]
    log.append("y")
    log.append("z")
    fast.append(log.frame(2))
    slow = [log.frame(1), log.frame(2)]
    assert fast == slow == ["x", "yz"]
    assert log.text_through(2) == "xyz"


def test_finish_seals_the_tail_and_notifies() -> None:
    log = make_log()
    woken: list[int] = []
    log.add_listener(lambda: woken.append(1))
    log.append("tail")
    log.finish(ReplyEnd(1, "stop", "complete", {}, {}))
    assert log.sealed_seq == 1
    assert log.frame(1) == "tail"
    assert log.end is not None
    assert log.end.seq == 1
    assert len(woken) == 2


def test_empty_text_makes_no_frame() -> None:
    log = make_log()
    log.append("")
    assert log.frame(1) is None
    assert log.seal() == 0


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
