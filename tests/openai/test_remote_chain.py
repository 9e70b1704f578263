"""A RemoteEngine whose upstream is tickertape's own OpenAI router (one tier chained to another)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tickertape.engine.remote import RemoteEngine
from tickertape.engine.types import (
    ChatMessage,
    FinishEvent,
    FinishReason,
    SamplingParams,
    TextEvent,
)

pytestmark = pytest.mark.timeout(30)


async def test_remote_engine_against_the_router(served: Any) -> None:
    engine = RemoteEngine(served.url, None, api_key="test-key", timeout_s=5.0)
    await engine.start()
    try:
        assert (engine.model_name, engine.context_length) == ("test-model", 2048)
        params = SamplingParams(max_tokens=4, top_k=3, stop=("lazy",), seed=1)
        prompt = await engine.prepare([ChatMessage("user", "hi")], params)
        events = [e async for e in engine.submit("r1", "u1", prompt, params)]
        text = "".join(e.text for e in events if isinstance(e, TextEvent))
        assert text == "The quick brown fox"
        finish = events[-1]
        assert isinstance(finish, FinishEvent)
        assert finish.result.finish_reason is FinishReason.LENGTH
        assert finish.result.usage.completion_tokens == 4
        (seen,) = [p for _, p, _ in served.engine.submitted.values()]
        assert (seen.max_tokens, seen.top_k, seen.stop, seen.seed) == (4, 3, ("lazy",), 1)

        # stop() on the socket tier reaches the engine behind the router.
        prompt = await engine.prepare([ChatMessage("user", "forever")], params)
        stream = aiter(engine.submit("r2", "u1", prompt, SamplingParams(max_tokens=64)))
        assert isinstance(await asyncio.wait_for(anext(stream), 10), TextEvent)
        engine.stop("r2")
        rest = [e async for e in stream]
        assert isinstance(rest[-1], FinishEvent)
        assert rest[-1].result.finish_reason is FinishReason.STOPPED
        inner = [rid for rid, (_, p, _) in served.engine.submitted.items() if p.max_tokens == 64]
        await asyncio.wait_for(served.engine.stops[inner[0]].wait(), 10)
    finally:
        await engine.close()
