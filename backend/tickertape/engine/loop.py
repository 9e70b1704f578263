"""The generation thread: owns the model and the KV cache, runs one step at a time.

Per step: plan (admit, prefill chunks, decode rows) -> prefill forward -> one batched
decode forward -> one sampling pass -> detokenize -> release finished slots -> exactly one
`call_soon_threadsafe` hand-off of plain `ReplyUpdate`s to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from tickertape.engine.batch import decode_inputs, prefill_inputs
from tickertape.engine.forward import forward
from tickertape.engine.kvcache import KVCache
from tickertape.engine.live import Live, Outputs
from tickertape.engine.sampling import sample
from tickertape.engine.scheduler import Scheduler, StepPlan
from tickertape.engine.types import FinishReason, ReplyUpdate

log = logging.getLogger(__name__)

# Test hook: called with a phase ("step", "prefill", "decode", "token") and the reply ids
# involved; raising from it simulates a failure there ("step" is outside any recovery).
FaultHook = Callable[[str, tuple[str, ...]], None]
Failed = dict[str, BaseException]  # reply id -> what ended it this step
Rows = list[Tensor]  # logits rows [V] to sample, parallel to a list of Live


class GenerationLoop:
    def __init__(
        self,
        model: nn.Module,
        cache: KVCache,
        scheduler: Scheduler,
        aloop: asyncio.AbstractEventLoop,
        dispatch: Callable[[list[tuple[str, ReplyUpdate]]], None],
        threads: int,
    ) -> None:
        self.model, self.cache, self.sched = model, cache, scheduler
        self._aloop, self._dispatch, self._threads = aloop, dispatch, threads
        self._pending: dict[str, Live] = {}  # submitted, not admitted yet
        self._pending_lock = threading.Lock()
        self._running: dict[str, Live] = {}  # generation thread only
        self.fault_hook: FaultHook | None = None
        self.error: str | None = None
        self.steps = self.prefill_tokens = self.decode_tokens = 0
        self.last_step_ms = 0.0
        self.thread = threading.Thread(target=self._run, name="tickertape-generation", daemon=True)

    def add_pending(self, live: Live) -> None:
        with self._pending_lock:
            self._pending[live.reply_id] = live

    def drop_pending(self, reply_id: str) -> None:
        with self._pending_lock:
            self._pending.pop(reply_id, None)

    def _take_pending(self, reply_id: str) -> Live:
        with self._pending_lock:
            return self._pending.pop(reply_id)

    def _pop_live(self, reply_id: str) -> Live:
        live = self._running.pop(reply_id, None)
        return live if live is not None else self._take_pending(reply_id)

    def _hook(self, phase: str, ids: tuple[str, ...]) -> None:
        if self.fault_hook is not None:
            self.fault_hook(phase, ids)

    # -- thread body ------------------------------------------------------------------
    def _run(self) -> None:
        torch.set_num_threads(self._threads)
        try:
            with torch.inference_mode():
                while self.sched.wait_for_work():
                    self._hook("step", ())
                    if not self._step(self.sched.plan()):
                        return
        except BaseException as exc:
            self.error = f"generation loop died: {type(exc).__name__}: {exc}"
            log.exception("generation loop died")
            self._fail_everything()
            raise

    def _fail_everything(self) -> None:
        outs = Outputs()
        # Close first: a submit that got past the scheduler registered its Live before,
        # so the snapshot below sees it; later submits are refused.
        self.sched.close()
        with self._pending_lock:
            lives = [*self._running.values(), *self._pending.values()]
            self._pending.clear()
        self._running.clear()
        for live in lives:
            outs.finish(live, FinishReason.ERROR, self.error)
        self._aloop.call_soon_threadsafe(self._dispatch, outs.items())

    def _step(self, plan: StepPlan) -> bool:
        started = time.perf_counter()
        outs = Outputs()
        for rid in plan.stopped:
            outs.finish(self._pop_live(rid), FinishReason.STOPPED)
        if plan.closing:
            self._aloop.call_soon_threadsafe(self._dispatch, outs.items())
            return False
        for move in plan.moves:
            self.cache.move(move.src, move.dst, self._running[move.reply_id].cached)
        now = time.monotonic()
        for rid in plan.admitted:
            live = self._take_pending(rid)
            live.admitted_at = now
            self._running[rid] = live
        for rid, position in plan.queued:
            outs.queued(rid, position)
        failed: Failed = {}
        sampled: list[Live] = []
        logits: list[Tensor] = []
        if plan.prefill:
            self._prefill(plan, failed, sampled, logits)
        if plan.decode:
            self._decode(plan, failed, sampled, logits)
        if sampled:
            self._sample(sampled, logits, failed, outs)
        for rid, exc in failed.items():
            outs.finish(self._running[rid], FinishReason.ERROR, f"{type(exc).__name__}: {exc}")
        stopped, moves = self.sched.take_stopped()  # stop requests that came during the step
        for move in moves:
            self.cache.move(move.src, move.dst, self._running[move.reply_id].cached)
        for rid in stopped:  # already released by take_stopped
            outs.finish(self._pop_live(rid), FinishReason.STOPPED)
        for rid in outs.finished():
            if rid in self._running:
                del self._running[rid]
                freed = self.sched.release(rid)
                if freed is not None:
                    self.cache.move(freed.src, freed.dst, self._running[freed.reply_id].cached)
        self.steps += 1
        self.last_step_ms = (time.perf_counter() - started) * 1000.0
        self.sched.record_step(self.last_step_ms / 1000.0)
        self._aloop.call_soon_threadsafe(self._dispatch, outs.items())
        return True

    def _prefill(
        self,
        plan: StepPlan,
        failed: dict[str, BaseException],
        sampled: list[Live],
        logits: list[Tensor],
    ) -> None:
        ids = tuple(c.reply_id for c in plan.prefill)
        try:
            self._hook("prefill", ids)
            rows = [
                (c.slot, self._running[c.reply_id].prompt[c.start : c.end], c.start)
                for c in plan.prefill
            ]
            out = forward(self.model, self.cache, prefill_inputs(rows, self.cache.scratch))
        except Exception as exc:
            log.exception("prefill failed for %s", ids)
            failed.update(dict.fromkeys(ids, exc))
            return
        for i, chunk in enumerate(plan.prefill):
            live = self._running[chunk.reply_id]
            live.cached = chunk.end
            self.prefill_tokens += chunk.end - chunk.start
            if chunk.done:
                sampled.append(live)
                logits.append(out[i])

    def _decode(
        self,
        plan: StepPlan,
        failed: dict[str, BaseException],
        sampled: list[Live],
        logits: list[Tensor],
    ) -> None:
        ids = tuple(rid for _, rid in plan.decode)
        rows = max(slot for slot, _ in plan.decode) + 1
        # Rows that are not decoding (still prefilling) ride along as dummies writing at
        # their next prefill column, which that prefill overwrites: cheaper than a gather.
        lives = [self._running[rid] for rid in plan.occupants[:rows]]
        try:
            self._hook("decode", ids)
            inputs = decode_inputs([lv.last_token for lv in lives], [lv.cached for lv in lives])
            out = forward(self.model, self.cache, inputs)
        except Exception as exc:
            log.exception("decode failed for %s", ids)
            failed.update(dict.fromkeys(ids, exc))
            return
        for slot, rid in plan.decode:
            live = self._running[rid]
            live.cached += 1
            sampled.append(live)
            logits.append(out[slot])
        self.decode_tokens += len(plan.decode)

    def _sample(
        self,
        lives: Sequence[Live],
        logits: list[Tensor],
        failed: dict[str, BaseException],
        outs: Outputs,
    ) -> None:
        try:
            tokens = sample(torch.stack(logits), [lv.sampling for lv in lives])
        except Exception as exc:
            log.exception("sampling failed")
            failed.update({lv.reply_id: exc for lv in lives})
            return
        for live, token in zip(lives, tokens, strict=True):
            try:
                self._hook("token", (live.reply_id,))
                live.accept(token, self.cache.context, outs)
            except Exception as exc:
                log.exception("token handling failed for %s", live.reply_id)
                failed[live.reply_id] = exc
