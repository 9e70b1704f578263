"""What the engine refuses, from the config alone (no weights), and the context rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import AutoConfig

from tests.engine import tiny
from tests.support.sink import CollectingSink
from tickertape.engine.config import EngineConfig
from tickertape.engine.local import LocalEngine
from tickertape.engine.support import UnsupportedModel, check_config, check_model, position_limit
from tickertape.engine.types import ChatMessage, SamplingParams


def config(model_type: str, **kwargs: Any) -> Any:
    return AutoConfig.for_model(model_type, **kwargs)


@pytest.mark.parametrize("name", sorted(tiny.ARCHITECTURES))
def test_every_matrix_architecture_passes(name: str) -> None:
    check_config(tiny.build_config(name))


@pytest.mark.parametrize(
    ("cfg", "reason"),
    [
        (lambda: config("falcon"), "AttentionInterface"),
        (lambda: config("bloom"), "AttentionInterface"),
        (lambda: config("mpt"), "AttentionInterface"),
        (lambda: config("t5"), "encoder-decoder"),
        (lambda: config("gemma3"), "vision-language"),
        (lambda: config("qwen3_next"), "layer types"),
        (lambda: config("mamba"), "linear_attention"),
    ],
    ids=["falcon", "bloom", "mpt", "t5", "gemma3-vlm", "qwen3_next", "mamba"],
)
def test_unservable_models_are_refused_in_one_line(cfg: Any, reason: str) -> None:
    with pytest.raises(UnsupportedModel, match=reason) as info:
        check_config(cfg())
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("model type ")


def test_check_model_reads_only_the_config(tmp_path: Path) -> None:
    config("falcon", vocab_size=100).save_pretrained(tmp_path)  # no weights at all
    with pytest.raises(UnsupportedModel, match="'falcon'"):
        check_model(str(tmp_path))
    check_model("demo")


def test_position_limits_follow_the_rope_scaling() -> None:
    assert position_limit(tiny.build_config("llama")) == 512
    assert position_limit(tiny.build_config("gpt2")) == 512  # learned positions: hard limit
    assert position_limit(tiny.build_config("llama-dynamic")) is None  # NTK extrapolates
    linear = config(
        "llama",
        max_position_embeddings=1024,
        rope_parameters={"rope_type": "linear", "rope_theta": 1e4, "factor": 4.0},
    )
    assert position_limit(linear) == 4096


def test_max_context_beyond_the_position_limit_is_refused(tmp_path: Path) -> None:
    tiny.build_config("gpt2").save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModel, match=r"--max-context 1024 exceeds .* limit \(512\)"):
        check_model(str(tmp_path), max_context=1024)
    check_model(str(tmp_path), max_context=512)


async def test_a_model_the_self_check_catches_is_refused_at_load(tmp_path: Path) -> None:
    # BERT's causal-LM head passes the config check, but its attention is bidirectional
    # unless `is_decoder`: the paged (causal) forward does not reproduce it.
    from transformers import BertConfig, BertLMHeadModel

    BertLMHeadModel(
        BertConfig(
            vocab_size=tiny.VOCAB,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
        )
    ).save_pretrained(tmp_path)
    tiny.tokenizer().save_pretrained(tmp_path)
    engine = LocalEngine(EngineConfig(model=str(tmp_path), dtype="float32"))
    with pytest.raises(UnsupportedModel, match="'bert': the engine's paged forward does not"):
        await engine.start()


async def test_a_base_model_without_chat_template_gets_the_plain_fallback(tmp_path: Path) -> None:
    model_dir = tiny.build("llama", tmp_path)
    config_file = model_dir / "tokenizer_config.json"
    (model_dir / "chat_template.jinja").unlink()
    config_file.write_text(config_file.read_text().replace('"chat_template"', '"unused"'))
    engine = LocalEngine(EngineConfig(model=str(model_dir), dtype="float32"))
    await engine.start()
    try:
        messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "hello")]
        prompt = await engine.prepare(messages, SamplingParams())
        tokenizer = tiny.tokenizer()
        assert tokenizer.decode(prompt.token_ids) == "Be brief.\n\nUser: hello\nAssistant:"
        sink = CollectingSink()
        engine.submit("r", "u", prompt, SamplingParams(max_tokens=4, ignore_eos=True), sink)
        assert (await sink.finished()).usage.completion_tokens <= 4
    finally:
        await engine.close()


def test_cuda_is_refused_where_there_is_none() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UnsupportedModel, match="--device cuda: CUDA is not available"):
        check_model("demo", device="cuda")
