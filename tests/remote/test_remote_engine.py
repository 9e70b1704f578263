"""RemoteEngine against a real (fault-injecting) upstream on loopback."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import pytest

from tests.support.sink import CollectingSink
from tickertape.engine.remote import RemoteEngine
from tickertape.engine.remote_sse import SSEDecoder
from tickertape.engine.remote_stream import RemoteReply
from tickertape.engine.types import (
    ChatMessage,
    EngineOverloaded,
    EngineUnavailable,
    FinishReason,
    GenerationResult,
    OutputRules,
    PromptTooLong,
    ReplyUpdate,
    SamplingParams,
    Timing,
    Tool,
    ToolCall,
    Usage,
    text_piece,
)

MODEL = "fault-model"  # what tests/remote/conftest.py's upstream lists first
CONTEXT = 4096  # its max_model_len

pytestmark = pytest.mark.timeout(20)


async def finished(sink: CollectingSink) -> GenerationResult:
    async with asyncio.timeout(10):
        return await sink.finished()


async def submit(engine: RemoteEngine, reply_id: str, content: str) -> CollectingSink:
    params = SamplingParams()
    prompt = await engine.prepare([ChatMessage("user", content)], params)
    sink = CollectingSink()
    engine.submit(reply_id, "u1", prompt, params, sink)
    return sink


async def ask(
    engine: RemoteEngine, content: str, params: SamplingParams | None = None
) -> tuple[str, GenerationResult]:
    params = params or SamplingParams()
    prompt = await engine.prepare([ChatMessage("user", content)], params)
    sink = CollectingSink()
    engine.submit(uuid.uuid4().hex, "u1", prompt, params, sink)
    result = await finished(sink)
    return sink.text, result


async def test_discovers_model_and_context(engine: RemoteEngine, upstream: Any) -> None:
    assert engine.model_name == MODEL
    assert engine.context_length == CONTEXT
    assert engine.alive
    assert upstream.auth_headers[0] == "Bearer sk-test"


async def test_normal_stream_maps_params_and_usage(engine: RemoteEngine, upstream: Any) -> None:
    params = SamplingParams(
        max_tokens=9, temperature=0.2, top_p=0.9, top_k=5, stop=("\n\n", "END"), seed=42
    )
    text, result = await ask(engine, "normal", params)
    assert text == "Hello world"
    assert result.finish_reason is FinishReason.STOP
    assert result.usage == Usage(prompt_tokens=7, completion_tokens=4)
    assert result.timing.ttft_ms > 0
    assert result.timing.total_ms >= result.timing.ttft_ms
    body = upstream.requests[-1]
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "normal"}]
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (9, 0.2, 0.9)
    assert (body["top_k"], body["stop"], body["seed"]) == (5, ["\n\n", "END"], 42)


async def test_a_call_cut_by_the_upstreams_max_tokens_ends_incomplete(
    engine: RemoteEngine,
) -> None:
    """As the local engine: an error the client can act on, not a silent `length`."""
    text, result = await ask(engine, "cutcall", SamplingParams())
    assert text == ""
    assert result.finish_reason is FinishReason.ERROR
    assert result.error_code == "tool_call_incomplete"


async def test_a_forced_call_cut_before_it_showed_ends_incomplete(engine: RemoteEngine) -> None:
    """The upstream ends `length` before any call delta (it holds a call back until its
    name is whole): with a call forced, that is a cut call too, as it is locally."""
    forced = OutputRules(tools=(Tool("f", None, None),), tool_choice="required")
    _, result = await ask(engine, "length", SamplingParams(output=forced))
    assert (result.finish_reason, result.error_code) == (FinishReason.ERROR, "tool_call_incomplete")
    _, free = await ask(engine, "length", SamplingParams(output=OutputRules(tools=forced.tools)))
    assert free.finish_reason is FinishReason.LENGTH  # on auto, a text cut short


async def test_defaults_omit_optional_fields(engine: RemoteEngine, upstream: Any) -> None:
    await ask(engine, "normal")
    assert not {"top_k", "stop", "seed"} & upstream.requests[-1].keys()


FAULTS = [
    # mode, finish reason, error code, text kept
    ("length", FinishReason.LENGTH, None, "Hel"),
    ("garbage", FinishReason.STOP, None, "Hello"),
    ("nonjson", FinishReason.ERROR, "internal", "Hel"),
    ("errorevent", FinishReason.ERROR, "internal", "Hel"),
    ("cut", FinishReason.ERROR, "internal", "Hello"),
    ("eof", FinishReason.ERROR, "internal", "Hello"),
    ("slow", FinishReason.ERROR, "overloaded", ""),
    ("stall", FinishReason.ERROR, "internal", "Hel"),
    ("429", FinishReason.ERROR, "rate_limited", ""),
    ("500", FinishReason.ERROR, "internal", ""),
    ("503", FinishReason.ERROR, "overloaded", ""),
    ("400ctx", FinishReason.ERROR, "too_long", ""),
    ("400", FinishReason.ERROR, "bad_request", ""),
]


@pytest.mark.parametrize(("mode", "reason", "code", "kept"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_fault_then_next_request_works(
    engine: RemoteEngine, mode: str, reason: FinishReason, code: str | None, kept: str
) -> None:
    text, result = await ask(engine, mode)
    assert (result.finish_reason, result.error_code, text) == (reason, code, kept)
    if code is not None:
        assert result.error_message
    text, result = await ask(engine, "normal")
    assert (text, result.finish_reason) == ("Hello world", FinishReason.STOP)
    assert engine.alive


async def test_retry_after(engine: RemoteEngine) -> None:
    _, result = await ask(engine, "429")
    assert result.retry_after_ms == 2000
    _, result = await ask(engine, "429bare")
    assert result.retry_after_ms == 1000  # the contract always gives one
    _, result = await ask(engine, "503")
    assert (result.error_code, result.retry_after_ms) == ("overloaded", 3000)


async def test_stop_closes_upstream_stream(engine: RemoteEngine, upstream: Any) -> None:
    sink = await submit(engine, "r-stop", "endless")
    assert await asyncio.wait_for(sink.wait_for_text(), 5)
    engine.stop("r-stop")
    result = await finished(sink)
    assert result.finish_reason is FinishReason.STOPPED
    assert sink.text == "Hello"
    await asyncio.wait_for(upstream.disconnected.wait(), 5)
    assert (await ask(engine, "normal"))[0] == "Hello world"
    engine.stop("r-stop")  # a finished reply: nothing happens


async def test_concurrency_limit_queues(upstream: Any) -> None:
    engine = RemoteEngine(upstream.url, MODEL, timeout_s=5.0, max_concurrency=1, max_waiting=1)
    await engine.start()
    try:
        first = await submit(engine, "a", "hold")
        second = await submit(engine, "b", "hold")
        prompt = await engine.prepare([ChatMessage("user", "hold")], SamplingParams())
        with pytest.raises(EngineOverloaded):
            engine.submit("c", "u1", prompt, SamplingParams(), CollectingSink())
        assert await asyncio.wait_for(first.wait_for_text(), 5) == "Hel"
        assert second.updates == [ReplyUpdate(queued=0)]
        assert engine.stats().waiting == 1
        assert engine.stats().running == 1
        upstream.release.set()
        result_a, result_b = await finished(first), await finished(second)
        assert (result_a.finish_reason, result_b.finish_reason) == (FinishReason.STOP,) * 2
        assert first.text == second.text == "Hello"
        assert second.updates[0] == ReplyUpdate(queued=0)
        assert result_b.timing.queued_ms > 0
    finally:
        await engine.close()


async def test_close_stops_in_flight_replies(upstream: Any) -> None:
    engine = RemoteEngine(upstream.url, MODEL, timeout_s=5.0)
    await engine.start()
    sink = await submit(engine, "r1", "endless")
    assert await asyncio.wait_for(sink.wait_for_text(), 5)
    await engine.close()
    result = await finished(sink)
    assert result.finish_reason is FinishReason.STOPPED
    assert not engine.alive
    await asyncio.wait_for(upstream.disconnected.wait(), 5)
    prompt = await engine.prepare([ChatMessage("user", "endless")], SamplingParams())
    with pytest.raises(EngineUnavailable):
        engine.submit("r2", "u1", prompt, SamplingParams(), CollectingSink())


async def test_upstream_auth_failure_is_fatal(engine: RemoteEngine) -> None:
    _, result = await ask(engine, "401")
    assert (result.finish_reason, result.error_code) == (FinishReason.ERROR, "internal")
    assert not engine.alive
    assert engine.stats().error


async def test_unreachable_upstream() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    with pytest.raises(EngineUnavailable):
        await RemoteEngine(url, None, timeout_s=2.0).start()


async def test_upstream_going_away_is_overloaded(upstream: Any) -> None:
    engine = RemoteEngine(upstream.url + "/v1/", MODEL, timeout_s=2.0)
    await engine.start()
    try:
        await upstream.close()
        text, result = await ask(engine, "normal")
        assert (text, result.error_code) == ("", "overloaded")
        assert result.retry_after_ms
    finally:
        await engine.close()


async def test_prepare_truncates_by_known_context(engine: RemoteEngine) -> None:
    long = "x" * 8000  # ~2000 tokens by the estimate
    history = [
        ChatMessage("system", "be brief"),
        ChatMessage("user", long),
        ChatMessage("assistant", long),
        ChatMessage("user", "latest"),
    ]
    prompt = await engine.prepare(history, SamplingParams(max_tokens=256))
    assert prompt.token_ids is None
    # Whole turns go: the old question with its answer, never one without the other.
    assert prompt.dropped_messages == 2
    assert [m.content for m in prompt.messages] == ["be brief", "latest"]
    assert prompt.prompt_tokens < CONTEXT
    with_tools = [
        ChatMessage("user", "look it up"),
        ChatMessage("assistant", "", tool_calls=(ToolCall("call_1", "lookup", "{}"),)),
        ChatMessage("tool", long, tool_call_id="call_1"),
        ChatMessage("assistant", long),
        ChatMessage("user", "latest"),
    ]
    prompt = await engine.prepare(with_tools, SamplingParams(max_tokens=256))
    assert [m.role for m in prompt.messages] == ["user"]  # no result without its call
    with pytest.raises(PromptTooLong):
        await engine.prepare([ChatMessage("user", "x" * 20000)], SamplingParams())
    # A max_tokens as large as the context keeps at most half of it, as the local engine
    # does: a short prompt is not refused for it.
    short = await engine.prepare([ChatMessage("user", "Hi")], SamplingParams(max_tokens=CONTEXT))
    assert short.dropped_messages == 0


async def test_unknown_context_leaves_truncation_upstream(upstream: Any) -> None:
    engine = RemoteEngine(upstream.url, "other-model")
    await engine.start()
    try:
        prompt = await engine.prepare([ChatMessage("user", "x" * 100_000)], SamplingParams())
        assert prompt.dropped_messages == 0
        assert prompt.prompt_tokens > 25_000
    finally:
        await engine.close()


async def test_remote_reply_delivers_one_result_and_nothing_after() -> None:
    sink = CollectingSink()
    reply = RemoteReply("r1", sink)
    reply.queued(0)
    for piece in ["a", "b"]:
        reply.push(text_piece(piece))
    reply.queued(3)  # text has started: a queue position is stale
    result = GenerationResult(FinishReason.STOP, Usage(1, 2), Timing())
    assert reply.finish(result)
    reply.push(text_piece("late"))  # after the finish: dropped
    assert not reply.finish(result)
    assert sink.updates == [
        ReplyUpdate(queued=0),
        ReplyUpdate(text_piece("a")),
        ReplyUpdate(text_piece("b")),
        ReplyUpdate(result=result),
    ]


def test_sse_decoder_follows_the_spec() -> None:
    decoder = SSEDecoder()
    lines = [
        ": comment",
        "event: x",
        "data: one",
        "data:two",
        "garbage",
        "",
        "",
        "data: [DONE]",
        "",
    ]
    assert [p for line in lines if (p := decoder.feed(line)) is not None] == ["one\ntwo", "[DONE]"]
