"""The official openai client against build_openai_router() served by uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import openai
from openai import AsyncOpenAI
from tickertape.engine.types import SamplingParams

pytestmark = pytest.mark.timeout(30)

MODEL = "test-model"
REPLY = "The quick brown fox jumps over the lazy dog"
USER_MSG: list[Any] = [{"role": "user", "content": "hi"}]
CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "c1", "content": "18C"}


@pytest.fixture
async def client(served: Any) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=f"{served.url}/v1", api_key=served.key, max_retries=0, timeout=10
    ) as c:
        yield c


def engine_id(completion_id: str) -> str:
    """The reply id the engine saw: the completion id is `chatcmpl-<reply id>`."""
    return completion_id.removeprefix("chatcmpl-")


def last_params(served: Any) -> SamplingParams:
    params: SamplingParams = list(served.engine.submitted.values())[-1][1]
    return params


async def test_non_streaming(client: AsyncOpenAI, served: Any) -> None:
    reply = await client.chat.completions.create(model=MODEL, messages=USER_MSG)
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert engine_id(reply.id) in served.engine.submitted
    assert reply.model == MODEL
    choice = reply.choices[0]
    assert (choice.message.role, choice.message.content) == ("assistant", REPLY)
    assert choice.finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 9)
    assert reply.usage.total_tokens == 13
    assert served.engine.submitted[engine_id(reply.id)][0] == served.user_id  # the caller
    assert last_params(served).max_tokens == 32  # the server's default_max_tokens


async def test_streaming_with_usage(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=USER_MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop"
    assert set(finish[:-1]) == {None}
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 9


async def test_streaming_without_usage(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model=MODEL, messages=USER_MSG, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_stop_and_max_tokens_pass_through(client: AsyncOpenAI, served: Any) -> None:
    reply = await client.chat.completions.create(
        model=MODEL,
        messages=USER_MSG,
        stop=[" fox", "zzz"],
        temperature=0,
        top_p=0.5,
        seed=7,
        extra_body={"top_k": 3},
    )
    assert reply.choices[0].message.content == "The quick brown"
    assert reply.choices[0].finish_reason == "stop"
    params = last_params(served)
    assert (params.stop, params.temperature, params.top_p, params.seed, params.top_k) == (
        (" fox", "zzz"),
        0.0,
        0.5,
        7,
        3,
    )

    reply = await client.chat.completions.create(model=MODEL, messages=USER_MSG, max_tokens=3)
    assert reply.choices[0].message.content == "The quick brown"
    assert reply.choices[0].finish_reason == "length"
    assert last_params(served).max_tokens == 3

    stream = await client.chat.completions.create(
        model=MODEL, messages=USER_MSG, max_completion_tokens=2, stream=True
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The quick"
    assert chunks[-1].choices[0].finish_reason == "length"


async def test_text_parts_and_roles(client: AsyncOpenAI, served: Any) -> None:
    messages: list[Any] = [
        {"role": "developer", "content": "be nice"},
        {"role": "user", "content": [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]},
    ]
    reply = await client.chat.completions.create(model=MODEL, messages=messages)
    prompt = served.engine.submitted[engine_id(reply.id)][2]
    assert [(m.role, m.content) for m in prompt.messages] == [("system", "be nice"), ("user", "hi")]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"n": 2}, "n"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"max_tokens": 65}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, None),
        # OpenAI takes JSON types as they are: a string is not a number, nor 1 a boolean.
        ({"extra_body": {"max_tokens": "3"}}, "max_tokens"),
        ({"extra_body": {"temperature": "0.5"}}, "temperature"),
        ({"extra_body": {"seed": "7"}}, "seed"),
        ({"extra_body": {"stream": "true"}}, "stream"),
        ({"extra_body": {"stream": 1}}, "stream"),
        ({"extra_body": {"max_tokens": True}}, "max_tokens"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0]"),
        # Calls and results pair up, as OpenAI checks: a result of no call, a call left
        # without its result.
        ({"messages": [*USER_MSG, TOOL_RESULT]}, "messages[1]"),
        ({"messages": [*USER_MSG, CALL, {**TOOL_RESULT, "tool_call_id": "c9"}]}, "messages[2]"),
        ({"messages": [*USER_MSG, CALL, *USER_MSG]}, "messages[2]"),
        ({"messages": [*USER_MSG, CALL]}, "messages[1]"),
    ],
)
async def test_invalid_requests_are_400(
    client: AsyncOpenAI, served: Any, kwargs: dict[str, Any], param: str | None
) -> None:
    args: dict[str, Any] = {"model": MODEL, "messages": USER_MSG, **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(**args)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if param is not None:
        assert str(error["param"]).startswith(param)
    assert not served.engine.submitted


async def test_the_param_is_named_as_openai_names_it(client: AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "user", "content": 5}]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "messages[1].content"


async def test_a_body_that_is_not_json_is_400(served: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{served.url}/v1/chat/completions",
            content=b'{"model": "test-model", "messages": [',
            headers={"Authorization": f"Bearer {served.key}", "Content-Type": "application/json"},
        )
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["param"] is None


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("post", "/completions", 404, openai.NotFoundError),
        ("post", "/embeddings", 404, openai.NotFoundError),
        ("get", "/chat/completions", 405, openai.APIStatusError),
    ],
)
async def test_no_such_route_answers_in_openais_shape(
    client: AsyncOpenAI, method: str, path: str, status: int, error: type[Exception]
) -> None:
    options: dict[str, Any] = {"body": {}} if method == "post" else {}
    with pytest.raises(error) as caught:
        await getattr(client, method)(path, cast_to=httpx.Response, **options)
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    assert "param" in body
    assert body["message"].startswith("Invalid URL")


async def test_unknown_model_is_404(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-9", messages=USER_MSG)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "model_not_found"


async def test_bad_key_is_401(served: Any) -> None:
    async with AsyncOpenAI(base_url=f"{served.url}/v1", api_key="nope", max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as caught:
            await c.models.list()
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "invalid_api_key"


async def test_models(client: AsyncOpenAI) -> None:
    models = [m async for m in client.models.list()]
    assert [m.id for m in models] == [MODEL]
    assert (await client.models.retrieve(MODEL)).id == MODEL


async def test_engine_errors_map_to_statuses(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as overloaded:
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "overload"}]
        )
    assert overloaded.value.status_code == 503
    assert overloaded.value.response.headers["retry-after"] == "2"
    assert overloaded.value.response.headers["retry-after-ms"] == "1500"

    with pytest.raises(openai.BadRequestError) as too_long:
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "toolong"}]
        )
    assert isinstance(too_long.value.body, dict)
    assert too_long.value.body["code"] == "context_length_exceeded"

    for stream in (False, True):  # the status is known before the SSE response starts
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "ratelimit"}], stream=stream
            )
        assert limited.value.response.headers["retry-after"] == "1"


async def test_error_mid_stream(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "fail"}], stream=True
    )
    seen: list[str] = []

    async def read_all() -> None:
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError, match="scripted internal"):
        await read_all()
    assert "".join(seen) == "The quick"

    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "fail"}]
        )


async def test_disconnect_mid_stream_stops_generation(client: AsyncOpenAI, served: Any) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "forever"}], stream=True
    )
    received = 0
    async for _chunk in stream:
        received += 1
        if received == 3:
            break
    await stream.close()
    (reply_id,) = served.engine.submitted
    await asyncio.wait_for(served.engine.stops[reply_id].wait(), 10)


async def test_disconnect_while_waiting_stops_generation(served: Any) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        request = asyncio.create_task(
            http.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {served.key}"},
                json={"model": MODEL, "messages": [{"role": "user", "content": "forever"}]},
            )
        )
        await asyncio.wait_for(served.engine.submitted_event.wait(), 10)
        request.cancel()  # closes the connection mid-request
        with pytest.raises(asyncio.CancelledError):
            await request
    (reply_id,) = served.engine.submitted
    await asyncio.wait_for(served.engine.stops[reply_id].wait(), 10)


async def test_store_true_keeps_the_exchange_as_a_conversation(
    client: AsyncOpenAI, served: Any
) -> None:
    await client.chat.completions.create(model=MODEL, messages=USER_MSG)
    await client.chat.completions.create(model=MODEL, messages=USER_MSG, store=True)
    stream = await client.chat.completions.create(
        model=MODEL, messages=USER_MSG, store=True, stream=True
    )
    async for _ in stream:
        pass
    async with httpx.AsyncClient(
        base_url=served.url, headers={"Authorization": f"Bearer {served.key}"}
    ) as http:
        listing = (await http.get("/api/conversations")).json()
        assert len(listing["items"]) == 2  # the unstored completion left nothing
        for item in listing["items"]:
            transcript = (await http.get(f"/api/conversations/{item['id']}")).json()
            messages = [(m["role"], m["content"], m["status"]) for m in transcript["messages"]]
            assert messages == [("user", "hi", "complete"), ("assistant", REPLY, "complete")]
