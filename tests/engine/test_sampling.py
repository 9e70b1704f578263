"""Vectorised per-row sampling: greedy, top-k/top-p, and seeds independent of the batch."""

from __future__ import annotations

import torch

from tickertape.engine.sampling import RowSampling, make_generator, sample


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
