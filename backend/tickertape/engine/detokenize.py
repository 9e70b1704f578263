"""Incremental detokenization with stop strings.

Text comes from the tokenizers library's `DecodeStream`, which only returns text once
the bytes decode to whole characters (it returns None while a UTF-8 sequence or a run of
byte-fallback tokens is incomplete), so no delta ever holds half a character or U+FFFD
for valid output. On top of that, the longest tail that could still become a stop string
is held back until it is disambiguated; a completed stop string ends the reply and is
never emitted. The deltas concatenate to `decode(ids, skip_special_tokens=True)`
(`finish` appends whatever the stream still held back, e.g. a truncated byte sequence).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tokenizers.decoders import DecodeStream


def _held_length(text: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of text that is a proper prefix of a stop string."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


class Detokenizer:
    def __init__(
        self, tokenizer: Any, stops: Sequence[str] = (), kept: Mapping[int, str] | None = None
    ) -> None:
        # `tokenizer` is a `tokenizers.Tokenizer` (a fast HF tokenizer's backend_tokenizer).
        # `kept`: special tokens whose text is part of the output all the same: the
        # markup a reply's parser reads (`[TOOL_CALLS]` is a special token in Mistral's
        # tokenizers, and skip_special_tokens would drop it).
        self._tokenizer = tokenizer
        self._kept = kept or {}
        self._stream = DecodeStream(skip_special_tokens=True)
        self._stops = tuple(s for s in stops if s)
        self._ids: list[int] = []
        self._decoded = 0  # characters the stream has produced so far
        self._held = ""  # produced but not emitted: may be the start of a stop string
        self.stopped = False  # a stop string was completed
        self._finished = False

    def push(self, token_id: int) -> str:
        """Add one generated token; returns the text that can be emitted now (maybe "")."""
        if self.stopped or self._finished:
            raise RuntimeError("push after the reply ended")
        piece = self._kept.get(token_id)
        if piece is None:
            self._ids.append(token_id)
            piece = self._stream.step(self._tokenizer, token_id)
            if not piece:
                return ""
            self._decoded += len(piece)
        # A kept marker is not fed to the stream (which would skip it): its text goes out
        # in order, through the stop-string check like any text.
        text = self._held + piece
        if not self._stops:
            self._held = ""
            return text
        cut = min((i for s in self._stops if (i := text.find(s)) >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        hold = _held_length(text, self._stops)
        self._held = text[len(text) - hold :]
        return text[: len(text) - hold]

    def finish(self) -> str:
        """The reply ends for another reason: release held-back text and any undecoded tail."""
        if self.stopped or self._finished:
            return ""
        self._finished = True
        tail, self._held = self._held, ""
        full: str = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        return tail + full[self._decoded :]
