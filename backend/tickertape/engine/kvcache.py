"""The batched KV cache: preallocated slots, one per running reply.

Per layer, keys and values are `[slots, kv_heads, context + 1, head_dim]`. Position
`context` is a scratch column: padded prefill tokens write there, and nothing ever
attends to it, so padding never needs a mask on the write side. Memory is fixed at start
(no allocation while serving, no fragmentation); the price is that every slot reserves
room for a full context.
"""

from __future__ import annotations

import torch

from tickertape.engine.forward import Arch


class KVCache:
    def __init__(
        self, arch: Arch, slots: int, context: int, dtype: torch.dtype, device: torch.device
    ) -> None:
        shape = (slots, arch.kv_heads, context + 1, arch.head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(arch.layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(arch.layers)]
        self.slots = slots
        self.context = context
        self.scratch = context  # the write index of padding tokens

    @staticmethod
    def bytes_per_token(arch: Arch, dtype: torch.dtype) -> int:
        itemsize = torch.empty((), dtype=dtype).element_size()
        return 2 * arch.layers * arch.kv_heads * arch.head_dim * itemsize

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    def move(self, src: int, dst: int, length: int) -> None:
        """Copy the first `length` positions of slot src into slot dst (compaction)."""
        for layer in (*self.keys, *self.values):
            layer[dst, :, :length].copy_(layer[src, :, :length])
