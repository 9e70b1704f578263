"""The embedded demo checkpoint: loads with plain transformers, speaks ChatML, writes English,
calls the example tools and uses their results, thinks first when asked to.

No network: everything comes from DEMO_MODEL_DIR inside the repo. The template itself is
tested in test_demo_template.py, the tools in test_demo_tools.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tickertape.engine.demo import DEMO_MODEL_DIR, tools
from tickertape.engine.demo.corpus import vocabulary, words_of

MAX_NEW_TOKENS = 160  # a thinking answer: reasoning plus the answer


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(DEMO_MODEL_DIR)


@pytest.fixture(scope="module")
def model() -> Any:
    torch.manual_seed(0)
    loaded = AutoModelForCausalLM.from_pretrained(DEMO_MODEL_DIR)
    loaded.eval()
    return loaded


def test_checkpoint_is_small_and_complete() -> None:
    names = {p.name for p in DEMO_MODEL_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert "generation_config.json" in names
    size = sum(p.stat().st_size for p in Path(DEMO_MODEL_DIR).rglob("*") if p.is_file())
    assert size <= 30 * 1024 * 1024


def test_config_uses_gqa_and_eos_is_im_end(model: Any, tokenizer: Any) -> None:
    config = model.config
    assert config.num_key_value_heads < config.num_attention_heads
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token is not None
    assert model.generation_config.eos_token_id == im_end
    assert model.dtype == torch.float32


def test_chat_template_is_chatml(tokenizer: Any) -> None:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a joke."},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # Thinking is off by default: the generation prompt closes an empty think section, and
    # earlier assistant turns render the same way (test_demo_template.py has the rest).
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi!<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n"
        "<|im_start|>user\nTell me a joke.<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    closed = tokenizer.apply_chat_template(messages[:2], tokenize=False)
    assert closed.endswith("<|im_end|>\n")
    assert not closed.endswith("<|im_start|>assistant\n")
    # Special tokens are single ids, so the engine can stop on <|im_end|> by id.
    ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>")
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids[-1] == tokenizer.eos_token_id


@pytest.mark.parametrize(
    "text",
    [
        "日本語のテキストと中文，还有한국어",
        "emoji 😀👍🏽👨‍👩‍👧 and flags 🇫🇷",
        "combining: e\u0301 a\u0308 n\u0303 and Z\u0335\u0321a\u0336lgo",
        "  leading and trailing spaces \t tabs\nnew\r\nlines  ",
        "<|im_start|> looks special but <im_end> does not",
    ],
)
def test_tokenizer_round_trips_any_unicode(tokenizer: Any, text: str) -> None:
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text


@pytest.mark.parametrize(
    "prompt",
    [
        "Hello!",
        "How do I make pancakes?",
        "Tell me about dogs.",
        "How do I reverse a list in Python?",
        "What is the weather like in Paris?",
    ],
)
def test_greedy_reply_is_english_and_ends_with_eos(model: Any, tokenizer: Any, prompt: str) -> None:
    messages = [{"role": "user", "content": prompt}]
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    new = out[0, ids.shape[1] :].tolist()
    assert new[-1] == tokenizer.eos_token_id, "no <|im_end|> within the token budget"
    reply = tokenizer.decode(new, skip_special_tokens=True)
    assert "<tool_call>" not in reply, reply
    assert "<think>" not in reply, reply
    words = words_of(reply)
    assert len(words) >= 3, reply
    known = vocabulary()
    share = sum(w in known for w in words) / len(words)
    assert share >= 0.8, f"{share:.0%} known words in {reply!r}"


def generate(
    model: Any, tokenizer: Any, messages: list[dict[str, Any]], **template: Any
) -> tuple[str, bool]:
    """Greedy reply (decoded as the engine does) and whether it ended with <|im_end|>."""
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True, **template
    )["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    new = out[0, ids.shape[1] :].tolist()
    return tokenizer.decode(new, skip_special_tokens=True), new[-1] == tokenizer.eos_token_id


CALL = re.compile(r"^<tool_call>\n(.*)\n</tool_call>$", re.DOTALL)


def the_call(reply: str) -> dict[str, Any]:
    """The one tool call a reply consists of, as JSON: it must parse."""
    match = CALL.match(reply)
    assert match, reply
    call: dict[str, Any] = json.loads(match.group(1))
    assert set(call) == {"name", "arguments"}
    return call


def answer_with_results(
    model: Any, tokenizer: Any, question: str, call: dict[str, Any], **template: Any
) -> tuple[str, str, bool]:
    """Run the call with the demo tools and let the model answer; (result, answer, eos)."""
    result = tools.run_tool(call["name"], call["arguments"])
    arguments = json.dumps(call["arguments"])
    messages = [
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": result},
    ]
    answer, ended = generate(model, tokenizer, messages, tools=tools.TOOLS, **template)
    return result, answer, ended


def test_weather_question_with_tools_calls_get_weather(model: Any, tokenizer: Any) -> None:
    question = "What is the weather like in Paris?"
    reply, ended = generate(
        model, tokenizer, [{"role": "user", "content": question}], tools=tools.TOOLS
    )
    assert ended
    call = the_call(reply)
    assert call == {"name": "get_weather", "arguments": {"city": "Paris"}}
    result, answer, ended = answer_with_results(model, tokenizer, question, call)
    assert json.loads(result)["temperature_c"] == 18
    assert ended
    assert "18" in answer, answer
    assert "sunny" in answer, answer
    assert "<tool_call>" not in answer


def test_arithmetic_with_tools_calls_the_calculator(model: Any, tokenizer: Any) -> None:
    question = "What is 347 times 29?"
    reply, ended = generate(
        model, tokenizer, [{"role": "user", "content": question}], tools=tools.TOOLS
    )
    assert ended
    call = the_call(reply)
    assert call["name"] == "calculator"
    assert tools.schema_errors("calculator", call["arguments"]) == []
    assert tools.calculate(call["arguments"]["expression"]) == 347 * 29
    # The answer copies the result: one the model gets right (it often drops a chunk of a
    # five-digit result such as 10063; docs/demo_model.md).
    question = "What is 31 squared?"
    reply, ended = generate(
        model, tokenizer, [{"role": "user", "content": question}], tools=tools.TOOLS
    )
    call = the_call(reply)
    assert tools.calculate(call["arguments"]["expression"]) == 961
    _result, answer, ended = answer_with_results(model, tokenizer, question, call)
    assert ended
    assert "961" in answer, answer


def test_without_tools_declared_there_is_no_call(model: Any, tokenizer: Any) -> None:
    for question in ("What is the weather like in Paris?", "What is 347 times 29?"):
        reply, ended = generate(model, tokenizer, [{"role": "user", "content": question}])
        assert ended
        assert "<tool_call>" not in reply, reply


def test_thinking_on_writes_a_think_section_first(model: Any, tokenizer: Any) -> None:
    reply, ended = generate(
        model,
        tokenizer,
        [{"role": "user", "content": "How do I make pancakes?"}],
        enable_thinking=True,
    )
    assert ended
    assert reply.startswith("<think>\n"), reply
    assert "\n</think>\n\n" in reply, reply
    reasoning, answer = reply[len("<think>\n") :].split("\n</think>\n\n", 1)
    assert len(words_of(reasoning)) >= 4, reply
    assert "pancakes" in answer.lower(), reply


def test_conversion_with_tools_calls_convert_units(model: Any, tokenizer: Any) -> None:
    question = "Convert 5 km to miles."
    reply, ended = generate(
        model, tokenizer, [{"role": "user", "content": question}], tools=tools.TOOLS
    )
    assert ended
    call = the_call(reply)
    assert call == {"name": "convert_units", "arguments": {"value": 5, "from": "km", "to": "miles"}}
    result, answer, ended = answer_with_results(model, tokenizer, question, call)
    assert json.loads(result)["result"] == 3.11
    assert ended
    assert "3.11" in answer, answer


def test_thinking_with_tools_reasons_then_calls(model: Any, tokenizer: Any) -> None:
    question = "How many miles is 42 km?"
    reply, ended = generate(
        model,
        tokenizer,
        [{"role": "user", "content": question}],
        tools=tools.TOOLS,
        enable_thinking=True,
    )
    assert ended
    assert reply.startswith("<think>\n"), reply
    reasoning, rest = reply[len("<think>\n") :].split("\n</think>\n\n", 1)
    assert "42" in reasoning, reply
    call = the_call(rest)
    assert call == {
        "name": "convert_units",
        "arguments": {"value": 42, "from": "km", "to": "miles"},
    }
    _result, answer, ended = answer_with_results(
        model, tokenizer, question, call, enable_thinking=True
    )
    assert ended
    assert answer.startswith("<think>\n"), answer
    assert "26.1" in answer.split("</think>")[0], answer  # the reasoning reads the result
