"""The official openai client against /v1/responses: the real app (chat service, SQLite
store, token auth) over the scripted engine, so every reply is known in advance."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import openai
from openai import AsyncOpenAI
from tests.openai.responses_support import REPLY, Responses, read_stream, responses_app
from tests.support.wsclient import client as ws_client
from tickertape.transport.responses_book import ResponseBook

pytestmark = pytest.mark.timeout(60)
MODEL = "test-model"
TYPES = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * len(REPLY.split()),
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.fixture
async def rs(tmp_path: Path) -> AsyncIterator[Responses]:
    # Finished replies leave memory at once: reads after the end come from the store.
    async with responses_app(tmp_path, resume_retention_s=0) as app:
        yield app


@pytest.fixture
async def api(rs: Responses) -> AsyncIterator[AsyncOpenAI]:
    async with rs.client() as c:
        yield c


async def test_create_answers_a_response_object(api: AsyncOpenAI, rs: Responses) -> None:
    done = await api.responses.create(model=MODEL, input="hi")
    assert done.id.startswith("resp_")
    assert (done.object, done.status, done.model) == ("response", "completed", MODEL)
    assert done.output_text == REPLY
    assert done.usage is not None
    assert (done.usage.input_tokens, done.usage.output_tokens) == (4, 9)
    assert rs.prompt(done.id) == [("user", "hi")]

    cut = await api.responses.create(
        input="hi",
        instructions="be brief",
        max_output_tokens=5,
        temperature=0.5,
        top_p=0.9,
        metadata={"k": "v"},
        extra_body={"seed": 7, "stop": ["zzz"]},
    )
    assert (cut.status, cut.output_text) == ("incomplete", "The quick brown fox jumps")
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert (cut.instructions, cut.metadata, cut.max_output_tokens) == ("be brief", {"k": "v"}, 5)
    assert (cut.temperature, cut.top_p) == (0.5, 0.9)
    assert rs.prompt(cut.id) == [("system", "be brief"), ("user", "hi")]
    params = rs.engine.submitted[cut.id.removeprefix("resp_")][1]
    assert (params.max_tokens, params.temperature, params.top_p, params.seed, params.stop) == (
        5,
        0.5,
        0.9,
        7,
        ("zzz",),
    )
    # Retrieved later (from the store: the reply left memory), the same object.
    await rs.forgotten(cut.id)
    again = await api.responses.retrieve(cut.id)
    assert again.model_dump() == cut.model_dump()


async def test_the_stream_is_a_rendering_of_the_log(api: AsyncOpenAI, rs: Responses) -> None:
    stream = await api.responses.create(input="hi", stream=True)
    events = [event async for event in stream]
    assert [e.type for e in events] == TYPES
    assert [e.sequence_number for e in events] == list(range(len(TYPES)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == REPLY
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output_text == REPLY
    response_id = final.response.id
    async with rs.http() as http:
        live = await read_stream(
            http, "POST", "/v1/responses", json={"input": "hi", "stream": True}
        )
        replayed = await read_stream(http, "GET", f"/v1/responses/resp_{_reply(live)}?stream=true")
        await rs.forgotten(replayed[0]["response"]["id"])
        stored = await read_stream(http, "GET", f"/v1/responses/resp_{_reply(live)}?stream=true")
        # From memory and from the store: the same events, the same numbers.
        assert replayed == live
        assert stored == live
        for after in range(len(live)):
            url = f"/v1/responses/resp_{_reply(live)}?stream=true&starting_after={after}"
            assert await read_stream(http, "GET", url) == live[after + 1 :]
    assert response_id.startswith("resp_")


def _reply(events: list[dict[str, Any]]) -> str:
    return str(events[0]["response"]["id"]).removeprefix("resp_")


async def test_background_poll_cancel(api: AsyncOpenAI, rs: Responses) -> None:
    started = await api.responses.create(input="forever", background=True)
    assert started.background
    assert started.status in ("queued", "in_progress")
    polled = await api.responses.retrieve(started.id)
    assert polled.status in ("queued", "in_progress")
    cancelled = await api.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert " w0 w1 w2 w3 w4".startswith(cancelled.output_text)
    assert (await api.responses.cancel(started.id)).status == "cancelled"  # idempotent
    after = await api.responses.retrieve(started.id)
    assert (after.status, after.output_text) == ("cancelled", cancelled.output_text)
    stream = await api.responses.retrieve(started.id, stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.incomplete"  # the API has no cancelled event
    assert events[-1].response.status == "cancelled"

    done = await api.responses.create(input="hi")
    with pytest.raises(openai.ConflictError):
        await api.responses.cancel(done.id)


async def test_previous_response_id_continues_the_conversation(
    api: AsyncOpenAI, rs: Responses
) -> None:
    first = await api.responses.create(
        instructions="first only",
        input=[
            {"role": "developer", "content": "dev"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "u1"}]},
        ],
    )
    second = await api.responses.create(previous_response_id=first.id, input="u2")
    assert second.previous_response_id == first.id
    # Instructions are not carried forward; the previous input and output are.
    assert rs.prompt(second.id) == [
        ("system", "dev"),
        ("user", "u1"),
        ("assistant", REPLY),
        ("user", "u2"),
    ]
    async with rs.http() as http:
        conversations = (await http.get("/api/conversations")).json()["items"]
        assert len(conversations) == 1
        assert conversations[0]["message_count"] == 4
    # An older response continues as a branch: its prompt is the path to it.
    fork = await api.responses.create(previous_response_id=first.id, input="fork")
    assert rs.prompt(fork.id) == [
        ("system", "dev"),
        ("user", "u1"),
        ("assistant", REPLY),
        ("user", "fork"),
    ]
    async with rs.http() as http:
        conversation_id = conversations[0]["id"]
        tree = (await http.get(f"/api/conversations/{conversation_id}")).json()["tree"]
        forks = [m for m in tree if m["parent_id"] == first.id.removeprefix("resp_")]
        assert len(forks) == 2  # u2 and fork answer the same reply
    with pytest.raises(openai.NotFoundError) as missing:
        await api.responses.create(previous_response_id="resp_" + "0" * 32, input="x")
    assert missing.value.code == "previous_response_not_found"


async def test_unstored_responses_live_in_memory(tmp_path: Path) -> None:
    async with responses_app(tmp_path) as rs, rs.client() as api:
        await _unstored(api, rs)
        async with rs.http() as http:
            assert len((await http.get("/api/conversations")).json()["items"]) == 1


async def _unstored(api: AsyncOpenAI, rs: Responses) -> None:
    # Not stored: continued from memory (while the reply is kept for resumes).
    loose = await api.responses.create(input="s1", store=False)
    assert (await api.responses.retrieve(loose.id)).output_text == REPLY
    looser = await api.responses.create(previous_response_id=loose.id, input="s2", store=False)
    assert rs.prompt(looser.id) == [("user", "s1"), ("assistant", REPLY), ("user", "s2")]
    # A stored continuation of it keeps what it inherited.
    kept = await api.responses.create(previous_response_id=looser.id, input="s3")
    again = await api.responses.create(previous_response_id=kept.id, input="s4")
    assert rs.prompt(again.id)[-3:] == [("user", "s3"), ("assistant", REPLY), ("user", "s4")]
    assert rs.prompt(again.id)[:2] == [("user", "s1"), ("assistant", REPLY)]
    with pytest.raises(openai.BadRequestError):
        await api.responses.create(input="x", store=False, background=True)
    await api.responses.delete(loose.id)
    with pytest.raises(openai.NotFoundError):
        await api.responses.retrieve(loose.id)


REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "name": "f", "parameters": {"type": "array"}}]}, "tools[0]"),
    ({"tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "f"}]}, "tools"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tool_choice": {"type": "mcp", "server_label": "x"}}, "tool_choice"),
    ({"reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"reasoning": {"effort": ["high"]}}, "reasoning.effort"),  # not hashable: no 500
    ({"reasoning": {"summary": {}}}, "reasoning.summary"),
    ({"input": [{"role": "user", "content": [{"type": []}]}]}, "input[0].content[0].type"),
    ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"text": {"format": {"type": "json_schema", "name": "w"}}}, "text.format.schema"),
    ({"include": ["message.output_text.logprobs"]}, "include"),
    ({"max_tool_calls": 2}, "max_tool_calls"),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ({"input": [{"type": "function_call_output", "output": "o"}]}, "input[0].call_id"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
        "input[0].content[0].type",
    ),
    ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    ({"input": []}, "input"),
    ({"max_output_tokens": 65}, "max_output_tokens"),
    ({"temperature": 3}, "temperature"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    # Named as the Responses API names them (not chat completions' names).
    (
        {"tools": [{"type": "function", "name": "f", "parameters": {"type": "string"}}]},
        "tools[0].parameters",
    ),
    ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
]


async def test_refusals_name_the_field(rs: Responses) -> None:
    async with rs.http() as http:
        for fields, param in REFUSED:
            answer = await http.post("/v1/responses", json={"input": "hi", **fields})
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert str(error["param"]).startswith(param), (fields, error)
    assert rs.engine.submitted == {}


async def test_off_values_and_model_checks(api: AsyncOpenAI) -> None:
    done = await api.responses.create(
        model=MODEL,
        input="hi",
        tools=[],
        tool_choice="auto",
        text={"format": {"type": "text"}},
        reasoning={"effort": None},
        truncation="auto",
        parallel_tool_calls=True,
        service_tier="auto",
        user="someone",
    )
    assert done.output_text == REPLY
    assert done.truncation == "auto"
    assert done.completed_at is not None
    assert done.completed_at >= done.created_at
    assert (done.user, done.service_tier) == ("someone", "auto")  # echoed, as OpenAI does
    echoed = await api.responses.create(
        model=MODEL,
        input="hi",
        safety_identifier="hashed-user",
        prompt_cache_key="k1",
        text={"verbosity": "low"},
    )
    assert (echoed.safety_identifier, echoed.prompt_cache_key) == ("hashed-user", "k1")
    assert echoed.text is not None
    assert echoed.text.verbosity == "low"
    again = await api.responses.retrieve(echoed.id)  # kept with the response
    assert (again.safety_identifier, again.prompt_cache_key) == ("hashed-user", "k1")
    with pytest.raises(openai.NotFoundError) as unknown:
        await api.responses.create(model="gpt-elsewhere", input="hi")
    assert unknown.value.code == "model_not_found"


async def test_input_items_and_delete(api: AsyncOpenAI, rs: Responses) -> None:
    first = await api.responses.create(
        input=[{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}]
    )
    second = await api.responses.create(previous_response_id=first.id, input="u2")
    items = await api.responses.input_items.list(first.id, order="asc")
    assert [(i.role, i.content[0].text) for i in items.data] == [("system", "s"), ("user", "u1")]  # type: ignore[union-attr]
    newest = await api.responses.input_items.list(first.id, limit=1)
    assert [i.content[0].text for i in newest.data] == ["u1"]  # type: ignore[union-attr]
    assert newest.has_more
    rest = await api.responses.input_items.list(first.id, limit=1, after=newest.data[0].id)  # type: ignore[union-attr]
    assert [i.content[0].text for i in rest.data] == ["s"]  # type: ignore[union-attr]
    assert (await api.responses.input_items.list(second.id)).data[0].content[0].text == "u2"  # type: ignore[union-attr]
    # `include` is refused however it is spelled (the SDK sends `include[]=`).
    wanted = ["message.output_text.logprobs"]
    for refused in (
        api.responses.retrieve(first.id, include=wanted),  # type: ignore[arg-type]
        api.responses.input_items.list(first.id, include=wanted),  # type: ignore[list-item]
    ):
        with pytest.raises(openai.BadRequestError) as include:
            await refused
        assert include.value.param == "include"

    await api.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        await api.responses.retrieve(second.id)
    async with rs.http() as http:
        (conversation,) = (await http.get("/api/conversations")).json()["items"]
        assert conversation["message_count"] == 2
        # Deleting a response deletes the responses that continued from it.
        third = await api.responses.create(previous_response_id=first.id, input="u3")
        await api.responses.delete(first.id)
        assert (await http.get("/api/conversations")).json()["items"] == []
    for gone in (first.id, third.id):
        with pytest.raises(openai.NotFoundError):
            await api.responses.retrieve(gone)


async def test_other_users_responses_do_not_exist(api: AsyncOpenAI, rs: Responses) -> None:
    mine = await api.responses.create(input="hi", background=True)
    async with rs.client("bob") as bob:
        with pytest.raises(openai.NotFoundError):
            await bob.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            await bob.responses.cancel(mine.id)
        with pytest.raises(openai.NotFoundError):
            await bob.responses.delete(mine.id)
        with pytest.raises(openai.NotFoundError):
            await bob.responses.input_items.list(mine.id)
        with pytest.raises(openai.NotFoundError):
            await bob.responses.create(previous_response_id=mine.id, input="x")
        with pytest.raises(openai.NotFoundError):
            await bob.responses.retrieve("not-a-response-id")


async def test_a_websocket_chat_reply_is_a_response(api: AsyncOpenAI, rs: Responses) -> None:
    async with ws_client(rs.app.ws_url, rs.app.token("alice")) as ws:
        accepted = await ws.chat("hello there", "c1")
        text, _, _ = await ws.collect_reply(accepted["reply_id"])
    response = await api.responses.retrieve(f"resp_{accepted['reply_id']}")
    assert (response.status, response.output_text) == ("completed", text)
    items = await api.responses.input_items.list(response.id)
    assert [i.content[0].text for i in items.data] == ["hello there"]  # type: ignore[union-attr]
    nxt = await api.responses.create(previous_response_id=response.id, input="more")
    assert rs.prompt(nxt.id) == [("user", "hello there"), ("assistant", text), ("user", "more")]


async def test_retention_limits_how_long_a_response_is_served(
    api: AsyncOpenAI, rs: Responses
) -> None:
    done = await api.responses.create(input="hi")
    assert rs.app.app is not None
    book = rs.app.app.state.responses_book
    assert isinstance(book, ResponseBook)
    retention = rs.services.settings.responses_retention_s
    book.clock = lambda: time.time() + retention + 1
    with pytest.raises(openai.NotFoundError):
        await api.responses.retrieve(done.id)
    book.clock = time.time
    assert (await api.responses.retrieve(done.id)).output_text == REPLY


async def test_a_failed_reply_is_a_failed_response(api: AsyncOpenAI, rs: Responses) -> None:
    failed = await api.responses.create(input="fail")  # two words, then an engine error
    assert failed.status == "failed"
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == ("server_error", "scripted internal")
    assert failed.output_text == "The quick"
    refused = await api.responses.create(input="overload")  # refused after the commit
    assert (refused.status, refused.output) == ("failed", [])
    stream = await api.responses.create(input="ratelimit", stream=True)
    events = [event async for event in stream]
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    assert events[-1].response.error.code == "rate_limit_exceeded"  # type: ignore[union-attr]
