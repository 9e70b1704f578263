"""KV cache blocks: allocation, reference counts and the prefix cache. Plain Python, no torch.

The KV cache is a pool of `num_blocks` blocks of `block_size` token positions. A running
reply holds a list of blocks (its block table); position p lives in block `p // size`.

Prefix cache (vLLM's automatic prefix caching): a block whose positions are all computed
is registered under a key `(parent content id, its token ids)`, where the parent content
id names the cached block before it (ROOT for the first). A new reply whose leading
tokens match a chain of keys reuses those blocks instead of recomputing them. Keys hold
the token ids themselves, so a hash collision can never hand out the wrong K/V, and
content ids are never reused, so a child keyed on an evicted parent can never match
again. The last, partial block of a reply is never shared.

Blocks nobody holds but that are cached stay in an LRU and are evicted only when an
allocation needs them; a reply's blocks are released tail first, so a conversation's
shared head outlives its tails.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

ROOT = 0  # content id of the empty prefix

Key = tuple[int, tuple[int, ...]]  # (parent content id, the block's token ids)


@dataclass(slots=True)
class _Block:
    refs: int = 0
    key: Key | None = None  # set while the block is in the prefix cache
    cid: int = 0  # content id while cached


@dataclass(frozen=True, slots=True)
class Hit:
    blocks: list[int]  # leading blocks reused, each now held once more
    chain: list[int]  # their content ids


class BlockPool:
    def __init__(self, num_blocks: int, block_size: int, caching: bool = True) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError("a block pool needs at least one block of at least one token")
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.caching = caching
        self._blocks = [_Block() for _ in range(num_blocks)]
        self._free: list[int] = list(range(num_blocks - 1, -1, -1))  # uncached, nobody holds
        self._evictable: OrderedDict[int, None] = OrderedDict()  # cached, nobody holds; LRU first
        self._by_key: dict[Key, int] = {}
        self._cids = itertools.count(ROOT + 1)
        self.queried_tokens = 0
        self.hit_tokens = 0
        self.evictions = 0

    # -- sizes ------------------------------------------------------------------------
    @property
    def available(self) -> int:
        """Blocks an allocation may take now (free, or cached and evictable)."""
        return len(self._free) + len(self._evictable)

    @property
    def used(self) -> int:
        """Blocks held by at least one reply."""
        return self.num_blocks - self.available

    @property
    def cached(self) -> int:
        return len(self._by_key)

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    # -- allocation -------------------------------------------------------------------
    def allocate(self, n: int) -> list[int] | None:
        """n blocks held once each, or None (and nothing taken) if there are not enough."""
        if n > self.available:
            return None
        taken: list[int] = []
        for _ in range(n):
            if self._free:
                index = self._free.pop()
            else:
                index, _ = self._evictable.popitem(last=False)
                self._uncache(index)
                self.evictions += 1
            self._blocks[index].refs = 1
            taken.append(index)
        return taken

    def release(self, blocks: Sequence[int]) -> None:
        """Drop one hold on each block; tail first, so the tail is evicted before the head."""
        for index in reversed(blocks):
            block = self._blocks[index]
            if block.refs <= 0:
                raise RuntimeError(f"block {index} released more often than held")
            block.refs -= 1
            if block.refs == 0:
                if block.key is not None:
                    self._evictable[index] = None
                else:
                    self._free.append(index)

    # -- prefix cache -----------------------------------------------------------------
    def lookup(self, tokens: Sequence[int]) -> Hit:
        """Hold the longest cached chain of full blocks that prefixes `tokens`, leaving at
        least the last token to compute (its logits give the first new token)."""
        hit = Hit([], [])
        if not self.caching:
            return hit
        size = self.block_size
        parent = ROOT
        for i in range((len(tokens) - 1) // size):
            index = self._by_key.get((parent, tuple(tokens[i * size : (i + 1) * size])))
            if index is None:
                break
            block = self._blocks[index]
            if block.refs == 0:
                del self._evictable[index]
            block.refs += 1
            parent = block.cid
            hit.blocks.append(index)
            hit.chain.append(parent)
        return hit

    def record_lookup(self, queried: int, hit: int) -> None:
        self.queried_tokens += queried
        self.hit_tokens += hit

    def register(self, index: int, parent: int, tokens: Sequence[int]) -> int:
        """Block `index` now holds the K/V of `tokens` after the chain ending at `parent`:
        cache it and return its content id (or the content id of an identical block
        that is already cached, leaving `index` uncached)."""
        if not self.caching:
            return ROOT
        key: Key = (parent, tuple(tokens))
        existing = self._by_key.get(key)
        if existing is not None:
            return self._blocks[existing].cid
        block = self._blocks[index]
        if block.key is not None:
            raise RuntimeError(f"block {index} is already cached")
        block.key, block.cid = key, next(self._cids)
        self._by_key[key] = index
        return block.cid

    def _uncache(self, index: int) -> None:
        block = self._blocks[index]
        if block.key is not None:
            del self._by_key[block.key]
        block.key, block.cid = None, ROOT
