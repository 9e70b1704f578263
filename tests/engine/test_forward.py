"""Our forward pass over the slot cache matches the HF model's own forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from tickertape.engine.batch import decode_inputs, prefill_inputs
from tickertape.engine.forward import UnsupportedModel, forward, inspect_model
from tickertape.engine.kvcache import KVCache

SHAPE: dict[str, Any] = {
    "vocab_size": 300,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
}
MODELS: dict[str, Callable[[], Any]] = {
    "llama": lambda: LlamaForCausalLM(LlamaConfig(**SHAPE)),
    "llama-mha-bias": lambda: LlamaForCausalLM(
        LlamaConfig(**{**SHAPE, "num_key_value_heads": 4, "attention_bias": True})
    ),
    "mistral": lambda: MistralForCausalLM(MistralConfig(**SHAPE, sliding_window=None)),
    "qwen2": lambda: Qwen2ForCausalLM(Qwen2Config(**SHAPE)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@torch.inference_mode()
def test_chunked_prefill_and_ragged_decode_match_hf(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    cache = KVCache(inspect_model(model, 64), 4, 64, torch.float32, torch.device("cpu"))
    a = torch.randint(0, 300, (20,)).tolist()
    b = torch.randint(0, 300, (7,)).tolist()
    ref_a = model(torch.tensor([a])).logits[0]
    ref_b = model(torch.tensor([b, *[]])).logits[0]
    # Two prompts prefilled together (right-padded), a in slot 2 and b in slot 0.
    out = forward(model, cache, prefill_inputs([(2, a[:8], 0), (0, b, 0)], cache.scratch))
    torch.testing.assert_close(out[0], ref_a[7], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1], ref_b[6], atol=1e-5, rtol=1e-5)
    out = forward(model, cache, prefill_inputs([(2, a[8:19], 8)], cache.scratch))  # chunk 2
    torch.testing.assert_close(out[0], ref_a[18], atol=1e-5, rtol=1e-5)
    # One decode step over slots 0..2 with different lengths; slot 1 is an idle dummy.
    out = forward(model, cache, decode_inputs([5, 0, a[19]], [7, 0, 19]))
    ref_b5 = model(torch.tensor([[*b, 5]])).logits[0, -1]
    torch.testing.assert_close(out[0], ref_b5, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[2], ref_a[19], atol=1e-5, rtol=1e-5)


def test_compaction_move_keeps_a_reply_intact() -> None:
    torch.manual_seed(0)
    model = MODELS["llama"]().eval()
    cache = KVCache(inspect_model(model, 64), 4, 64, torch.float32, torch.device("cpu"))
    a = torch.randint(0, 300, (9,)).tolist()
    with torch.inference_mode():
        forward(model, cache, prefill_inputs([(3, a[:8], 0)], cache.scratch))
        cache.move(3, 0, 8)
        out = forward(model, cache, decode_inputs([a[8]], [8]))
        ref = model(torch.tensor([a])).logits[0, -1]
    torch.testing.assert_close(out[0], ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "model",
    [
        lambda: GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100)),
        lambda: Qwen3ForCausalLM(Qwen3Config(**SHAPE)),
        lambda: MistralForCausalLM(MistralConfig(**SHAPE, sliding_window=16)),
    ],
    ids=["gpt2", "qwen3", "mistral-sliding"],
)
def test_other_architectures_fail_clearly(model: Any) -> None:
    with pytest.raises(UnsupportedModel, match="not supported"):
        inspect_model(model(), 64)
