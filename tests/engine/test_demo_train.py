"""Pieces of the demo model's training script that decide what it learns (no training here)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import AutoTokenizer

from tickertape.engine.demo import DEMO_MODEL_DIR
from tickertape.engine.demo.train import IGNORE, copy_weights, heavy_tokens, lr_at


@pytest.fixture(scope="module")
def tok() -> Any:
    return AutoTokenizer.from_pretrained(DEMO_MODEL_DIR)


def test_copied_tokens_are_weighted_up_where_learned(tok: Any) -> None:
    prompt = "<|im_start|>user\nWhat is 12 times 3?<|im_end|>\n<|im_start|>assistant\n"
    reply = (
        '<tool_call>\n{"name": "calculator", "arguments": {"expression": "12 * 3"}}\n'
        "</tool_call><|im_end|>"
    )
    after = "\n<|im_start|>assistant\nIt is 36 now.<|im_end|>"
    p, r, a = (tok.encode(t, add_special_tokens=False) for t in (prompt, reply, after))
    ids = torch.tensor([p + r + a])
    labels = torch.tensor([[IGNORE] * len(p) + r + a])
    weights = copy_weights(ids, labels, heavy_tokens(tok, 3.0))[0].tolist()
    assert weights[: len(p)] == [1.0] * len(p)  # the question's digits are not learned
    call = weights[len(p) : len(p) + len(r)]
    assert call[:-1] == [3.0] * (len(r) - 1)  # the whole call, </tool_call> included
    assert call[-1] == 1.0  # <|im_end|>
    answer = dict(zip(a, weights[len(p) + len(r) :], strict=True))
    assert answer[tok.convert_tokens_to_ids("36")] == 3.0  # a number token
    assert sorted(set(answer.values())) == [1.0, 3.0]
    assert sum(w == 3.0 for w in answer.values()) == 1


def test_learning_rate_warms_up_then_decays_to_a_tenth() -> None:
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(10, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(100, 100, 1.0, 10) == pytest.approx(0.1)
