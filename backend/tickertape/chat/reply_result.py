"""A reply's outcome: one GenerationResult for every round of it, and the `usage` and
`timing` objects of `end` frames and stored messages."""

from __future__ import annotations

import time

from tickertape.engine.types import EngineError, FinishReason, GenerationResult, Timing, Usage


def combined(
    results: list[GenerationResult],
    reason: FinishReason,
    error: EngineError | None,
    started_at: float,
) -> GenerationResult:
    """One result for the whole reply: the last generation's (with `reason`, or `error`),
    every round's usage summed, and the time counted from `started_at` (the waits for
    tool results included). A reply of one generation keeps its result as it is."""
    last = results[-1] if results else GenerationResult(reason, Usage(), Timing())
    if error is not None:
        last = GenerationResult(
            FinishReason.ERROR,
            last.usage,
            last.timing,
            error.code,
            error.message,
            error.retry_after_ms,
        )
    elif reason is not last.finish_reason:
        last = GenerationResult(reason, last.usage, last.timing)
    if len(results) <= 1:
        return last
    usage = Usage(
        sum(r.usage.prompt_tokens for r in results),
        sum(r.usage.completion_tokens for r in results),
    )
    first = results[0].timing
    total = (time.monotonic() - started_at) * 1000.0
    return GenerationResult(
        last.finish_reason,
        usage,
        Timing(first.queued_ms, first.ttft_ms, total),
        last.error_code,
        last.error_message,
        last.retry_after_ms,
    )


def usage_and_timing(result: GenerationResult) -> tuple[dict[str, int], dict[str, float]]:
    """The `usage` and `timing` objects of `end` frames and stored messages."""
    usage = {
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
    }
    timing = {
        "queued_ms": round(result.timing.queued_ms, 1),
        "ttft_ms": round(result.timing.ttft_ms, 1),
        "total_ms": round(result.timing.total_ms, 1),
    }
    return usage, timing
