"""What one engine step does: the scheduler's plan, plain data (no torch)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Work:
    """One running reply's share of a step: positions start..start+len(tokens)-1."""

    reply_id: str
    start: int
    tokens: tuple[int, ...]
    blocks: tuple[int, ...]  # the reply's block table, covering every position computed
    prompt_len: int
    sample: bool  # the last token is the reply's last known one: sample the next from it


@dataclass(frozen=True, slots=True)
class StepPlan:
    stopped: tuple[str, ...]  # cancelled replies, already out of the queue/batch
    admitted: tuple[str, ...]  # replies (re)entering the batch this step
    preempted: tuple[str, ...]  # replies sent back to the queue this step
    work: tuple[Work, ...]  # single-token rows first, then prompt chunks
    queued: tuple[tuple[str, int], ...]  # waiting replies whose queue position changed
    closing: bool = False  # the engine is shutting down; `stopped` holds everything left
