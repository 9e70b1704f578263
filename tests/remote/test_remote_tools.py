"""The remote engine's side of tools and reasoning, without an upstream: what it asks for,
how it reads `reasoning_content` and `delta.tool_calls`, and that it emits only complete
calls whose arguments parse."""

from __future__ import annotations

import json

import pytest

from tickertape.engine.remote_calls import InvalidToolCall, UpstreamCalls
from tickertape.engine.remote_sse import chunk_pieces, parse_chunk, request_body
from tickertape.engine.types import (
    ChatMessage,
    FinishReason,
    OutputRules,
    PieceKind,
    Prompt,
    SamplingParams,
    Tool,
    ToolCall,
)


def chunk(delta: dict[str, object], finish: str | None = None) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def test_the_request_carries_tools_format_thinking_and_the_round_trip() -> None:
    rules = OutputRules(
        tools=(Tool("f", "does f", {"type": "object"}),),
        tool_choice="function",
        function_name="f",
        parallel_tool_calls=False,
        enable_thinking=False,
        response_format={"type": "json_schema", "schema": {"type": "object"}},
    )
    messages = (
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "", tool_calls=(ToolCall("call_1", "f", '{"a": 1}'),)),
        ChatMessage("tool", "ok", tool_call_id="call_1"),
    )
    body = request_body("m", Prompt(messages, None, 3), SamplingParams(output=rules))
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "description": "does f", "parameters": {"type": "object"}},
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["parallel_tool_calls"] is False
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert body["messages"][1]["tool_calls"][0]["function"] == {
        "name": "f",
        "arguments": '{"a": 1}',
    }
    assert body["messages"][2] == {"role": "tool", "content": "ok", "tool_call_id": "call_1"}
    plain = request_body("m", Prompt((messages[0],), None, 1), SamplingParams())
    assert not {"tools", "tool_choice", "response_format", "chat_template_kwargs"} & plain.keys()


def test_reasoning_and_call_deltas_are_read() -> None:
    thinking = parse_chunk(chunk({"reasoning_content": "hmm"}))
    assert [(p.kind, p.text) for p in chunk_pieces(thinking)] == [(PieceKind.REASONING, "hmm")]
    calls = UpstreamCalls()
    first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f"}}
    for delta in (
        {"tool_calls": [first]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
    ):
        parsed = parse_chunk(chunk(delta))
        assert not chunk_pieces(parsed)  # call deltas are held, never streamed
        calls.add(parsed.calls)
    assert parse_chunk(chunk({}, "tool_calls")).finish_reason is FinishReason.TOOL_CALLS
    (piece,) = calls.pieces()
    assert (piece.name, piece.text) == ("f", '{"a": 1}')
    # Our own id, not the upstream's "call_a": upstreams that repeat ids across rounds
    # would otherwise have the next round's result taken for a repeat.
    assert piece.call_id.startswith("call_")
    assert piece.call_id != "call_a"
    again = UpstreamCalls()  # the next round's call with the same upstream id
    again.add(parse_chunk(chunk({"tool_calls": [first]})).calls)
    assert again.pieces()[0].call_id != piece.call_id


def test_a_call_whose_arguments_do_not_parse_is_never_emitted() -> None:
    calls = UpstreamCalls()
    parsed = parse_chunk(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "c", "function": {"name": "f", "arguments": '{"a": '}}
                ]
            }
        )
    )
    calls.add(parsed.calls)
    with pytest.raises(InvalidToolCall):
        calls.pieces()
