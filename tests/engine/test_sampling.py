"""Vectorised per-row sampling: greedy, top-k/top-p, and seeds independent of the batch."""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch

from tickertape.engine.sampling import RowSampling, make_generator, sample, sample_rows


def rows(n: int, **kw: float) -> list[RowSampling]:
    return [
        RowSampling(
            temperature=kw.get("temperature", 1.0),
            top_p=kw.get("top_p", 1.0),
            top_k=int(kw.get("top_k", 0)),
            generator=make_generator(int(kw.get("seed", 7)) + i),
        )
        for i in range(n)
    ]


def test_greedy_is_argmax() -> None:
    logits = torch.randn(5, 100)
    greedy = [RowSampling(0.0, 1.0, 0, None)] * 5
    assert sample(logits, greedy) == logits.argmax(-1).tolist()


def test_top_k_one_and_tiny_top_p_are_argmax() -> None:
    logits = torch.randn(4, 100)
    assert sample(logits, rows(4, top_k=1)) == logits.argmax(-1).tolist()
    assert sample(logits, rows(4, top_p=1e-6)) == logits.argmax(-1).tolist()


def test_top_k_restricts_to_the_k_best() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 50)
    best = set(logits[0].topk(3).indices.tolist())
    gen = make_generator(1)
    picks = {sample(logits, [RowSampling(2.0, 1.0, 3, gen)])[0] for _ in range(200)}
    assert picks <= best
    assert len(picks) > 1


def test_seeded_row_does_not_depend_on_its_batch_neighbours() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 1000)
    for kw in ({}, {"top_p": 0.9}, {"top_k": 20, "temperature": 0.7}):
        alone = [sample(logits[i : i + 1], rows(1, seed=100 + i, **kw))[0] for i in range(6)]
        mixed = rows(6, seed=100, **kw)
        mixed[3] = RowSampling(0.0, 1.0, 0, None)  # a greedy neighbour changes nothing
        batch = sample(logits, mixed)
        assert [batch[i] for i in (0, 1, 2, 4, 5)] == [alone[i] for i in (0, 1, 2, 4, 5)]


def test_sampling_follows_the_distribution() -> None:
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    gen = make_generator(3)
    counts = [0, 0, 0]
    for _ in range(2000):
        counts[sample(logits, [RowSampling(1.0, 1.0, 0, gen)])[0]] += 1
    assert 1250 < counts[0] < 1550
    assert 280 < counts[1] < 520
    # top_p=0.8 keeps the two tokens whose preceding mass is below 0.8.
    counts = [0, 0, 0]
    for _ in range(500):
        counts[sample(logits, [RowSampling(1.0, 0.8, 0, gen)])[0]] += 1
    assert counts[2] == 0


def test_wide_nucleus_falls_back_to_the_full_sort() -> None:
    # A flat distribution over 5000 tokens: top_p=0.9 reaches far past the topk head.
    logits = torch.zeros(2, 5000)
    logits[1, 7] = 50.0  # this row is covered by the head: always token 7
    nucleus = rows(2, top_p=0.9)  # generators advance from one call to the next
    picks = [sample(logits, nucleus) for _ in range(50)]
    assert len({p[0] for p in picks}) > 40
    assert all(0 <= p[0] < 5000 for p in picks)
    assert {p[1] for p in picks} == {7}


def test_top_p_applies_to_the_distribution_renormalised_after_top_k() -> None:
    # p = [0.5, 0.3, 0.2]; top_k=2 renormalises to [0.625, 0.375]. top_p=0.6 then keeps
    # token 0 only (transformers and vLLM); on the raw distribution it would keep 0 and 1.
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    gen = make_generator(5)
    picks = {sample(logits.clone(), [RowSampling(1.0, 0.6, 2, gen)])[0] for _ in range(300)}
    assert picks == {0}


def _transformers_support(
    logits: torch.Tensor, temperature: float, top_k: int, top_p: float
) -> set[int]:
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    scores = logits.clone()
    ids = torch.zeros((1, 1), dtype=torch.long)
    for warper in (
        TemperatureLogitsWarper(temperature),
        TopKLogitsWarper(top_k),
        TopPLogitsWarper(top_p),
    ):
        scores = warper(ids, scores)
    return set(torch.isfinite(scores[0]).nonzero()[:, 0].tolist())


def test_the_sampled_support_is_transformers_support() -> None:
    torch.manual_seed(3)
    for temperature, top_k, top_p in ((0.7, 10, 0.8), (1.3, 5, 0.95), (1.0, 40, 0.5)):
        logits = torch.randn(1, 60) * 2
        expected = _transformers_support(logits, temperature, top_k, top_p)
        gen = make_generator(11)
        row = RowSampling(temperature, top_p, top_k, gen)
        picks = {sample(logits.clone(), [row])[0] for _ in range(3000)}
        assert picks <= expected
        probs = (logits[0] / temperature).softmax(-1)
        likely = {i for i in expected if probs[i] > 0.05 * probs[list(expected)].sum()}
        assert likely <= picks


def test_repetition_penalty_matches_transformers() -> None:
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    torch.manual_seed(0)
    logits = torch.randn(1, 50)
    history = [3, 7, 7, 20, int(logits.argmax())]
    expected = RepetitionPenaltyLogitsProcessor(1.5)(torch.tensor([history]), logits.clone())
    row = RowSampling(0.0, 1.0, 0, None, repetition_penalty=1.5)
    row.seen.update(history)
    got = logits.clone()
    assert sample(got, [row]) == [int(expected.argmax())]
    torch.testing.assert_close(got, expected)


def test_frequency_and_presence_penalties_subtract_per_generated_token() -> None:
    logits = torch.zeros(1, 10)
    logits[0, 4] = 1.0
    row = RowSampling(0.0, 1.0, 0, None, frequency_penalty=0.5, presence_penalty=0.2)
    for token in (4, 4, 6):
        row.record(token)
    got = logits.clone()
    sample(got, [row])
    assert got[0, 4] == pytest.approx(1.0 - 2 * 0.5 - 0.2)
    assert got[0, 6] == pytest.approx(-0.5 - 0.2)
    assert got[0, 0] == 0.0


def test_unset_parameters_come_from_generation_config_then_engine_defaults() -> None:
    from transformers import GenerationConfig

    from tickertape.engine.sampling import SamplingDefaults, defaults_from, row_sampling
    from tickertape.engine.types import SamplingParams

    assert defaults_from(GenerationConfig()) == SamplingDefaults()
    checkpoint = defaults_from(
        GenerationConfig(
            do_sample=True, temperature=0.6, top_p=0.95, top_k=20, repetition_penalty=1.1
        )
    )
    assert checkpoint == SamplingDefaults(0.6, 0.95, 20, 1.1)
    assert defaults_from(GenerationConfig(do_sample=False)).temperature == 0.0
    row = row_sampling(SamplingParams(temperature=1.0, top_k=5), checkpoint, [1, 2])
    assert (row.temperature, row.top_p, row.top_k, row.repetition_penalty) == (1.0, 0.95, 5, 1.1)
    assert row.seen == {1, 2}  # the prompt counts for the repetition penalty
    greedy = row_sampling(SamplingParams(temperature=0.0), checkpoint, [1])
    assert greedy.generator is None


class BrokenConstraint:
    """A grammar that cannot be advanced (a stand-in: the test is about the batch)."""

    words = 4

    def fill(self, words: torch.Tensor) -> bool:
        raise RuntimeError("the grammar refused the token")


def test_a_failing_constraint_fails_its_row_only() -> None:
    logits = torch.randn(3, 100)
    batch = rows(3, temperature=0.0)
    batch[1].constraint = cast(Any, BrokenConstraint())
    tokens, failed = sample_rows(logits.clone(), batch)
    assert list(failed) == [1]
    assert [tokens[0], tokens[2]] == [logits[0].argmax().item(), logits[2].argmax().item()]
    with pytest.raises(RuntimeError):
        sample(logits.clone(), batch)
