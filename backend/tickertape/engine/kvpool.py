"""The paged KV cache tensors: per layer, keys and values as `[KV, blocks, B, D]`.

Head-major blocks: a row's context is one `index_select` of whole blocks (each a
contiguous `B * D` run of one head), and the result viewed `[KV, rows, L, D]` and
permuted gives attention `[rows, KV, L, D]` with every `[L, D]` matrix contiguous (what
the attention kernels read fastest; measured 7-30% faster than `[blocks, B, KV, D]` plus
a transpose, the gain growing with the context). A step's new keys/values arrive as `[KV, T, D]`,
the model's own layout, and go in with one `index_copy_` per layer, no transpose.
The pool is zero-filled: padding blocks and the unwritten tail of a block are finite, so
masked positions never turn an attention output into NaN.

Gathers copy into two buffers the pool keeps and reuses (grown, never shrunk): a fresh
multi-megabyte tensor per layer and step costs page faults on every call, which measured
more than the copy itself once contexts grow (benchmarks/kv_gather.py).
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
        self._gathered = [torch.empty(0, dtype=dtype, device=device) for _ in range(2)]
        for s in shapes:
            shape = (s.kv_heads, num_blocks, block_size, s.head_dim)
            self.keys.append(torch.zeros(shape, dtype=dtype, device=device))
            self.values.append(torch.zeros(shape, dtype=dtype, device=device))

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    def write(self, layer: int, slots: Tensor, key: Tensor, value: Tensor) -> None:
        """key/value [KV, T, D] (the model's layout) into slots [T]."""
        for pool, new in ((self.keys[layer], key), (self.values[layer], value)):
            kv, n, b, d = pool.shape
            pool.view(kv, n * b, d).index_copy_(1, slots, new)

    def gather(self, layer: int, tables: Tensor) -> tuple[Tensor, Tensor]:
        """tables [R, nb] -> keys, values [R, KV, nb*B, D]: copies of whole blocks, in
        the pool's reused buffers, valid until the next gather."""
        rows, width = tables.shape
        kv, n, b, d = self.keys[layer].shape  # values: the same
        # One dim-0 index_select over [KV*n, B*D] (1.4-1.5x the speed of picking along
        # dim 1): head h's block j is row h*n + j.
        index = (torch.arange(kv, device=tables.device)[:, None] * n + tables.view(1, -1)).view(-1)
        out: list[Tensor] = []
        for i, pool in enumerate((self.keys[layer], self.values[layer])):
            picked = self._buffer(i, kv * rows * width * b * d).view(kv * rows * width, b * d)
            torch.index_select(pool.view(kv * n, b * d), 0, index, out=picked)
            out.append(picked.view(kv, rows, width * b, d).transpose(0, 1))
        return out[0], out[1]

    def _buffer(self, index: int, numel: int) -> Tensor:
        buffer = self._gathered[index]
        if buffer.numel() < numel:  # a quarter more: a growing context does not regrow it
            buffer = torch.empty(numel + numel // 4, dtype=buffer.dtype, device=buffer.device)
            self._gathered[index] = buffer
        return buffer[:numel]
