"""The demo checkpoint's tokenizer and chat template: tools, tool calls, tool results, thinking.

Pure template tests (no model): the format the serving side parses and renders
(docs/demo_model.md, "The format").
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from transformers import AutoTokenizer

from tickertape.engine.demo import DEMO_MODEL_DIR, corpus, tools
from tickertape.engine.demo.tokenizer import CHAT_TEMPLATE, MARKUP_TOKENS, SPECIAL_TOKENS

OFF = "<think>\n\n</think>\n\n"  # what the generation prompt adds with thinking off
TOOLS_SYSTEM = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    + "\n".join(json.dumps(t) for t in tools.TOOLS)
    + "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


@pytest.fixture(scope="module")
def tok() -> Any:
    return AutoTokenizer.from_pretrained(DEMO_MODEL_DIR)


def render(tok: Any, messages: list[dict[str, Any]], **kw: Any) -> str:
    text: str = tok.apply_chat_template(messages, tokenize=False, **kw)
    return text


def test_checkpoint_ships_the_source_template(tok: Any) -> None:
    assert tok.chat_template == CHAT_TEMPLATE


def test_token_ids_and_markup_survive_skip_special_tokens(tok: Any) -> None:
    for i, token in enumerate((*SPECIAL_TOKENS, *MARKUP_TOKENS)):
        assert tok.convert_tokens_to_ids(token) == i
        assert tok.encode(token) == [i]
    assert tok.eos_token == "<|im_end|>"
    assert tok.eos_token_id == 2
    assert tok.pad_token == "<|endoftext|>"
    assert tok.pad_token_id == 0
    assert tok.bos_token is None
    text = '<think>\nhm\n</think>\n\n<tool_call>\n{"name": "x", "arguments": {}}\n</tool_call>'
    ids = tok.encode("<|im_start|>assistant\n" + text + "<|im_end|>")
    # The engine decodes with skip_special_tokens=True: control tokens go, markup stays.
    assert tok.decode(ids, skip_special_tokens=True) == "assistant\n" + text
    assert tok.decode(ids) == "<|im_start|>assistant\n" + text + "<|im_end|>"


def test_plain_chat_is_chatml_and_thinking_is_off_by_default(tok: Any) -> None:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a joke."},
    ]
    history = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi!<|im_end|>\n"
        f"<|im_start|>assistant\n{OFF}Hello!<|im_end|>\n"
        "<|im_start|>user\nTell me a joke.<|im_end|>\n"
    )
    assert render(tok, messages, add_generation_prompt=True) == history + (
        "<|im_start|>assistant\n" + OFF
    )
    assert render(tok, messages, add_generation_prompt=True, enable_thinking=False) == (
        history + "<|im_start|>assistant\n" + OFF
    )
    assert render(tok, messages, add_generation_prompt=True, enable_thinking=True) == (
        history + "<|im_start|>assistant\n"
    )
    assert render(tok, messages) == history
    # Content given as OpenAI text parts renders as their text.
    parts = [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "!"}]}
    ]
    assert render(tok, parts) == "<|im_start|>user\nHi!<|im_end|>\n"


def test_tools_are_listed_in_the_system_turn(tok: Any) -> None:
    user = [{"role": "user", "content": "Weather in Paris?"}]
    text = render(tok, user, tools=tools.TOOLS, add_generation_prompt=True)
    assert text == (
        f"<|im_start|>system\n{TOOLS_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        f"<|im_start|>assistant\n{OFF}"
    )
    system = [{"role": "system", "content": "Be brief."}, *user]
    assert render(tok, system, tools=tools.TOOLS).startswith(
        f"<|im_start|>system\nBe brief.\n\n{TOOLS_SYSTEM}<|im_end|>\n<|im_start|>user\n"
    )
    # No tools: no tool section, and the system turn is as before.
    assert render(tok, system) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n"
    )
    assert render(tok, system, tools=[]) == render(tok, system)


def _call(name: str, arguments: Any, i: int = 0) -> dict[str, Any]:
    return {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": arguments}}


def test_tool_calls_and_tool_results(tok: Any) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                _call("get_weather", {"city": "Paris"}, 1),  # a dict
                _call("get_weather", '{"city": "Rome"}', 2),  # a JSON string, as OpenAI sends
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"city": "Paris"}'},
        {"role": "tool", "tool_call_id": "c2", "content": '{"city": "Rome"}'},
    ]
    text = render(tok, messages, tools=tools.TOOLS, add_generation_prompt=True)
    assert text.endswith(
        "<|im_start|>user\nWeather in Paris and Rome?<|im_end|>\n"
        f"<|im_start|>assistant\n{OFF}"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>'
        "<|im_end|>\n"
        # Consecutive tool messages share one user turn.
        "<|im_start|>user\n<tool_response>\n"
        '{"city": "Paris"}\n</tool_response>\n<tool_response>\n{"city": "Rome"}\n'
        "</tool_response><|im_end|>\n"
        f"<|im_start|>assistant\n{OFF}"
    )
    # Content before a call comes first, on its own line; a bare call (no "function") works.
    said = [
        {"role": "user", "content": "6 * 7?"},
        {
            "role": "assistant",
            "content": "Let me calculate that.",
            "tool_calls": [{"name": "calculator", "arguments": {"expression": "6 * 7"}}],
        },
    ]
    assert render(tok, said).endswith(
        f"<|im_start|>assistant\n{OFF}Let me calculate that.\n"
        '<tool_call>\n{"name": "calculator", "arguments": {"expression": "6 * 7"}}\n'
        "</tool_call><|im_end|>\n"
    )


def test_reasoning_is_kept_only_for_the_turn_in_progress(tok: Any) -> None:
    messages = [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I will look it up.",
            "tool_calls": [_call("get_weather", {"city": "Oslo"})],
        },
        {"role": "tool", "content": '{"city": "Oslo"}'},
    ]
    text = render(
        tok, messages, tools=tools.TOOLS, add_generation_prompt=True, enable_thinking=True
    )
    # An earlier turn's reasoning is dropped: it renders as written with thinking off.
    assert f"<|im_start|>assistant\n{OFF}Hello!<|im_end|>\n" in text
    assert "A greeting." not in text
    # The tool-calling step of the turn in progress keeps it.
    assert "<|im_start|>assistant\n<think>\nI will look it up.\n</think>\n\n<tool_call>\n" in text
    assert text.endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")
    # Reasoning left inside the content (a raw reply sent back) is split off the same way.
    raw = [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "<think>\nA greeting.\n</think>\n\nHello!"},
        {"role": "user", "content": "Bye"},
    ]
    assert f"<|im_start|>assistant\n{OFF}Hello!<|im_end|>\n" in render(tok, raw)
    last = [*raw[:2]]
    assert render(tok, last).endswith(
        "<|im_start|>assistant\n<think>\nA greeting.\n</think>\n\nHello!<|im_end|>\n"
    )


def test_corpus_renders_as_the_template_does(tok: Any) -> None:
    """The training rows are the template's text (train.py checks every row; this, a sample)."""
    for item in corpus.examples(300, seed=7):
        want = "".join(text for text, _ in corpus.render(item))
        assert render(tok, item.messages, tools=item.tools, enable_thinking=item.thinking) == want


def test_corpus_tool_calls_are_valid() -> None:
    seen = {"calculator": 0, "get_weather": 0, "convert_units": 0}
    parallel = 0
    for item in corpus.examples(1500, seed=3):
        corpus.validate(item)
        for message in item.messages:
            calls = message.get("tool_calls") or []
            parallel += len(calls) > 1
            for call in calls:
                name = call["function"]["name"]
                args = call["function"]["arguments"]
                args = json.loads(args) if isinstance(args, str) else args
                assert tools.schema_errors(name, args) == []
                seen[name] += 1
            if not item.tools:
                assert not calls, "a tool call in a conversation without tools"
    assert min(seen.values()) > 50, seen
    assert parallel > 5
