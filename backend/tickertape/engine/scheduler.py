"""Who runs next: waiting queue, batch slots, chunked prefill, per-user fairness.

Plain Python (no torch) so the policy is unit-tested on its own. It is shared by two
threads: the asyncio side calls `add` / `cancel` (they must answer at once: overloaded or
queued), the generation thread calls `plan` / `take_stopped` / `release` once per step.
One lock guards everything; every method is O(batch + waiting) bookkeeping, never model
work, so the asyncio side never waits for a forward pass.

Slots are kept compacted: running replies occupy slots 0..running-1, so the batched
decode reads one contiguous slice of the KV cache. Releasing slot s moves the last row
into s (a `Move` the cache applies before the next forward).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from tickertape.engine.types import EngineOverloaded, EngineUnavailable

DEFAULT_STEP_S = 0.05  # assumed step time until one has been measured
DEFAULT_REPLY_STEPS = 64.0  # assumed reply length (steps) until one has finished
EMA = 0.2  # weight of the newest sample in the moving averages


@dataclass(frozen=True, slots=True)
class PrefillChunk:
    reply_id: str
    slot: int
    start: int  # first prompt position of the chunk
    end: int  # one past the last
    done: bool  # the prompt is complete after this chunk: sample the first token


@dataclass(frozen=True, slots=True)
class Move:
    src: int
    dst: int
    reply_id: str  # the reply that lived in src and now lives in dst


@dataclass(frozen=True, slots=True)
class StepPlan:
    stopped: tuple[str, ...]  # cancelled replies, already out of the queue/batch
    moves: tuple[Move, ...]  # apply in order before this step's forward passes
    admitted: tuple[str, ...]
    prefill: tuple[PrefillChunk, ...]
    decode: tuple[tuple[int, str], ...]  # (slot, reply_id) of rows fed their last token
    occupants: tuple[str, ...]  # reply id of each occupied slot, after admission
    queued: tuple[tuple[str, int], ...]  # waiting replies whose queue position changed
    closing: bool = False  # the engine is shutting down; `stopped` holds everything left


@dataclass(slots=True)
class _Seq:
    reply_id: str
    user_id: str
    prompt_len: int
    slot: int = -1
    prefilled: int = 0
    decoding: bool = False
    admitted_step: int = 0
    position: int = -1  # last queue position reported


class Scheduler:
    def __init__(
        self, *, max_batch: int, max_waiting: int, prefill_chunk: int, per_user: int
    ) -> None:
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self.prefill_chunk = prefill_chunk
        self.per_user = per_user
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._waiting: deque[_Seq] = deque()
        self._slots: list[_Seq] = []  # index = slot
        self._by_id: dict[str, _Seq] = {}
        self._user_running: dict[str, int] = {}
        self._cancel: list[str] = []  # cancelled while running: released at a step boundary
        self._stopped: list[str] = []  # cancelled while waiting: only needs its FinishEvent
        self._closed = False
        self._step = 0
        self._step_s = DEFAULT_STEP_S
        self._reply_steps = DEFAULT_REPLY_STEPS

    # -- asyncio side ---------------------------------------------------------------
    def add(self, reply_id: str, user_id: str, prompt_len: int) -> None:
        with self._lock:
            if self._closed:
                raise EngineUnavailable("the engine is shutting down")
            if prompt_len < 1:
                raise ValueError("a prompt has at least one token")
            if reply_id in self._by_id:
                raise ValueError(f"reply {reply_id!r} is already scheduled")
            if len(self._waiting) >= self.max_waiting:
                raise EngineOverloaded(
                    "the generation queue is full", retry_after_ms=self._retry_after_ms()
                )
            seq = _Seq(reply_id, user_id, prompt_len)
            self._waiting.append(seq)
            self._by_id[reply_id] = seq
            self._work.notify()

    def check_capacity(self) -> None:
        """Raise what `add` would raise for a new reply now (closed or queue full)."""
        with self._lock:
            if self._closed:
                raise EngineUnavailable("the engine is shutting down")
            if len(self._waiting) >= self.max_waiting:
                raise EngineOverloaded(
                    "the generation queue is full", retry_after_ms=self._retry_after_ms()
                )

    def cancel(self, reply_id: str) -> bool:
        """Stop a waiting or running reply; False if unknown (finished or never added)."""
        with self._lock:
            seq = self._by_id.get(reply_id)
            if seq is None or reply_id in self._cancel:
                return False
            if seq.slot < 0:
                self._waiting.remove(seq)
                del self._by_id[reply_id]
                self._stopped.append(reply_id)
            else:
                self._cancel.append(reply_id)
            self._work.notify()
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._work.notify()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._waiting), len(self._slots)

    def retry_after_ms(self) -> int:
        with self._lock:
            return self._retry_after_ms()

    # -- generation thread ----------------------------------------------------------
    def wait_for_work(self, timeout: float | None = None) -> bool:
        """Block while there is nothing to do (no busy loop); True when there is work."""
        with self._lock:
            return self._work.wait_for(self._has_work, timeout)

    def plan(self) -> StepPlan:
        with self._lock:
            self._step += 1
            if self._closed:
                return self._drain()
            stopped, moves = self._take_stopped()
            admitted = self._admit()
            prefill = self._prefill()
            # Rows whose prompt completed in an earlier step; this step's completions get
            # their first token from the prefill logits instead.
            decode = tuple((s.slot, s.reply_id) for s in self._slots if s.decoding)
            for chunk in prefill:  # decodes from the next step on
                if chunk.done:
                    self._by_id[chunk.reply_id].decoding = True
            return StepPlan(
                stopped=stopped,
                moves=moves,
                admitted=admitted,
                prefill=prefill,
                decode=decode,
                occupants=tuple(s.reply_id for s in self._slots),
                queued=self._positions(),
            )

    def take_stopped(self) -> tuple[tuple[str, ...], tuple[Move, ...]]:
        """Cancellations that arrived during the step, applied before its hand-off."""
        with self._lock:
            return self._take_stopped()

    def release(self, reply_id: str) -> Move | None:
        """A running reply finished: free its slot (compacting); the Move is to apply now."""
        with self._lock:
            return self._release(reply_id)

    def record_step(self, seconds: float) -> None:
        with self._lock:
            self._step_s += EMA * (seconds - self._step_s)

    # -- internals (lock held) ------------------------------------------------------
    def _has_work(self) -> bool:
        return bool(self._closed or self._waiting or self._slots or self._stopped)

    def _retry_after_ms(self) -> int:
        # One waiting place frees when one running reply ends: on average every
        # reply_steps / max_batch steps.
        seconds = self._reply_steps * self._step_s / self.max_batch
        return int(min(30_000.0, max(50.0, seconds * 1000.0)))

    def _take_stopped(self) -> tuple[tuple[str, ...], tuple[Move, ...]]:
        cancelled, self._cancel = self._cancel, []
        moves = [m for rid in cancelled if (m := self._release(rid)) is not None]
        stopped = (*self._stopped, *cancelled)
        self._stopped.clear()
        return stopped, tuple(moves)

    def _release(self, reply_id: str) -> Move | None:
        seq = self._by_id.pop(reply_id, None)
        if seq is None or seq.slot < 0:
            raise KeyError(f"reply {reply_id!r} is not running")
        if reply_id in self._cancel:
            self._cancel.remove(reply_id)
        self._user_running[seq.user_id] -= 1
        if not self._user_running[seq.user_id]:
            del self._user_running[seq.user_id]
        steps = self._step - seq.admitted_step
        self._reply_steps += EMA * (steps - self._reply_steps)
        last = self._slots.pop()
        if last is seq:
            return None
        last.slot, self._slots[seq.slot] = seq.slot, last
        return Move(src=len(self._slots), dst=seq.slot, reply_id=last.reply_id)

    def _admit(self) -> tuple[str, ...]:
        admitted: list[str] = []
        for seq in list(self._waiting):
            if len(self._slots) >= self.max_batch:
                break
            if self._user_running.get(seq.user_id, 0) >= self.per_user:
                continue  # this user's extra reply waits; the ones behind it do not
            self._waiting.remove(seq)
            seq.slot, seq.admitted_step = len(self._slots), self._step
            self._slots.append(seq)
            self._user_running[seq.user_id] = self._user_running.get(seq.user_id, 0) + 1
            admitted.append(seq.reply_id)
        return tuple(admitted)

    def _prefill(self) -> tuple[PrefillChunk, ...]:
        budget = self.prefill_chunk
        chunks: list[PrefillChunk] = []
        # Oldest admission first, so one long prompt finishes before younger ones start.
        for seq in sorted(self._slots, key=lambda s: s.admitted_step):
            if budget == 0:
                break
            if seq.prefilled >= seq.prompt_len:
                continue
            n = min(seq.prompt_len - seq.prefilled, budget)
            end = seq.prefilled + n
            done = end == seq.prompt_len
            chunks.append(PrefillChunk(seq.reply_id, seq.slot, seq.prefilled, end, done))
            seq.prefilled = end
            budget -= n
        return tuple(chunks)

    def _positions(self) -> tuple[tuple[str, int], ...]:
        changed: list[tuple[str, int]] = []
        ahead = 0
        for seq in self._waiting:
            if seq.position != ahead:
                seq.position = ahead
                changed.append((seq.reply_id, ahead))
            # A reply held back by its own user's cap is not in line for the next slot.
            if self._user_running.get(seq.user_id, 0) < self.per_user:
                ahead += 1
        return tuple(changed)

    def _drain(self) -> StepPlan:
        stopped = (*self._stopped, *self._cancel, *(s.reply_id for s in self._waiting))
        stopped += tuple(s.reply_id for s in self._slots if s.reply_id not in stopped)
        self._stopped.clear()
        self._cancel.clear()
        self._waiting.clear()
        self._slots.clear()
        self._by_id.clear()
        self._user_running.clear()
        return StepPlan(stopped, (), (), (), (), (), (), closing=True)
