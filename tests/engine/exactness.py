"""The exactness contract, reusable: greedy replies with `ignore_eos` must be the tokens of
`model.generate(do_sample=False)` run alone, in float32.

`reference` runs transformers' own `generate` once per prompt (fresh rotary state each
time, EOS not stopping nor suppressed), `expected` decodes it the way a reply's text is
streamed. The engine side is whatever delivers text: the engine driven directly
(`engine_replies`) or the real WebSocket path (tests/engine/test_ws_exactness.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tests.support.sink import CollectingSink
from tickertape.engine.local import LocalEngine
from tickertape.engine.types import ChatMessage, SamplingParams

NEW_TOKENS = 20
# Prompt lengths in tokens once the chat template is applied: 5..300 (ChatML adds ~9).
TARGET_LENGTHS = (5, 24, 57, 96, 150, 221, 295)
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "quietly",
    "hum",
]


@dataclass(frozen=True)
class Reply:
    text: str
    completion_tokens: int


def greedy(new_tokens: int = NEW_TOKENS) -> SamplingParams:
    return SamplingParams(max_tokens=new_tokens, temperature=0.0, ignore_eos=True)


def chat_ids(tokenizer: Any, messages: Sequence[ChatMessage]) -> list[int]:
    chat = [{"role": m.role, "content": m.content} for m in messages]
    ids = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    return [int(i) for i in ids]


def contents(tokenizer: Any, lengths: Sequence[int] = TARGET_LENGTHS) -> list[str]:
    """One user message per target length: as many words as make the chat prompt that long
    (or just over; the shortest is a single short word)."""
    out: list[str] = []
    for i, target in enumerate(lengths):
        words: list[str] = []
        text = WORDS[i % len(WORDS)][:2]
        while len(chat_ids(tokenizer, [ChatMessage("user", text)])) < target:
            words.append(WORDS[(i + len(words)) % len(WORDS)])
            text = " ".join(words)
        out.append(text)
    return out


def _reset_rotary(model: Any) -> None:
    # `dynamic` rope keeps state across calls; `generate` alone starts from a fresh model.
    for module in model.modules():
        original = getattr(module, "original_inv_freq", None)
        if original is not None and hasattr(module, "original_max_seq_len"):
            module.register_buffer("inv_freq", original.clone(), persistent=False)
            module.max_seq_len_cached = module.original_max_seq_len


def reference(
    model_dir: Path, prompts: Sequence[Sequence[int]], new_tokens: int = NEW_TOKENS
) -> list[list[int]]:
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    model.generation_config.eos_token_id = None  # ignore_eos: neither stop nor suppress
    out: list[list[int]] = []
    with torch.inference_mode():
        for ids in prompts:
            _reset_rotary(model)
            tokens = model.generate(
                torch.tensor([list(ids)]),
                attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
                do_sample=False,
                max_new_tokens=new_tokens,
                pad_token_id=0,
            )
            out.append(tokens[0, len(ids) :].tolist())
    return out


def expected(tokenizer: Any, generated: Sequence[Sequence[int]]) -> list[Reply]:
    return [Reply(tokenizer.decode(list(g), skip_special_tokens=True), len(g)) for g in generated]


async def engine_replies(
    engine: LocalEngine,
    conversations: Sequence[Sequence[ChatMessage]],
    params: SamplingParams,
    tag: str = "r",
) -> list[Reply]:
    """Submit every conversation at once (concurrent replies), collect each reply."""
    sinks: list[CollectingSink] = []
    for i, messages in enumerate(conversations):
        prompt = await engine.prepare(list(messages), params)
        sink = CollectingSink()
        engine.submit(f"{tag}{i}", f"user{i}", prompt, params, sink)
        sinks.append(sink)
    results = await asyncio.gather(*(s.finished() for s in sinks))
    return [Reply(s.text, r.usage.completion_tokens) for s, r in zip(sinks, results, strict=True)]


def mismatches(got: Sequence[Reply], want: Sequence[Reply]) -> list[str]:
    return [
        f"reply {i}: got {g.text!r} ({g.completion_tokens} tokens), want {w.text!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True))
        if g != w
    ]
