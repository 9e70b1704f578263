"""Turn one step's rows into the tensors `forward` takes (positions, writes, masks)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tickertape.engine.forward import StepInputs


def _causal(positions: torch.Tensor) -> torch.Tensor:
    # A token may attend to every cache column up to its own position: [N, 1, T, L].
    span = int(positions.max()) + 1
    return torch.arange(span)[None, None, None, :] <= positions[:, None, :, None]


def prefill_inputs(chunks: Sequence[tuple[int, Sequence[int], int]], scratch: int) -> StepInputs:
    """Rows (slot, prompt tokens of the chunk, first position), right-padded to one T.

    Padding tokens repeat the row's last position (so their mask and RoPE are harmless)
    and write to the scratch column, which no mask ever exposes.
    """
    width = max(len(ids) for _, ids, _ in chunks)
    tokens = torch.zeros((len(chunks), width), dtype=torch.long)
    positions = torch.empty((len(chunks), width), dtype=torch.long)
    writes = torch.full((len(chunks), width), scratch, dtype=torch.long)
    for row, (_, ids, start) in enumerate(chunks):
        n = len(ids)
        tokens[row, :n] = torch.tensor(ids, dtype=torch.long)
        positions[row] = torch.arange(start, start + width).clamp_(max=start + n - 1)
        writes[row, :n] = torch.arange(start, start + n)
    slots = [slot for slot, _, _ in chunks]
    return StepInputs(
        tokens=tokens,
        positions=positions,
        writes=writes,
        rows=torch.tensor(slots, dtype=torch.long),
        contiguous=slots == list(range(len(slots))),
        mask=_causal(positions),
        last=torch.tensor([len(ids) - 1 for _, ids, _ in chunks], dtype=torch.long),
    )


def decode_inputs(tokens: Sequence[int], positions: Sequence[int]) -> StepInputs:
    """Row i is cache slot i; it feeds one token written at its position."""
    pos = torch.tensor(positions, dtype=torch.long)[:, None]  # [N, 1]
    return StepInputs(
        tokens=torch.tensor(tokens, dtype=torch.long)[:, None],
        positions=pos,
        writes=pos,
        rows=torch.arange(len(tokens)),
        contiguous=True,
        mask=_causal(pos),
        last=torch.zeros(len(tokens), dtype=torch.long),
    )
