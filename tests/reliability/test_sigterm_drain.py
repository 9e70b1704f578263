"""SIGTERM with 100 live streams: 1012 for all, stored text == received text, bounded exit."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.reliability.helpers import RELAXED_LIMITS, env_int, long_params
from tests.support.server import make_server
from tests.support.wsclient import client

STREAMS = env_int("TICKERTAPE_TEST_DRAIN_STREAMS", 100)
MAX_BATCH = 32
SHUTDOWN_TIMEOUT_S = 10.0
CLOSE_SERVICE_RESTART = 1012


@dataclass
class Seen:
    conversation_id: str = ""
    reply_id: str = ""
    text: str = ""
    last_seq: int = 0
    end: dict[str, object] | None = None
    close_code: int | None = None
    violation: str | None = None


async def _stream(
    url: str, seen: Seen, first_token: asyncio.Event, all_accepted: list[int]
) -> None:
    async with client(url, open_timeout=60) as c:
        accepted = await c.chat(
            "Tell me about the sea.", uuid.uuid4().hex, params=long_params(2000)
        )
        assert accepted["type"] == "accepted", accepted
        seen.conversation_id, seen.reply_id = accepted["conversation_id"], accepted["reply_id"]
        all_accepted[0] += 1
        try:
            while True:
                frame = await c.recv_type("token", "end", timeout=120)
                if frame["type"] == "end":
                    seen.end = frame
                    continue
                if frame["seq"] != seen.last_seq + 1 or seen.end is not None:
                    seen.violation = f"token seq {frame['seq']} after {seen.last_seq}"
                seen.text += frame["text"]
                seen.last_seq = frame["seq"]
                first_token.set()
        except ConnectionClosed:
            seen.close_code = c.ws.close_code


async def _sse(base_url: str, events: list[object], streaming: asyncio.Event) -> None:
    """A streamed chat completion alongside: its events to the end of the response."""
    body = {
        "model": "tickertape-demo",
        "messages": [{"role": "user", "content": "Tell me about the sea."}],
        "stream": True,
        **long_params(2000),
    }
    async with (
        httpx.AsyncClient(timeout=120) as http,
        http.stream("POST", f"{base_url}/v1/chat/completions", json=body) as answer,
    ):
        assert answer.status_code == 200, await answer.aread()
        async for line in answer.aiter_lines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                events.append(data if data == "[DONE]" else json.loads(data))
                streaming.set()


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_sigterm_interrupts_every_stream_and_stores_what_was_sent(tmp_path: Path) -> None:
    flags = (
        *RELAXED_LIMITS,
        "--max-batch",
        str(MAX_BATCH),
        "--max-tokens",
        "2000",
        "--shutdown-timeout-s",
        str(SHUTDOWN_TIMEOUT_S),
    )
    server = make_server(tmp_path, *flags)
    server.start()
    seen = [Seen() for _ in range(STREAMS)]
    first_token = asyncio.Event()
    accepted = [0]
    try:
        # The SSE reply first: behind 100 WebSocket replies it would stream only once they
        # had ended, and the signal must find them all streaming.
        sse_events: list[object] = []
        sse_streaming = asyncio.Event()
        sse = asyncio.create_task(_sse(server.base_url, sse_events, sse_streaming))
        await asyncio.wait_for(sse_streaming.wait(), 120)
        tasks = [
            asyncio.create_task(_stream(server.ws_url, s, first_token, accepted)) for s in seen
        ]
        await asyncio.wait_for(first_token.wait(), 120)
        # Every turn is committed before the signal: the test is about replies, not refusals.
        while accepted[0] < STREAMS:
            done, _ = await asyncio.wait(tasks, timeout=0.05, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        started = time.monotonic()
        code = await asyncio.to_thread(server.terminate, SHUTDOWN_TIMEOUT_S + 30)
        exit_s = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*tasks, sse), 30)
    finally:
        server.stop()
    # Uvicorn re-raises the signal after a clean shutdown, so the exit status is "killed by
    # SIGTERM"; the log line says whether the shutdown itself was clean.
    assert code in (0, -signal.SIGTERM), server.log
    assert "shut down cleanly" in server.log
    assert exit_s <= SHUTDOWN_TIMEOUT_S, f"exit took {exit_s:.1f} s"
    assert [s.violation for s in seen if s.violation] == []
    assert {s.close_code for s in seen} == {CLOSE_SERVICE_RESTART}
    assert all(s.end is not None and s.end["finish_reason"] == "interrupted" for s in seen)
    assert any(s.text for s in seen)  # the batch was streaming when the signal came
    # The SSE rendering of an interrupted reply: an error event, never a `finish_reason`
    # that would call the cut text a whole answer.
    assert sse_events[-1] == "[DONE]"
    last = sse_events[-2]
    assert isinstance(last, dict)
    assert last["error"]["code"] == "overloaded", last
    assert not [e for e in sse_events if isinstance(e, dict) and _finished(e)]

    server.start()
    try:
        with server.http() as http:
            for s in seen:
                transcript = http.get(f"/api/conversations/{s.conversation_id}").json()
                reply = next(m for m in transcript["messages"] if m["id"] == s.reply_id)
                assert reply["status"] == "interrupted"
                assert reply["content"] == s.text, f"reply {s.reply_id}: stored != received"
    finally:
        server.stop()
    print(f"{STREAMS} streams interrupted, exit in {exit_s:.1f} s")


def _finished(event: dict[str, object]) -> bool:
    choices = event.get("choices")
    return isinstance(choices, list) and any(c.get("finish_reason") for c in choices)
