"""Load tokenizer and model for the local engine and size its KV cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer

from tickertape.engine.config import DEMO, EngineConfig
from tickertape.engine.forward import Arch, inspect_model
from tickertape.engine.kvcache import KVCache

DEMO_NAME = "tickertape-demo"


@dataclass(frozen=True, slots=True)
class Loaded:
    model: nn.Module
    tokenizer: Any  # a transformers fast tokenizer
    arch: Arch
    eos: frozenset[int]
    context: int
    dtype: torch.dtype


def display_name(model: str) -> str:
    if model == DEMO:
        return DEMO_NAME
    return model.rstrip("/").rsplit("/", 1)[-1] or model


def resolve(model: str) -> str:
    if model != DEMO:
        return model
    from tickertape.engine.demo import DEMO_MODEL_DIR

    if not (Path(DEMO_MODEL_DIR) / "config.json").is_file():
        raise FileNotFoundError(f"the demo model is not built yet: {DEMO_MODEL_DIR} is empty")
    return str(DEMO_MODEL_DIR)


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


def context_for(config: EngineConfig, arch: Arch, dtype: torch.dtype) -> int:
    context = config.max_context or min(arch.max_positions, config.context_cap)
    if config.kv_cache_bytes is not None:
        per_slot_token = KVCache.bytes_per_token(arch, dtype) * config.max_batch
        context = min(context, config.kv_cache_bytes // per_slot_token - 1)  # - scratch
    if context < 2:
        raise ValueError(f"kv_cache_bytes={config.kv_cache_bytes} leaves no room for a context")
    return context


def load(config: EngineConfig) -> Loaded:
    """Blocking (seconds): run it in a worker thread."""
    path = resolve(config.model)
    dtype = getattr(torch, config.dtype)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{path}: the local engine needs a fast (tokenizers) tokenizer")
    if not tokenizer.chat_template:
        raise ValueError(f"{path}: the tokenizer has no chat template")
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    model.to(torch.device(config.device))
    model.eval()
    arch = inspect_model(model, config.max_context or config.context_cap)
    return Loaded(
        model=model,
        tokenizer=tokenizer,
        arch=arch,
        eos=eos_ids(model, tokenizer),
        context=context_for(config, arch, dtype),
        dtype=dtype,
    )
