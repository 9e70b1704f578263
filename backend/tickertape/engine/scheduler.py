"""Who runs next: waiting queue, KV blocks, chunked prefill, preemption, per-user fairness.

Plain Python (no torch) so the policy is unit-tested on its own. Two threads share it: the
asyncio side calls `add` / `cancel` / `check_capacity` (they answer at once), the
generation thread calls `plan` and `finish_step` once per step. One lock guards
everything; every method is bookkeeping over the batch and the queue, never model work.

A reply is admitted when a batch place is free and the pool has blocks for its whole
prompt (after prefix-cache hits), beyond what the running replies still need for the
tokens they have plus one block of headroom each. Blocks are
then allocated step by step, as positions are computed. When a step cannot get a block,
the newest reply (by submission) is preempted: its blocks are released (the full ones
stay in the prefix cache) and it goes back to the front of the queue, to be recomputed
from its prompt and the tokens it already generated. It is never failed.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from tickertape.engine.blocks import ROOT, BlockPool
from tickertape.engine.plan import StepPlan, Work
from tickertape.engine.types import EngineOverloaded, EngineUnavailable

DEFAULT_REPLY_S = 2.0  # assumed reply duration until one has finished
EMA = 0.2  # weight of the newest sample in the moving average
RETRY_MIN_MS, RETRY_MAX_MS = 50, 60_000


@dataclass(eq=False, slots=True)
class _Seq:
    reply_id: str
    user_id: str
    order: int  # submission order: the highest is the newest
    tokens: list[int]  # prompt, then every generated token
    prompt_len: int
    blocks: list[int] = field(default_factory=list)
    chain: list[int] = field(default_factory=list)  # content ids of its cached full blocks
    computed: int = 0  # positions whose K/V are in its blocks
    running: bool = False
    started: bool = False  # admitted at least once (a preempted reply is waiting again)
    admitted_at: float = 0.0
    position: int = -1  # last queue position reported


class Scheduler:
    def __init__(
        self,
        *,
        pool: BlockPool,
        max_batch: int,
        max_waiting: int,
        prefill_chunk: int,
        per_user: int,
    ) -> None:
        self.pool = pool
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self.prefill_chunk = prefill_chunk
        self.per_user = per_user
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._waiting: deque[_Seq] = deque()
        self._running: list[_Seq] = []  # submission order
        self._by_id: dict[str, _Seq] = {}
        self._user_running: dict[str, int] = {}
        self._cancel: list[str] = []  # cancelled while running: released at a step boundary
        self._stopped: list[str] = []  # cancelled while waiting: only needs its result
        self._closed = False
        self._orders = itertools.count()
        self._reply_s = DEFAULT_REPLY_S
        self.preemptions = 0

    # -- asyncio side ---------------------------------------------------------------
    def add(self, reply_id: str, user_id: str, prompt: Sequence[int]) -> None:
        with self._lock:
            self._check_capacity()
            if not prompt:
                raise ValueError("a prompt has at least one token")
            if reply_id in self._by_id:
                raise ValueError(f"reply {reply_id!r} is already scheduled")
            seq = _Seq(reply_id, user_id, next(self._orders), list(prompt), len(prompt))
            self._waiting.append(seq)
            self._by_id[reply_id] = seq
            self._work.notify()

    def check_capacity(self) -> None:
        """Raise what `add` would raise for a new reply now (closed or queue full)."""
        with self._lock:
            self._check_capacity()

    def cancel(self, reply_id: str) -> bool:
        """Stop a waiting or running reply; False if unknown (finished or never added)."""
        with self._lock:
            seq = self._by_id.get(reply_id)
            if seq is None or reply_id in self._cancel:
                return False
            if seq.running:
                self._cancel.append(reply_id)
            else:
                self._waiting.remove(seq)
                del self._by_id[reply_id]
                self._stopped.append(reply_id)
            self._work.notify()
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._work.notify()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._waiting), len(self._running)

    def retry_after_ms(self) -> int:
        with self._lock:
            return self._retry_after_ms()

    def pool_stats(self) -> dict[str, float]:
        """KV blocks and prefix-cache counters (EngineStats.extra -> /metrics)."""
        with self._lock:
            pool = self.pool
            queried, hits = pool.queried_tokens, pool.hit_tokens
            return {
                "kv_blocks_total": float(pool.num_blocks),
                "kv_blocks_used": float(pool.used),
                "kv_blocks_cached": float(pool.cached),
                "kv_block_evictions": float(pool.evictions),
                "preemptions": float(self.preemptions),
                "prefix_cache_queried_tokens": float(queried),
                "prefix_cache_hit_tokens": float(hits),
                "prefix_cache_hit_rate": hits / queried if queried else 0.0,
            }

    # -- generation thread ----------------------------------------------------------
    def wait_for_work(self, timeout: float | None = None) -> bool:
        """Block while there is nothing to do (no busy loop); True when there is work."""
        with self._lock:
            return self._work.wait_for(self._has_work, timeout)

    def plan(self) -> StepPlan:
        with self._lock:
            if self._closed:
                return self._drain()
            stopped = self._take_stopped(ended=())
            admitted = self._admit()
            work, preempted = self._schedule()
            return StepPlan(
                stopped=stopped,
                admitted=admitted,
                preempted=preempted,
                work=work,
                queued=self._positions(),
            )

    def finish_step(self, sampled: Mapping[str, int], ended: Collection[str]) -> tuple[str, ...]:
        """After a step: release the replies that ended, append the sampled tokens of the
        others and cache their newly full blocks. Returns the replies cancelled during the
        step (released here too): they end STOPPED."""
        with self._lock:
            cancelled = self._take_stopped(ended)
            for reply_id in ended:
                self._release(reply_id)
            for reply_id, token in sampled.items():
                seq = self._by_id.get(reply_id)
                if seq is not None and seq.running:
                    seq.tokens.append(token)
            if self.pool.caching:
                for seq in self._running:
                    self._register_full_blocks(seq)
            return cancelled

    # -- internals (lock held) ------------------------------------------------------
    def _check_capacity(self) -> None:
        if self._closed:
            raise EngineUnavailable("the engine is shutting down")
        if len(self._waiting) >= self.max_waiting:
            raise EngineOverloaded(
                "the generation queue is full", retry_after_ms=self._retry_after_ms()
            )

    def _has_work(self) -> bool:
        return bool(self._closed or self._waiting or self._running or self._stopped)

    def _retry_after_ms(self) -> int:
        # A reply submitted now waits for every reply ahead of it to get a batch place:
        # the batch frees max_batch places per average reply duration.
        seconds = len(self._waiting) * self._reply_s / self.max_batch
        return int(min(RETRY_MAX_MS, max(RETRY_MIN_MS, seconds * 1000.0)))

    def _take_stopped(self, ended: Collection[str]) -> tuple[str, ...]:
        cancelled = [rid for rid in self._cancel if rid not in ended]
        self._cancel.clear()
        for reply_id in cancelled:
            self._release(reply_id)
        stopped = (*self._stopped, *cancelled)
        self._stopped.clear()
        return stopped

    def _release(self, reply_id: str) -> None:
        seq = self._by_id.pop(reply_id, None)
        if seq is None or not seq.started:
            raise KeyError(f"reply {reply_id!r} is not running")
        if seq.running:
            self._leave_batch(seq)
            self._reply_s += EMA * (time.monotonic() - seq.admitted_at - self._reply_s)
        else:  # preempted and waiting again
            self._waiting.remove(seq)

    def _leave_batch(self, seq: _Seq) -> None:
        self.pool.release(seq.blocks)
        seq.blocks, seq.chain, seq.computed, seq.running = [], [], 0, False
        self._running.remove(seq)
        self._user_running[seq.user_id] -= 1
        if not self._user_running[seq.user_id]:
            del self._user_running[seq.user_id]

    def _admit(self) -> tuple[str, ...]:
        admitted: list[str] = []
        # Blocks the running replies still need for the tokens they already have, plus
        # one each to grow: not reserved, but no admission counts on them.
        promised = sum(
            self.pool.blocks_for(len(s.tokens)) - len(s.blocks) + 1 for s in self._running
        )
        for seq in list(self._waiting):
            if len(self._running) >= self.max_batch:
                break
            if self._user_running.get(seq.user_id, 0) >= self.per_user:
                continue  # this user's extra reply waits; the ones behind it do not
            hit = self.pool.lookup(seq.tokens)
            need = self.pool.blocks_for(len(seq.tokens)) - len(hit.blocks)
            if need + promised > self.pool.available:
                self.pool.release(hit.blocks)
                break  # first come, first served: nobody overtakes for lack of blocks
            self.pool.record_lookup(len(seq.tokens), len(hit.blocks) * self.pool.block_size)
            self._waiting.remove(seq)
            seq.blocks, seq.chain = hit.blocks, hit.chain
            seq.computed = len(hit.blocks) * self.pool.block_size
            if not seq.started:
                seq.admitted_at = time.monotonic()
            seq.running = seq.started = True
            bisect.insort(self._running, seq, key=lambda s: s.order)
            self._user_running[seq.user_id] = self._user_running.get(seq.user_id, 0) + 1
            admitted.append(seq.reply_id)
            promised += need + 1
        return tuple(admitted)

    def _schedule(self) -> tuple[tuple[Work, ...], tuple[str, ...]]:
        budget = self.prefill_chunk
        work: list[Work] = []
        preempted: list[str] = []
        for seq in list(self._running):  # oldest first: they keep their blocks
            if not seq.running:
                continue  # preempted for an older reply in this loop
            remaining = len(seq.tokens) - seq.computed
            n = 1 if remaining == 1 else min(remaining, budget)
            if n < 1:
                continue
            need = self.pool.blocks_for(seq.computed + n) - len(seq.blocks)
            if not self._make_room(seq, need, preempted):
                continue
            if need > 0:
                blocks = self.pool.allocate(need)
                assert blocks is not None  # checked just above
                seq.blocks += blocks
            if remaining > 1:
                budget -= n
            start, seq.computed = seq.computed, seq.computed + n
            work.append(
                Work(
                    reply_id=seq.reply_id,
                    start=start,
                    tokens=tuple(seq.tokens[start : seq.computed]),
                    blocks=tuple(seq.blocks),
                    prompt_len=seq.prompt_len,
                    sample=seq.computed == len(seq.tokens),
                )
            )
        work.sort(key=lambda w: len(w.tokens) > 1)  # stable: single-token rows first
        return tuple(work), tuple(preempted)

    def _make_room(self, seq: _Seq, need: int, preempted: list[str]) -> bool:
        """Preempt the newest replies until `need` blocks are available; False if that
        took `seq` itself."""
        while need > self.pool.available:
            victim = self._running[-1]  # the newest
            self._preempt(victim)
            preempted.append(victim.reply_id)
            if victim is seq:
                return False
        return True

    def _preempt(self, seq: _Seq) -> None:
        self._leave_batch(seq)
        self._waiting.appendleft(seq)
        self.preemptions += 1

    def _register_full_blocks(self, seq: _Seq) -> None:
        size = self.pool.block_size
        while len(seq.chain) < seq.computed // size:
            i = len(seq.chain)
            parent = seq.chain[-1] if seq.chain else ROOT
            tokens = seq.tokens[i * size : (i + 1) * size]
            seq.chain.append(self.pool.register(seq.blocks[i], parent, tokens))

    def _positions(self) -> tuple[tuple[str, int], ...]:
        changed: list[tuple[str, int]] = []
        ahead = 0
        for seq in self._waiting:
            # A preempted reply is already streaming: it gets no queue positions.
            if not seq.started and seq.position != ahead:
                seq.position = ahead
                changed.append((seq.reply_id, ahead))
            # A reply held back by its own user's cap is not in line for the next place.
            if self._user_running.get(seq.user_id, 0) < self.per_user:
                ahead += 1
        return tuple(changed)

    def _drain(self) -> StepPlan:
        stopped = (*self._stopped, *(s.reply_id for s in self._waiting))
        stopped += tuple(s.reply_id for s in self._running)
        for seq in list(self._running):
            self._leave_batch(seq)
        self._stopped.clear()
        self._cancel.clear()
        self._waiting.clear()
        self._by_id.clear()
        return StepPlan(stopped, (), (), (), (), closing=True)
