"""Per-request sampling for the whole batch in one pass, in transformers' order.

Per row: penalties on the raw logits (transformers' multiplicative `repetition_penalty`
over the prompt and the reply so far; OpenAI's additive `frequency_penalty` /
`presence_penalty` over the reply's tokens), then greedy rows take the argmax; sampled
rows divide by the temperature, keep the `top_k` most likely tokens, keep the nucleus
`top_p` of the distribution renormalised over those, and draw.

Each sampled row draws ONE uniform number from its own seeded generator and picks its
token by inverse CDF, so a row's token depends only on its own logits, parameters,
history and generator, never on its batch neighbours; the choice between the cheap
top-HEAD path and a full sort is made from the row alone, for the same reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from tickertape.engine.constraint import TokenConstraint, apply_masks
from tickertape.engine.types import SamplingParams

HEAD = 1024  # candidates taken with topk before falling back to a full sort


@dataclass(frozen=True, slots=True)
class SamplingDefaults:
    """For parameters a request leaves unset: the checkpoint's generation_config, else these."""

    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0


def defaults_from(generation_config: Any) -> SamplingDefaults:
    """`do_sample: false` in the checkpoint means greedy unless the request says otherwise;
    `do_sample: true` without a temperature means transformers' 1.0."""
    base = SamplingDefaults()
    if generation_config is None:
        return base
    do_sample = getattr(generation_config, "do_sample", None)
    temperature = getattr(generation_config, "temperature", None)
    if do_sample is False:
        temperature = 0.0
    elif temperature is None:
        temperature = 1.0 if do_sample else base.temperature
    top_p = getattr(generation_config, "top_p", None)
    top_k = getattr(generation_config, "top_k", None)
    penalty = getattr(generation_config, "repetition_penalty", None)
    return SamplingDefaults(
        temperature=float(temperature),
        top_p=base.top_p if top_p is None else float(top_p),
        top_k=base.top_k if top_k is None else int(top_k),
        repetition_penalty=base.repetition_penalty if penalty is None else float(penalty),
    )


@dataclass(slots=True)
class RowSampling:
    temperature: float  # 0 = greedy
    top_p: float
    top_k: int  # 0 = off
    generator: torch.Generator | None  # None only for greedy rows
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seen: set[int] = field(default_factory=set)  # prompt and reply tokens (repetition)
    counts: Counter[int] = field(default_factory=Counter)  # reply tokens (frequency)
    constraint: TokenConstraint | None = None  # grammar of tool calls / a JSON answer

    @property
    def penalised(self) -> bool:
        return (
            self.repetition_penalty != 1.0
            or self.frequency_penalty != 0.0
            or self.presence_penalty != 0.0
        )

    def record(self, token: int) -> None:
        if self.penalised:
            self.seen.add(token)
            self.counts[token] += 1
        if self.constraint is not None:
            self.constraint.accept(token)


def make_generator(seed: int | None) -> torch.Generator:
    gen = torch.Generator()
    if seed is None:
        gen.seed()  # non-deterministic, as asked
    else:
        gen.manual_seed(seed & 0xFFFF_FFFF_FFFF_FFFF)  # any int the client sends
    return gen


def row_sampling(
    params: SamplingParams, defaults: SamplingDefaults, prompt: Sequence[int]
) -> RowSampling:
    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    temperature = max(float(pick(params.temperature, defaults.temperature)), 0.0)
    row = RowSampling(
        temperature=temperature,
        top_p=float(pick(params.top_p, defaults.top_p)),
        top_k=int(pick(params.top_k, defaults.top_k)),
        generator=make_generator(params.seed) if temperature > 0 else None,
        repetition_penalty=float(pick(params.repetition_penalty, defaults.repetition_penalty)),
        frequency_penalty=params.frequency_penalty,
        presence_penalty=params.presence_penalty,
    )
    if row.penalised:
        row.seen.update(prompt)
    return row


def _penalise(logits: Tensor, row: RowSampling) -> None:
    # logits [V] float32, in place.
    if row.repetition_penalty != 1.0 and row.seen:
        ids = torch.tensor(sorted(row.seen), dtype=torch.long, device=logits.device)
        score = logits[ids]
        logits[ids] = torch.where(
            score < 0, score * row.repetition_penalty, score / row.repetition_penalty
        )
    if row.counts and (row.frequency_penalty or row.presence_penalty):
        ids = torch.tensor(list(row.counts), dtype=torch.long, device=logits.device)
        counts = torch.tensor(list(row.counts.values()), dtype=logits.dtype, device=logits.device)
        logits[ids] -= row.frequency_penalty * counts + row.presence_penalty


def _pick(probs: Tensor, u: Tensor) -> Tensor:
    # probs [M, W] unnormalised, u [M] in [0, 1): first index whose CDF exceeds u * total.
    cdf = probs.cumsum(dim=-1)
    target = (u * cdf[:, -1])[:, None]
    idx = torch.searchsorted(cdf, target, right=True)[:, 0]
    return idx.clamp_(max=probs.shape[-1] - 1)


def _top_k(ordered: Tensor, top_k: Tensor) -> Tensor:
    # ordered [M, W] logits in descending order -> the same with ranks >= top_k at -inf.
    rank = torch.arange(ordered.shape[-1], device=ordered.device)[None, :]
    return ordered.masked_fill(rank >= top_k[:, None], float("-inf"))


def _nucleus(kept: Tensor, norm: Tensor, top_p: Tensor, u: Tensor) -> Tensor:
    # kept [M, W] descending logits after top-k, norm [M] their log normaliser: keep a
    # token while the mass strictly before it is below top_p (transformers' TopP: the
    # first token always stays), then draw among what is left.
    probs = (kept - norm[:, None]).exp()
    keep = (probs.cumsum(dim=-1) - probs) < top_p[:, None]
    return _pick(probs * keep, u)


def _filtered(logits: Tensor, top_k: Tensor, top_p: Tensor, u: Tensor) -> Tensor:
    # logits [M, V] already divided by the temperature; top_k [M] in 1..V.
    # Sorting the whole vocabulary is the expensive part, and usually only the head
    # matters: a row whose top_k fits the head, or that keeps the whole vocabulary and
    # whose nucleus ends inside the head, is decided from the top HEAD; the others sort.
    vocab = logits.shape[-1]
    width = min(HEAD, vocab)
    head, head_idx = logits.topk(width, dim=-1, sorted=True)
    full = logits.logsumexp(dim=-1)  # [M]: the normaliser when top_k keeps everything
    whole = top_k >= vocab
    head_mass = (head - full[:, None]).exp().sum(dim=-1)
    covered = (top_k <= width) | (whole & (head_mass >= top_p))
    tokens = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
    if bool(covered.any()):
        c = covered.nonzero()[:, 0]
        kept = _top_k(head[c], top_k[c])
        norm = torch.where(whole[c], full[c], kept.logsumexp(dim=-1))
        chosen = _nucleus(kept, norm, top_p[c], u[c])
        tokens[c] = head_idx[c].gather(1, chosen[:, None])[:, 0]
    if not bool(covered.all()):
        r = (~covered).nonzero()[:, 0]
        ordered, order = logits[r].sort(dim=-1, descending=True, stable=True)
        kept = _top_k(ordered, top_k[r])
        chosen = _nucleus(kept, kept.logsumexp(dim=-1), top_p[r], u[r])
        tokens[r] = order.gather(1, chosen[:, None])[:, 0]
    return tokens


def _constrain(logits: Tensor, rows: Sequence[RowSampling]) -> dict[int, Exception]:
    """Disallowed tokens of constrained rows to -inf, in one masked pass; the rows whose
    constraint failed (their grammar could not be built or advanced), which only those
    replies pay for."""
    constrained = [(i, row.constraint) for i, row in enumerate(rows) if row.constraint is not None]
    failed: dict[int, Exception] = {}
    if not constrained:
        return failed
    words = torch.empty((len(constrained), constrained[0][1].words), dtype=torch.int32)
    masked: list[int] = []
    for i, constraint in constrained:
        try:
            if constraint.fill(words[len(masked)]):
                masked.append(i)
        except Exception as exc:
            failed[i] = exc
    if masked:
        apply_masks(logits, masked, words[: len(masked)])
    return failed


def sample(logits: Tensor, rows: Sequence[RowSampling]) -> list[int]:
    """logits [N, V] float32 -> one token id per row (logits may be modified in place)."""
    tokens, failed = sample_rows(logits, rows)
    if failed:
        raise next(iter(failed.values()))
    return tokens


def sample_rows(
    logits: Tensor, rows: Sequence[RowSampling]
) -> tuple[list[int], dict[int, Exception]]:
    """`sample`, and the rows whose constraint failed (their token means nothing)."""
    failed = _constrain(logits, rows)
    for i, row in enumerate(rows):
        if row.penalised:
            _penalise(logits[i], row)
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
        u = torch.stack([torch.rand((), generator=r.generator) for r in picked]).to(logits.device)
        temps = torch.tensor([r.temperature for r in picked], device=logits.device)
        scaled = logits[idx] / temps[:, None]
        if is_filtered:
            top_k = torch.tensor(
                [r.top_k if 0 < r.top_k < vocab else vocab for r in picked], device=logits.device
            )
            top_p = torch.tensor([r.top_p for r in picked], device=logits.device)
            tokens[idx] = _filtered(scaled, top_k, top_p, u)
        else:
            tokens[idx] = _pick(scaled.softmax(dim=-1), u)
    return [int(t) for t in tokens.tolist()], failed
