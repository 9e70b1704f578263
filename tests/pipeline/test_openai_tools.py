"""`/v1/chat/completions` with tools, reasoning and formats, through the official `openai`
client, over the scripted engine: the wire shapes (OpenAI's streamed `delta.tool_calls`,
`reasoning_content`, `finish_reason: "tool_calls"`), round trips with `role: "tool"`
messages, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openai import AsyncOpenAI, BadRequestError
from tests.pipeline.conftest import Pipeline
from tests.pipeline.test_tool_frames import ARGUMENTS, TOOLS
from tests.support.script_engine import MODEL


def openai_client(pipeline: Pipeline) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=pipeline.app.url + "/v1", api_key=pipeline.app.token("alice"), max_retries=0
    )


async def test_a_call_and_its_result_non_streamed(pipeline: Pipeline) -> None:
    client = openai_client(pipeline)
    messages: list[Any] = [{"role": "user", "content": "tool"}]
    first = await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    message = choice.message
    assert message.content == "Calling."
    assert message.model_extra is not None
    assert message.model_extra["reasoning_content"] == "I should call a tool."
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert (call.type, call.function.name) == ("function", "lookup")
    assert json.loads(call.function.arguments) == {"x": 1, "y": "two"}
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "42"},
    ]
    second = await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "Result: 42"
    assert second.choices[0].finish_reason == "stop"
    (_, _, prompt) = list(pipeline.engine.submitted.values())[-1]
    assert [m.role for m in prompt.messages] == ["user", "assistant", "tool"]
    assert prompt.messages[1].tool_calls[0].id == call.id
    assert prompt.messages[2].tool_call_id == call.id


async def test_streamed_calls_arrive_as_openai_deltas(pipeline: Pipeline) -> None:
    client = openai_client(pipeline)
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "tools2"}], tools=TOOLS, stream=True
    )
    reasoning, content, finish = "", "", None
    calls: dict[int, dict[str, str]] = {}
    async for chunk in stream:
        delta = chunk.choices[0].delta
        extra = delta.model_extra or {}
        reasoning += extra.get("reasoning_content") or ""
        content += delta.content or ""
        for call in delta.tool_calls or ():
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            if call.id:
                assert not entry["id"], "a call's id comes once"
                entry["id"] = call.id
            if call.function and call.function.name:
                entry["name"] = call.function.name
            if call.function and call.function.arguments:
                entry["arguments"] += call.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert (reasoning, content, finish) == ("I should call a tool.", "Calling.", "tool_calls")
    assert [c["name"] for c in calls.values()] == ["lookup", "second"]
    assert all(c["arguments"] == ARGUMENTS and c["id"] for c in calls.values())


async def test_thinking_and_format_reach_the_engine(pipeline: Pipeline) -> None:
    client = openai_client(pipeline)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        extra_body={"chat_template_kwargs": {"enable_thinking": True}},
        tools=TOOLS,
        tool_choice="none",
        parallel_tool_calls=False,
    )
    (_, params, _) = list(pipeline.engine.submitted.values())[-1]
    rules = params.output
    assert rules.enable_thinking is True
    assert rules.response_format == {"type": "json_schema", "schema": schema}
    assert (rules.tool_choice, rules.parallel_tool_calls) == ("none", False)
    assert [t.name for t in rules.tools] == ["lookup", "second"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "tools"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema.schema"),
        ({"chat_template_kwargs": {"add_vision_id": True}}, "chat_template_kwargs.add_vision_id"),
        ({"functions": [{"name": "f"}]}, "functions"),
    ],
)
async def test_what_cannot_be_honoured_is_a_400_naming_it(
    pipeline: Pipeline, fields: dict[str, Any], param: str
) -> None:
    client = openai_client(pipeline)
    body = {"tools": TOOLS, **fields}
    with pytest.raises(BadRequestError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_body=body
        )
    assert info.value.body is not None
    assert isinstance(info.value.body, dict)
    assert info.value.body["param"] == param
    assert not pipeline.engine.submitted
