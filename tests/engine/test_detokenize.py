"""Incremental detokenization: whole characters only, stop strings never emitted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from tickertape.engine.detokenize import Detokenizer

SAMPLES = [
    "Hello, world! The quick brown fox.",
    "日本語のテキストと中文字符",  # CJK: 3-byte characters
    "emoji 😀 and a family 👨‍👩‍👧‍👦 and a flag 🇫🇷",  # 4-byte, ZWJ sequences, regional pairs
    "combining: e\u0301 a\u0308 n\u0303 and Zalgo z\u0336\u0317a\u0334",
    "mixed: naïve café — “quotes” …",
]
CORPUS = [*SAMPLES, "the quick brown fox jumps over the lazy dog", "hello world"] * 4


def byte_level_bpe() -> Tokenizer:
    """GPT-2 style byte-level BPE (the demo model's kind): characters span tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return tok


def byte_fallback_bpe() -> Tokenizer:
    """Llama/SentencePiece style: unknown characters become <0xNN> byte tokens."""
    vocab: dict[str, int] = {"<unk>": 0, "</s>": 1}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for ch in "▁abcdefghijklmnopqrstuvwxyzHTW,.!:—":
        vocab.setdefault(ch, len(vocab))
    merges = [("▁", "t"), ("h", "e"), ("▁t", "he"), ("l", "l"), ("o", "▁")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    tok.add_special_tokens(["</s>"])
    return tok


TOKENIZERS: dict[str, Callable[[], Tokenizer]] = {
    "byte_level": byte_level_bpe,
    "byte_fallback": byte_fallback_bpe,
}
_cache: dict[str, Tokenizer] = {}


def tokenizer(kind: str) -> Tokenizer:
    if kind not in _cache:
        _cache[kind] = TOKENIZERS[kind]()
    return _cache[kind]


def stream(tok: Tokenizer, ids: list[int], stops: tuple[str, ...] = ()) -> tuple[list[str], bool]:
    detok = Detokenizer(tok, stops)
    deltas: list[str] = []
    for token in ids:
        deltas.append(detok.push(token))
        if detok.stopped:
            return [d for d in deltas if d], True
    deltas.append(detok.finish())
    return [d for d in deltas if d], False


def assert_whole_characters(deltas: list[str]) -> None:
    for delta in deltas:
        assert "\ufffd" not in delta
        delta.encode("utf-8")  # a lone surrogate (half a character) would raise


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
@pytest.mark.parametrize("text", SAMPLES)
def test_deltas_are_whole_characters_and_concatenate_to_the_full_decode(
    kind: str, text: str
) -> None:
    tok = tokenizer(kind)
    ids = tok.encode(text).ids
    deltas, stopped = stream(tok, ids)
    assert not stopped
    assert_whole_characters(deltas)
    assert "".join(deltas) == tok.decode(ids, skip_special_tokens=True)
    assert "".join(deltas) == text


def test_byte_fallback_really_splits_characters_over_tokens() -> None:
    # Guard for the test above: the CJK sample must be many byte tokens per character.
    tok = tokenizer("byte_fallback")
    text = SAMPLES[1]
    assert len(tok.encode(text).ids) >= 3 * len(text)
    deltas, _ = stream(tok, tok.encode(text).ids)
    assert len(deltas) > 1


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
def test_special_tokens_are_not_emitted(kind: str) -> None:
    tok = tokenizer(kind)
    special = tok.token_to_id("<|im_end|>" if kind == "byte_level" else "</s>")
    assert special is not None
    ids = [*tok.encode("hello world").ids, special, *tok.encode(" hello").ids]
    deltas, _ = stream(tok, ids)
    assert "".join(deltas) == tok.decode(ids, skip_special_tokens=True)
    assert "<" not in "".join(deltas)


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
@pytest.mark.parametrize(
    ("text", "stop"),
    [
        ("the quick brown fox jumps over the lazy dog", "fox jumps"),
        ("the quick brown fox jumps over the lazy dog", "x j"),
        ("日本語のテキストと中文字符", "テキ"),
        ("emoji 😀 and a family 👨‍👩‍👧‍👦 and", "👩‍👧"),
    ],
)
def test_stop_string_split_across_tokens_is_never_emitted(kind: str, text: str, stop: str) -> None:
    tok = tokenizer(kind)
    ids = tok.encode(text).ids
    deltas, stopped = stream(tok, ids, (stop,))
    assert stopped
    assert_whole_characters(deltas)
    assert "".join(deltas) == text[: text.index(stop)]


def test_stop_prefix_is_held_back_then_released() -> None:
    tok = tokenizer("byte_fallback")
    detok = Detokenizer(tok, ("lazy cat",))
    out = "".join(detok.push(t) for t in tok.encode("the lazy ca").ids)
    assert out == "the "  # "lazy ca" could still become "lazy cat"...
    assert detok.finish() == "lazy ca"  # ...until the reply ends for another reason
    detok = Detokenizer(tok, ("lazy cat",))
    out = "".join(detok.push(t) for t in tok.encode("the lazy dog").ids)
    assert out == "the lazy dog"  # disambiguated by the "d": released at once
    assert not detok.stopped


def test_earliest_of_several_stop_strings_wins() -> None:
    tok = tokenizer("byte_level")
    ids = tok.encode("hello world, the quick brown fox").ids
    deltas, stopped = stream(tok, ids, ("quick", "world"))
    assert stopped
    assert "".join(deltas) == "hello "


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=1, max_size=40), kind=st.sampled_from(sorted(TOKENIZERS)))
def test_any_text_round_trips_through_the_stream(text: str, kind: str) -> None:
    tok = tokenizer(kind)
    ids = tok.encode(text).ids
    deltas, _ = stream(tok, ids)
    full = tok.decode(ids, skip_special_tokens=True)
    assert "".join(deltas) == full
    if "\ufffd" not in full:
        assert_whole_characters(deltas)


def test_kept_special_markup_is_text_in_its_place() -> None:
    """Mistral's `[TOOL_CALLS]` is a special token: skip_special_tokens would drop it, but
    the reply's parser must see it, in order."""
    from tests.engine import tiny
    from tickertape.engine.output_setup import OutputSetup

    tok = tiny.tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["[TOOL_CALLS]"]})
    tok.chat_template = "{{ '[TOOL_CALLS]' }}"  # what makes the format Mistral's
    marker = tok.convert_tokens_to_ids("[TOOL_CALLS]")
    setup = OutputSetup(tok, len(tok), frozenset({2}))
    assert setup.format.calls is not None
    assert setup.format.calls.name == "mistral"
    assert setup.kept == {marker: "[TOOL_CALLS]"}
    ids = [*tok.encode("Sure. ", add_special_tokens=False), marker, *tok.encode('[{"a": 1}]')]
    for kept, want in ((setup.kept, 'Sure. [TOOL_CALLS][{"a": 1}]'), ({}, 'Sure. [{"a": 1}]')):
        detok = Detokenizer(tok.backend_tokenizer, kept=kept)
        assert "".join(detok.push(t) for t in ids) + detok.finish() == want
