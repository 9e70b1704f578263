"""Tool calls, reasoning and JSON answers against a real server and the real local engine:
the official `openai` client (streamed and not) and a WebSocket client.

The server runs the embedded demo model when it speaks the tool format (its chat template
declares tools); otherwise a tiny random checkpoint in the same format
(tests/engine/tool_model.py), on which only what the grammar forces can be checked: what
needs a trained model (a call the model chooses to make, its thinking) is skipped then,
with the reason. TT_TOOLS_MODEL=<checkpoint dir> runs them on another trained model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from websockets.sync.client import connect

from openai import BadRequestError, OpenAI
from tests.engine import tool_model
from tests.support.server import ServerProcess, running_server
from tickertape.engine.demo import DEMO_MODEL_DIR

OTHER_MODEL = os.environ.get("TT_TOOLS_MODEL")


def demo_speaks_tools() -> bool:
    if OTHER_MODEL:
        return True
    template = DEMO_MODEL_DIR / "chat_template.jinja"
    return template.is_file() and "<tool_call>" in template.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("tools-server")
    model: list[str] = ["--model", OTHER_MODEL] if OTHER_MODEL else []
    if not demo_speaks_tools():
        model = ["--model", str(tool_model.build(tmp / "model"))]
    # The cut test sends a request per max_tokens up to a whole call: past the default rate.
    limits = ["--messages-per-minute", "600"]
    with running_server(tmp, "--max-batch", "4", *limits, *model) as server:
        yield server


def trained() -> None:
    if not demo_speaks_tools():
        pytest.skip("the demo model is not trained on tools yet: a random model cannot choose")


def client(server: ServerProcess) -> tuple[OpenAI, str]:
    api = OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", timeout=60, max_retries=0)
    return api, api.models.list().data[0].id


def tools() -> list[Any]:
    """The demo's own tools when the demo model was trained on them (their schemas are
    what it saw), else the test model's (strings bounded for a random model)."""
    if demo_speaks_tools() and not OTHER_MODEL:
        from tickertape.engine.demo import tools as demo_tools

        return list(demo_tools.TOOLS)
    return tool_model.TOOLS


TOOLS: list[Any] = tools()
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def one_forced_call(model: str, content: str, name: str, max_tokens: int) -> dict[str, Any]:
    """A greedy request that must call `name`, once."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": name}},
        "parallel_tool_calls": False,
        "temperature": 0,
        "max_tokens": max_tokens,
    }


def valid(name: str, arguments: str) -> None:
    jsonschema_rs.validate(SCHEMAS[name], json.loads(arguments))


def test_a_round_trip_non_streamed(server: ServerProcess) -> None:
    api, model = client(server)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = api.chat.completions.create(
        model=model,
        messages=messages,
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
        temperature=0,
        max_tokens=120,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls or []
    assert calls
    for call in calls:
        valid(call.function.name, call.function.arguments)
    messages.append(choice.message.model_dump(exclude_none=True))
    messages += [
        {"role": "tool", "tool_call_id": c.id, "content": json.dumps({"ok": True})} for c in calls
    ]
    second = api.chat.completions.create(
        model=model,
        messages=messages,
        tools=TOOLS,
        tool_choice="none",
        temperature=0,
        max_tokens=24,
    )
    assert second.choices[0].finish_reason in ("stop", "length")
    assert not second.choices[0].message.tool_calls


@pytest.mark.parametrize("parallel", [True, False])
def test_streamed_calls_parse_and_a_named_choice_is_obeyed(
    server: ServerProcess, parallel: bool
) -> None:
    api, model = client(server)
    stream = api.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Convert 5 km to miles."}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "convert_units"}},
        parallel_tool_calls=parallel,
        temperature=0.8,
        seed=3,
        max_tokens=80,
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        for delta in chunk.choices[0].delta.tool_calls or ():
            entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
            if delta.function and delta.function.name:
                entry["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert {c["name"] for c in calls.values()} == {"convert_units"}
    if not parallel:
        assert len(calls) == 1
    for call in calls.values():
        valid(call["name"], call["arguments"])


def test_a_streamed_message_of_calls_accumulates_as_the_non_streamed_one(
    server: ServerProcess,
) -> None:
    """The SDK's stream helper builds the final message from the deltas: a message of
    calls has `content: None` there too (the first delta says `content: null`)."""
    api, model = client(server)
    kwargs = one_forced_call(model, "Convert 5 km to miles.", "convert_units", 80)
    with api.chat.completions.stream(**kwargs) as stream:
        streamed = stream.get_final_completion().choices[0]
    plain = api.chat.completions.create(**kwargs).choices[0]
    assert streamed.finish_reason == plain.finish_reason == "tool_calls"
    assert streamed.message.content is None
    assert plain.message.content is None
    assert [c.function.arguments for c in streamed.message.tool_calls or ()] == [
        c.function.arguments for c in plain.message.tool_calls or ()
    ]


def test_a_schema_the_grammar_cannot_compile_is_a_400_naming_it(server: ServerProcess) -> None:
    api, model = client(server)
    bad = {"type": "object", "properties": {"x": {"type": "strang"}}}
    with pytest.raises(BadRequestError) as chat:
        api.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": bad}}],
            max_tokens=4,
        )
    assert chat.value.param == "tools[0].function.parameters"
    with pytest.raises(BadRequestError) as responses:
        api.responses.create(
            model=model,
            input="hi",
            tools=[{"type": "function", "name": "f", "parameters": bad, "strict": False}],
            max_output_tokens=4,
        )
    assert responses.value.param == "tools[0].parameters"


def test_a_json_schema_answer_validates(server: ServerProcess) -> None:
    api, model = client(server)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}, "sunny": {"type": "boolean"}},
        "required": ["city", "sunny"],
        "additionalProperties": False,
    }
    for stream in (False, True):
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": "Is it sunny in Rome? Answer in JSON."}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": schema},
            },
            "temperature": 0,
            "max_tokens": 60,
        }
        if stream:
            text = "".join(
                c.choices[0].delta.content or ""
                for c in api.chat.completions.create(stream=True, **kwargs)
                if c.choices
            )
        else:
            text = api.chat.completions.create(**kwargs).choices[0].message.content or ""
        jsonschema_rs.validate(schema, json.loads(text))


def test_the_model_calls_a_tool_on_its_own_and_thinks_apart(server: ServerProcess) -> None:
    trained()
    api, model = client(server)
    done = api.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is the weather in Tokyo?"}],
        tools=TOOLS,
        temperature=0,
        max_tokens=120,
    )
    calls = done.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather"]
    valid("get_weather", calls[0].function.arguments)
    thought = api.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is 12 times 3?"}],
        temperature=0,
        max_tokens=200,
        extra_body={"chat_template_kwargs": {"enable_thinking": True}},
    )
    message = thought.choices[0].message
    reasoning = (message.model_extra or {}).get("reasoning_content")
    assert reasoning
    assert "<think>" not in (message.content or "")
    assert "</think>" not in reasoning
    # OpenAI's own switch does the same (and "none" switches it off).
    for effort, thinks in (("high", True), ("none", False)):
        answer = (
            api.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "What is 12 times 3?"}],
                temperature=0,
                max_tokens=200,
                reasoning_effort=effort,  # type: ignore[arg-type]
            )
            .choices[0]
            .message
        )
        assert bool((answer.model_extra or {}).get("reasoning_content")) is thinks, effort
        if effort == "high":
            assert answer.model_extra is not None
            assert answer.model_extra["reasoning_content"] == reasoning


def test_websocket_round_trip_replays_exactly(server: ServerProcess) -> None:
    """Frames of a reply with a forced call, its result, and what follows; a second
    connection that resumes from 0 gets exactly the same frames."""
    with connect(server.ws_url, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        ws.send(
            json.dumps(
                {
                    "type": "chat",
                    "client_msg_id": "live-tools",
                    "content": "What is the weather in London?",
                    "tools": TOOLS,
                    "tool_choice": "required",
                    "parallel_tool_calls": False,
                    "params": {"temperature": 0, "max_tokens": 120},
                }
            )
        )
        seen: list[dict[str, Any]] = []
        reply_id = ""
        while True:
            frame = json.loads(ws.recv(timeout=60))
            assert frame["type"] != "error", frame
            if frame["type"] == "accepted":
                reply_id = frame["reply_id"]
            elif frame.get("reply_id") == reply_id and "seq" in frame and frame["type"] != "end":
                seen.append(frame)
                if frame["type"] == "awaiting_tools":
                    for call in frame["calls"]:
                        valid(call["name"], call["arguments"])
                        result = {"type": "tool_result", "reply_id": reply_id}
                        ws.send(json.dumps({**result, "call_id": call["call_id"], "content": "{}"}))
            elif frame["type"] == "end":
                break
    assert [f["seq"] for f in seen] == list(range(1, len(seen) + 1))
    kinds = [f["type"] for f in seen]
    assert "awaiting_tools" in kinds
    assert "tool_result" in kinds
    with connect(server.ws_url, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        ws.send(json.dumps({"type": "resume", "reply_id": reply_id, "last_seq": 0}))
        replay = []
        while True:
            frame = json.loads(ws.recv(timeout=60))
            if frame["type"] == "end":
                break
            replay.append(frame)
    assert replay == seen


def test_a_call_cut_by_max_tokens_is_never_handed_out(server: ServerProcess) -> None:
    api, model = client(server)
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": TOOLS,
        "tool_choice": "required",
        "temperature": 0,
        "max_tokens": 12,  # the call's envelope alone is longer
    }
    done = api.chat.completions.create(**kwargs)
    assert done.choices[0].finish_reason == "length"
    assert not done.choices[0].message.tool_calls
    whole = api.chat.completions.create(**kwargs | {"max_tokens": 200})
    assert whole.choices[0].finish_reason == "tool_calls"
    assert whole.usage is not None
    cut_inside = 0
    for max_tokens in range(1, whole.usage.completion_tokens + 1):
        # Streamed, as OpenAI does: whatever went out, a cut stream ends "length" (an
        # HTTP error here would be retried by the SDK, generating the reply again).
        cut = kwargs | {"max_tokens": max_tokens}
        chunks = list(api.chat.completions.create(stream=True, **cut))
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        arguments = "".join(
            d.function.arguments or ""
            for c in chunks
            if c.choices
            for d in c.choices[0].delta.tool_calls or ()
            if d.function
        )
        assert finishes[-1] in ("length", "tool_calls")
        assert finishes.count(None) == len(finishes) - 1
        if finishes[-1] == "tool_calls":
            assert isinstance(json.loads(arguments), dict)
        else:
            cut_inside += bool(arguments)
            with pytest.raises(json.JSONDecodeError):
                json.loads(arguments)  # never a whole call
    assert cut_inside, "no max_tokens cut the arguments"


def test_through_a_remote_engine(
    server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A tickertape whose engine is remote, in front of the tools server: tools, tool
    choice and thinking go upstream; the calls come back whole and parse."""
    tmp = tmp_path_factory.mktemp("tools-front")
    with running_server(tmp, "--engine", "remote", "--upstream-url", server.base_url) as front:
        api, model = client(front)
        for stream in (False, True):
            kwargs = one_forced_call(model, "Weather in Oslo?", "get_weather", 120)
            if stream:
                calls: dict[int, list[str]] = {}
                for chunk in api.chat.completions.create(stream=True, **kwargs):
                    for delta in (chunk.choices[0].delta.tool_calls or ()) if chunk.choices else ():
                        entry = calls.setdefault(delta.index, ["", ""])
                        entry[0] += (delta.function.name or "") if delta.function else ""
                        entry[1] += (delta.function.arguments or "") if delta.function else ""
                found = [tuple(c) for c in calls.values()]
            else:
                message = api.chat.completions.create(**kwargs).choices[0].message
                found = [(c.function.name, c.function.arguments) for c in message.tool_calls or ()]
            assert [name for name, _ in found] == ["get_weather"]
            valid(*found[0])
