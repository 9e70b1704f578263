"""Rotary tables whose frequencies depend on the sequence length, computed per sequence.

Transformers' `dynamic` and `longrope` rotary embeddings pick their frequencies from
`max(position_ids) + 1` of the call (and `dynamic` keeps state between calls). In
`generate`, that is the whole prompt's length for prompt tokens (one prefill call) and
`position + 1` for each generated token (one decode call each). A packed step mixes
replies, so one call over all its positions would give every token the frequencies of
the batch's longest sequence. We wrap such a module so that each group of tokens with
the same length (`StepBatch.rope_lens`) gets its own call of the module's own forward:
the group's positions plus position `length - 1` appended (then dropped), from the
state a fresh `generate` starts in. Static rope types are left alone (one call).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from tickertape.engine.stepbatch import StepBatch


class HasBatch(Protocol):
    batch: StepBatch | None


def _rope_types(module: nn.Module) -> list[str]:
    kind = getattr(module, "rope_type", None)
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, dict):
        return [str(v) for v in kind.values()]
    return []


def length_dependent(kind: str) -> bool:
    return "dynamic" in kind or kind == "longrope"


def _reset_dynamic(module: Any, layer_type: str | None) -> None:
    # The state a fresh model starts `generate` in (what dynamic_frequency_update resets to).
    prefix = f"{layer_type}_" if layer_type else ""
    original = getattr(module, f"{prefix}original_inv_freq")
    module.register_buffer(f"{prefix}inv_freq", original.clone(), persistent=False)
    setattr(module, f"{prefix}max_seq_len_cached", module.original_max_seq_len)


def _per_sequence(module: nn.Module, state: HasBatch) -> Callable[..., tuple[Tensor, Tensor]]:
    original = module.forward

    def forward(
        x: Tensor, position_ids: Tensor, *args: Any, **kwargs: Any
    ) -> tuple[Tensor, Tensor]:
        batch = state.batch
        if batch is None or batch.rope_lens is None:
            return original(x, position_ids, *args, **kwargs)  # type: ignore[no-any-return]
        layer_type = args[0] if args else kwargs.get("layer_type")
        lens, positions = batch.rope_lens, position_ids[0]
        cos = sin = None
        for length in torch.unique(lens).tolist():
            index = (lens == length).nonzero()[:, 0]
            group = torch.cat([positions[index], positions.new_tensor([length - 1])])[None]
            if any("dynamic" in kind for kind in _rope_types(module)):
                _reset_dynamic(module, layer_type)
            c, s = original(x, group, *args, **kwargs)  # [1, n + 1, D]
            if cos is None or sin is None:
                cos = c.new_empty((1, positions.shape[0], c.shape[-1]))
                sin = s.new_empty((1, positions.shape[0], s.shape[-1]))
            cos[0, index], sin[0, index] = c[0, :-1], s[0, :-1]
        assert cos is not None
        assert sin is not None
        return cos, sin

    return forward


def wrap_length_dependent(model: nn.Module, state: HasBatch) -> list[nn.Module]:
    """Wrap every length-dependent rotary module of `model`; returns them (see unwrap)."""
    wrapped: list[nn.Module] = []
    for module in model.modules():
        rotary = any(name.endswith("inv_freq") for name, _ in module.named_buffers(recurse=False))
        if rotary and any(length_dependent(kind) for kind in _rope_types(module)):
            module.forward = _per_sequence(module, state)
            wrapped.append(module)
    return wrapped


def unwrap(modules: list[nn.Module]) -> None:
    for module in modules:
        del module.forward  # the instance attribute: the class's forward shows through again
