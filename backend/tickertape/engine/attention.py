"""The attention function the model's own attention modules call (via transformers'
`AttentionInterface`), over the paged KV cache.

The module computes its q/k/v (projections, q/k norms, rotary) exactly as it always does
and hands them here with its `scaling`, `sliding_window` and `softcap`. We write the new
keys/values into the pool and attend, per reply, to that reply's positions only:

- single-token rows (decoding replies) in one batched call: each row's blocks gathered,
  padded to the longest, masked by length (and window); GQA folds each kv head's G query
  heads into the query axis, so K/V are never repeated;
- each prompt chunk on its own: from position 0 straight from the fresh k/v with a causal
  mask, later chunks against their gathered context with an offset causal mask. No
  `[T, T]` mask across the whole step is ever built.

Masks follow transformers' definitions: causal is `kv <= q`, a sliding window `W` adds
`kv > q - W` (W positions including the query's own). Logit softcapping (Gemma 2) needs
the scores, so it takes an eager path with the same operation order as the model's eager
attention. Shapes: T tokens, R rows, H query heads, KV kv heads, G = H // KV, D head dim,
L attended positions, t tokens of a chunk.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tickertape.engine.kvpool import KVPool
from tickertape.engine.stepbatch import StepBatch


class StepState(Protocol):
    """What the attention function reads: the current step and the pool."""

    batch: StepBatch | None
    pool: KVPool | None


def layer_window(sliding_window: Any, module: nn.Module) -> int | None:
    """The layer's window: the kwarg the module passes, else its own attribute (Qwen2-MoE
    only sets the attribute). 0 or None means full attention."""
    window = (
        sliding_window if sliding_window is not None else getattr(module, "sliding_window", None)
    )
    return int(window) if window else None


def _eager(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor, scale: float, softcap: float | None
) -> Tensor:
    # q [N, h, t, D], k/v [N, h, L, D] (heads already matched), mask bool broadcastable.
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(probs, v)


def attend_rows(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor, scale: float, softcap: float | None
) -> Tensor:
    """q [R, H, D], k/v [R, KV, L, D], mask [R, 1, 1, L] -> [R, H, D]."""
    rows, heads, dim = q.shape
    kv_heads = k.shape[1]
    qg = q.reshape(rows, kv_heads, heads // kv_heads, dim)  # [R, KV, G, D]
    if softcap is None:
        out = F.scaled_dot_product_attention(qg, k, v, attn_mask=mask, scale=scale)
    else:
        out = _eager(qg, k, v, mask, scale, softcap)
    return out.reshape(rows, heads, dim)


def attend_chunk(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, scale: float, softcap: float | None
) -> Tensor:
    """q [1, H, t, D], k/v [1, KV, L, D], mask [1, 1, t, L] or None (causal, L == t)."""
    heads, kv_heads = q.shape[1], k.shape[1]
    if softcap is None:
        return F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=mask is None,
            scale=scale,
            enable_gqa=heads != kv_heads,
        )
    if mask is None:
        t = q.shape[2]
        mask = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()[None, None]
    groups = heads // kv_heads
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    return _eager(q, k, v, mask, scale, softcap)


def paged_attention(
    state: StepState,
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    sliding_window: int | None = None,
    softcap: float | None = None,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    """query [1, H, T, D], key/value [1, KV, T, D] -> ([1, T, H, D], None)."""
    batch, pool = state.batch, state.pool
    if batch is None or pool is None:
        raise RuntimeError("paged attention called outside an engine step")
    if kwargs.get("s_aux") is not None or getattr(module, "sinks", None) is not None:
        raise NotImplementedError("attention sinks are not supported")
    layer: int = module.layer_idx  # type: ignore[assignment]
    window = layer_window(sliding_window, module)
    scale = float(scaling) if scaling is not None else query.shape[-1] ** -0.5
    pool.write(layer, batch.slots, key[0], value[0])  # [KV, T, D]
    heads, dim = query.shape[1], query.shape[3]
    out = query.new_empty(batch.tokens, heads, dim)  # [T, H, D]
    rows = batch.rows
    if rows:
        k, v = pool.gather(layer, batch.row_blocks)
        q = query[0, :, :rows].transpose(0, 1)  # [R, H, D]
        out[:rows] = attend_rows(q, k, v, batch.row_mask(window), scale, softcap)
    for i, seg in enumerate(batch.segments):
        end = seg.first + seg.count
        q = query[:, :, seg.first : end]  # [1, H, t, D]
        if seg.start == 0:
            k, v = key[:, :, seg.first : end], value[:, :, seg.first : end]
        else:
            span = seg.start + seg.count
            kg, vg = pool.gather(layer, seg.blocks[None])  # [1, KV, nb*B, D]
            k, v = kg[:, :, :span], vg[:, :, :span]
        o = attend_chunk(q, k, v, batch.segment_mask(i, window), scale, softcap)
        out[seg.first : end] = o[0].transpose(0, 1)
    return out[None], None
