"""One forward pass of a Llama-architecture decoder over ragged rows of the KV cache.

gpt-fast style: the checkpoint's own modules (projections, norms, MLP, rotary table) are
called directly from a few small functions, so the cache layout, positions and masks are
ours, not the generic HF Cache/mask machinery's. Shapes: N rows, T new tokens per row
(1 when decoding, up to a prefill chunk otherwise), L attended cache length, H query
heads, K kv heads, G = H // K, D head dim, V vocab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from tickertape.engine.kvcache import KVCache

# Decoders whose layers are exactly: RMSNorm, q/k/v/o attention with RoPE (optional
# bias), RMSNorm, gated MLP. Anything with sliding windows, q/k norms, MoE or
# different residual wiring would silently compute wrong logits here.
SUPPORTED_TYPES = ("llama", "mistral", "qwen2")


class UnsupportedModel(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Arch:
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    max_positions: int


@dataclass(frozen=True, slots=True)
class StepInputs:
    tokens: Tensor  # [N, T] int64
    positions: Tensor  # [N, T] int64, RoPE positions (padding repeats the last one)
    writes: Tensor  # [N, T] int64, cache column to write (padding: the scratch column)
    rows: Tensor  # [N] int64, cache slot of each row
    contiguous: bool  # rows == 0..N-1: read the cache as a view, no gather
    mask: Tensor  # [N, 1, T, L] bool, True = may attend
    last: Tensor  # [N] int64, index in T of the token whose logits are wanted


def inspect_model(model: Any, context: int) -> Arch:
    config: Any = getattr(model, "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in SUPPORTED_TYPES:
        raise UnsupportedModel(
            f"model type {kind!r} is not supported by the local engine "
            f"(supported: {', '.join(SUPPORTED_TYPES)})"
        )
    window = getattr(config, "sliding_window", None)
    if getattr(config, "use_sliding_window", True) and window is not None and window < context:
        raise UnsupportedModel(f"sliding-window attention ({window}) is not supported")
    layer = model.model.layers[0]
    for name in ("q_norm", "k_norm"):
        if hasattr(layer.self_attn, name):
            raise UnsupportedModel(f"attention with {name} is not supported")
    heads = int(config.num_attention_heads)
    return Arch(
        layers=int(config.num_hidden_layers),
        heads=heads,
        kv_heads=int(config.num_key_value_heads),
        head_dim=int(layer.self_attn.head_dim),
        vocab=int(config.vocab_size),
        max_positions=int(config.max_position_embeddings),
    )


def _rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    # x [N, heads, T, D]; cos/sin [N, 1, T, D] (rotate-half convention of HF Llama)
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def _attention(
    layer: nn.Module, x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache, i: int, s: StepInputs
) -> Tensor:
    attn: Any = layer.self_attn
    n, t, _ = x.shape
    d = attn.head_dim
    q = attn.q_proj(x).view(n, t, -1, d).transpose(1, 2)  # [N, H, T, D]
    k = attn.k_proj(x).view(n, t, -1, d).transpose(1, 2)  # [N, K, T, D]
    v = attn.v_proj(x).view(n, t, -1, d).transpose(1, 2)
    q, k = _rope(q, cos, sin), _rope(k, cos, sin)
    keys, values = cache.keys[i], cache.values[i]  # [S, K, C+1, D]
    rows = s.rows[:, None].expand(n, t)
    keys[rows, :, s.writes] = k.transpose(1, 2)  # [N, T, K, D] into (row, column) pairs
    values[rows, :, s.writes] = v.transpose(1, 2)
    span = s.mask.shape[-1]
    if s.contiguous:
        kk, vv = keys[:n, :, :span], values[:n, :, :span]  # views: no copy
    else:
        kk, vv = keys[s.rows, :, :span], values[s.rows, :, :span]  # [N, K, L, D]
    kv_heads = kk.shape[1]
    groups = q.shape[1] // kv_heads
    # GQA without repeating K/V: fold each kv head's G query heads into the query axis.
    qg = q.reshape(n, kv_heads, groups * t, d)  # [N, K, G*T, D]
    mask = s.mask if t == 1 else s.mask.repeat(1, 1, groups, 1)  # [N, 1, G*T or 1, L]
    out = F.scaled_dot_product_attention(qg, kk, vv, attn_mask=mask, scale=attn.scaling)
    out = out.view(n, kv_heads * groups, t, d).transpose(1, 2).reshape(n, t, -1)
    result: Tensor = attn.o_proj(out)
    return result


def forward(model: Any, cache: KVCache, s: StepInputs) -> Tensor:
    """Run the rows, writing their keys/values; returns float32 logits [N, V].

    `model` is a `*ForCausalLM` module accepted by `inspect_model`.
    """
    inner: Any = model.model
    x = inner.embed_tokens(s.tokens)  # [N, T, hidden]
    cos, sin = inner.rotary_emb(x, s.positions)  # [N, T, D]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    for i, layer in enumerate(inner.layers):
        x = x + _attention(layer, layer.input_layernorm(x), cos, sin, cache, i, s)
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    picked = x[torch.arange(x.shape[0]), s.last]  # [N, hidden]: only the tokens we sample
    logits: Tensor = model.lm_head(inner.norm(picked))
    return logits.float()
