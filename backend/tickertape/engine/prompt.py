"""Chat template and history truncation.

Rule: the prompt may use `context - reserve` tokens, where
`reserve = min(max_tokens, context // 2)` is room kept for the reply (at least 1 token).
If the whole conversation does not fit, the oldest turns are dropped first (a turn is a
user message and the assistant messages after it); the system prompt is always kept.
`PromptTooLong` is raised only when the system prompt plus the latest turn alone do not
fit. Generation may still stop at the context (finish reason LENGTH) before max_tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from jinja2 import TemplateError

from tickertape.engine.types import (
    ChatMessage,
    OutputRules,
    Prompt,
    PromptTooLong,
    SamplingParams,
    TemplateRefused,
)

PREFIX_TOKENS = 48  # the prompt's tail decoded to find what the generation prompt wrote


def turns_of(messages: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    """Messages grouped by turn: a user message and what answered it (assistant and
    tool messages), so that truncation never splits a call from its result."""
    turns: list[list[ChatMessage]] = []
    for message in messages:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def message_json(m: ChatMessage) -> dict[str, Any]:
    """A message as chat templates take it (transformers' and OpenAI's field names)."""
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.reasoning:
        out["reasoning_content"] = m.reasoning
    if m.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                # Templates render arguments with `tojson`: they want the object.
                "function": {"name": c.name, "arguments": _arguments(c.arguments)},
            }
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def template_kwargs(rules: OutputRules) -> dict[str, Any]:
    """What the chat template is told besides the messages. Tools are declared even with
    `tool_choice: none` (the model knows them, e.g. to read earlier calls); the decoder
    keeps it from opening a call."""
    kwargs: dict[str, Any] = {}
    if rules.tools:
        kwargs["tools"] = [t.template_json() for t in rules.tools]
    if rules.enable_thinking is not None:
        kwargs["enable_thinking"] = rules.enable_thinking
    return kwargs


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class PromptBuilder:
    def __init__(
        self,
        tokenizer: Any,
        context: int,
        system_prompt: str | None,
        generation_prefix: Callable[[str], str] = lambda tail: "",
    ) -> None:
        self._tokenizer = tokenizer  # a transformers tokenizer with a chat template
        self._context = context
        self._system = system_prompt
        # The text of a prompt's end -> what its generation prompt wrote after the
        # assistant header (an opened `<think>`, say).
        self._generation_prefix = generation_prefix

    def reserve(self, max_tokens: int) -> int:
        return max(1, min(max_tokens, self._context // 2))

    def encode(
        self, messages: Sequence[ChatMessage], rules: OutputRules | None = None
    ) -> list[int]:
        chat = [message_json(m) for m in messages]
        kwargs = template_kwargs(rules) if rules is not None else {}
        try:
            ids = self._tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, tokenize=True, return_dict=False, **kwargs
            )
        except TemplateError as exc:
            raise TemplateRefused(f"the model's chat template refused the messages: {exc}") from exc
        return [int(i) for i in ids]

    def build(self, messages: Sequence[ChatMessage], params: SamplingParams) -> Prompt:
        if not messages:
            raise ValueError("a prompt needs at least one message")
        head: list[ChatMessage] = []
        rest = list(messages)
        if rest[0].role == "system":
            head = [rest.pop(0)]  # the caller's system message wins over the configured one
        elif self._system:
            head = [ChatMessage(role="system", content=self._system)]
        turns = turns_of(rest)
        budget = self._context - self.reserve(params.max_tokens)

        def attempt(drop: int) -> list[int] | None:
            ids = self.encode(head + [m for turn in turns[drop:] for m in turn], params.output)
            return ids if len(ids) <= budget else None

        # Fewest dropped turns that fit; token count falls as turns are dropped, so a
        # binary search needs O(log turns) template renders instead of O(turns).
        low, high = 0, len(turns) - 1
        best = attempt(high)
        if best is None:
            raise PromptTooLong(
                f"the latest message does not fit the model's context ({budget} tokens "
                f"for the prompt of a {self._context}-token context)"
            )
        drop = high
        while low < high:
            mid = (low + high) // 2
            ids = attempt(mid)
            if ids is None:
                low = mid + 1
            else:
                best, drop, high = ids, mid, mid
        kept = head + [m for turn in turns[drop:] for m in turn]
        dropped = sum(len(turn) for turn in turns[:drop])
        tail = self._tokenizer.decode(best[-PREFIX_TOKENS:], skip_special_tokens=False)
        return Prompt(
            messages=tuple(kept),
            token_ids=tuple(best),
            prompt_tokens=len(best),
            dropped_messages=dropped,
            generation_prefix=self._generation_prefix(tail),
        )
