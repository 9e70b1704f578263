"""Constrained decoding in the shared batch, on a tiny random model that speaks the
Qwen 3 format (tests/engine/tool_model.py). A random model never calls a tool by itself:
`tool_choice` forces calls (the grammar writes them), so every check here holds by
construction, and the conformance test proves it over many seeds and sampling settings.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import torch

from tests.engine import tool_model
from tests.support.sink import CollectingSink
from tickertape.engine.config import EngineConfig
from tickertape.engine.constraint import TokenConstraint
from tickertape.engine.local import LocalEngine
from tickertape.engine.types import (
    ChatMessage,
    FinishReason,
    InvalidOutputRules,
    OutputPiece,
    OutputRules,
    PieceKind,
    SamplingParams,
    Tool,
)

TOOLS = tuple(
    Tool(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
    for t in tool_model.TOOLS
)
SCHEMAS = {t.name: jsonschema_rs.validator_for(dict(t.parameters or {})) for t in TOOLS}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "enum": ["Paris", "Rome"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 9},
        "ok": {"type": "boolean"},
    },
    "required": ["city", "days", "ok"],
    "additionalProperties": False,
}
# How many replies the conformance test runs (each one seed and sampling setting).
CONFORMANCE_REPLIES = int(os.environ.get("TT_CONFORMANCE_REPLIES", "32"))


@pytest.fixture(scope="module")
def tool_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tool_model.build(tmp_path_factory.mktemp("tool-model"))


@pytest.fixture
async def engine(tool_model_dir: Path) -> AsyncIterator[LocalEngine]:
    engine = LocalEngine(EngineConfig(model=str(tool_model_dir), dtype="float32", max_batch=8))
    await engine.start()
    yield engine
    await engine.close()


async def run(
    engine: LocalEngine, rules: OutputRules, reply_id: str = "r", **sampling: Any
) -> tuple[list[OutputPiece], CollectingSink]:
    params = SamplingParams(**{"max_tokens": 96, "temperature": 0.0, **sampling}, output=rules)
    prompt = await engine.prepare([ChatMessage("user", "What is 2+2 in Paris?")], params)
    sink = CollectingSink()
    engine.submit(reply_id, "user", prompt, params, sink)
    await sink.finished()
    return [p for u in sink.updates for p in u.pieces], sink


def calls_of(pieces: list[OutputPiece]) -> list[tuple[str, str]]:
    """(name, concatenated arguments) of every call in the pieces."""
    calls: dict[int, list[str]] = {}
    for p in pieces:
        if p.kind is PieceKind.TOOL_CALL:
            if p.name is not None:
                calls[p.index] = [p.name, ""]
            calls[p.index][1] += p.text
    return [(n, a) for n, a in (calls[i] for i in sorted(calls))]


def assert_valid(calls: list[tuple[str, str]]) -> None:
    for name, arguments in calls:
        SCHEMAS[name].validate(json.loads(arguments))


async def test_required_forces_valid_calls(engine: LocalEngine) -> None:
    pieces, sink = await run(engine, OutputRules(tools=TOOLS, tool_choice="required"))
    assert sink.result.finish_reason is FinishReason.TOOL_CALLS
    calls = calls_of(pieces)
    assert calls
    assert_valid(calls)
    assert not [p for p in pieces if p.kind is PieceKind.TEXT]


async def test_a_named_function_alone(engine: LocalEngine) -> None:
    rules = OutputRules(
        tools=TOOLS,
        tool_choice="function",
        function_name="convert_units",
        parallel_tool_calls=False,
    )
    pieces, sink = await run(engine, rules, temperature=1.0, seed=7)
    assert sink.result.finish_reason is FinishReason.TOOL_CALLS
    calls = calls_of(pieces)
    assert [name for name, _ in calls] == ["convert_units"]
    assert_valid(calls)


async def test_a_json_schema_answer_parses_and_validates(engine: LocalEngine) -> None:
    rules = OutputRules(response_format={"type": "json_schema", "schema": ANSWER_SCHEMA})
    for seed in range(4):
        pieces, sink = await run(engine, rules, reply_id=f"r{seed}", temperature=1.2, seed=seed)
        assert sink.result.finish_reason is FinishReason.STOP
        answer = "".join(p.text for p in pieces if p.kind is PieceKind.TEXT)
        jsonschema_rs.validate(ANSWER_SCHEMA, json.loads(answer))


def allowed(constraint: TokenConstraint) -> set[int]:
    row = torch.zeros(constraint.words, dtype=torch.int32)
    if not constraint.fill(row):
        return set(range(constraint.words * 32))
    return {t for t in range(constraint.words * 32) if int(row[t // 32]) >> (t % 32) & 1}


async def test_thinking_first_then_the_forced_call(engine: LocalEngine) -> None:
    """With thinking on, the template leaves the think section to the model: the grammar
    lets it open one, may not end inside it, then forces the call. Token by token, with
    the tokenizer's real ids (a random model would think for thousands of tokens)."""
    ready = engine._ready
    assert ready is not None
    tok = ready.loaded.tokenizer
    rules = OutputRules(
        tools=TOOLS, tool_choice="required", enable_thinking=True, parallel_tool_calls=False
    )
    constraint = ready.output.constraint(rules, "")
    assert constraint is not None
    eos = ready.loaded.eos
    text = (
        "<think>\nHmm.\n</think>\n\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>'
    )
    for n, token in enumerate(tok.encode(text, add_special_tokens=False)):
        now = allowed(constraint)
        assert token in now, (n, tok.decode([token]))
        if 1 <= n <= 4:  # inside the thinking: anything but the end
            assert not eos & now
        constraint.accept(token)
    assert allowed(constraint) & set(range(len(tok))) == set(eos)


async def test_none_never_opens_a_call(engine: LocalEngine) -> None:
    """`<tool_call>` (and a stray `</think>`) are the tokens a `none` reply may not take
    (the tools are still in the prompt); the text never holds a call."""
    rules = OutputRules(tools=TOOLS, tool_choice="none")
    ready = engine._ready
    assert ready is not None
    opener = ready.loaded.tokenizer.convert_tokens_to_ids("<tool_call>")
    closer = ready.loaded.tokenizer.convert_tokens_to_ids("</think>")  # never in an answer
    constraint = ready.output.constraint(rules, "")
    assert constraint is not None
    assert allowed(constraint) == set(range(constraint.words * 32)) - {opener, closer}
    for seed in range(2):
        pieces, sink = await run(engine, rules, reply_id=f"n{seed}", temperature=1.5, seed=seed)
        assert sink.result.finish_reason is not FinishReason.TOOL_CALLS
        assert not calls_of(pieces)


async def test_max_tokens_inside_a_call_is_a_typed_error(engine: LocalEngine) -> None:
    _, sink = await run(engine, OutputRules(tools=TOOLS, tool_choice="required"), max_tokens=8)
    result = sink.result
    assert result.finish_reason is FinishReason.ERROR
    assert result.error_code == "tool_call_incomplete"
    assert "max_tokens" in (result.error_message or "")


async def test_a_bad_schema_is_refused_before_the_turn(engine: LocalEngine) -> None:
    bad = Tool("f", None, {"type": "object", "properties": {"a": {"type": "nope"}}})
    params = SamplingParams(output=OutputRules(tools=(bad,), tool_choice="required"))
    with pytest.raises(InvalidOutputRules, match=r"tools\[0\]\.function\.parameters"):
        await engine.prepare([ChatMessage("user", "hi")], params)


async def test_schemas_too_large_to_compile_in_a_step_are_refused(engine: LocalEngine) -> None:
    """The grammar is built in the step that starts the reply: its size is bounded."""
    properties = {f"field_{i}": {"type": "string", "description": "x" * 60} for i in range(400)}
    big = Tool("f", None, {"type": "object", "properties": properties})
    params = SamplingParams(output=OutputRules(tools=(big,), tool_choice="required"))
    with pytest.raises(InvalidOutputRules, match=r"^tools: .* at most"):
        await engine.prepare([ChatMessage("user", "hi")], params)


async def test_conformance_over_seeds_and_sampling(engine: LocalEngine) -> None:
    """Every emitted call of every reply parses and fits its schema, whatever the
    sampling; a reply cut inside a call says so (never a call that does not parse)."""
    settings = [
        {"temperature": t, "top_p": p, "top_k": k}
        for t in (0.7, 1.0, 1.5)
        for p in (1.0, 0.9)
        for k in (0, 20)
    ]
    choices = [
        OutputRules(tools=TOOLS, tool_choice="required"),
        OutputRules(tools=TOOLS, tool_choice="required", parallel_tool_calls=False),
        OutputRules(tools=TOOLS, tool_choice="function", function_name="get_weather"),
        OutputRules(tools=TOOLS, tool_choice="required", enable_thinking=True),
    ]

    room = asyncio.Semaphore(48)  # the engine's waiting queue holds 64

    async def one(n: int) -> tuple[list[OutputPiece], CollectingSink]:
        sampling = settings[n % len(settings)]
        rules = choices[n % len(choices)]
        async with room:
            return await run(engine, rules, reply_id=f"c{n}", seed=n, max_tokens=64, **sampling)

    outcomes = await asyncio.gather(*(one(n) for n in range(CONFORMANCE_REPLIES)))
    complete = 0
    for pieces, sink in outcomes:
        result = sink.result
        calls = calls_of(pieces)
        if result.finish_reason is FinishReason.TOOL_CALLS:
            assert_valid(calls)
            complete += 1
        elif result.finish_reason is FinishReason.LENGTH:  # still thinking at max_tokens
            assert not calls
            assert any(p.kind is PieceKind.REASONING for p in pieces)
        else:
            assert result.error_code == "tool_call_incomplete", result
            assert_valid(calls[:-1])  # every call before the cut one is whole
    assert complete >= CONFORMANCE_REPLIES // 3
