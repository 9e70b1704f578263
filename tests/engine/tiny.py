"""Tiny random-weight checkpoints of every architecture the engine serves, built in-process
(nothing downloaded) with the demo model's tokenizer (vocab 3488).

Random tiny models have flat logits, so greedy decoding would sit on near-ties that float
noise can flip; a large `initializer_range` makes the logits peaked. Positions go to 512
(prompts up to 300 tokens plus the reply); the length-dependent rope variants get a short
original context so their scaling is exercised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

VOCAB = 3488
HEAD_DIM = 16
SHAPE: dict[str, Any] = {
    "vocab_size": VOCAB,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "initializer_range": 0.3,
    "tie_word_embeddings": False,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "bos_token_id": None,
}
WINDOW = 24  # sliding windows shorter than most prompts
DROP = object()  # an architecture without this SHAPE field


def _rope(kind: str, **extra: Any) -> dict[str, Any]:
    return {"rope_parameters": {"rope_type": kind, "rope_theta": 10000.0, **extra}}


ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": ("llama", {}),
    "llama-llama3": (
        "llama",
        _rope(
            "llama3",
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=64,
        ),
    ),
    "llama-longrope": (
        "llama",
        _rope(
            "longrope",
            short_factor=[1.0 + i / 8 for i in range(HEAD_DIM // 2)],
            long_factor=[2.0 + i / 4 for i in range(HEAD_DIM // 2)],
            original_max_position_embeddings=64,
        ),
    ),
    "llama-dynamic": ("llama", {**_rope("dynamic", factor=2.0), "max_position_embeddings": 64}),
    "mistral-window": ("mistral", {"sliding_window": WINDOW}),
    "qwen2": ("qwen2", {}),
    "qwen3": ("qwen3", {"head_dim": HEAD_DIM}),
    "gemma2": (
        "gemma2",
        {"head_dim": HEAD_DIM, "sliding_window": WINDOW, "query_pre_attn_scalar": HEAD_DIM},
    ),
    "gemma3-text": (
        "gemma3_text",
        {
            "head_dim": HEAD_DIM,
            "sliding_window": WINDOW,
            "layer_types": ["sliding_attention", "full_attention"],
        },
    ),
    "phi3": ("phi3", {}),
    "gpt2": (
        "gpt2",
        {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 512, "n_inner": 128},
    ),
    "gpt_neox": ("gpt_neox", {"rotary_pct": 0.5, "num_key_value_heads": DROP}),
    "olmo2": ("olmo2", {}),
    "granite": (
        "granite",
        {
            "embedding_multiplier": 2.0,
            "residual_multiplier": 0.5,
            "attention_multiplier": 0.3,
            "logits_scaling": 2.0,
        },
    ),
    "starcoder2": ("starcoder2", {"sliding_window": WINDOW, "num_key_value_heads": 2}),
    "qwen2_moe": (
        "qwen2_moe",
        {
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 32,
            "shared_expert_intermediate_size": 64,
        },
    ),
    "mixtral": ("mixtral", {"num_local_experts": 4, "num_experts_per_tok": 2}),
}


# Plain ChatML: these checkpoints test token exactness, so their replies are plain text
# (no thinking or tool-call format, whose parser reads markup the random model may write).
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from tickertape.engine.demo import DEMO_MODEL_DIR

    tok = AutoTokenizer.from_pretrained(DEMO_MODEL_DIR)
    tok.chat_template = CHATML
    return tok


def build_config(name: str) -> Any:
    from transformers import AutoConfig

    model_type, extra = ARCHITECTURES[name]
    kwargs = {k: v for k, v in {**SHAPE, **extra}.items() if v is not DROP}
    return AutoConfig.for_model(model_type, **kwargs)


def build(name: str, out: Path, seed: int = 0) -> Path:
    """Save a random `name` checkpoint plus the demo tokenizer into `out`."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(build_config(name))
    model.save_pretrained(out)
    tokenizer().save_pretrained(out)
    return out
