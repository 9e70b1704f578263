"""Strict input, valid output: non-finite numbers and lone surrogates are refused with a
typed 400 / error frame on every entry point, in OpenAI's shape on /v1 whatever the
transfer encoding; unsupported OpenAI fields are refused naming the field; no frame the
server sends can fail JSON.parse (issue 13, findings four to six)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.pipeline.conftest import Pipeline
from tests.support.script_engine import MODEL
from tests.support.wsclient import client

pytestmark = pytest.mark.timeout(60)

# The last: a whole number past the largest double, infinity to JSON.parse.
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 400]


@pytest.mark.parametrize("number", NON_FINITE)
async def test_websocket_frames_with_non_finite_numbers_are_refused(
    pipeline: Pipeline, number: str
) -> None:
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        await ws.ws.send('{"type":"ping","data":' + number + "}")
        answer = await ws.recv()  # json.loads here is strict enough: it parsed the frame
        assert (answer["type"], answer["code"]) == ("error", "bad_request")
        await ws.ws.send(
            '{"type":"chat","client_msg_id":"m1","content":"hi","params":{"temperature":'
            + number
            + "}}"
        )
        answer = await ws.recv()
        assert (answer["type"], answer["code"], answer["ref"]) == ("error", "bad_request", "m1")
        await ws.send({"type": "ping", "data": {"ok": [1, 2.5]}})  # the socket is still fine
        assert await ws.recv() == {"type": "pong", "data": {"ok": [1, 2.5]}}


async def test_websocket_lone_surrogates_are_refused(pipeline: Pipeline) -> None:
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        await ws.ws.send('{"type":"chat","client_msg_id":"m1","content":"a\\ud800b"}')
        answer = await ws.recv()
        assert (answer["type"], answer["code"]) == ("error", "bad_request")
        assert "surrogate" in answer["message"]


@pytest.mark.parametrize("number", NON_FINITE)
async def test_http_bodies_with_non_finite_numbers_are_400(pipeline: Pipeline, number: str) -> None:
    async with pipeline.http() as http:
        body = '{"model":"' + MODEL + '","messages":[{"role":"user","content":"hi"}],'
        body += '"temperature":' + number + "}"
        answer = await http.post(
            "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["type"] == "invalid_request_error"  # OpenAI's shape
        accepted = await http.post(
            "/v1/chat/completions", json=pipeline.completion("x", store=True)
        )
        conversation = accepted.json()
        listing = (await http.get("/api/conversations")).json()
        conversation_id = listing["items"][0]["id"]
        renamed = await http.patch(
            f"/api/conversations/{conversation_id}",
            content='{"title": "t", "n": ' + number + "}",
            headers={"content-type": "application/json"},
        )
        assert renamed.status_code == 400
        assert renamed.json()["error"]["code"] == "bad_request"  # the contract's shape
        assert conversation["object"] == "chat.completion"


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_lone_surrogate_on_v1_is_a_400_and_keeps_the_connection(
    pipeline: Pipeline, chunked: bool
) -> None:
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "a\ud800b"}]}
    ).encode()
    assert b"\\ud800" in body
    async with pipeline.http() as http:
        content: Any = _chunks(body) if chunked else body
        answer = await http.post(
            "/v1/chat/completions", content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "surrogate" in error["message"]
        # The keep-alive connection was not closed under the client: the next request on
        # the same pool goes through.
        fine = await http.post("/v1/chat/completions", json=pipeline.completion("hi"))
        assert fine.status_code == 200
    assert not pipeline.engine.submitted or all(
        "\ud800" not in p.messages[-1].content for _, _, p in pipeline.engine.submitted.values()
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("functions", [{"name": "f", "parameters": {}}]),
        ("function_call", "auto"),
        ("logit_bias", {"1": 5}),
        ("top_logprobs", 2),
        ("logprobs", True),
        ("n", "1"),
    ],
)
async def test_unsupported_openai_fields_are_refused_naming_the_field(
    pipeline: Pipeline, field: str, value: Any
) -> None:
    async with pipeline.http() as http:
        answer = await http.post(
            "/v1/chat/completions", json=pipeline.completion("hi", **{field: value})
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["param"] == field
        assert field in error["message"] or error["param"] == field
    assert not pipeline.engine.submitted


async def test_their_off_values_are_accepted(pipeline: Pipeline) -> None:
    off = {
        "tools": [],
        "tool_choice": "none",
        "logprobs": False,
        "response_format": {"type": "text"},
    }
    async with pipeline.http() as http:
        answer = await http.post("/v1/chat/completions", json=pipeline.completion("hi", **off))
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_413_on_v1_has_openais_shape_however_the_body_came(
    pipeline: Pipeline, chunked: bool
) -> None:
    body = json.dumps(pipeline.completion("x" * (2 * 1024 * 1024))).encode()
    async with httpx.AsyncClient(
        base_url=pipeline.app.url,
        headers={"Authorization": f"Bearer {pipeline.app.token('alice')}"},
        timeout=20,
    ) as http:
        content: Any = _chunks(body) if chunked else body
        answer = await http.post(
            "/v1/chat/completions", content=content, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 413
    error = answer.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "too_large")
