"""At load: the engine's paged forward must reproduce the model's own forward.

Two sequences go through the engine's path the way replies do (one prefilled in two
chunks, the other in one, packed into the same steps, then decoded together row by row)
and their logits are compared with one plain forward of each sequence through the
model's own attention implementation, no cache. What a config cannot tell (a module that
attends in a way the paged attention does not reproduce, a positional scheme computed
from the cache) shows up here as a large error, and the model is refused.

The sequences are long enough to cross a sliding window when the model has a short one.
For length-dependent rotary tables every token counts as prompt (one length for all,
as in the single reference forward).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from tickertape.engine.blocks import BlockPool
from tickertape.engine.plan import Work
from tickertape.engine.runner import ModelRunner
from tickertape.engine.support import UnsupportedModel

DECODE_STEPS = 6
MAX_LENGTH = 320
TOLERANCE = {torch.float32: 1e-3}  # relative to the largest reference logit
HALF_TOLERANCE = 5e-2  # bfloat16 / float16: rounding, not structure


def _length(model: Any, context: int) -> int:
    window = int(getattr(model.config, "sliding_window", None) or 0)
    crossing = window + 2 * DECODE_STEPS + 8  # prompt chunks and rows past the window
    wanted = crossing if window > 0 and crossing <= MAX_LENGTH else 40
    return max(DECODE_STEPS + 4, min(wanted, context))


def verify(runner: ModelRunner, pool: BlockPool, context: int) -> float:
    """Raise UnsupportedModel if the paged forward disagrees; returns the relative error."""
    model = runner.model
    n = _length(model, context)
    gen = torch.Generator().manual_seed(0)
    vocab = int(model.config.vocab_size)
    seqs = [torch.randint(0, vocab, (n,), generator=gen).tolist() for _ in range(2)]
    seqs[1] = seqs[1][: n - 3]  # ragged lengths
    refs = [runner.reference_logits(s) for s in seqs]
    tables = [pool.allocate(pool.blocks_for(len(s))) for s in seqs]
    if tables[0] is None or tables[1] is None:
        raise ValueError("the KV cache is too small for the load-time check")
    got: list[list[Tensor]] = [[], []]
    want: list[list[Tensor]] = [[], []]
    try:
        prompt = [len(s) - DECODE_STEPS for s in seqs]
        half = prompt[0] // 2
        steps = [
            [(0, 0, half), (1, 0, prompt[1])],
            [(0, half, prompt[0])],
            *[
                [(0, prompt[0] + i, prompt[0] + i + 1), (1, prompt[1] + i, prompt[1] + i + 1)]
                for i in range(DECODE_STEPS)
            ],
        ]
        for step in steps:
            work = [
                Work(
                    f"check{k}", a, tuple(seqs[k][a:b]), tuple(tables[k] or ()), len(seqs[k]), True
                )
                for k, a, b in step
            ]
            work.sort(key=lambda w: len(w.tokens) > 1)
            logits, ids = runner.forward(work)
            for row, rid in enumerate(ids):
                k = int(rid[-1])
                end = next(w.start + len(w.tokens) for w in work if w.reply_id == rid)
                got[k].append(logits[row])
                want[k].append(refs[k][end - 1])
    finally:
        for table in tables:
            if table is not None:
                pool.release(table)
    reference = torch.stack([t for part in want for t in part])
    error = (torch.stack([t for part in got for t in part]) - reference).abs().max()
    relative = float(error / reference.abs().max().clamp(min=1e-6))
    tolerance = TOLERANCE.get(runner.dtype, HALF_TOLERANCE)
    if not relative <= tolerance:  # also catches NaN
        kind = getattr(model.config, "model_type", "unknown")
        raise UnsupportedModel(
            f"model type {kind!r}: the engine's paged forward does not reproduce the model's "
            f"own attention (relative error {relative:.2g} > {tolerance:g})"
        )
    return relative
