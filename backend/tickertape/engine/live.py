"""Per-reply state owned by the generation thread, and the per-step output builder."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from tickertape.engine.detokenize import Detokenizer
from tickertape.engine.output_parser import ReplyParser
from tickertape.engine.sampling import RowSampling
from tickertape.engine.types import (
    FinishReason,
    GenerationResult,
    OutputPiece,
    ReplyUpdate,
    Timing,
    Usage,
    text_piece,
)

log = logging.getLogger(__name__)


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
    # Splits the text into reasoning, answer and tool calls; None: all of it is answer.
    parser: ReplyParser | None = None

    def accept(self, token: int, context: int, outs: Outputs) -> None:
        """A sampled token: emit its pieces and decide whether the reply ends here."""
        self.generated += 1
        self.sampling.record(token)
        if token in self.eos:
            outs.finish(self, FinishReason.STOP)  # the EOS token itself has no text
            return
        outs.add(self, self.pieces(self.detok.push(token)))
        if self.parser is not None and self.parser.problem is not None:
            outs.finish(self, FinishReason.ERROR)  # a call that cannot be emitted
        elif self.detok.stopped:
            outs.finish(self, FinishReason.STOP)
        elif self.generated >= self.max_new or len(self.prompt) + self.generated >= context:
            # The next token would need a position past the context.
            outs.finish(self, FinishReason.LENGTH)

    def pieces(self, text: str) -> list[OutputPiece]:
        if self.parser is None:
            return list(text_piece(text))
        return self.parser.feed(text)

    def last_pieces(self) -> list[OutputPiece]:
        """The reply ends: held-back text, and whatever the parser still held."""
        out = self.pieces(self.detok.finish())
        if self.parser is not None:
            out += self.parser.finish()
        return out

    def outcome(
        self, reason: FinishReason, error: str | None
    ) -> tuple[FinishReason, str | None, str | None]:
        """The finish reason, error code and message, once the parser has had its say:
        complete calls end a reply as TOOL_CALLS; a call that was cut short or does not
        fit its schema ends it with that error (a client's stop stays a stop)."""
        if reason is FinishReason.ERROR and self.parser is None:
            return reason, "internal", error
        problem = self.parser.problem if self.parser is not None else None
        if reason in (FinishReason.STOPPED, FinishReason.ERROR) and problem is None:
            return reason, "internal" if reason is FinishReason.ERROR else None, error
        if reason is FinishReason.STOPPED:
            return reason, None, None
        if problem is not None:
            if problem.code == "tool_call_incomplete" and reason is FinishReason.LENGTH:
                message = "max_tokens (or the context) ran out inside a tool call"
                return FinishReason.ERROR, problem.code, f"{message}; the call is incomplete"
            return FinishReason.ERROR, problem.code, problem.message
        if self.parser is not None and self.parser.calls:
            return FinishReason.TOOL_CALLS, None, None
        return reason, None, None


@dataclass(slots=True)
class _Out:
    pieces: list[OutputPiece] = field(default_factory=list)
    queued: int | None = None
    result: GenerationResult | None = None

    def add(self, piece: OutputPiece) -> None:
        """Merged into the previous piece when it continues it (same kind, same call)."""
        last = self.pieces[-1] if self.pieces else None
        if (
            last is not None
            and last.kind is piece.kind
            and last.index == piece.index
            and piece.name is None
        ):
            self.pieces[-1] = OutputPiece(
                last.kind, last.text + piece.text, last.index, last.call_id, last.name
            )
        else:
            self.pieces.append(piece)


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

    def add(self, live: Live, pieces: list[OutputPiece]) -> None:
        if pieces:
            if live.first_text_at is None:
                live.first_text_at = time.monotonic()
            out = self._get(live.reply_id)
            for piece in pieces:
                out.add(piece)

    def finish(self, live: Live, reason: FinishReason, error: str | None = None) -> None:
        out = self._get(live.reply_id)
        if out.result is not None:
            return  # e.g. stopped by the client after it already ended this step
        try:
            self.add(live, live.last_pieces())  # held-back text is part of the reply
            reason, code, error = live.outcome(reason, error)
        except Exception as exc:
            # The parser's last word failed (a checkpoint's own response template, say):
            # this reply ends in error; the generation thread, and the batch, go on.
            log.exception("finishing %s failed", live.reply_id)
            reason, code, error = FinishReason.ERROR, "internal", f"{type(exc).__name__}: {exc}"
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
            error_code=code,
            error_message=error,
        )

    def finished(self) -> list[str]:
        return [rid for rid, out in self._by_id.items() if out.result is not None]

    def items(self) -> list[tuple[str, ReplyUpdate]]:
        return [
            (rid, ReplyUpdate(tuple(out.pieces), out.queued, out.result))
            for rid, out in self._by_id.items()
        ]
