"""The KV block pool and its prefix cache, without torch."""

from __future__ import annotations

import pytest

from tickertape.engine.blocks import ROOT, BlockPool


def fill(pool: BlockPool, tokens: list[int]) -> tuple[list[int], list[int]]:
    """Allocate and register the full blocks of `tokens` as one reply would."""
    blocks = pool.allocate(pool.blocks_for(len(tokens)))
    assert blocks is not None
    chain: list[int] = []
    size = pool.block_size
    for i in range(len(tokens) // size):
        parent = chain[-1] if chain else ROOT
        chain.append(pool.register(blocks[i], parent, tokens[i * size : (i + 1) * size]))
    return blocks, chain


def test_allocation_is_all_or_nothing_and_release_returns_blocks() -> None:
    pool = BlockPool(4, 2)
    first = pool.allocate(3)
    assert first is not None
    assert len(set(first)) == 3
    assert pool.allocate(2) is None
    assert pool.available == 1
    assert pool.used == 3
    pool.release(first)
    assert pool.available == 4
    assert pool.used == 0
    with pytest.raises(RuntimeError):
        pool.release(first[:1])


def test_lookup_reuses_full_blocks_and_leaves_the_last_token() -> None:
    pool = BlockPool(8, 2)
    tokens = [1, 2, 3, 4, 5, 6]
    blocks, _ = fill(pool, tokens)
    pool.release(blocks)
    assert pool.cached == 3
    # The whole prompt is cached, but its last token must be computed for its logits.
    hit = pool.lookup(tokens)
    assert hit.blocks == blocks[:2]
    # Diverging in the second block: only the first is shared.
    pool.release(hit.blocks)
    other = pool.lookup([1, 2, 9, 4, 5, 6, 7])
    assert other.blocks == blocks[:1]
    assert pool.used == 1


def test_a_shared_block_is_held_until_every_holder_releases_it() -> None:
    pool = BlockPool(4, 2)
    blocks, _ = fill(pool, [1, 2, 3])
    hit = pool.lookup([1, 2, 7])
    assert hit.blocks == blocks[:1]
    pool.release(blocks)
    assert pool.used == 1  # still held by the second reply
    pool.release(hit.blocks)
    assert pool.used == 0


def test_eviction_is_lru_tail_first_and_an_evicted_parent_breaks_its_chain() -> None:
    pool = BlockPool(3, 2)
    blocks, _ = fill(pool, [1, 2, 3, 4, 5, 6])
    pool.release(blocks)  # released tail first: the tail is the least recently used
    assert pool.cached == 3
    taken = pool.allocate(1)
    assert taken == [blocks[2]]
    assert pool.evictions == 1
    assert pool.lookup([1, 2, 3, 4, 5, 6, 7]).blocks == blocks[:2]
    pool.release(blocks[:2])
    pool.release(taken)
    # Evict the head: its children can never match again, even if the id is reused.
    for _ in range(3):
        got = pool.allocate(3)
        assert got is not None
        pool.release(got)
    assert pool.lookup([1, 2, 3, 4, 5]).blocks == []


def test_identical_content_registers_once() -> None:
    pool = BlockPool(4, 2)
    _a, chain_a = fill(pool, [1, 2, 3])
    b, chain_b = fill(pool, [1, 2, 3])
    assert chain_a == chain_b  # b's block is a duplicate: it names a's content id
    assert pool.cached == 1
    pool.release(b)
    assert pool.available == 2  # b's duplicate went back to the free list, not the cache


def test_caching_off_never_hits() -> None:
    pool = BlockPool(4, 2, caching=False)
    blocks, chain = fill(pool, [1, 2, 3, 4, 5])
    assert chain == [ROOT, ROOT]
    pool.release(blocks)
    assert pool.lookup([1, 2, 3, 4, 5]).blocks == []
    assert pool.cached == 0
