"""The KV pool's writes and gathers, against plain indexing of the same tensors."""

from __future__ import annotations

import torch

from tickertape.engine.kvpool import KVPool, LayerShape


def reference(pool: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """pool [KV, n, B, D], tables [R, nb] -> [R, KV, nb*B, D] by plain indexing."""
    kv, _, b, d = pool.shape
    rows, width = tables.shape
    picked = pool[:, tables]  # [KV, R, nb, B, D]
    return picked.permute(1, 0, 2, 3, 4).reshape(rows, kv, width * b, d)


def test_gathers_reuse_buffers_and_return_each_layers_blocks() -> None:
    shapes = [LayerShape(kv_heads=2, head_dim=8), LayerShape(kv_heads=1, head_dim=4)]
    pool = KVPool(
        shapes, num_blocks=12, block_size=4, dtype=torch.float32, device=torch.device("cpu")
    )
    gen = torch.Generator().manual_seed(0)
    for layer, s in enumerate(shapes):
        slots = torch.arange(48)
        keys = torch.randn(s.kv_heads, 48, s.head_dim, generator=gen)
        pool.write(layer, slots, keys, -keys)
    small = torch.tensor([[3, 1], [0, 7]])
    large = torch.tensor([[2, 5, 9, 11], [4, 4, 6, 8], [10, 0, 1, 3]])
    for layer in (0, 1, 0):
        for tables in (large, small, large):  # grow, shrink, grow again within the buffer
            k, v = pool.gather(layer, tables)
            assert torch.equal(k, reference(pool.keys[layer], tables))
            assert torch.equal(v, reference(pool.values[layer], tables))
