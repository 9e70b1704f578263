"""Reasoning and tool-call frames over the real WebSocket path (scripted engine): typed
frames in the reply's seq space, the wait for results, `tool_result`, the continuation in
the same reply, resume in the middle of a call, and what the store keeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import Pipeline
from tests.support.app_server import serve_app
from tests.support.script_engine import ARGUMENT_DELTAS, ScriptEngine
from tests.support.wsclient import Client, client
from tickertape.settings import Settings

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up.",
            "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
        },
    },
    {"type": "function", "function": {"name": "second"}},
]
PART_TYPES = ("reasoning", "tool_call", "tool_result", "awaiting_tools")
ARGUMENTS = "".join(ARGUMENT_DELTAS)


async def read_until(
    ws: Client, reply_id: str, stop_at: str, after_seq: int = 0
) -> list[dict[str, Any]]:
    """Every frame of the reply through the first of type `stop_at`, seq checked."""
    frames: list[dict[str, Any]] = []
    last = after_seq
    while True:
        frame = await ws.recv_type("token", "end", *PART_TYPES)
        assert frame["reply_id"] == reply_id
        if frame["type"] != "end":
            assert frame["seq"] == last + 1, (frame, last)
            last = frame["seq"]
        frames.append(frame)
        if frame["type"] == stop_at:
            return frames


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


async def start(ws: Client, content: str, msg_id: str, **fields: Any) -> dict[str, Any]:
    accepted = await ws.chat(content, msg_id, **fields)
    assert accepted["type"] == "accepted", accepted
    return accepted


async def test_reasoning_frames_come_before_the_answer_and_are_stored(
    pipeline: Pipeline,
) -> None:
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        accepted = await start(ws, "think", "m1")
        frames = await read_until(ws, accepted["reply_id"], "end")
    reasoning = [f for f in frames if f["type"] == "reasoning"]
    assert "".join(f["text"] for f in reasoning) == "Let me think about it."
    assert all(f["conversation_id"] == accepted["conversation_id"] for f in reasoning)
    assert kinds(frames)[0] == "reasoning"
    assert kinds(frames)[-1] == "end"
    async with pipeline.http() as http:
        view = (await http.get(f"/api/conversations/{accepted['conversation_id']}")).json()
    reply = view["messages"][-1]
    assert reply["reasoning"] == "Let me think about it."
    assert reply["content"] == "The quick brown fox jumps over the lazy dog"
    assert reply["tool_calls"] == []


async def test_a_tool_round_trip_continues_the_same_reply(pipeline: Pipeline) -> None:
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        accepted = await start(ws, "tool", "m1", tools=TOOLS)
        reply_id = accepted["reply_id"]
        first = await read_until(ws, reply_id, "awaiting_tools")
        assert kinds(first) == ["reasoning", "token", *["tool_call"] * 5, "awaiting_tools"]
        calls = [f for f in first if f["type"] == "tool_call"]
        assert calls[0]["name"] == "lookup"
        assert all("name" not in f for f in calls[1:])
        assert "".join(f["arguments"] for f in calls) == ARGUMENTS
        assert json.loads(ARGUMENTS) == {"x": 1, "y": "two"}
        awaiting = first[-1]
        call_id = calls[0]["call_id"]
        assert awaiting["calls"] == [
            {"index": 0, "call_id": call_id, "name": "lookup", "arguments": ARGUMENTS}
        ]
        assert awaiting["conversation_id"] == accepted["conversation_id"]
        await ws.send(
            {"type": "tool_result", "reply_id": reply_id, "call_id": call_id, "content": "42"}
        )
        rest = await read_until(ws, reply_id, "end", after_seq=awaiting["seq"])
        assert kinds(rest)[0] == "tool_result"
        assert rest[0]["content"] == "42"
        assert rest[0]["call_id"] == call_id
        # A later round's text is a paragraph of its own.
        assert "".join(f["text"] for f in rest if f["type"] == "token") == "\n\nResult: 42"
        assert rest[-1]["finish_reason"] == "stop"
        # The continuation's prompt: the turn, the reply's call, the result.
        _, _, prompt = pipeline.engine.submitted[reply_id]
        roles = [(m.role, m.content) for m in prompt.messages]
        assert roles[-3:] == [("user", "tool"), ("assistant", "Calling."), ("tool", "42")]
        assert prompt.messages[-2].tool_calls[0].arguments == ARGUMENTS
        assert prompt.messages[-2].reasoning == "I should call a tool."
        # The next turn's prompt has the round trip too (from the store).
        nxt = await start(ws, "hello", "m2", conversation_id=accepted["conversation_id"])
        await read_until(ws, nxt["reply_id"], "end")
    _, _, later = pipeline.engine.submitted[nxt["reply_id"]]
    assert [m.role for m in later.messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert later.messages[3].content == "\n\nResult: 42"
    async with pipeline.http() as http:
        view = (await http.get(f"/api/conversations/{accepted['conversation_id']}")).json()
    reply = view["messages"][1]
    assert reply["content"] == "Calling.\n\nResult: 42"
    assert reply["tool_calls"] == [
        {"index": 0, "call_id": call_id, "name": "lookup", "arguments": ARGUMENTS, "result": "42"}
    ]
    assert reply["params"]["tools"][0]["function"]["name"] == "lookup"


async def test_resume_in_the_middle_of_a_call_replays_it_exactly(pipeline: Pipeline) -> None:
    engine = pipeline.engine
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        accepted = await start(ws, "paced_tool", "m1", tools=TOOLS)
        reply_id = accepted["reply_id"]
        for _ in range(4):  # reasoning, text, the call's name, its first delta
            engine.steps.release()
        seen = await read_until(ws, reply_id, "tool_call")
        seen += await read_until(ws, reply_id, "tool_call", after_seq=seen[-1]["seq"])
        assert seen[-1]["arguments"] == ARGUMENT_DELTAS[0]
    # The connection is gone in the middle of the call's arguments; the reply goes on.
    for _ in range(len(ARGUMENT_DELTAS) - 1):
        engine.steps.release()
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        await ws.send({"type": "resume", "reply_id": reply_id, "last_seq": seen[-1]["seq"]})
        rest = await read_until(ws, reply_id, "awaiting_tools", after_seq=seen[-1]["seq"])
        async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as other:
            await other.send({"type": "resume", "reply_id": reply_id, "last_seq": 0})
            everything = await read_until(other, reply_id, "awaiting_tools")
        assert seen + rest == everything
        arguments = "".join(f["arguments"] for f in everything if f["type"] == "tool_call")
        assert json.loads(arguments) == {"x": 1, "y": "two"}
        call_id = everything[-1]["calls"][0]["call_id"]
        await ws.send(
            {"type": "tool_result", "reply_id": reply_id, "call_id": call_id, "content": "ok"}
        )
        end = await read_until(ws, reply_id, "end", after_seq=everything[-1]["seq"])
        assert end[-1]["finish_reason"] == "stop"


async def test_tool_results_are_idempotent_and_checked(pipeline: Pipeline) -> None:
    async with (
        client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws,
        client(pipeline.app.ws_url, pipeline.app.token("bob")) as bob,
    ):
        accepted = await start(ws, "tools2", "m1", tools=TOOLS)
        reply_id = accepted["reply_id"]
        frames = await read_until(ws, reply_id, "awaiting_tools")
        first, second = (c["call_id"] for c in frames[-1]["calls"])
        assert [c["name"] for c in frames[-1]["calls"]] == ["lookup", "second"]

        async def result(sock: Client, call_id: str, content: str = "r") -> None:
            await sock.send(
                {
                    "type": "tool_result",
                    "reply_id": reply_id,
                    "call_id": call_id,
                    "content": content,
                }
            )

        await result(bob, first)
        refused = await bob.recv_type("error")
        assert (refused["code"], refused["ref"]) == ("not_found", reply_id)
        await result(ws, "call_unknown")
        assert (await ws.recv_type("error"))["code"] == "bad_request"
        await result(ws, first, "one")
        await result(ws, first, "again")  # a repeat: nothing happens
        await result(ws, second, "two")
        rest = await read_until(ws, reply_id, "end", after_seq=frames[-1]["seq"])
        results = [(f["call_id"], f["content"]) for f in rest if f["type"] == "tool_result"]
        assert results == [(first, "one"), (second, "two")]
        await result(ws, first, "late")  # answered already: still nothing
        await result(ws, "call_other")
        assert (await ws.recv_type("error"))["code"] == "conflict"


async def test_a_stop_while_waiting_ends_the_reply_at_once(pipeline: Pipeline) -> None:
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        accepted = await start(ws, "tool", "m1", tools=TOOLS)
        frames = await read_until(ws, accepted["reply_id"], "awaiting_tools")
        await ws.send({"type": "stop", "reply_id": accepted["reply_id"]})
        end = await read_until(ws, accepted["reply_id"], "end", after_seq=frames[-1]["seq"])
    assert end[-1]["finish_reason"] == "stopped"
    async with pipeline.http() as http:  # the user's in-flight place is free again
        answer = await http.post("/v1/chat/completions", json=pipeline.completion("hi"))
        assert answer.status_code == 200


async def test_a_reply_that_waits_too_long_ends_on_its_calls(tmp_path: Path) -> None:
    engine = ScriptEngine()

    def factory(settings: Settings) -> ScriptEngine:
        return engine

    async with serve_app(tmp_path, factory, tool_wait_s=0.05, resume_retention_s=0) as app:
        async with client(app.ws_url, app.token("alice")) as ws:
            accepted = await start(ws, "tool", "m1", tools=TOOLS)
            frames = await read_until(ws, accepted["reply_id"], "end")
        assert kinds(frames)[-2:] == ["awaiting_tools", "end"]
        assert frames[-1]["finish_reason"] == "tool_calls"
        async with client(app.ws_url, app.token("alice")) as ws:  # from the store now
            await ws.send({"type": "resume", "reply_id": accepted["reply_id"], "last_seq": 0})
            snapshot = await ws.recv_type("snapshot")
        assert snapshot["reasoning"] == "I should call a tool."
        assert snapshot["tool_calls"][0]["result"] is None
        assert snapshot["tool_calls"][0]["arguments"] == ARGUMENTS


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools.0"),
        ({"params": {"format": {"type": "json_schema"}}}, "params.format"),
        ({"params": {"format": {"type": "xml"}}}, "params.format"),
    ],
)
async def test_bad_tools_and_formats_are_refused(
    pipeline: Pipeline, fields: dict[str, Any], problem: str
) -> None:
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        refused = await ws.chat("hi", "m1", **fields)
    assert refused["type"] == "error"
    assert refused["code"] == "bad_request"
    assert refused["message"].startswith(problem), refused


async def test_a_stop_that_races_the_end_of_a_round_still_stops(pipeline: Pipeline) -> None:
    """The generation ends on its calls in the step the stop arrives: the reply ends
    `stopped` instead of waiting for results (it held the user's place for minutes)."""
    async with client(pipeline.app.ws_url, pipeline.app.token("alice")) as ws:
        accepted = await start(ws, "late_stop_tool", "m1", tools=TOOLS)
        reply_id = accepted["reply_id"]
        frames = await read_until(ws, reply_id, "tool_call")
        while frames[-1]["arguments"] != ARGUMENT_DELTAS[-1]:
            frames += await read_until(ws, reply_id, "tool_call", after_seq=frames[-1]["seq"])
        await ws.send({"type": "stop", "reply_id": reply_id})
        after = await ws.recv_type("end", *PART_TYPES)
        assert after["type"] == "end", after  # not `awaiting_tools`
        assert after["finish_reason"] == "stopped"
