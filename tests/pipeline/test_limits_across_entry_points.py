"""One user's WebSocket turns, OpenAI completions and Responses share one in-flight count
and one message rate: the limits hold whatever the entry point (issue 13, first finding)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from tests.pipeline.conftest import Pipeline
from tests.support.wsclient import client

pytestmark = pytest.mark.timeout(60)


async def test_completions_count_against_the_users_replies_in_flight(pipeline: Pipeline) -> None:
    async with pipeline.http() as http:
        # Two streaming completions that never end on their own: the user's two places.
        streams = [
            http.stream(
                "POST",
                "/v1/chat/completions",
                json=pipeline.completion("forever", stream=True),
            )
            for _ in range(2)
        ]
        responses = [await s.__aenter__() for s in streams]
        try:
            for response in responses:
                assert response.status_code == 200
            third = await http.post("/v1/chat/completions", json=pipeline.completion("hi"))
            assert third.status_code == 429
            assert third.json()["error"]["message"] == "too many replies in flight"
            async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
                refused = await ws.chat("hello", "w1")
                assert (refused["type"], refused["code"]) == ("error", "rate_limited")
                assert refused["message"] == "too many replies in flight"
            # Another user is not affected.
            async with pipeline.http("bob") as bob:
                answer = await bob.post("/v1/chat/completions", json=pipeline.completion("hi"))
                assert answer.status_code == 200
        finally:
            for stream in streams:
                await stream.__aexit__(None, None, None)
    # The streams' readers left: their replies stop and the places come back.
    await asyncio.wait_for(_all_stopped(pipeline), 10)
    async with pipeline.http() as http:
        again = await http.post("/v1/chat/completions", json=pipeline.completion("hi"))
        assert again.status_code == 200


async def _all_stopped(pipeline: Pipeline) -> None:
    for reply_id, (_, _, prompt) in pipeline.engine.submitted.items():
        if prompt.messages[-1].content == "forever":
            await pipeline.engine.stops[reply_id].wait()


async def test_one_message_rate_across_entry_points(pipeline: Pipeline) -> None:
    async with (
        pipeline.http() as http,
        client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws,
    ):
        for i in range(3):  # 3 completions (one stored) + 2 chats = the 5 a minute
            body = pipeline.completion("hi", store=i == 0)
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
        for i in range(2):
            accepted = await ws.chat("hi", f"m{i}")
            assert accepted["type"] == "accepted"
            await ws.collect_reply(accepted["reply_id"])
        refused = await http.post(
            "/v1/chat/completions", json=pipeline.completion("hi", store=True)
        )
        assert refused.status_code == 429
        assert int(refused.headers["retry-after-ms"]) > 0
        limited = await ws.chat("hi", "m9")
        assert (limited["type"], limited["code"]) == ("error", "rate_limited")
        assert limited["message"] == "too many messages"
        # The refused stored completion left no conversation behind: one stored exchange
        # and the two WebSocket conversations.
        listing = (await http.get("/api/conversations")).json()
        assert len(listing["items"]) == 3


async def test_responses_share_the_in_flight_count(pipeline: Pipeline) -> None:
    """A background response and a streaming completion take the user's two places: the
    next turn is refused on every entry point, /v1/responses' WebSocket mode included;
    cancelling the response gives its place back."""
    responses_ws = pipeline.app.url.replace("http://", "ws://") + "/v1/responses"
    headers = {"Authorization": f"Bearer {pipeline.app.token('alice')}"}
    async with pipeline.http() as http:
        background = await http.post("/v1/responses", json={"input": "forever", "background": True})
        assert background.status_code == 200, background.text
        response_id = background.json()["id"]
        stream = http.stream(
            "POST", "/v1/chat/completions", json=pipeline.completion("forever", stream=True)
        )
        completion = await stream.__aenter__()
        try:
            assert completion.status_code == 200
            refused = await http.post("/v1/responses", json={"input": "hi"})
            assert refused.status_code == 429
            assert refused.json()["error"]["message"] == "too many replies in flight"
            assert refused.headers["retry-after-ms"] == "1000"
            third = await http.post("/v1/chat/completions", json=pipeline.completion("hi"))
            assert third.status_code == 429
            async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
                chat = await ws.chat("hello", "w1")
                assert (chat["type"], chat["code"]) == ("error", "rate_limited")
            async with connect(responses_ws, additional_headers=headers) as mode:
                await mode.send(json.dumps({"type": "response.create", "input": "hi"}))
                error = json.loads(await mode.recv())
                assert (error["type"], error["status"]) == ("error", 429)
                assert error["error"]["code"] == "rate_limit_exceeded"
                assert error["error"]["headers"] == {"retry-after-ms": "1000"}
            cancelled = await http.post(f"/v1/responses/{response_id}/cancel")
            assert cancelled.json()["status"] == "cancelled"
            async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
                accepted = await ws.chat("hello", "w2")
                assert accepted["type"] == "accepted", accepted
                await ws.collect_reply(accepted["reply_id"])
        finally:
            await stream.__aexit__(None, None, None)
