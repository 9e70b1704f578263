"""LocalEngine end to end on a real (small) model: batching, stops, limits, failures."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.engine.conftest import EngineFactory, build_tiny_model, run, submit
from tests.support.sink import CollectingSink
from tickertape.engine import local
from tickertape.engine.config import EngineConfig
from tickertape.engine.loader import Loaded
from tickertape.engine.local import LocalEngine
from tickertape.engine.loop import FaultHook
from tickertape.engine.types import (
    ChatMessage,
    EngineOverloaded,
    EngineUnavailable,
    FinishReason,
    PromptTooLong,
    SamplingParams,
)

SLOW_CALLBACK_S = 0.05

QUESTIONS = [
    "What is the weather in Paris?",
    "Tell me a joke.",
    "hello",
    "What can you do?",
    "Tell me about Tokyo.",
    "How do I bake bread?",
]
GREEDY = SamplingParams(max_tokens=32, temperature=0.0)
SEEDED = SamplingParams(max_tokens=32, temperature=1.0, top_p=0.9, top_k=50, seed=1234)
LONG = SamplingParams(max_tokens=400, temperature=0.0, ignore_eos=True)


def pause_until(gate: threading.Event) -> FaultHook:
    """Hold the generation thread before each step until the gate opens."""

    def hook(phase: str, ids: tuple[str, ...]) -> None:
        if phase == "step":
            gate.wait()

    return hook


async def test_model_name_and_context(make_engine: EngineFactory) -> None:
    engine = await make_engine()
    assert engine.alive
    assert engine.context_length > 64
    assert engine.stats().alive


async def test_the_model_loads_on_a_thread_that_is_gone_before_serving(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not on a default-executor thread, which lives on with the OpenMP team the load
    created and makes libgomp throttle the generation thread's team (engine/local.py)."""
    loaders: list[threading.Thread] = []
    real_load = local.load

    def recording_load(config: EngineConfig) -> Loaded:
        loaders.append(threading.current_thread())
        return real_load(config)

    monkeypatch.setattr(local, "load", recording_load)
    engine = await make_engine()
    assert engine.alive
    assert [t.name for t in loaders] == ["tickertape-load"]
    assert not loaders[0].is_alive()


async def test_a_load_that_fails_raises_from_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_load(config: EngineConfig) -> Loaded:
        raise ValueError("no such checkpoint here")

    monkeypatch.setattr(local, "load", failing_load)
    engine = LocalEngine(EngineConfig(model="nowhere"))
    with pytest.raises(ValueError, match="no such checkpoint here"):
        await engine.start()
    assert not engine.alive


@pytest.mark.parametrize("params", [GREEDY, SEEDED], ids=["greedy", "seeded"])
async def test_batched_output_equals_each_request_run_alone(
    make_engine: EngineFactory, params: SamplingParams
) -> None:
    engine = await make_engine()
    alone = [(await run(engine, f"alone{i}", q, params)).text for i, q in enumerate(QUESTIONS)]
    assert any(alone)
    together = await asyncio.gather(
        *(run(engine, f"batch{i}", q, params) for i, q in enumerate(QUESTIONS))
    )
    assert [r.text for r in together] == alone


async def test_requests_join_and_leave_mid_batch(make_engine: EngineFactory) -> None:
    engine = await make_engine()
    long_params = SamplingParams(max_tokens=48, temperature=0.0, ignore_eos=True)
    short_params = SamplingParams(max_tokens=3, temperature=0.0, ignore_eos=True)
    ref_long = (await run(engine, "ref-long", QUESTIONS[0], long_params)).text
    ref_short = [
        (await run(engine, f"ref{i}", q, short_params)).text for i, q in enumerate(QUESTIONS)
    ]
    # The long reply is decoding when the short ones join; they leave while it goes on.
    long_sink = await submit(engine, "long", QUESTIONS[0], long_params)
    await long_sink.wait_for_text()
    shorts = []
    for i, q in enumerate(QUESTIONS):
        shorts.append(await run(engine, f"short{i}", q, short_params))
    await long_sink.finished()
    long_run = long_sink
    assert long_run.text == ref_long
    assert long_run.result.finish_reason is FinishReason.LENGTH
    assert [s.text for s in shorts] == ref_short
    assert all(s.result.usage.completion_tokens == 3 for s in shorts)
    assert engine.stats().running == 0


async def test_max_tokens_ends_with_length(make_engine: EngineFactory) -> None:
    engine = await make_engine()
    r = await run(
        engine, "r", "hello", SamplingParams(max_tokens=5, temperature=0, ignore_eos=True)
    )
    assert r.result.finish_reason is FinishReason.LENGTH
    assert r.result.usage.completion_tokens == 5
    timing = r.result.timing
    assert 0 <= timing.queued_ms <= timing.ttft_ms <= timing.total_ms


async def test_context_limit_ends_with_length(make_engine: EngineFactory) -> None:
    engine = await make_engine(max_context=64)
    r = await run(
        engine, "r", "hello", SamplingParams(max_tokens=500, temperature=0, ignore_eos=True)
    )
    assert r.result.finish_reason is FinishReason.LENGTH
    assert r.result.usage.prompt_tokens + r.result.usage.completion_tokens == 64


async def test_eos_ends_with_stop(make_engine: EngineFactory) -> None:
    engine = await make_engine()
    results = [await run(engine, f"r{i}", q, GREEDY) for i, q in enumerate(QUESTIONS)]
    # The demo model is trained to end its answers; a random fallback model may not.
    for r in results:
        assert r.result.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)
        assert "<|im_end|>" not in r.text


async def test_stop_string_ends_reply_and_is_not_emitted(make_engine: EngineFactory) -> None:
    engine = await make_engine()
    params = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True)
    full = (await run(engine, "full", QUESTIONS[0], params)).text
    assert len(full) > 12
    stop = full[8:12]
    cut = full.index(stop)
    r = await run(engine, "cut", QUESTIONS[0], replace(params, stop=(stop,)))
    assert r.result.finish_reason is FinishReason.STOP
    assert r.text == full[:cut]


async def test_stop_takes_effect_within_one_step(make_engine: EngineFactory) -> None:
    engine = await make_engine()
    sink = await submit(engine, "r", "hello", LONG)
    await sink.wait_for_text()
    decoded_before = engine.stats().decode_tokens
    engine.stop("r")
    result = await sink.finished()
    assert result.finish_reason is FinishReason.STOPPED
    # 1 token from the prefill, the decode steps done before stop(), at most one more.
    assert result.usage.completion_tokens <= 1 + decoded_before + 1
    assert engine.stats().running == 0


async def test_stop_a_waiting_reply(make_engine: EngineFactory) -> None:
    engine = await make_engine(max_batch=1)
    gate = threading.Event()
    engine.set_fault_hook(pause_until(gate))
    first = await submit(engine, "first", "hello", LONG)
    second = await submit(engine, "second", "hello", LONG)
    engine.stop("second")
    gate.set()
    r = await second.finished()
    assert r.finish_reason is FinishReason.STOPPED
    assert second.text == ""
    engine.stop("first")
    assert (await first.finished()).finish_reason is FinishReason.STOPPED


async def test_prompt_too_long(make_engine: EngineFactory) -> None:
    engine = await make_engine(max_context=64)
    with pytest.raises(PromptTooLong):
        await engine.prepare([ChatMessage("user", "word " * 200)], GREEDY)


async def test_history_is_truncated_oldest_turns_first(make_engine: EngineFactory) -> None:
    engine = await make_engine(max_context=128, system_prompt="You are terse.")
    history: list[ChatMessage] = []
    for i in range(12):
        history += [ChatMessage("user", f"question {i} " * 3), ChatMessage("assistant", "ok " * 4)]
    history.append(ChatMessage("user", "the latest question"))
    prompt = await engine.prepare(history, SamplingParams(max_tokens=32))
    assert prompt.dropped_messages > 0
    assert prompt.messages[0] == ChatMessage("system", "You are terse.")
    assert prompt.messages[-1] == history[-1]
    assert prompt.messages[1].role == "user"  # whole turns are dropped
    assert prompt.prompt_tokens <= 128 - 32
    assert prompt.messages[1:] == tuple(history[prompt.dropped_messages :])
    sink = CollectingSink()
    engine.submit("r", "u", prompt, SamplingParams(max_tokens=8), sink)
    assert (await sink.finished()).usage.prompt_tokens == prompt.prompt_tokens


async def test_full_queue_is_overloaded_and_positions_are_reported(
    make_engine: EngineFactory,
) -> None:
    engine = await make_engine(max_batch=1, max_waiting=2)
    gate = threading.Event()
    engine.set_fault_hook(pause_until(gate))
    params = SamplingParams(max_tokens=4, temperature=0, ignore_eos=True)
    streams = [await submit(engine, f"r{i}", "hello", params) for i in range(2)]
    with pytest.raises(EngineOverloaded) as info:
        await submit(engine, "r2", "hello", params)
    assert info.value.retry_after_ms is not None
    assert info.value.retry_after_ms > 0
    gate.set()
    results = await asyncio.gather(*(s.finished() for s in streams))
    assert streams[0].queued == []
    assert streams[1].queued[:1] == [0]
    assert all(r.finish_reason is FinishReason.LENGTH for r in results)


async def test_per_user_cap_holds_extra_replies_without_blocking_others(
    make_engine: EngineFactory,
) -> None:
    engine = await make_engine(max_batch=4, per_user_concurrency=1)
    gate = threading.Event()
    engine.set_fault_hook(pause_until(gate))
    a1 = await submit(engine, "a1", "hello", LONG, user="alice")
    a2 = await submit(engine, "a2", "hello", GREEDY, user="alice")
    b1 = await submit(engine, "b1", "hello", GREEDY, user="bob")
    gate.set()
    await b1.finished()  # finishes while alice's first reply still runs
    assert b1.queued == []
    assert engine.stats().running == 1
    engine.stop("a1")
    alice2 = await a2.finished()
    assert a2.queued == [0]
    assert alice2.timing.queued_ms > 0
    assert (await a1.finished()).finish_reason is FinishReason.STOPPED


async def test_exception_in_a_step_ends_only_affected_replies(make_engine: EngineFactory) -> None:
    engine = await make_engine()

    def hook(phase: str, ids: tuple[str, ...]) -> None:
        if phase in ("prefill", "token") and ("bad-prefill" in ids or "bad-token" in ids):
            raise RuntimeError(f"injected {phase} failure")

    engine.set_fault_hook(hook)
    params = SamplingParams(max_tokens=24, temperature=0, ignore_eos=True)
    good = await submit(engine, "good", "hello", params)
    await good.wait_for_text()
    bad_prefill = await run(engine, "bad-prefill", "hello", params)
    bad_token = await run(engine, "bad-token", "What can you do?", params)
    for bad in (bad_prefill, bad_token):
        assert bad.result.finish_reason is FinishReason.ERROR
        assert bad.result.error_code == "internal"
        assert "injected" in (bad.result.error_message or "")
    assert (await good.finished()).finish_reason is FinishReason.LENGTH
    after = await run(engine, "after", "hello", params)
    assert after.result.finish_reason is FinishReason.LENGTH
    assert engine.alive


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_loop_death_flips_alive_and_fails_inflight(make_engine: EngineFactory) -> None:
    engine = await make_engine()
    sink = await submit(engine, "r", "hello", LONG)
    await sink.wait_for_text()

    def die(phase: str, ids: tuple[str, ...]) -> None:
        if phase == "step":
            raise SystemError("boom")

    engine.set_fault_hook(die)
    result = await sink.finished()
    assert result.finish_reason is FinishReason.ERROR
    assert not engine.alive
    stats = engine.stats()
    assert not stats.alive
    assert stats.error is not None
    assert "boom" in stats.error
    with pytest.raises(EngineUnavailable):
        await submit(engine, "late", "hello", GREEDY)


async def test_event_loop_is_never_blocked(
    make_engine: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await make_engine()
    # asyncio's debug mode times every callback and logs each one that held the loop for
    # longer than `slow_callback_duration`: a forward pass or a tokenization on the loop
    # would show up here. Far above any hand-off, far below a batch's prefill.
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_S
    params = SamplingParams(max_tokens=64, temperature=0.8, seed=1, ignore_eos=True)
    try:
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            await asyncio.gather(
                *(run(engine, f"r{i}", q, params) for i, q in enumerate(QUESTIONS * 2))
            )
    finally:
        loop.set_debug(False)
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert not slow, slow


async def test_slow_consumer_gets_merged_text_and_does_not_slow_others(
    make_engine: EngineFactory,
) -> None:
    engine = await make_engine()
    params = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True)
    ref = (await run(engine, "ref", QUESTIONS[1], params)).text
    slow = await submit(engine, "slow", QUESTIONS[1], params)
    fast = await run(engine, "fast", QUESTIONS[1], params)  # slow is not read meanwhile
    assert fast.text == ref
    await slow.finished()
    assert slow.text == ref
    # One update per step at most, each delivered on the event loop.
    assert len(slow.updates) <= 40 + 1
    assert fast.result.usage.completion_tokens == 40


async def test_close_stops_running_and_waiting_replies(make_engine: EngineFactory) -> None:
    engine = await make_engine(max_batch=1)
    running = await submit(engine, "running", "hello", LONG)
    await running.wait_for_text()
    waiting = await submit(engine, "waiting", "hello", LONG)
    await engine.close()
    assert (await running.finished()).finish_reason is FinishReason.STOPPED
    assert (await waiting.finished()).finish_reason is FinishReason.STOPPED
    assert not engine.alive


async def test_a_tiny_random_checkpoint_from_disk_works(tmp_path: Path) -> None:
    # The fallback fixture (and any local Llama checkpoint dir) loads and generates.
    engine = LocalEngine(EngineConfig(model=str(build_tiny_model(tmp_path)), max_batch=2))
    await engine.start()
    try:
        assert engine.model_name == tmp_path.name
        r = await run(engine, "r", "hello", SamplingParams(max_tokens=6, ignore_eos=True))
        assert r.result.finish_reason is FinishReason.LENGTH
        assert r.result.usage.completion_tokens == 6
    finally:
        await engine.close()
