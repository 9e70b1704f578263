"""The Responses API's WebSocket mode at /v1/responses, with a real `websockets` client and
with the official client's `responses.connect()`; the real app over the scripted engine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.openai.responses_support import REPLY, Responses, responses_app

pytestmark = pytest.mark.timeout(60)
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


@pytest.fixture
async def rs(tmp_path: Path) -> AsyncIterator[Responses]:
    async with responses_app(tmp_path) as app:
        yield app


@asynccontextmanager
async def mode(
    rs: Responses, user: str = "alice", **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    url = rs.url.replace("http://", "ws://") + "/v1/responses"
    headers = {"Authorization": f"Bearer {rs.app.token(user)}"}
    async with connect(url, additional_headers=headers, **kwargs) as ws:
        yield ws


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    await ws.send(json.dumps(event))


async def recv(ws: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await ws.recv())
    return event


async def until_end(ws: ClientConnection, after: int = -1) -> list[dict[str, Any]]:
    """A response's events through its terminal event; numbering without gap or repeat."""
    events: list[dict[str, Any]] = []
    while True:
        event = await recv(ws)
        assert event["type"] != "error", event
        assert event["sequence_number"] == after + 1 + len(events), event
        events.append(event)
        if event["type"] in TERMINAL:
            return events


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


async def test_responses_on_one_connection(rs: Responses) -> None:
    async with mode(rs) as ws:
        await send(ws, {"type": "response.create", "model": "test-model", "input": "hi"})
        first = await until_end(ws)
        assert first[0]["type"] == "response.created"
        assert (text_of(first), first[-1]["type"]) == (REPLY, "response.completed")
        response_id = first[-1]["response"]["id"]
        # A bad event is answered with a typed error; the connection stays.
        await ws.send("{not json")
        error = await recv(ws)
        assert (error["type"], error["status"], error["error"]["type"]) == (
            "error",
            400,
            "invalid_request_error",
        )
        await send(ws, {"type": "response.create", "input": "hi", "tools": [{"type": "x"}]})
        error = await recv(ws)
        assert (error["status"], error["error"]["param"]) == (400, "tools[0].type")
        await send(ws, {"type": "response.fly"})
        assert (await recv(ws))["error"]["param"] == "type"
        await send(
            ws, {"type": "response.create", "previous_response_id": "resp_nope", "input": "x"}
        )
        error = await recv(ws)
        assert (error["status"], error["error"]["code"]) == (404, "previous_response_not_found")
        # A continuation on the same connection.
        await send(
            ws, {"type": "response.create", "previous_response_id": response_id, "input": "more"}
        )
        second = await until_end(ws)
        assert second[-1]["response"]["previous_response_id"] == response_id
        assert rs.prompt(second[-1]["response"]["id"]) == [
            ("user", "hi"),
            ("assistant", REPLY),
            ("user", "more"),
        ]


async def test_one_response_per_lane_and_cancel(rs: Responses) -> None:
    async with mode(rs) as ws:
        await send(ws, {"type": "response.create", "input": "forever"})
        created = await recv(ws)
        response_id = created["response"]["id"]
        await send(ws, {"type": "response.create", "input": "hi"})
        busy = await _skip_to(ws, "error")
        assert (busy["status"], busy["error"]["code"]) == (409, "response_already_in_flight")
        # Another lane runs beside it; its events name their lane.
        await send(ws, {"type": "response.create", "input": "hi", "stream_id": "side"})
        side = await _lane_events(ws, "side")
        assert text_of(side) == REPLY
        await send(ws, {"type": "response.cancel", "response_id": response_id})
        rest = await _skip_to(ws, "response.incomplete")
        assert rest["response"]["status"] == "cancelled"
        # The lane is free again.
        await send(ws, {"type": "response.create", "input": "hi"})
        assert text_of(await until_end(ws)) == REPLY


async def _skip_to(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        event = await recv(ws)
        if event["type"] == kind:
            return event
        assert "stream_id" not in event, event


async def _lane_events(ws: ClientConnection, lane: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] not in TERMINAL:
        event = await recv(ws)
        if event.get("stream_id") == lane:
            assert event["sequence_number"] == len(events)
            events.append(event)
    return events


async def test_background_over_websocket_reattaches_after_a_reconnect(rs: Responses) -> None:
    async with mode(rs) as ws:
        body = {"type": "response.create", "input": "paced", "background": True}
        await send(ws, {**body, "max_output_tokens": 6})
        held = [await recv(ws), await recv(ws)]  # created, in_progress
        rs.engine.steps.release()
        held += [await recv(ws) for _ in range(3)]  # item, part, the first delta
        # A non-background response stops when its connection goes away.
        await send(ws, {"type": "response.create", "input": "forever", "stream_id": "fg"})
        fg = await _lane_events_until(ws, "fg", "response.created")
    response_id = held[0]["response"]["id"]
    await rs.engine.stops[fg["response"]["id"].removeprefix("resp_")].wait()
    for _ in range(5):
        rs.engine.steps.release()
    async with mode(rs) as ws:
        last = held[-1]["sequence_number"]
        await send(
            ws, {"type": "response.attach", "response_id": response_id, "starting_after": last}
        )
        rest = await until_end(ws, after=last)
    assert text_of(held) + text_of(rest) == "".join(f" w{i}" for i in range(6))
    assert rest[-1]["type"] == "response.completed"
    async with rs.client() as api:
        stopped = await api.responses.retrieve(fg["response"]["id"])
        assert stopped.status == "cancelled"


async def _lane_events_until(ws: ClientConnection, lane: str, kind: str) -> dict[str, Any]:
    while True:
        event = await recv(ws)
        if event.get("stream_id") == lane and event["type"] == kind:
            return event


async def test_the_official_client(rs: Responses) -> None:
    async with rs.client() as api, api.responses.connect() as connection:
        await connection.response.create(model="test-model", input="hi")
        events = []
        async for event in connection:
            events.append(event)
            if event.type == "response.completed":
                break
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert events[-1].response.output_text == REPLY  # type: ignore[union-attr]
        first_id = events[-1].response.id  # type: ignore[union-attr]
        await connection.response.create(previous_response_id=first_id, input="again")
        async for event in connection:
            if event.type == "response.completed":
                assert event.response.previous_response_id == first_id
                break
        await connection.response.create(input="hi", reasoning={"effort": "max"})  # type: ignore[typeddict-item]
        async for event in connection:
            assert event.type == "error"
            assert event.error.param == "reasoning.effort"  # type: ignore[union-attr]
            break


async def test_the_handshake_is_the_websockets(rs: Responses) -> None:
    url = rs.url.replace("http://", "ws://") + "/v1/responses"
    with pytest.raises(InvalidStatus) as refused:
        async with mode(rs, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with connect(url) as anonymous:  # no token: closed 1008, nothing else
        with pytest.raises(ConnectionClosed) as closed:
            await anonymous.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
