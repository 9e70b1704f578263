"""Load tokenizer and model for the local engine: dtype, device, chat template, EOS ids,
and the checkpoint's sampling defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from tickertape.engine.config import DEMO, EngineConfig
from tickertape.engine.sampling import SamplingDefaults, defaults_from
from tickertape.engine.support import (
    check_config,
    check_context,
    check_device,
    position_limit,
    resolve,
)

DEMO_NAME = "tickertape-demo"

# For base checkpoints without a chat template (docs/engine.md): plain "User:/Assistant:"
# turns, the system prompt as a leading paragraph, BOS first when the tokenizer has one.
FALLBACK_TEMPLATE = (
    "{{ bos_token or '' }}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% else %}Assistant: {{ m['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
FALLBACK_STOPS = ("\nUser:",)  # a base model goes on to write the next turn itself


@dataclass(frozen=True, slots=True)
class Loaded:
    model: Any  # a transformers *ForCausalLM, eval mode, on its device
    tokenizer: Any  # a transformers fast tokenizer
    eos: frozenset[int]
    context: int  # before the KV pool is sized (which may shrink it)
    defaults: SamplingDefaults
    stops: tuple[str, ...]  # stop strings every reply gets (the fallback template's)


def display_name(model: str) -> str:
    if model == DEMO:
        return DEMO_NAME
    return model.rstrip("/").rsplit("/", 1)[-1] or model


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Every id that ends a reply: the model config's, generation_config's, tokenizer's."""
    ids: set[int] = set()
    for value in (
        getattr(model.config, "eos_token_id", None),
        getattr(getattr(model, "generation_config", None), "eos_token_id", None),
        tokenizer.eos_token_id,
    ):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return frozenset(ids)


def load(config: EngineConfig) -> Loaded:
    """Blocking (seconds): run it in a worker thread. Refuses (UnsupportedModel) before
    any weights load when the config tells."""
    check_device(config.device)
    path = resolve(config.model)
    hf_config = AutoConfig.from_pretrained(path)
    check_config(hf_config)
    check_context(hf_config, config.max_context)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{path}: the local engine needs a fast (tokenizers) tokenizer")
    stops: tuple[str, ...] = ()
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_TEMPLATE
        stops = FALLBACK_STOPS
    dtype: Any = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    model.to(resolve_device(config.device))
    model.eval()
    limit = position_limit(hf_config)
    context = config.max_context or min(limit or config.context_cap, config.context_cap)
    return Loaded(
        model=model,
        tokenizer=tokenizer,
        eos=eos_ids(model, tokenizer),
        context=context,
        defaults=defaults_from(getattr(model, "generation_config", None)),
        stops=stops,
    )
