"""Thinking off: the demo's template closes an empty think section in the prompt, and the
model may not open another one (a sampled reply of the small demo model sometimes did,
and clients that asked for no reasoning got `reasoning` frames)."""

from __future__ import annotations

import torch
from transformers import AutoTokenizer

from tickertape.engine.demo import DEMO_MODEL_DIR
from tickertape.engine.output_setup import OutputSetup
from tickertape.engine.types import OutputRules


def allowed(setup: OutputSetup, prefix: str, token: int) -> bool | None:
    constraint = setup.constraint(OutputRules(), prefix)
    if constraint is None:
        return None  # free: every token allowed
    row = torch.zeros(constraint.words, dtype=torch.int32)
    assert constraint.fill(row)
    return bool((int(row[token // 32]) >> (token % 32)) & 1)


def test_the_think_opener_is_banned_only_when_thinking_is_off() -> None:
    tokenizer = AutoTokenizer.from_pretrained(DEMO_MODEL_DIR)
    setup = OutputSetup(tokenizer, len(tokenizer), frozenset({tokenizer.eos_token_id}))
    think = tokenizer.convert_tokens_to_ids("<think>")
    word = tokenizer.encode("Hello", add_special_tokens=False)[0]
    closed = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert allowed(setup, closed, think) is False
    assert allowed(setup, closed, word) is True
    assert allowed(setup, "<|im_start|>assistant\n<think>\n", think) is None  # thinking on
