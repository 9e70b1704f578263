"""Byte-level BPE tokenizer for the demo model, wrapped as a transformers fast tokenizer.

Byte-level (GPT-2 style) because the chat UI accepts any text: every byte has a token,
so CJK, emoji and combining marks round-trip exactly even though the corpus is English.

Two pre-tokenizer rules beyond GPT-2's: every newline is its own token, so a prompt
ending in "</think>\\n\\n" followed by the model's tokens tokenizes exactly like the whole
rendered conversation; and numbers are cut into runs of at most three digits before BPE
(" 6842" is " " + "684" + "2"; every run the corpus repeats becomes one token). So a number
is the same tokens in the question, in a tool call's JSON and in the tool's result, and
copying a number below 1000 is copying one token, as copying a city name is. (One token
per digit was tried first: the model then copied the digits of a number out of order.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    pre_tokenizers,
    trainers,
)
from transformers import PreTrainedTokenizerFast

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
THINK, END_THINK = "<think>", "</think>"
TOOL_CALL, END_TOOL_CALL = "<tool_call>", "</tool_call>"
TOOL_RESPONSE, END_TOOL_RESPONSE = "<tool_response>", "</tool_response>"
# Control tokens, skipped by decode(skip_special_tokens=True): ids 0, 1, 2.
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)
# Markup tokens, ids 3..8: single ids, but "special": false, so they decode as text even with
# skip_special_tokens=True and a parser can find them in the streamed text.
MARKUP_TOKENS = (THINK, END_THINK, TOOL_CALL, END_TOOL_CALL, TOOL_RESPONSE, END_TOOL_RESPONSE)

CHAT_TEMPLATE = (Path(__file__).parent / "chat_template.jinja").read_text(encoding="utf-8")


def pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("\n", behavior="isolated"),
            # Runs of up to three digits, from the left: "6842" is "684" + "2".
            pre_tokenizers.Split(Regex(r"\d{1,3}"), behavior="isolated"),
            # add_prefix_space=False: a prefix space would make decode(encode(s)) != s.
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[*SPECIAL_TOKENS, *MARKUP_TOKENS],
        # All 256 byte symbols, even those the English corpus never uses.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # The trainer registers every token it is given as special; the markup ones are not.
    spec = json.loads(tok.to_str())
    for added in spec["added_tokens"]:
        if added["content"] in MARKUP_TOKENS:
            added["special"] = False
    tok = Tokenizer.from_str(json.dumps(spec))
    # The constructor is unannotated in transformers (it takes **kwargs).
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        unk_token=None,
        bos_token=None,
        clean_up_tokenization_spaces=False,  # cleanup would eat spaces: not lossless
        model_max_length=1024,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


__all__ = [
    "CHAT_TEMPLATE",
    "MARKUP_TOKENS",
    "SPECIAL_TOKENS",
    "AddedToken",
    "train_tokenizer",
]
