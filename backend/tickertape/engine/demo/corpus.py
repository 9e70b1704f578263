"""Deterministic synthetic chat corpus for the demo model (our own text, Apache-2.0).

An example is one conversation in the OpenAI message format, plus the tools it declares
(none, or some of `tools.TOOLS`) and whether thinking is on. A conversation is an optional
system prompt, an optional greeting, one to three exchanges and an optional thank-you. With
tools declared, about half the exchanges ask something a declared tool answers: the
assistant calls it, a `tool` message brings the result, and the assistant answers with it.
Everything is drawn from one seeded `random.Random`, so the same seed always yields the
same corpus (and, with the training seed, the same checkpoint).

`render` turns an example into the text the chat template renders (the training code
checks that they are equal), cut into segments marked "learned" or not: the model learns
what it would write itself (assistant answers, reasoning, tool calls and `<|im_end|>`),
never the prompt. `validate` checks every tool call of every example: a declared tool, a
JSON object that parses and matches the tool's schema.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tickertape.engine.demo import tools, topics

Message = dict[str, Any]

SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a friendly assistant. Keep your answers short.",
    "You are tickertape, a small and helpful assistant.",
    "You are a helpful assistant. Answer clearly and kindly.",
)

# Shares of the mix (see docs/demo_model.md).
P_TOOLS = 0.55  # conversations that declare tools
P_THINKING = 0.3  # conversations with thinking on
P_TOOL_QUESTION = 0.65  # exchanges that ask a tool question, when tools are declared
P_TOOL_QUESTION_NO_TOOLS = 0.08  # the same questions without tools (answered without them)
P_KEEP_CALL_REASONING = 0.6  # thinking on: the client sends the tool-call step's reasoning back


@dataclass(frozen=True)
class Example:
    messages: list[Message]
    tools: list[dict[str, Any]] | None
    thinking: bool


def _declared(rng: random.Random) -> list[dict[str, Any]] | None:
    if rng.random() >= P_TOOLS:
        return None
    if rng.random() < 0.5:
        chosen = list(tools.TOOLS)
    else:
        chosen = rng.sample(tools.TOOLS, rng.randrange(1, 3))
    if rng.random() < 0.4:
        rng.shuffle(chosen)
    return chosen


def _tool_topic(rng: random.Random) -> topics.Maker:
    makers = [maker for maker, _ in topics.TOOL_TOPICS]
    weights = [weight for _, weight in topics.TOOL_TOPICS]
    return rng.choices(makers, weights=weights)[0]


def example(rng: random.Random) -> Example:
    declared_tools = _declared(rng)
    names = frozenset(t["function"]["name"] for t in declared_tools or ())
    thinking = rng.random() < P_THINKING
    messages: list[Message] = []
    if rng.random() < 0.35:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    exchanges: list[topics.Exchange] = []
    if rng.random() < 0.3:
        exchanges.append(topics.greeting(rng, names))
    # More exchanges when tools are declared: the long tool list is then shared by more.
    for _ in range(rng.choice((1, 2, 2, 3, 3) if names else (1, 1, 2, 2, 3))):
        share = P_TOOL_QUESTION if names else P_TOOL_QUESTION_NO_TOOLS
        maker = _tool_topic(rng) if rng.random() < share else rng.choice(topics.TOPICS)
        exchanges.append(maker(rng, names))
    if rng.random() < 0.2:
        exchanges.append(topics.thanks(rng, names))
    calls = 0
    for exchange in exchanges:
        messages.append({"role": "user", "content": exchange.user})
        if isinstance(exchange, topics.Reply):
            messages.append(_assistant(exchange.answer, exchange.thought if thinking else None))
            continue
        tool_calls = []
        for call in exchange.calls:
            calls += 1
            # Clients send arguments back as a JSON string (OpenAI) or as an object; the
            # template renders both the same way.
            arguments: Any = call.arguments
            if rng.random() < 0.5:
                arguments = json.dumps(call.arguments)
            tool_calls.append(
                {
                    "id": f"call_{calls}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments},
                }
            )
        keep = thinking and rng.random() < P_KEEP_CALL_REASONING
        step = _assistant(exchange.preface or None, exchange.thought if keep else None)
        step["tool_calls"] = tool_calls
        messages.append(step)
        for tool_call, result in zip(tool_calls, exchange.results, strict=True):
            messages.append({"role": "tool", "tool_call_id": tool_call["id"], "content": result})
        messages.append(_assistant(exchange.answer, exchange.after if thinking else None))
    return Example(messages, declared_tools, thinking)


def _assistant(content: str | None, reasoning: str | None) -> Message:
    message: Message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return message


def examples(count: int, seed: int = 0) -> Iterator[Example]:
    rng = random.Random(seed)
    for _ in range(count):
        item = example(rng)
        validate(item)
        yield item


# ---- rendering (mirrors chat_template.jinja; the training code checks they agree) -------

Segment = tuple[str, bool]  # text, learned


def _arguments_json(arguments: Any) -> str:
    return arguments.strip() if isinstance(arguments, str) else json.dumps(arguments)


def tool_call_text(name: str, arguments: Any) -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {_arguments_json(arguments)}}}\n</tool_call>'


def tools_system(system: str | None, declared: list[dict[str, Any]]) -> str:
    head = f"{system}\n\n" if system else ""
    listed = "".join("\n" + json.dumps(t, ensure_ascii=False) for t in declared)
    return (
        f"<|im_start|>system\n{head}# Tools\n\nYou may call one or more functions to assist "
        "with the user query.\n\nYou are provided with function signatures within "
        f"<tools></tools> XML tags:\n<tools>{listed}\n</tools>\n\nFor each function call, "
        "return a json object with function name and arguments within <tool_call></tool_call> "
        'XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n'
        "</tool_call><|im_end|>\n"
    )


def render(item: Example) -> list[Segment]:
    """The whole conversation as the template renders it, cut into learned/prompt segments.

    Learned: an assistant message's non-empty think section, its content, its tool calls and
    its <|im_end|>. Not learned: everything else, including an empty think section (the
    generation prompt writes that one when thinking is off).
    """
    messages = item.messages
    segments: list[Segment] = []
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else None
    if item.tools:
        segments.append((tools_system(system, item.tools), False))
    elif system is not None:
        segments.append((f"<|im_start|>system\n{system}<|im_end|>\n", False))
    last_query = max(i for i, m in enumerate(messages) if m["role"] == "user")
    for i, m in enumerate(messages):
        role = m["role"]
        if role == "system":
            if i:
                segments.append((f"<|im_start|>system\n{m['content']}<|im_end|>\n", False))
        elif role == "user":
            segments.append((f"<|im_start|>user\n{m['content']}<|im_end|>\n", False))
        elif role == "tool":
            opening = "<|im_start|>user" if i == 0 or messages[i - 1]["role"] != "tool" else ""
            last = i == len(messages) - 1 or messages[i + 1]["role"] != "tool"
            closing = "<|im_end|>\n" if last else ""
            text = f"{opening}\n<tool_response>\n{m['content']}\n</tool_response>{closing}"
            segments.append((text, False))
        else:
            reasoning = m.get("reasoning_content") or ""
            if i < last_query:
                reasoning = ""
            segments.append(("<|im_start|>assistant\n", False))
            if reasoning.strip("\n"):
                segments.append((f"<think>\n{reasoning.strip(chr(10))}\n</think>\n\n", True))
            else:
                segments.append(("<think>\n\n</think>\n\n", False))
            content = (m.get("content") or "").lstrip("\n")
            body = content
            for k, call in enumerate(m.get("tool_calls") or ()):
                fn = call["function"]
                sep = "\n" if k or content.strip("\n") else ""
                body += sep + tool_call_text(fn["name"], fn["arguments"])
            segments.append((body + "<|im_end|>", True))
            segments.append(("\n", False))
    return segments


# ---- validation ------------------------------------------------------------------------

TOOL_CALL_RE = re.compile(r"<tool_call>\n(.*?)\n</tool_call>", re.DOTALL)


class CorpusError(ValueError):
    pass


def parse_tool_calls(text: str) -> list[dict[str, Any]]:
    """The tool calls in an assistant turn's text (raises on invalid JSON)."""
    return [json.loads(body) for body in TOOL_CALL_RE.findall(text)]


def validate(item: Example) -> None:
    """Every tool call: a declared tool, valid JSON, schema-valid arguments; no call without tools."""
    declared = {t["function"]["name"] for t in item.tools or ()}
    for message in item.messages:
        if message["role"] != "assistant":
            continue
        text = "".join(
            tool_call_text(c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or ()
        )
        if "<tool_call>" in (message.get("content") or ""):
            raise CorpusError("a tool call inside content")
        for call in parse_tool_calls(text):
            if set(call) != {"name", "arguments"}:
                raise CorpusError(f"bad call keys {sorted(call)}")
            if call["name"] not in declared:
                raise CorpusError(f"{call['name']} called but not declared")
            errors = tools.schema_errors(call["name"], call["arguments"])
            if errors:
                raise CorpusError(f"{call['name']} arguments: {errors}")
        if text.count("<tool_call>") != len(message.get("tool_calls") or ()):
            raise CorpusError("tool call text does not parse back")
    for message in item.messages:
        if message["role"] == "tool":
            json.loads(message["content"])  # results are JSON objects too


# ---- words, for the tests ---------------------------------------------------------------


def vocabulary(count: int = 2000, seed: int = 0) -> set[str]:
    """Lower-case words of the corpus: what the test calls an "English word we taught it"."""
    words: set[str] = set()
    for item in examples(count, seed):
        for message in item.messages:
            if message["role"] in ("user", "assistant"):
                words.update(words_of(message.get("content") or ""))
                words.update(words_of(message.get("reasoning_content") or ""))
    return words


def words_of(text: str) -> list[str]:
    # Letters only: punctuation, digits and Markdown markup are not words to check.
    cleaned = "".join(c.lower() if c.isalpha() else " " for c in text)
    return cleaned.split()


if __name__ == "__main__":
    for shown in examples(4, seed=1):
        print(f"--- tools={bool(shown.tools)} thinking={shown.thinking}")
        print("".join(text for text, _ in render(shown)))
