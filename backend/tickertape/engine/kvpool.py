"""The paged KV cache tensors: per layer, keys and values as `[blocks, B, KV, D]`.

That layout makes a row's context one `index_select` of whole blocks (each block a
contiguous `B * KV * D` run) whose result, viewed `[rows, L, KV, D]` and transposed, is
what attention reads; a step's new keys/values go in with one `index_copy_` per layer.
The pool is zero-filled: padding blocks and the unwritten tail of a block are finite, so
masked positions never turn an attention output into NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True, slots=True)
class LayerShape:
    kv_heads: int
    head_dim: int


def bytes_per_block(shapes: Sequence[LayerShape], block_size: int, dtype: torch.dtype) -> int:
    itemsize = torch.empty((), dtype=dtype).element_size()
    return sum(2 * block_size * s.kv_heads * s.head_dim * itemsize for s in shapes)


class KVPool:
    def __init__(
        self,
        shapes: Sequence[LayerShape],
        num_blocks: int,
        block_size: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.keys: list[Tensor] = []
        self.values: list[Tensor] = []
        for s in shapes:
            shape = (num_blocks, block_size, s.kv_heads, s.head_dim)
            self.keys.append(torch.zeros(shape, dtype=dtype, device=device))
            self.values.append(torch.zeros(shape, dtype=dtype, device=device))

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    def write(self, layer: int, slots: Tensor, key: Tensor, value: Tensor) -> None:
        """key/value [KV, T, D] (the model's layout) into slots [T]."""
        for pool, new in ((self.keys[layer], key), (self.values[layer], value)):
            _, _, kv, d = pool.shape
            pool.view(-1, kv, d).index_copy_(0, slots, new.transpose(0, 1))

    def gather(self, layer: int, tables: Tensor) -> tuple[Tensor, Tensor]:
        """tables [R, nb] -> keys, values [R, nb*B, KV, D] (copies of whole blocks)."""
        rows, width = tables.shape
        flat = tables.reshape(-1)
        out: list[Tensor] = []
        for pool in (self.keys[layer], self.values[layer]):
            n, b, kv, d = pool.shape
            out.append(pool.view(n, b * kv * d).index_select(0, flat).view(rows, width * b, kv, d))
        return out[0], out[1]
