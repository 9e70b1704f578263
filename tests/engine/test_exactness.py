"""Exactness matrix, engine driven directly: every architecture's greedy replies are the
tokens of `model.generate` run alone, also with few batch places and small prefill
chunks (replies wait, prompts split, rows move), under KV-block pressure (preemption and
recompute), and with prefix reuse warm or cold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine import tiny
from tests.engine.conftest import Matrix
from tests.engine.exactness import (
    NEW_TOKENS,
    Reply,
    chat_ids,
    engine_replies,
    expected,
    greedy,
    mismatches,
    reference,
)
from tickertape.engine.config import EngineConfig
from tickertape.engine.local import LocalEngine
from tickertape.engine.types import ChatMessage

VARIANTS = {
    "default": {},
    "tight": {"max_batch": 3, "prefill_chunk": 32},
}


async def replies(
    model_dir: Path,
    conversations: list[list[ChatMessage]],
    new_tokens: int = NEW_TOKENS,
    **config: object,
) -> list[Reply]:
    engine = LocalEngine(EngineConfig(model=str(model_dir), dtype="float32", **config))  # type: ignore[arg-type]
    await engine.start()
    try:
        return await engine_replies(engine, conversations, greedy(new_tokens))
    finally:
        await engine.close()


def test_prompts_span_5_to_300_tokens(matrix: Matrix) -> None:
    case = matrix("llama")
    lengths = [len(chat_ids(case.tokenizer, c)) for c in case.conversations]
    assert len(lengths) >= 6
    assert 5 <= min(lengths) <= 16  # the chat template alone is 11 tokens
    assert 280 <= max(lengths) <= 300


@pytest.mark.parametrize("name", sorted(tiny.ARCHITECTURES))
async def test_greedy_replies_are_generate_exactly(matrix: Matrix, name: str) -> None:
    case = matrix(name)
    for variant, config in VARIANTS.items():
        got = await replies(case.model_dir, case.conversations, **config)
        assert not mismatches(got, case.want), (variant, mismatches(got, case.want))


@pytest.mark.parametrize("name", ["llama", "gpt_neox", "qwen2_moe"])
async def test_torch_linear_kernel_is_exact_too(matrix: Matrix, name: str) -> None:
    """The matrix above runs the default packed oneDNN linears; `--linear-kernel torch`
    (F.linear, MKL) must give `generate`'s tokens as well."""
    case = matrix(name)
    got = await replies(case.model_dir, case.conversations, linear_kernel="torch")
    assert not mismatches(got, case.want), mismatches(got, case.want)


@pytest.mark.parametrize("name", ["llama", "gemma2", "llama-dynamic"])
async def test_more_replies_than_blocks_all_finish_exactly(matrix: Matrix, name: str) -> None:
    case = matrix(name)
    new_tokens = 64
    prompts = [chat_ids(case.tokenizer, c) for c in case.conversations]
    want = expected(case.tokenizer, reference(case.model_dir, prompts, new_tokens))
    # 40 blocks (640 positions) for 7 replies needing ~1300: blocks run out mid-reply,
    # the newest are preempted and recomputed later (prompt + what they generated).
    engine = LocalEngine(
        EngineConfig(
            model=str(case.model_dir), dtype="float32", kv_cache_bytes=case.block_bytes * 40
        )
    )
    await engine.start()
    try:
        got = await engine_replies(engine, case.conversations, greedy(new_tokens))
        stats = engine.stats().extra
    finally:
        await engine.close()
    assert not mismatches(got, want)
    assert stats["preemptions"] > 0
    assert stats["kv_blocks_used"] == 0


@pytest.mark.parametrize("name", ["qwen3", "gemma3-text"])
@pytest.mark.parametrize("pool_blocks", [None, 20], ids=["roomy", "evicting"])
async def test_prefix_reuse_changes_no_token(
    matrix: Matrix, name: str, pool_blocks: int | None
) -> None:
    """A conversation's next turns (history resent, a shared system prompt) give the same
    tokens with the prefix cache warm as with it off, and as `generate`."""
    case = matrix(name)
    system = ChatMessage("system", "You answer briefly. " * 12)
    history: list[list[ChatMessage]] = [[system] for _ in range(3)]
    kv = {"kv_cache_bytes": case.block_bytes * pool_blocks} if pool_blocks else {}
    warm = LocalEngine(EngineConfig(model=str(case.model_dir), dtype="float32", **kv))  # type: ignore[arg-type]
    await warm.start()
    try:
        for turn in range(3):
            for i, conv in enumerate(history):
                conv.append(
                    ChatMessage("user", f"turn {turn} of user {i}: " + "tell me more " * (turn + i))
                )
            got = await engine_replies(warm, history, greedy(12), tag=f"t{turn}-")
            cold = await replies(case.model_dir, history, 12, prefix_caching=False)
            want = expected(
                case.tokenizer,
                reference(case.model_dir, [chat_ids(case.tokenizer, c) for c in history], 12),
            )
            assert got == cold == want, (turn, mismatches(got, want), mismatches(cold, want))
            for conv, reply in zip(history, got, strict=True):
                conv.append(ChatMessage("assistant", reply.text))
        stats = warm.stats().extra
    finally:
        await warm.close()
    assert stats["prefix_cache_hit_tokens"] > 0
    assert 0 < stats["prefix_cache_hit_rate"] < 1
    if pool_blocks:
        assert stats["kv_block_evictions"] > 0
