"""Function tools and reasoning on /v1/responses: the official `openai` client (streamed and
not, HTTP and WebSocket mode) against the real app over the scripted engine, whose `tool`
reply is a reasoning piece, "Calling.", then a call whose arguments arrive in four deltas
(tests/support/script_engine.py). Every raw event is validated strictly against the
official client's model of its type, and the typed client's events are those models."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseReasoningItem,
)
from websockets.asyncio.client import connect

import openai
from openai import AsyncOpenAI
from tests.openai.responses_support import (
    Responses,
    read_stream,
    responses_app,
    sse_events,
    strictly_a_response,
    strictly_typed,
    typed,
)
from tests.support.script_engine import REPLY

pytestmark = pytest.mark.timeout(60)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"x": {"type": "integer"}, "y": {"type": "string"}},
    "required": ["x", "y"],
    "additionalProperties": False,
}
WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": SCHEMA,
    "strict": True,
}
CONVERT: dict[str, Any] = {"type": "function", "name": "convert", "parameters": SCHEMA}
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


@pytest.fixture
async def rs(tmp_path: Path) -> AsyncIterator[Responses]:
    # Finished replies leave memory at once: reads after the end come from the store.
    async with responses_app(tmp_path, resume_retention_s=0) as app:
        yield app


@pytest.fixture
async def api(rs: Responses) -> AsyncIterator[AsyncOpenAI]:
    async with rs.client() as c:
        yield c


def rules(rs: Responses, response_id: str) -> Any:
    return rs.engine.submitted[response_id.removeprefix("resp_")][1].output


def the_call(output: list[Any]) -> ResponseFunctionToolCall:
    (call,) = [item for item in output if isinstance(item, ResponseFunctionToolCall)]
    return call


async def test_a_function_call_then_its_output(api: AsyncOpenAI, rs: Responses) -> None:
    first = await api.responses.create(
        input="What is the weather?", tools=[WEATHER], tool_choice="required"
    )
    assert first.status == "completed"
    reasoning, message, call = first.output
    assert isinstance(reasoning, ResponseReasoningItem)
    assert [c.text for c in reasoning.content or ()] == ["I should call a tool."]
    assert isinstance(message, ResponseOutputMessage)
    assert first.output_text == "Calling."  # text only: not the reasoning, not the call
    assert isinstance(call, ResponseFunctionToolCall)
    assert (call.name, call.status, call.id) == ("get_weather", "completed", f"fc_{first.id[5:]}_0")
    jsonschema_rs.validate(SCHEMA, json.loads(call.arguments))
    assert [t.name for t in first.tools] == ["get_weather"]  # echoed, typed
    assert first.tool_choice == "required"
    engine_rules = rules(rs, first.id)
    assert (engine_rules.tool_choice, engine_rules.tools[0].parameters) == ("required", SCHEMA)
    # Retrieved from the store: the same object (output items, tools, tool choice...).
    await rs.forgotten(first.id)
    again = await api.responses.retrieve(first.id)
    assert again.model_dump() == first.model_dump()

    # The calls need their outputs, naming calls that were made (OpenAI's 400s).
    for unanswered in (
        "never mind",
        [{"type": "function_call_output", "call_id": "call_nobody_made", "output": "x"}],
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            await api.responses.create(
                previous_response_id=first.id, input=unanswered, tools=[WEATHER]
            )
        assert refused.value.param == "input"
    answer = await api.responses.create(
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER],
    )
    assert (answer.status, answer.output_text) == ("completed", "Result: sunny")
    prompt = rs.engine.submitted[answer.id[5:]][2].messages
    assert [m.role for m in prompt] == ["user", "assistant", "tool"]
    assert [(c.id, c.name) for c in prompt[1].tool_calls] == [(call.call_id, "get_weather")]
    assert (prompt[1].content, prompt[1].reasoning) == ("Calling.", "I should call a tool.")
    assert (prompt[2].content, prompt[2].tool_call_id) == ("sunny", call.call_id)
    items = await api.responses.input_items.list(answer.id)
    assert [(i.type, i.call_id, i.output) for i in items.data] == [  # type: ignore[union-attr]
        ("function_call_output", call.call_id, "sunny")
    ]


async def test_the_whole_item_list_without_previous_response(
    api: AsyncOpenAI, rs: Responses
) -> None:
    """A client that keeps its own context sends the items back (store: false); a
    reasoning item goes with the assistant turn it preceded."""
    first = await api.responses.create(
        input="weather?", tools=[WEATHER], tool_choice="required", store=False
    )
    sent_back = [item.model_dump(exclude_none=True) for item in first.output]
    call = the_call(first.output)
    answer = await api.responses.create(
        input=[
            {"role": "user", "content": "weather?"},
            *sent_back,
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
        ],
        tools=[WEATHER],
        store=False,
    )
    assert answer.output_text == "Result: rain"
    prompt = rs.engine.submitted[answer.id[5:]][2].messages
    assert [m.role for m in prompt] == ["user", "assistant", "tool"]
    assert prompt[1].reasoning == "I should call a tool."
    assert prompt[1].content == "Calling."
    assert [c.arguments for c in prompt[1].tool_calls] == [call.arguments]


async def test_streamed_events_are_typed_and_arguments_parse(api: AsyncOpenAI) -> None:
    stream = await api.responses.create(
        input="weather?", tools=[WEATHER, CONVERT], tool_choice="required", stream=True
    )
    events = [event async for event in stream]
    for event in events:
        typed(event)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds.count("response.reasoning_text.delta") == 1
    assert kinds.count("response.function_call_arguments.delta") == 4
    arguments = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta"
    )
    (done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done.arguments == arguments
    jsonschema_rs.validate(SCHEMA, json.loads(arguments))
    final = events[-1]
    assert final.type == "response.completed"
    assert the_call(final.response.output).arguments == arguments
    items = [e.item for e in events if e.type == "response.output_item.done"]
    assert [i.model_dump() for i in items] == [i.model_dump() for i in final.response.output]


async def test_raw_events_validate_strictly(rs: Responses) -> None:
    body = {"input": "weather?", "tools": [WEATHER], "tool_choice": "required", "stream": True}
    async with rs.http() as http:
        events = await read_stream(http, "POST", "/v1/responses", json=body)
        for event in events:
            strictly_typed(event)
        response_id = events[0]["response"]["id"]
        retrieved = (await http.get(f"/v1/responses/{response_id}")).json()
        strictly_a_response(retrieved)
        assert retrieved["output"] == events[-1]["response"]["output"]


async def test_tool_choice_none_and_named(api: AsyncOpenAI, rs: Responses) -> None:
    plain = await api.responses.create(input="tool", tools=[WEATHER], tool_choice="none")
    assert [item.type for item in plain.output] == ["message"]
    assert plain.output_text == REPLY
    assert rules(rs, plain.id).tool_choice == "none"
    named = await api.responses.create(
        input="tool",
        tools=[WEATHER, CONVERT],
        tool_choice={"type": "function", "name": "convert"},
        parallel_tool_calls=False,
    )
    assert the_call(named.output).name == "convert"
    assert named.tool_choice.name == "convert"  # type: ignore[union-attr]
    assert named.parallel_tool_calls is False
    engine_rules = rules(rs, named.id)
    assert (engine_rules.function_name, engine_rules.parallel_tool_calls) == ("convert", False)


async def test_reasoning_and_text_format_map_to_the_engine(api: AsyncOpenAI, rs: Responses) -> None:
    thought = await api.responses.create(input="think", reasoning={"effort": "high"})
    assert [item.type for item in thought.output] == ["reasoning", "message"]
    assert thought.output_text == REPLY  # the thinking is apart from the message
    assert thought.reasoning is not None
    assert thought.reasoning.effort == "high"
    assert rules(rs, thought.id).enable_thinking is True
    off = await api.responses.create(input="hi", reasoning={"effort": "none"})
    assert rules(rs, off.id).enable_thinking is False
    default = await api.responses.create(input="hi")
    assert rules(rs, default.id).enable_thinking is None
    shaped = await api.responses.create(
        input="hi",
        text={"format": {"type": "json_schema", "name": "w", "schema": SCHEMA, "strict": True}},
    )
    assert rules(rs, shaped.id).response_format == {"type": "json_schema", "schema": SCHEMA}
    assert shaped.text is not None
    assert shaped.text.format is not None
    assert shaped.text.format.type == "json_schema"
    loose = await api.responses.create(input="hi", text={"format": {"type": "json_object"}})
    assert rules(rs, loose.id).response_format == {"type": "json_object"}


async def test_reattach_in_the_middle_of_the_arguments(rs: Responses) -> None:
    """Drop a background stream after two of the call's four argument deltas, re-attach
    with `starting_after`: the events continue with no gap and no repeat, and equal the
    rendering from the store once it ended, at every point of it."""
    body = {
        "input": "paced_tool",
        "tools": [WEATHER],
        "tool_choice": "required",
        "background": True,
        "stream": True,
    }
    pieces = 7  # reasoning, text, the call's start, four argument deltas
    async with rs.http() as http:
        head: list[dict[str, Any]] = []
        released = 0
        async with http.stream("POST", "/v1/responses", json=body) as response:
            async for event in sse_events(response):
                head.append(event)
                kind = event["type"]
                argument_deltas = sum(
                    e["type"] == "response.function_call_arguments.delta" for e in head
                )
                if argument_deltas == 2:
                    break
                # Each released step is one piece: the next event that shows it.
                if (
                    kind == "response.in_progress"
                    or kind.endswith(".delta")
                    or (
                        kind == "response.output_item.added"
                        and event["item"]["type"] == "function_call"
                    )
                ):
                    rs.engine.steps.release()
                    released += 1
        last = head[-1]["sequence_number"]
        params = {"stream": "true", "starting_after": str(last)}
        response_id = head[0]["response"]["id"]
        url = f"/v1/responses/{response_id}"
        async with http.stream("GET", url, params=params) as response:
            # Re-attached to the live log (the reply waits for its next step): the rest
            # of the call's arguments and the end arrive on this stream.
            assert response.status_code == 200
            for _ in range(pieces - released):
                rs.engine.steps.release()
            tail = [event async for event in sse_events(response)]
        assert tail[-1]["type"] == "response.completed"
        await rs.forgotten(response_id)  # from here on, the store
        whole = await read_stream(
            http, "GET", f"/v1/responses/{response_id}", params={"stream": "true"}
        )
        assert head + tail == whole
        for event in whole:
            strictly_typed(event)
        call = the_call_json(whole[-1]["response"]["output"])
        jsonschema_rs.validate(SCHEMA, json.loads(call["arguments"]))
    async with rs.client() as api:
        numbers = [e["sequence_number"] for e in whole]
        arguments = [
            e["sequence_number"]
            for e in whole
            if e["type"] == "response.function_call_arguments.delta"
        ]
        for after in (arguments[0], arguments[1], arguments[-1], numbers[-2]):
            stream = await api.responses.retrieve(response_id, stream=True, starting_after=after)
            replay = [event async for event in stream]
            for event in replay:
                typed(event)
            assert [e.model_dump(exclude_unset=True) for e in replay] == whole[after + 1 :]


def the_call_json(output: list[dict[str, Any]]) -> dict[str, Any]:
    (call,) = [item for item in output if item["type"] == "function_call"]
    return call


async def test_websocket_mode_round_trip(rs: Responses) -> None:
    url = rs.url.replace("http://", "ws://") + "/v1/responses"
    headers = {"Authorization": f"Bearer {rs.app.token('alice')}"}
    async with connect(url, additional_headers=headers) as ws:

        async def until_end() -> list[dict[str, Any]]:
            events: list[dict[str, Any]] = []
            while True:
                event = json.loads(await ws.recv())
                assert event["type"] != "error", event
                strictly_typed(event)
                events.append(event)
                if event["type"] in TERMINAL:
                    return events

        # A tool type this server does not run: a typed error, and the socket stays.
        bad = {"type": "response.create", "input": "x", "tools": [{"type": "file_search"}]}
        await ws.send(json.dumps(bad))
        error = json.loads(await ws.recv())
        assert (error["type"], error["status"]) == ("error", 400)
        assert (error["error"]["type"], error["error"]["param"]) == (
            "invalid_request_error",
            "tools[0].type",
        )
        create = {"type": "response.create", "input": "weather?", "tools": [WEATHER]}
        await ws.send(json.dumps({**create, "tool_choice": "required"}))
        first = await until_end()
        response = first[-1]["response"]
        call = the_call_json(response["output"])
        jsonschema_rs.validate(SCHEMA, json.loads(call["arguments"]))
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": "hail"}
        await ws.send(
            json.dumps({**create, "previous_response_id": response["id"], "input": [output]})
        )
        second = await until_end()
        final = second[-1]["response"]
        assert final["output"][0]["content"][0]["text"] == "Result: hail"
        assert final["previous_response_id"] == response["id"]
