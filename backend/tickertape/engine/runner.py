"""Runs the checkpoint's own transformers forward over the paged KV cache.

The model is called exactly as transformers would call it for one packed sequence
(`input_ids`/`position_ids` of shape `[1, T]`, `use_cache=False`, `logits_to_keep` = the
positions we sample), so its embeddings, norms, q/k norms, rotary or learned positions,
MLP / MoE routing, softcapping and logit scaling all run as written. Two extension points
plug the engine in, the way vLLM's Transformers backend does:

- the attention function: registered in transformers' `AttentionInterface` under a name
  unique to this runner and selected with `model.set_attn_implementation`; it reads the
  step (`self.batch`) and the pool (`self.pool`) from this runner. Because that name has
  no entry in the mask interface, transformers' `create_causal_mask` returns None at
  once: no mask is built for the packed sequence;
- length-dependent rotary modules, wrapped per sequence (rotary.py).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from transformers import AttentionInterface

from tickertape.engine.attention import paged_attention
from tickertape.engine.kvpool import KVPool, LayerShape
from tickertape.engine.linear import PackedLinears, pack_linears
from tickertape.engine.plan import Work
from tickertape.engine.rotary import unwrap, wrap_length_dependent
from tickertape.engine.stepbatch import StepBatch, build
from tickertape.engine.support import UnsupportedModel

_names = itertools.count()


class ModelRunner:
    def __init__(self, model: Any, block_size: int, pack_linear: bool = False) -> None:
        self.model = model
        self.block_size = block_size
        self.device: torch.device = next(model.parameters()).device
        self.dtype: torch.dtype = next(model.parameters()).dtype
        self.batch: StepBatch | None = None
        self.pool: KVPool | None = None
        self.reference_attention: str = model.config._attn_implementation
        self._rotary = wrap_length_dependent(model, self)
        self.rope = bool(self._rotary)
        self.shapes = self._probe()
        self.name = f"tickertape_paged_{next(_names)}"
        AttentionInterface.register(self.name, functools.partial(paged_attention, self))
        model.set_attn_implementation(self.name)
        # Packed after the probe: an unsupported model is refused before the copies exist.
        self._packed: PackedLinears | None = (
            pack_linears(model, probe=self._two_tokens) if pack_linear else None
        )

    @property
    def linear_kernel(self) -> str:
        if self._packed is None:
            return "torch's F.linear"
        return f"packed oneDNN weights ({self._packed.groups} groups of sibling layers share one)"

    def allocate(self, num_blocks: int) -> KVPool:
        self.pool = KVPool(self.shapes, num_blocks, self.block_size, self.dtype, self.device)
        return self.pool

    def close(self) -> None:
        """Give the model back as it was (its own attention and rotary modules)."""
        self.model.set_attn_implementation(self.reference_attention)
        AttentionInterface._global_mapping.pop(self.name, None)
        unwrap(self._rotary)
        if self._packed is not None:
            self._packed.restore()
        self.pool = None

    def forward(self, work: Sequence[Work]) -> tuple[Tensor, list[str]]:
        """One packed forward of every token in `work`; float32 logits [S, V] of the
        sampled tokens and the reply id of each row."""
        batch = build(work, self.block_size, self.rope, self.device)
        self.batch = batch
        try:
            out = self.model(
                input_ids=batch.input_ids,
                position_ids=batch.position_ids,
                use_cache=False,
                logits_to_keep=batch.sample_index,
            )
        finally:
            self.batch = None
        logits: Tensor = out.logits[0].float()
        return logits, batch.sampled

    def reference_logits(self, tokens: Sequence[int]) -> Tensor:
        """[len(tokens), V] float32 from the model's own attention implementation, no
        cache: what the engine's logits are checked against at load."""
        self.model.set_attn_implementation(self.reference_attention)
        try:  # the packed linears stay: the check is of the attention and the positions
            ids = torch.tensor([list(tokens)], device=self.device)
            out = self.model(input_ids=ids, use_cache=False)
        finally:
            self.model.set_attn_implementation(self.name)
        result: Tensor = out.logits[0].float()
        return result

    def _two_tokens(self) -> None:
        """The tiny forward the linear packing watches to find sibling layers."""
        with torch.inference_mode():
            self.reference_logits((0, 0))

    def _probe(self) -> list[LayerShape]:
        """Learn each attention layer's kv heads and head dim from one tiny forward."""
        shapes: dict[int, LayerShape] = {}
        kind = getattr(self.model.config, "model_type", "unknown")

        def record(
            module: nn.Module, query: Tensor, key: Tensor, value: Tensor, *args: Any, **kw: Any
        ) -> tuple[Tensor, None]:
            layer = getattr(module, "layer_idx", None)
            if not isinstance(layer, int):
                raise UnsupportedModel(
                    f"model type {kind!r}: {type(module).__name__} has no layer_idx"
                )
            if layer in shapes:
                raise UnsupportedModel(f"model type {kind!r}: layer {layer} attends twice")
            if getattr(module, "sinks", None) is not None or kw.get("s_aux") is not None:
                raise UnsupportedModel(f"model type {kind!r}: attention sinks are not supported")
            if key.shape[-1] != value.shape[-1]:
                raise UnsupportedModel(f"model type {kind!r}: keys and values differ in head size")
            shapes[layer] = LayerShape(kv_heads=int(key.shape[1]), head_dim=int(key.shape[-1]))
            return query.new_zeros(
                query.shape[0], query.shape[2], query.shape[1], value.shape[-1]
            ), None

        name = f"tickertape_probe_{next(_names)}"
        AttentionInterface.register(name, record)
        try:
            self.model.set_attn_implementation(name)
            ids = torch.zeros((1, 2), dtype=torch.long, device=self.device)
            self.model(
                input_ids=ids,
                position_ids=torch.arange(2, device=self.device)[None],
                use_cache=False,
            )
        finally:
            AttentionInterface._global_mapping.pop(name, None)
            self.model.set_attn_implementation(self.reference_attention)
        if sorted(shapes) != list(range(len(shapes))) or not shapes:
            raise UnsupportedModel(f"model type {kind!r}: attention layers are not 0..n-1")
        return [shapes[i] for i in range(len(shapes))]
