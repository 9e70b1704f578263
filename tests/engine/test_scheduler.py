"""Scheduler policy, without torch (the scheduler is plain Python)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tickertape.engine.scheduler import Move, PrefillChunk, Scheduler
from tickertape.engine.types import EngineOverloaded, EngineUnavailable


def make(
    max_batch: int = 4, max_waiting: int = 8, prefill_chunk: int = 16, per_user: int = 4
) -> Scheduler:
    return Scheduler(
        max_batch=max_batch, max_waiting=max_waiting, prefill_chunk=prefill_chunk, per_user=per_user
    )


def test_importing_engine_types_and_scheduler_does_not_import_torch() -> None:
    code = (
        "import sys, tickertape.engine, tickertape.engine.types, tickertape.engine.scheduler, "
        "tickertape.engine.config, tickertape.engine.factory; "
        "sys.exit(1 if 'torch' in sys.modules or 'transformers' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_admits_fifo_up_to_max_batch_and_reports_positions() -> None:
    s = make(max_batch=2)
    for i in range(4):
        s.add(f"r{i}", f"u{i}", 4)
    plan = s.plan()
    assert plan.admitted == ("r0", "r1")
    assert plan.occupants == ("r0", "r1")
    assert plan.queued == (("r2", 0), ("r3", 1))
    assert s.counts() == (2, 2)
    # Unchanged positions are not reported again.
    assert s.plan().queued == ()


def test_full_queue_raises_overloaded_with_retry_after() -> None:
    s = make(max_waiting=2)
    s.add("a", "u", 1)
    s.add("b", "u", 1)
    with pytest.raises(EngineOverloaded) as info:
        s.add("c", "u", 1)
    assert info.value.retry_after_ms is not None
    assert info.value.retry_after_ms >= 50


def test_retry_after_follows_measured_step_time() -> None:
    s = make(max_batch=1)
    before = s.retry_after_ms()
    for _ in range(50):
        s.record_step(1.0)  # very slow steps
    assert s.retry_after_ms() > before


def test_chunked_prefill_respects_the_step_budget() -> None:
    s = make(prefill_chunk=16)
    s.add("long", "u1", 40)
    s.add("short", "u2", 5)
    first = s.plan()
    assert first.prefill == (PrefillChunk("long", 0, 0, 16, False),)
    second = s.plan()
    assert second.prefill == (PrefillChunk("long", 0, 16, 32, False),)
    third = s.plan()
    # The rest of the long prompt and the whole short one fit in one budget.
    assert third.prefill == (
        PrefillChunk("long", 0, 32, 40, True),
        PrefillChunk("short", 1, 0, 5, True),
    )
    assert third.decode == ()
    fourth = s.plan()
    assert fourth.prefill == ()
    assert fourth.decode == ((0, "long"), (1, "short"))


def test_decoding_rows_are_not_stalled_by_a_long_prompt() -> None:
    s = make(prefill_chunk=8)
    s.add("a", "u1", 2)
    s.plan()  # a is prefilled
    s.add("huge", "u2", 100)
    for _ in range(5):
        plan = s.plan()
        assert (0, "a") in plan.decode
        assert sum(c.end - c.start for c in plan.prefill) <= 8


def test_per_user_cap_does_not_block_other_users() -> None:
    s = make(max_batch=4, per_user=1)
    s.add("a1", "alice", 1)
    s.add("a2", "alice", 1)
    s.add("b1", "bob", 1)
    plan = s.plan()
    assert plan.admitted == ("a1", "b1")
    assert plan.queued == (("a2", 0),)
    assert s.release("a1") == Move(src=1, dst=0, reply_id="b1")
    assert s.plan().admitted == ("a2",)


def test_queue_position_skips_replies_held_by_their_users_cap() -> None:
    s = make(max_batch=1, per_user=1)
    s.add("a1", "alice", 1)
    s.add("a2", "alice", 1)  # held by alice's cap
    s.add("b1", "bob", 1)
    plan = s.plan()
    assert plan.queued == (("a2", 0), ("b1", 0))


def test_release_compacts_by_moving_the_last_row() -> None:
    s = make()
    for rid in ("a", "b", "c"):
        s.add(rid, rid, 1)
    s.plan()
    assert s.release("c") is None  # the last row: nothing to move
    assert s.release("a") == Move(src=1, dst=0, reply_id="b")
    assert s.plan().occupants == ("b",)


def test_cancel_waiting_and_running() -> None:
    s = make(max_batch=1)
    s.add("run", "u1", 1)
    s.add("wait", "u2", 1)
    s.plan()
    assert s.cancel("wait")
    assert s.cancel("run")
    assert not s.cancel("run")  # already being stopped
    assert not s.cancel("unknown")
    stopped, moves = s.take_stopped()
    assert set(stopped) == {"wait", "run"}
    assert moves == ()
    assert s.counts() == (0, 0)


def test_cancel_running_moves_last_row_into_its_slot() -> None:
    s = make()
    for rid in ("a", "b", "c"):
        s.add(rid, rid, 1)
    s.plan()
    s.cancel("a")
    plan = s.plan()
    assert plan.stopped == ("a",)
    assert plan.moves == (Move(src=2, dst=0, reply_id="c"),)
    assert plan.occupants == ("c", "b")


def test_wait_for_work_blocks_only_while_idle() -> None:
    s = make()
    assert not s.wait_for_work(timeout=0.01)
    s.add("a", "u", 1)
    assert s.wait_for_work(timeout=0)


def test_close_drains_everything_and_refuses_new_work() -> None:
    s = make(max_batch=1)
    s.add("a", "u", 1)
    s.add("b", "u", 1)
    s.plan()
    s.close()
    assert s.wait_for_work(timeout=0)
    plan = s.plan()
    assert plan.closing
    assert set(plan.stopped) == {"a", "b"}
    with pytest.raises(EngineUnavailable):
        s.add("c", "u", 1)


def test_duplicate_and_empty_requests_are_rejected() -> None:
    s = make()
    s.add("a", "u", 1)
    with pytest.raises(ValueError, match="already"):
        s.add("a", "u", 1)
    with pytest.raises(ValueError, match="one token"):
        s.add("b", "u", 0)
