"""Engine fixtures: a real model from disk, never downloaded.

The embedded demo model is used when it has been built; otherwise a tiny random Llama
and a tokenizer trained in-process are saved to a temp dir (same architecture family,
same ChatML template), so the engine suite runs on a fresh checkout too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.sink import CollectingSink
from tickertape.engine.config import EngineConfig
from tickertape.engine.demo import DEMO_MODEL_DIR
from tickertape.engine.local import LocalEngine
from tickertape.engine.types import ChatMessage, SamplingParams

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def build_tiny_model(out: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(
        ["hello there, how are you today? " * 20, "the weather is nice"] * 5, trainer
    )
    wrapped: Any = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    wrapped.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(wrapped),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=2,
        pad_token_id=0,
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    wrapped.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (DEMO_MODEL_DIR / "config.json").is_file():
        return DEMO_MODEL_DIR
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


EngineFactory = Callable[..., Awaitable[LocalEngine]]


@pytest.fixture
async def make_engine(model_dir: Path) -> AsyncIterator[EngineFactory]:
    engines: list[LocalEngine] = []

    async def make(**overrides: Any) -> LocalEngine:
        config = replace(
            EngineConfig(model=str(model_dir), max_batch=8, dtype="float32"), **overrides
        )
        engine = LocalEngine(config)
        await engine.start()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


async def submit(
    engine: LocalEngine,
    reply_id: str,
    content: str,
    params: SamplingParams,
    user: str = "user",
) -> CollectingSink:
    prompt = await engine.prepare([ChatMessage("user", content)], params)
    sink = CollectingSink()
    engine.submit(reply_id, user, prompt, params, sink)
    return sink


async def run(
    engine: LocalEngine, reply_id: str, content: str, params: SamplingParams, user: str = "user"
) -> CollectingSink:
    sink = await submit(engine, reply_id, content, params, user)
    await sink.finished()
    return sink


@dataclass(frozen=True)
class MatrixCase:
    """One architecture of the exactness matrix: a tiny checkpoint, the conversations and
    what `generate` answers to them."""

    model_dir: Path
    tokenizer: Any
    conversations: list[list[ChatMessage]]
    want: list[Any]  # exactness.Reply
    block_bytes: int  # KV bytes of one block of 16 positions (float32)


Matrix = Callable[[str], MatrixCase]


@pytest.fixture(scope="session")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    from tests.engine import tiny
    from tests.engine.exactness import chat_ids, contents, expected, reference

    cases: dict[str, MatrixCase] = {}
    tokenizer = tiny.tokenizer()
    conversations = [[ChatMessage("user", c)] for c in contents(tokenizer)]

    def case(name: str) -> MatrixCase:
        if name not in cases:
            model_dir = tiny.build(name, tmp_path_factory.mktemp(name))
            prompts = [chat_ids(tokenizer, c) for c in conversations]
            config = tiny.build_config(name)
            kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
            head_dim = (
                getattr(config, "head_dim", None)
                or config.hidden_size // config.num_attention_heads
            )
            cases[name] = MatrixCase(
                model_dir=model_dir,
                tokenizer=tokenizer,
                conversations=conversations,
                want=expected(tokenizer, reference(model_dir, prompts)),
                block_bytes=2 * config.num_hidden_layers * 16 * kv_heads * head_dim * 4,
            )
        return cases[name]

    return case
