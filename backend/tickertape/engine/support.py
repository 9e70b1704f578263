"""Which checkpoints the local engine serves, decided from the config alone (no weights).

The engine runs the checkpoint's own transformers modules and only swaps in its attention
function, so it serves a causal LM whose transformers class declares
`_supports_attention_backend` (transformers' promise that every attention goes through
the `AttentionInterface`, which vLLM's Transformers backend relies on too) and whose
layers are plain causal self-attention, full or sliding-window. Refused, each with one
line naming the model type and what is missing: encoder-decoders, non-causal models,
vision-language wrappers, ALiBi/position-bias attention, linear/chunked/other layer
kinds, KV sharing across layers, and anything whose class bypasses the interface
(Falcon, Bloom, MPT...). After the weights load, a probe and an exactness check against
the model's own attention catch what the config cannot tell (see selfcheck.py).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tickertape.engine.config import DEMO

ATTENTION_LAYER_TYPES = frozenset({"full_attention", "sliding_attention"})
# Rope scalings that extend the usable context by their `factor`; `dynamic` has no limit.
SCALING_TYPES = frozenset({"linear", "yarn", "longrope", "llama3"})


class UnsupportedModel(ValueError):
    """The local engine cannot serve this checkpoint exactly (one line, no traceback)."""


def causal_lm_class(model_type: str) -> Any | None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    name = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(model_type)
    if name is None:
        return None
    return getattr(importlib.import_module("transformers"), name, None)


def check_config(config: Any) -> None:
    """Raise UnsupportedModel if a checkpoint with this config cannot be served exactly."""
    kind = getattr(config, "model_type", None) or "unknown"

    def refuse(why: str) -> UnsupportedModel:
        return UnsupportedModel(f"model type {kind!r}: {why}")

    if getattr(config, "is_encoder_decoder", False):
        raise refuse("encoder-decoder models are not supported (a decoder-only causal LM is)")
    if getattr(config, "vision_config", None) is not None:
        raise refuse("vision-language checkpoints are not supported (serve its text model)")
    if not getattr(config, "is_causal", True):
        raise refuse("the attention is not causal")
    if getattr(config, "alibi", False) or getattr(config, "position_embedding_type", "") == "alibi":
        raise refuse("ALiBi position bias is not supported by the paged attention")
    layer_types = getattr(config, "layer_types", None) or []
    other = sorted(set(layer_types) - ATTENTION_LAYER_TYPES)
    if other:
        raise refuse(
            f"layer types {', '.join(other)} are not supported (only full and sliding attention)"
        )
    if getattr(config, "num_kv_shared_layers", 0):
        raise refuse("KV sharing across layers is not supported")
    cls = causal_lm_class(kind)
    if cls is None:
        raise refuse("transformers has no causal-LM class for it")
    if not getattr(cls, "_supports_attention_backend", False):
        raise refuse(
            f"{cls.__name__} does not route its attention through transformers' AttentionInterface"
        )


def position_limit(config: Any) -> int | None:
    """The longest context the positional scheme allows; None when unbounded (dynamic NTK)."""
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        limit = getattr(config, "n_positions", None)
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if isinstance(params, dict) and params and all(isinstance(v, dict) for v in params.values()):
        params = next(iter(params.values()))  # per layer type (Gemma 3): they share the limit
    kind = (
        params.get("rope_type", params.get("type", "default"))
        if isinstance(params, dict)
        else "default"
    )
    if "dynamic" in str(kind):
        return None
    if kind in SCALING_TYPES and limit is not None:
        original = params.get("original_max_position_embeddings") or limit
        factor = float(params.get("factor") or 1.0)
        limit = max(int(limit), int(original * factor))
    return int(limit) if limit is not None else None


def check_context(config: Any, max_context: int | None) -> None:
    limit = position_limit(config)
    if max_context is not None and limit is not None and max_context > limit:
        kind = getattr(config, "model_type", "unknown")
        raise UnsupportedModel(
            f"--max-context {max_context} exceeds model type {kind!r}'s position limit ({limit}) "
            "and its rope scaling does not extend it"
        )


def resolve(model: str) -> str:
    """The checkpoint directory or hub id that `model` names ("demo" = the embedded one)."""
    if model != DEMO:
        return model
    from tickertape.engine.demo import DEMO_MODEL_DIR

    if not (Path(DEMO_MODEL_DIR) / "config.json").is_file():
        raise FileNotFoundError(f"the demo model is not built yet: {DEMO_MODEL_DIR} is empty")
    return str(DEMO_MODEL_DIR)


def check_device(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UnsupportedModel(f"--device {device}: CUDA is not available here")


def check_model(model: str, max_context: int | None = None, device: str = "auto") -> Any:
    """Config-only check, before any weights load: raises UnsupportedModel (one line).
    Returns the checkpoint's config."""
    check_device(device)
    from transformers import AutoConfig

    path = resolve(model)
    if path.startswith((".", "/", "~")) and not Path(path).expanduser().is_dir():
        raise FileNotFoundError(f"no checkpoint directory at {path}")  # not a hub id
    config = AutoConfig.from_pretrained(path)
    check_config(config)
    check_context(config, max_context)
    return config


def checkpoint_dtype(config: Any) -> str:
    """What `--dtype auto` loads, as far as the config tells: the dtype it names, else
    float32. (transformers then looks at the weights themselves; a config naming no
    dtype over float16 weights is only found out at load.)"""
    named = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return str(named).removeprefix("torch.") if named else "float32"
