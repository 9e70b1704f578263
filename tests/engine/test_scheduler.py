"""Scheduler policy, without torch (the scheduler and the block pool are plain Python)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tickertape.engine.blocks import BlockPool
from tickertape.engine.plan import StepPlan, Work
from tickertape.engine.scheduler import Scheduler
from tickertape.engine.types import EngineOverloaded, EngineUnavailable

BLOCK = 4


def make(
    max_batch: int = 4,
    max_waiting: int = 8,
    prefill_chunk: int = 16,
    per_user: int = 4,
    blocks: int = 64,
    caching: bool = True,
) -> Scheduler:
    return Scheduler(
        pool=BlockPool(blocks, BLOCK, caching=caching),
        max_batch=max_batch,
        max_waiting=max_waiting,
        prefill_chunk=prefill_chunk,
        per_user=per_user,
    )


def prompt(n: int, base: int = 100) -> list[int]:
    return list(range(base, base + n))


def step(s: Scheduler, token: int = 7) -> StepPlan:
    """plan + finish_step, every sampled reply getting `token`."""
    plan = s.plan()
    s.finish_step({w.reply_id: token for w in plan.work if w.sample}, ())
    return plan


def spans(plan: StepPlan) -> list[tuple[str, int, int]]:
    return [(w.reply_id, w.start, w.start + len(w.tokens)) for w in plan.work]


def test_importing_engine_types_scheduler_and_blocks_does_not_import_torch() -> None:
    code = (
        "import sys, tickertape.engine, tickertape.engine.types, tickertape.engine.scheduler, "
        "tickertape.engine.blocks, tickertape.engine.config, tickertape.engine.factory, "
        "tickertape.engine.support; "
        "sys.exit(1 if 'torch' in sys.modules or 'transformers' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_admits_fifo_up_to_max_batch_and_reports_positions() -> None:
    s = make(max_batch=2)
    for i in range(4):
        s.add(f"r{i}", f"u{i}", prompt(4))
    plan = s.plan()
    assert plan.admitted == ("r0", "r1")
    assert plan.queued == (("r2", 0), ("r3", 1))
    assert s.counts() == (2, 2)
    assert s.plan().queued == ()  # unchanged positions are not reported again


def test_work_carries_positions_tokens_and_blocks() -> None:
    s = make(prefill_chunk=64)
    s.add("a", "u", prompt(6))
    plan = s.plan()
    (w,) = plan.work
    assert (w.start, w.tokens, w.prompt_len, w.sample) == (0, tuple(prompt(6)), 6, True)
    assert len(w.blocks) == 2
    s.finish_step({"a": 42}, ())
    (w,) = s.plan().work
    assert (w.start, w.tokens, w.sample) == (6, (42,), True)


def test_chunked_prefill_respects_the_step_budget_and_rows_come_first() -> None:
    s = make(prefill_chunk=16)
    s.add("long", "u1", prompt(40))
    s.add("short", "u2", prompt(5, 500))
    assert spans(step(s)) == [("long", 0, 16)]
    assert spans(step(s)) == [("long", 16, 32)]
    # The rest of the long prompt and the whole short one fit in one budget.
    third = step(s)
    assert spans(third) == [("long", 32, 40), ("short", 0, 5)]
    assert [w.sample for w in third.work] == [True, True]
    assert spans(step(s)) == [("long", 40, 41), ("short", 5, 6)]


def test_decoding_rows_are_not_stalled_by_a_long_prompt() -> None:
    s = make(prefill_chunk=8)
    s.add("a", "u1", prompt(2))
    step(s)
    s.add("huge", "u2", prompt(100, 300))
    for _ in range(5):
        plan = step(s)
        assert plan.work[0].reply_id == "a"
        assert len(plan.work[0].tokens) == 1
        assert sum(len(w.tokens) for w in plan.work[1:]) <= 8


def test_admission_waits_for_blocks_not_for_slots() -> None:
    # 6 blocks of 4: a 14-token prompt needs 4, leaving 2 (one is headroom for it).
    s = make(max_batch=4, blocks=6, prefill_chunk=64)
    s.add("big", "u1", prompt(14))
    s.add("next", "u2", prompt(6, 300))
    plan = step(s)
    assert plan.admitted == ("big",)
    assert plan.queued == (("next", 0),)
    s.finish_step({}, ("big",))
    assert s.plan().admitted == ("next",)


def test_the_newest_reply_is_preempted_and_recomputed_with_its_tokens() -> None:
    s = make(max_batch=2, blocks=4, prefill_chunk=64, caching=False)
    s.add("old", "u1", prompt(3))
    s.add("new", "u2", prompt(3, 300))
    assert step(s, token=1).admitted == ("old", "new")
    # Each grows one position per step; at position 4 each needs its second block,
    # then the pool (4 blocks) runs out when both need a third.
    preempted: list[str] = []
    for _ in range(6):
        plan = step(s, token=1)
        preempted += plan.preempted
    assert preempted == ["new"]
    assert s.preemptions == 1
    waiting, running = s.counts()
    assert (waiting, running) == (1, 1)
    s.finish_step({}, ("old",))
    plan = s.plan()
    assert plan.admitted == ("new",)
    assert plan.queued == ()  # a preempted reply is already streaming: no queue position
    (w,) = plan.work
    # Recomputed from position 0: its prompt and every token it generated so far.
    assert w.start == 0
    assert w.tokens[:3] == tuple(prompt(3, 300))
    assert set(w.tokens[3:]) == {1}
    assert w.prompt_len == 3


def test_a_reply_alone_preempts_itself_only_if_it_cannot_fit() -> None:
    s = make(max_batch=2, blocks=2, prefill_chunk=64, caching=False)
    s.add("a", "u", prompt(2))
    for _ in range(5):
        plan = step(s)
        assert plan.preempted == ()
    assert s.counts() == (0, 1)


def test_prefix_cache_hits_skip_computed_blocks() -> None:
    s = make(prefill_chunk=64)
    s.add("first", "u", prompt(10))
    step(s)
    s.finish_step({}, ("first",))
    s.add("second", "u", [*prompt(10), 1, 2, 3])
    plan = s.plan()
    (w,) = plan.work
    assert w.start == 8  # two full blocks of 4 reused
    stats = s.pool_stats()
    assert stats["prefix_cache_hit_tokens"] == 8
    assert stats["prefix_cache_queried_tokens"] == 23
    assert stats["prefix_cache_hit_rate"] == pytest.approx(8 / 23)


def test_per_user_cap_does_not_block_other_users() -> None:
    s = make(max_batch=4, per_user=1)
    s.add("a1", "alice", prompt(1))
    s.add("a2", "alice", prompt(1))
    s.add("b1", "bob", prompt(1))
    plan = step(s)
    assert plan.admitted == ("a1", "b1")
    assert plan.queued == (("a2", 0),)
    s.finish_step({}, ("a1",))
    assert s.plan().admitted == ("a2",)


def test_queue_position_skips_replies_held_by_their_users_cap() -> None:
    s = make(max_batch=1, per_user=1)
    s.add("a1", "alice", prompt(1))
    s.add("a2", "alice", prompt(1))  # held by alice's cap
    s.add("b1", "bob", prompt(1))
    assert s.plan().queued == (("a2", 0), ("b1", 0))


def test_cancel_waiting_and_running() -> None:
    s = make(max_batch=1)
    s.add("run", "u1", prompt(1))
    s.add("wait", "u2", prompt(1))
    step(s)
    assert s.cancel("wait")
    assert s.cancel("run")
    assert not s.cancel("run")  # already being stopped
    assert not s.cancel("unknown")
    # Both end at the step boundary (the running one is released there).
    assert set(s.finish_step({}, ())) == {"run", "wait"}
    assert s.plan().stopped == ()
    assert s.counts() == (0, 0)
    assert s.pool.used == 0


def test_full_queue_raises_overloaded_with_a_retry_after() -> None:
    s = make(max_waiting=2)
    s.add("a", "u", prompt(1))
    s.add("b", "u", prompt(1))
    with pytest.raises(EngineOverloaded) as info:
        s.add("c", "u", prompt(1))
    assert info.value.retry_after_ms is not None
    assert info.value.retry_after_ms >= 50
    with pytest.raises(EngineOverloaded):
        s.check_capacity()


def test_retry_after_is_the_wait_for_the_backlog_ahead() -> None:
    # waiting ahead x average reply duration / batch, clamped.
    s = make(max_batch=8, max_waiting=100)
    s._reply_s = 2.0  # as measured from finished replies
    assert s.retry_after_ms() == 50  # nothing waiting: the floor
    for i in range(72):
        s.add(f"r{i}", "u", prompt(1))
    assert s.retry_after_ms() == 72 * 2000 // 8  # 18 s, not 50 ms
    s._reply_s = 100.0
    assert s.retry_after_ms() == 60_000  # the ceiling


def test_reply_duration_is_measured_on_release() -> None:
    s = make()
    s.add("a", "u", prompt(1))
    step(s)
    s._by_id["a"].admitted_at -= 10.0  # it ran for ten seconds
    s.finish_step({}, ("a",))
    assert s._reply_s > 2.0


def test_wait_for_work_blocks_only_while_idle() -> None:
    s = make()
    assert not s.wait_for_work(timeout=0.01)
    s.add("a", "u", prompt(1))
    assert s.wait_for_work(timeout=0)


def test_close_drains_everything_and_refuses_new_work() -> None:
    s = make(max_batch=1)
    s.add("a", "u", prompt(1))
    s.add("b", "u", prompt(1))
    step(s)
    s.close()
    assert s.wait_for_work(timeout=0)
    plan = s.plan()
    assert plan.closing
    assert set(plan.stopped) == {"a", "b"}
    assert s.pool.used == 0
    with pytest.raises(EngineUnavailable):
        s.add("c", "u", prompt(1))


def test_duplicate_and_empty_requests_are_rejected() -> None:
    s = make()
    s.add("a", "u", prompt(1))
    with pytest.raises(ValueError, match="already"):
        s.add("a", "u", prompt(1))
    with pytest.raises(ValueError, match="one token"):
        s.add("b", "u", [])


def test_work_is_a_plain_value() -> None:
    w = Work("a", 0, (1, 2), (0,), 2, True)
    assert w == Work("a", 0, (1, 2), (0,), 2, True)
