"""Engine fixtures: a real model from disk, never downloaded.

The embedded demo model is used when it has been built; otherwise a tiny random Llama
and a tokenizer trained in-process are saved to a temp dir (same architecture family,
same ChatML template), so the engine suite runs on a fresh checkout too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tickertape.engine.config import EngineConfig
from tickertape.engine.demo import DEMO_MODEL_DIR
from tickertape.engine.local import LocalEngine
from tickertape.engine.types import (
    ChatMessage,
    FinishEvent,
    GenerationResult,
    QueuedEvent,
    ReplyStream,
    SamplingParams,
    StreamEvent,
    TextEvent,
)

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
        config = replace(EngineConfig(model=str(model_dir), max_batch=8), **overrides)
        engine = LocalEngine(config)
        await engine.start()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


@dataclass
class Run:
    events: list[StreamEvent]

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextEvent))

    @property
    def result(self) -> GenerationResult:
        last = self.events[-1]
        assert isinstance(last, FinishEvent)
        return last.result

    @property
    def queued(self) -> list[int]:
        return [e.position for e in self.events if isinstance(e, QueuedEvent)]


async def collect(stream: ReplyStream) -> Run:
    events = [e async for e in stream]
    assert sum(isinstance(e, FinishEvent) for e in events) == 1
    assert isinstance(events[-1], FinishEvent)
    assert all(e.text for e in events if isinstance(e, TextEvent))
    return Run(events)


async def submit(
    engine: LocalEngine,
    reply_id: str,
    content: str,
    params: SamplingParams,
    user: str = "user",
) -> ReplyStream:
    prompt = await engine.prepare([ChatMessage("user", content)], params)
    return engine.submit(reply_id, user, prompt, params)


async def run(
    engine: LocalEngine, reply_id: str, content: str, params: SamplingParams, user: str = "user"
) -> Run:
    return await collect(await submit(engine, reply_id, content, params, user))


async def first_text(stream: ReplyStream) -> tuple[Run, asyncio.Task[Run]]:
    """Read until the first text; the rest is collected by the returned task."""
    it = aiter(stream)
    head: list[StreamEvent] = []
    while not head or not isinstance(head[-1], TextEvent | FinishEvent):
        head.append(await anext(it))

    async def rest() -> Run:
        return Run(head + [e async for e in it])

    return Run(head), asyncio.create_task(rest())
