"""Per-request sampling for the whole batch in one vectorised pass.

Each row draws ONE uniform number from its own seeded generator and picks its token by
inverse CDF. A row's token therefore depends only on its own logits, parameters and
generator, never on which other replies share the batch: a seeded reply run alone or in
a batch samples the same text (up to float noise in the logits themselves).

Whether a row goes through the sorted (top-k / top-p) path is decided by its own
parameters only, for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

HEAD = 1024  # candidates taken with topk before falling back to a full sort


@dataclass(frozen=True, slots=True)
class RowSampling:
    temperature: float  # 0 = greedy
    top_p: float
    top_k: int  # 0 = off
    generator: torch.Generator | None  # None only for greedy rows


def make_generator(seed: int | None) -> torch.Generator:
    gen = torch.Generator()
    if seed is None:
        gen.seed()  # non-deterministic, as asked
    else:
        gen.manual_seed(seed & 0xFFFF_FFFF_FFFF_FFFF)  # any int the client sends
    return gen


def _pick(probs: Tensor, u: Tensor) -> Tensor:
    # probs [M, V] unnormalised, u [M] in [0, 1): first index whose CDF exceeds u * total.
    cdf = probs.cumsum(dim=-1)
    target = (u * cdf[:, -1])[:, None]
    idx = torch.searchsorted(cdf, target, right=True)[:, 0]
    return idx.clamp_(max=probs.shape[-1] - 1)


def _nucleus(ordered: Tensor, probs: Tensor, top_k: Tensor, top_p: Tensor, u: Tensor) -> Tensor:
    # ordered/probs [M, W]: the W most likely tokens' logits and probabilities, descending.
    rank = torch.arange(ordered.shape[-1])[None, :]
    keep = rank < top_k[:, None]
    # Nucleus: keep a token if the mass strictly before it is below top_p (the first
    # token is always kept).
    keep &= (probs.cumsum(dim=-1) - probs) < top_p[:, None]
    return _pick(probs * keep, u)


def _filtered(logits: Tensor, top_k: Tensor, top_p: Tensor, u: Tensor) -> Tensor:
    # logits [M, V] already divided by temperature.
    # Sorting the whole vocabulary is the expensive part (V = 49k: milliseconds per row),
    # and usually only the head matters: take the top HEAD first, and fully sort only the
    # rows whose top_k or top_p reaches past it. The choice depends on the row alone.
    width = min(HEAD, logits.shape[-1])
    head, head_idx = logits.topk(width, dim=-1, sorted=True)
    head_probs = (head - logits.logsumexp(dim=-1, keepdim=True)).exp()
    covered = (top_k <= width) | (head_probs.sum(dim=-1) >= top_p)
    tokens = torch.empty(logits.shape[0], dtype=torch.long)
    if bool(covered.any()):
        c = covered.nonzero()[:, 0]
        chosen = _nucleus(head[c], head_probs[c], top_k[c], top_p[c], u[c])
        tokens[c] = head_idx[c].gather(1, chosen[:, None])[:, 0]
    if not bool(covered.all()):
        r = (~covered).nonzero()[:, 0]
        ordered, order = logits[r].sort(dim=-1, descending=True, stable=True)
        chosen = _nucleus(ordered, ordered.softmax(dim=-1), top_k[r], top_p[r], u[r])
        tokens[r] = order.gather(1, chosen[:, None])[:, 0]
    return tokens


def sample(logits: Tensor, rows: Sequence[RowSampling]) -> list[int]:
    """logits [N, V] float32 -> one token id per row."""
    tokens = logits.argmax(dim=-1)  # greedy rows keep this
    vocab = logits.shape[-1]
    plain: list[int] = []
    filtered: list[int] = []
    for i, row in enumerate(rows):
        if row.temperature > 0:
            restricted = row.top_p < 1.0 or 0 < row.top_k < vocab
            (filtered if restricted else plain).append(i)
    for idx, is_filtered in ((plain, False), (filtered, True)):
        if not idx:
            continue
        picked = [rows[i] for i in idx]
        u = torch.stack([torch.rand((), generator=r.generator) for r in picked])
        temps = torch.tensor([r.temperature for r in picked])
        scaled = logits[idx] / temps[:, None]
        if is_filtered:
            top_k = torch.tensor([r.top_k if r.top_k > 0 else vocab for r in picked])
            top_p = torch.tensor([r.top_p for r in picked])
            tokens[idx] = _filtered(scaled, top_k, top_p, u)
        else:
            tokens[idx] = _pick(scaled.softmax(dim=-1), u)
    return [int(t) for t in tokens.tolist()]
