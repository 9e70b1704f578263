"""One step's work as the tensors the model call and the paged attention read.

Every token the step computes, of every reply, is packed into one `[1, T]` row (like
transformers' continuous batching): single-token rows first (`rows` of them: decoding
replies, and prompts with one token left), then the prompt chunks, one segment each.
Shapes: T tokens, R single-token rows, nb blocks per row (padded), B block size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from tickertape.engine.plan import Work


@dataclass(frozen=True, slots=True)
class Segment:
    """A prompt chunk: tokens first..first+count-1 of the step, positions start.. of a reply."""

    first: int
    count: int
    start: int
    blocks: Tensor  # [nb] int64: the reply's block table


@dataclass(slots=True)
class StepBatch:
    input_ids: Tensor  # [1, T] int64
    position_ids: Tensor  # [1, T] int64
    slots: Tensor  # [T] int64: pool slot (block * B + offset) each token's K/V goes to
    rows: int  # R
    row_blocks: Tensor  # [R, nb] int64 block tables, padded with block 0
    row_lens: Tensor  # [R] int64: positions each row attends to (its own included)
    segments: list[Segment]
    sample_index: Tensor  # [S] int64: tokens whose logits are sampled, in `sampled` order
    sampled: list[str]  # reply ids, parallel to sample_index
    rope_lens: Tensor | None  # [T] int64: sequence length each token's rotary table uses
    block_size: int
    _masks: dict[tuple[int, int | None], Tensor] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return int(self.input_ids.shape[1])

    def row_mask(self, window: int | None) -> Tensor:
        """[R, 1, 1, nb*B] bool: row r attends to its positions, within the window."""
        key = (-1, window)
        mask = self._masks.get(key)
        if mask is None:
            span = torch.arange(
                self.row_blocks.shape[1] * self.block_size, device=self.slots.device
            )
            lens = self.row_lens[:, None]
            mask = span[None, :] < lens
            if window is not None:
                mask &= span[None, :] > lens - 1 - window
            mask = self._masks[key] = mask[:, None, None, :]
        return mask

    def segment_mask(self, index: int, window: int | None) -> Tensor | None:
        """[1, 1, t, start+t] bool for segment `index`; None when plain causal from 0 does."""
        seg = self.segments[index]
        if seg.start == 0 and (window is None or window >= seg.count):
            return None
        key = (index, window)
        mask = self._masks.get(key)
        if mask is None:
            device = self.slots.device
            q = torch.arange(seg.start, seg.start + seg.count, device=device)[:, None]
            kv = torch.arange(seg.start + seg.count, device=device)[None, :]
            mask = kv <= q
            if window is not None:
                mask &= kv > q - window
            mask = self._masks[key] = mask[None, None]
        return mask


def rope_length(position: int, prompt_len: int) -> int:
    """The sequence length `generate` computes a length-dependent rotary table for: the
    whole prompt for prompt tokens (one prefill call), position + 1 for generated ones
    (one decode call each)."""
    return prompt_len if position < prompt_len else position + 1


def build(work: Sequence[Work], block_size: int, rope: bool, device: torch.device) -> StepBatch:
    """`work` as the scheduler ordered it: single-token rows first."""
    ids: list[int] = []
    positions: list[int] = []
    slots: list[int] = []
    rope_lens: list[int] = []
    tables: list[tuple[int, ...]] = []
    lens: list[int] = []
    segments: list[tuple[int, int, int, tuple[int, ...]]] = []
    sample_index: list[int] = []
    sampled: list[str] = []
    for w in work:
        first = len(ids)
        span = range(w.start, w.start + len(w.tokens))
        ids.extend(w.tokens)
        positions.extend(span)
        slots.extend(w.blocks[p // block_size] * block_size + p % block_size for p in span)
        if rope:
            rope_lens.extend(rope_length(p, w.prompt_len) for p in span)
        if len(w.tokens) == 1:
            if segments:
                raise ValueError("single-token rows must come before prompt chunks")
            tables.append(w.blocks)
            lens.append(w.start + 1)
        else:
            segments.append((first, len(w.tokens), w.start, w.blocks))
        if w.sample:
            sample_index.append(len(ids) - 1)
            sampled.append(w.reply_id)
    width = max((len(t) for t in tables), default=0)
    padded = [list(t) + [0] * (width - len(t)) for t in tables]

    def tensor(values: Sequence[int] | Sequence[Sequence[int]]) -> Tensor:
        return torch.tensor(values, dtype=torch.long, device=device)

    return StepBatch(
        input_ids=tensor(ids)[None],
        position_ids=tensor(positions)[None],
        slots=tensor(slots),
        rows=len(tables),
        row_blocks=tensor(padded).view(len(tables), width),
        row_lens=tensor(lens),
        segments=[Segment(f, n, s, tensor(b)) for f, n, s, b in segments],
        sample_index=tensor(sample_index),
        sampled=sampled,
        rope_lens=tensor(rope_lens) if rope else None,
        block_size=block_size,
    )
