"""Per-reply state owned by the generation thread, and the per-step output builder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tickertape.engine.detokenize import Detokenizer
from tickertape.engine.sampling import RowSampling
from tickertape.engine.types import FinishReason, GenerationResult, ReplyUpdate, Timing, Usage


@dataclass(eq=False, slots=True)
class Live:
    reply_id: str
    prompt: tuple[int, ...]
    max_new: int  # params.max_tokens capped by the server limit
    sampling: RowSampling
    detok: Detokenizer
    eos: frozenset[int]  # empty when the request asked to ignore EOS
    submitted_at: float  # time.monotonic()
    admitted_at: float | None = None  # first admission (a preempted reply keeps it)
    first_text_at: float | None = None
    generated: int = 0

    def accept(self, token: int, context: int, outs: Outputs) -> None:
        """A sampled token: emit its text and decide whether the reply ends here."""
        self.generated += 1
        self.sampling.record(token)
        if token in self.eos:
            outs.finish(self, FinishReason.STOP)  # the EOS token itself has no text
            return
        outs.text(self, self.detok.push(token))
        if self.detok.stopped:
            outs.finish(self, FinishReason.STOP)
        elif self.generated >= self.max_new or len(self.prompt) + self.generated >= context:
            # The next token would need a position past the context.
            outs.finish(self, FinishReason.LENGTH)


@dataclass(slots=True)
class _Out:
    text: list[str] = field(default_factory=list)
    queued: int | None = None
    result: GenerationResult | None = None


class Outputs:
    """Everything one step produced, keyed by reply, in first-touched order."""

    def __init__(self) -> None:
        self._by_id: dict[str, _Out] = {}

    def _get(self, reply_id: str) -> _Out:
        out = self._by_id.get(reply_id)
        if out is None:
            out = self._by_id[reply_id] = _Out()
        return out

    def queued(self, reply_id: str, position: int) -> None:
        self._get(reply_id).queued = position

    def text(self, live: Live, text: str) -> None:
        if text:
            if live.first_text_at is None:
                live.first_text_at = time.monotonic()
            self._get(live.reply_id).text.append(text)

    def finish(self, live: Live, reason: FinishReason, error: str | None = None) -> None:
        out = self._get(live.reply_id)
        if out.result is not None:
            return  # e.g. stopped by the client after it already ended this step
        self.text(live, live.detok.finish())  # held-back text is part of the reply
        now = time.monotonic()
        ms = 1000.0
        total = (now - live.submitted_at) * ms
        admitted = live.admitted_at if live.admitted_at is not None else now
        first = live.first_text_at
        out.result = GenerationResult(
            finish_reason=reason,
            usage=Usage(prompt_tokens=len(live.prompt), completion_tokens=live.generated),
            timing=Timing(
                queued_ms=(admitted - live.submitted_at) * ms,
                ttft_ms=(first - live.submitted_at) * ms if first is not None else total,
                total_ms=total,
            ),
            error_code="internal" if reason is FinishReason.ERROR else None,
            error_message=error,
        )

    def finished(self) -> list[str]:
        return [rid for rid, out in self._by_id.items() if out.result is not None]

    def items(self) -> list[tuple[str, ReplyUpdate]]:
        return [
            (rid, ReplyUpdate("".join(out.text), out.queued, out.result))
            for rid, out in self._by_id.items()
        ]
