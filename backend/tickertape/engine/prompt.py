"""Chat template and history truncation.

Rule: the prompt may use `context - reserve` tokens, where
`reserve = min(max_tokens, context // 2)` is room kept for the reply (at least 1 token).
If the whole conversation does not fit, the oldest turns are dropped first (a turn is a
user message and the assistant messages after it); the system prompt is always kept.
`PromptTooLong` is raised only when the system prompt plus the latest turn alone do not
fit. Generation may still stop at the context (finish reason LENGTH) before max_tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tickertape.engine.types import ChatMessage, Prompt, PromptTooLong, SamplingParams


def _turns(messages: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    turns: list[list[ChatMessage]] = []
    for message in messages:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


class PromptBuilder:
    def __init__(self, tokenizer: Any, context: int, system_prompt: str | None) -> None:
        self._tokenizer = tokenizer  # a transformers tokenizer with a chat template
        self._context = context
        self._system = system_prompt

    def reserve(self, max_tokens: int) -> int:
        return max(1, min(max_tokens, self._context // 2))

    def encode(self, messages: Sequence[ChatMessage]) -> list[int]:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        ids = self._tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, tokenize=True, return_dict=False
        )
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
        turns = _turns(rest)
        budget = self._context - self.reserve(params.max_tokens)

        def attempt(drop: int) -> list[int] | None:
            ids = self.encode(head + [m for turn in turns[drop:] for m in turn])
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
        return Prompt(
            messages=tuple(kept),
            token_ids=tuple(best),
            prompt_tokens=len(best),
            dropped_messages=dropped,
        )
