"""A RemoteEngine whose upstream is tickertape's own OpenAI router (one tier chained to another)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.sink import CollectingSink
from tickertape.engine.remote import RemoteEngine
from tickertape.engine.types import ChatMessage, FinishReason, SamplingParams

pytestmark = pytest.mark.timeout(30)


async def test_remote_engine_against_the_router(served: Any) -> None:
    engine = RemoteEngine(served.url, None, api_key=served.key, timeout_s=5.0)
    await engine.start()
    try:
        assert (engine.model_name, engine.context_length) == ("test-model", 2048)
        params = SamplingParams(max_tokens=4, top_k=3, stop=("lazy",), seed=1)
        prompt = await engine.prepare([ChatMessage("user", "hi")], params)
        sink = CollectingSink()
        engine.submit("r1", "u1", prompt, params, sink)
        result = await sink.finished()
        assert sink.text == "The quick brown fox"
        assert result.finish_reason is FinishReason.LENGTH
        assert result.usage.completion_tokens == 4
        (seen,) = [p for _, p, _ in served.engine.submitted.values()]
        assert (seen.max_tokens, seen.top_k, seen.stop, seen.seed) == (4, 3, ("lazy",), 1)

        # stop() on the socket tier reaches the engine behind the router.
        prompt = await engine.prepare([ChatMessage("user", "forever")], params)
        sink = CollectingSink()
        engine.submit("r2", "u1", prompt, SamplingParams(max_tokens=64), sink)
        assert await asyncio.wait_for(sink.wait_for_text(), 10)
        engine.stop("r2")
        assert (await sink.finished()).finish_reason is FinishReason.STOPPED
        inner = [rid for rid, (_, p, _) in served.engine.submitted.items() if p.max_tokens == 64]
        await asyncio.wait_for(served.engine.stops[inner[0]].wait(), 10)
    finally:
        await engine.close()
