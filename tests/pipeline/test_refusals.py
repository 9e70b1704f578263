"""Refusals never strand state: a full queue is refused before anything is committed; a
refusal after the commit ends the reply with a typed error, frees the user's place at
once, and a retry gets the stored outcome (issue 13, second finding: the lockout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipeline.conftest import Pipeline
from tests.support.app_server import serve_app
from tests.support.script_engine import ScriptEngine
from tests.support.wsclient import client

pytestmark = pytest.mark.timeout(60)


async def test_a_full_queue_is_refused_before_anything_is_stored(pipeline: Pipeline) -> None:
    pipeline.engine.queue_full = True
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        for i in range(4):  # more than max_concurrent_replies (2): nothing may leak
            refused = await ws.chat("hi", f"full-{i}")
            assert (refused["type"], refused["code"]) == ("error", "overloaded")
            assert refused["retry_after_ms"] == 4000  # the engine's estimate, passed through
            assert refused["ref"] == f"full-{i}"
        async with pipeline.http() as http:
            assert (await http.get("/api/conversations")).json()["items"] == []
        pipeline.engine.queue_full = False
        # Nothing was left in flight: the next chats go through at once.
        for i in range(2):
            accepted = await ws.chat("hi", f"ok-{i}")
            assert accepted["type"] == "accepted", accepted
            _, _, end = await ws.collect_reply(accepted["reply_id"])
            assert end["finish_reason"] == "stop"


async def test_a_refusal_after_the_commit_ends_the_reply_and_frees_the_place(
    pipeline: Pipeline,
) -> None:
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        for i in range(3):  # one more than the user's places
            accepted = await ws.chat("overload", f"late-{i}")
            assert accepted["type"] == "accepted", accepted
            text, tokens, end = await ws.collect_reply(accepted["reply_id"])
            assert (text, tokens) == ("", [])
            assert end["finish_reason"] == "error"
            assert end["error"] == {
                "code": "overloaded",
                "message": "the queue is full",
                "retry_after_ms": 1500,
            }
        # The place is free again right away (no five-minute lockout).
        accepted = await ws.chat("hi", "after")
        assert accepted["type"] == "accepted"
        text, _, end = await ws.collect_reply(accepted["reply_id"])
        assert (text, end["finish_reason"]) == (
            "The quick brown fox jumps over the lazy dog",
            "stop",
        )
    # A retry of a refused turn's client_msg_id, on a new connection, gets the stored outcome.
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        retried = await ws.chat("overload", "late-0")
        assert retried["type"] == "accepted"
        _, _, end = await ws.collect_reply(retried["reply_id"])
        assert end["finish_reason"] == "error"
        assert end["error"]["code"] == "overloaded"
        await ws.send({"type": "resume", "reply_id": retried["reply_id"], "last_seq": 0})
        resumed = await ws.recv_type("end", skip=("snapshot",))
        assert resumed["error"]["code"] == "overloaded"
    async with pipeline.http() as http:
        conversation = (await http.get(f"/api/conversations/{retried['conversation_id']}")).json()
        reply = conversation["messages"][1]
        assert (reply["status"], reply["finish_reason"]) == ("error", "error")


async def test_a_full_queue_on_the_openai_api_is_a_503_and_stores_nothing(
    pipeline: Pipeline,
) -> None:
    pipeline.engine.queue_full = True
    async with pipeline.http() as http:
        for stream in (False, True):
            body = pipeline.completion("hi", store=True, stream=stream)
            refused = await http.post("/v1/chat/completions", json=body)
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "overloaded"
            assert refused.headers["retry-after-ms"] == "4000"
        assert (await http.get("/api/conversations")).json()["items"] == []


async def test_a_stored_failure_replays_its_retry_after(tmp_path: Path) -> None:
    """Out of memory (retention 0), `resume` reads the `end` from the store: the same
    error as live, `retry_after_ms` included."""
    engine = ScriptEngine()
    async with (
        serve_app(tmp_path, lambda _: engine, users=("alice",), resume_retention_s=0.0) as app,
        client(app.ws_url, app.token("alice")) as ws,
    ):
        accepted = await ws.chat("overload", "refused-late")
        _, _, live = await ws.collect_reply(accepted["reply_id"])
        assert live["error"]["retry_after_ms"] == 1500
        await ws.send({"type": "resume", "reply_id": accepted["reply_id"], "last_seq": 0})
        stored = await ws.recv_type("end", skip=("snapshot",))
        assert stored["error"] == live["error"]
