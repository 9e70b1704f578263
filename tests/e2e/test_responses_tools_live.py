"""Function tools, JSON answers and reasoning on the Responses API against a real server and
the real local engine, with the official `openai` client (HTTP, streamed and not, and
WebSocket mode).

The model is chosen as in test_tools_live.py: the demo model when it speaks the tool
format, else a tiny random checkpoint in that format (tests/engine/tool_model.py) on
which only what the grammar forces can be checked (a required or named call, a JSON
schema); what needs a trained model (its thinking) is skipped then, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from openai import OpenAI
from tests.e2e.test_tools_live import OTHER_MODEL, SCHEMAS, TOOLS, demo_speaks_tools, trained
from tests.engine import tool_model
from tests.openai.responses_support import strictly_typed, typed
from tests.support.server import ServerProcess, make_server

TERMINAL = {"response.completed", "response.incomplete", "response.failed"}
# The Responses form of the same tools: flat, not nested under "function".
FLAT: list[dict[str, Any]] = [{"type": "function", **t["function"]} for t in TOOLS]
CITY = "What is the weather in Paris?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("responses-tools")
    model: list[str] = ["--model", OTHER_MODEL] if OTHER_MODEL else []
    if not demo_speaks_tools():
        model = ["--model", str(tool_model.build(tmp / "model"))]
    process = make_server(tmp, "--max-batch", "4", *model)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", timeout=60, max_retries=0)


def valid(name: str, arguments: str) -> None:
    jsonschema_rs.validate(SCHEMAS[name], json.loads(arguments))


def calls_of(output: list[Any]) -> list[Any]:
    return [item for item in output if item.type == "function_call"]


def test_a_required_call_then_its_output(server: ServerProcess) -> None:
    api = client(server)
    first = api.responses.create(
        input=CITY,
        tools=FLAT,  # type: ignore[arg-type]
        tool_choice="required",
        parallel_tool_calls=False,
        temperature=0,
        max_output_tokens=120,
    )
    assert first.status == "completed", first
    (call,) = calls_of(first.output)
    assert call.status == "completed"
    valid(call.name, call.arguments)
    answer = api.responses.create(
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"ok": true}'}],
        tools=FLAT,  # type: ignore[arg-type]
        tool_choice="none",
        temperature=0,
        max_output_tokens=16,
    )
    assert answer.status in ("completed", "incomplete")
    assert not calls_of(answer.output)
    assert [item.type for item in answer.output][-1] == "message"
    assert api.responses.retrieve(first.id).model_dump() == first.model_dump()
    listed = api.responses.input_items.list(answer.id).data
    assert [(i.type, i.call_id) for i in listed] == [("function_call_output", call.call_id)]  # type: ignore[union-attr]


def test_streamed_named_call_and_reattach_inside_its_arguments(server: ServerProcess) -> None:
    """The events parse into the client's models; the argument deltas join to JSON that
    validates; re-attaching after any event of the call replays the rest exactly."""
    api = client(server)
    events = list(
        api.responses.create(
            input="Convert 5 km to miles.",
            tools=FLAT,  # type: ignore[arg-type]
            tool_choice={"type": "function", "name": "convert_units"},
            temperature=0.8,
            max_output_tokens=80,
            stream=True,
        )
    )
    for event in events:
        typed(event)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    arguments = "".join(e.delta for e in deltas)
    (call,) = calls_of(events[-1].response.output)
    assert (call.name, call.arguments) == ("convert_units", arguments)
    valid(call.name, arguments)
    response_id = events[0].response.id  # type: ignore[union-attr]
    for delta in (deltas[0], deltas[len(deltas) // 2], deltas[-1]):
        after = delta.sequence_number
        replay = list(api.responses.retrieve(response_id, stream=True, starting_after=after))
        assert [e.model_dump() for e in replay] == [e.model_dump() for e in events[after + 1 :]]


def test_a_call_cut_by_max_output_tokens_is_incomplete(server: ServerProcess) -> None:
    """Never handed out as if complete: a call is `completed` exactly when its arguments
    parse; cut inside them by max_output_tokens, the call and the response are
    `incomplete`, streamed (its deltas went out) and not."""
    api = client(server)
    kwargs: dict[str, Any] = {
        "input": CITY,
        "tools": FLAT,
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "temperature": 0,
    }
    whole = api.responses.create(max_output_tokens=120, **kwargs)
    assert whole.usage is not None
    cut_inside = None
    for limit in range(whole.usage.output_tokens - 1, 0, -1):  # deterministic: temperature 0
        done = api.responses.create(max_output_tokens=limit, **kwargs)
        for call in calls_of(done.output):
            assert (call.status == "completed") == parses(call.arguments), call
            if not parses(call.arguments):
                cut_inside = limit
        if cut_inside is not None:
            assert done.status == "incomplete"
            assert done.incomplete_details is not None
            assert done.incomplete_details.reason == "max_output_tokens"
            break
    assert cut_inside is not None, "no limit cut the call inside its arguments"
    events = list(api.responses.create(stream=True, max_output_tokens=cut_inside, **kwargs))
    for event in events:
        typed(event)
    assert events[-1].type == "response.incomplete"
    (call,) = calls_of(events[-1].response.output)
    assert call.status == "incomplete"
    streamed = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta"
    )
    assert streamed == call.arguments


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_a_json_schema_answer_validates(server: ServerProcess) -> None:
    api = client(server)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}, "sunny": {"type": "boolean"}},
        "required": ["city", "sunny"],
        "additionalProperties": False,
    }
    text_format: Any = {"format": {"type": "json_schema", "name": "w", "schema": schema}}
    kwargs: dict[str, Any] = {
        "input": "Is it sunny in Rome? Answer in JSON.",
        "text": text_format,
        "temperature": 0,
        "max_output_tokens": 60,
    }
    done = api.responses.create(**kwargs)
    assert done.status == "completed", done
    jsonschema_rs.validate(schema, json.loads(done.output_text))
    events = list(api.responses.create(stream=True, **kwargs))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    jsonschema_rs.validate(schema, json.loads(text))


def test_reasoning_is_an_item_apart_from_the_message(server: ServerProcess) -> None:
    trained()
    api = client(server)
    done = api.responses.create(
        input="What is 12 times 3?",
        reasoning={"effort": "high"},
        temperature=0,
        max_output_tokens=200,
    )
    kinds = [item.type for item in done.output]
    assert kinds[0] == "reasoning"
    assert "message" in kinds
    reasoning = done.output[0]
    assert reasoning.content  # type: ignore[union-attr]
    assert "<think>" not in done.output_text
    assert "</think>" not in reasoning.content[0].text  # type: ignore[union-attr]


def test_websocket_mode_round_trip(server: ServerProcess) -> None:
    api = client(server)
    with api.responses.connect() as connection:
        connection.send(
            {"type": "response.create", "input": "x", "tools": [{"type": "web_search"}]}
        )  # type: ignore[arg-type, typeddict-item]
        error = next(iter(connection))
        assert error.type == "error"
        assert error.error.param == "tools[0].type"  # type: ignore[union-attr]
        connection.response.create(
            input=CITY,
            tools=FLAT,  # type: ignore[arg-type]
            tool_choice="required",
            parallel_tool_calls=False,
            temperature=0,
            max_output_tokens=120,
        )
        first = _until_end(connection)
        (call,) = calls_of(first.output)
        valid(call.name, call.arguments)
        connection.response.create(
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "{}"}],
            tools=FLAT,  # type: ignore[arg-type]
            tool_choice="none",
            temperature=0,
            max_output_tokens=12,
        )
        second = _until_end(connection)
    assert second.previous_response_id == first.id
    assert not calls_of(second.output)


def _until_end(connection: Any) -> Any:
    for event in connection:
        assert event.type != "error", event
        typed(event)
        if event.type in TERMINAL:
            return event.response
    raise AssertionError("the connection closed before the response ended")


def test_the_store_replays_a_call_after_a_restart(server: ServerProcess) -> None:
    """Last in this module: it restarts the server. A response with reasoning frames (when
    the model thinks) and a call, re-read from the store by a new process: the same events
    from any point, also inside the arguments."""
    with server.http() as http:
        body = {
            "input": CITY,
            "tools": FLAT,
            "tool_choice": "required",
            "temperature": 0,
            "max_output_tokens": 120,
            "stream": True,
        }
        with http.stream("POST", "/v1/responses", json=body) as response:
            assert response.status_code == 200
            live = [
                json.loads(line.removeprefix("data: "))
                for line in response.iter_lines()
                if line.startswith("data: ")
            ]
    for event in live:
        strictly_typed(event)
    response_id = live[0]["response"]["id"]
    server.stop()
    server.start()
    with server.http() as http:
        deltas = [
            e["sequence_number"]
            for e in live
            if e["type"] == "response.function_call_arguments.delta"
        ]
        for after in (-1, deltas[0], deltas[-1]):
            params = {"stream": "true"}
            if after >= 0:
                params["starting_after"] = str(after)
            with http.stream("GET", f"/v1/responses/{response_id}", params=params) as response:
                replay = [
                    json.loads(line.removeprefix("data: "))
                    for line in response.iter_lines()
                    if line.startswith("data: ")
                ]
            assert replay == live[after + 1 :]
