"""The generation thread: owns the model and the KV pool, runs one step at a time.

Per step: plan (admit, preempt, chunks and rows) -> ONE forward of every scheduled token
of every reply -> one sampling pass -> detokenize -> `finish_step` (tokens appended,
full blocks cached, finished replies released) -> exactly one `call_soon_threadsafe`
hand-off of plain `ReplyUpdate`s to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence

import torch

from tickertape.engine.live import Live, Outputs
from tickertape.engine.plan import StepPlan, Work
from tickertape.engine.runner import ModelRunner
from tickertape.engine.sampling import sample_rows
from tickertape.engine.scheduler import Scheduler
from tickertape.engine.types import FinishReason, ReplyUpdate

log = logging.getLogger(__name__)

# Test hook: called with a phase ("step", "prefill", "decode", "token") and the reply ids
# involved; raising from it simulates a failure there ("step" is outside any recovery,
# "prefill"/"decode" fail those replies' part of the batch before the forward).
FaultHook = Callable[[str, tuple[str, ...]], None]
Failed = dict[str, BaseException]  # reply id -> what ended it this step


class GenerationLoop:
    def __init__(
        self,
        runner: ModelRunner,
        scheduler: Scheduler,
        aloop: asyncio.AbstractEventLoop,
        dispatch: Callable[[list[tuple[str, ReplyUpdate]]], None],
        threads: int,
        context: int,
    ) -> None:
        self.runner, self.sched, self.context = runner, scheduler, context
        self._aloop, self._dispatch, self._threads = aloop, dispatch, threads
        self._pending: dict[str, Live] = {}  # submitted, never admitted yet
        self._pending_lock = threading.Lock()
        self._lives: dict[str, Live] = {}  # admitted (running or preempted): thread only
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
        live = self._lives.pop(reply_id, None)
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
            lives = [*self._lives.values(), *self._pending.values()]
            self._pending.clear()
        self._lives.clear()
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
        now = time.monotonic()
        for rid in plan.admitted:
            if rid not in self._lives:
                live = self._lives[rid] = self._take_pending(rid)
                live.admitted_at = now
        for rid, position in plan.queued:
            outs.queued(rid, position)
        failed: Failed = {}
        work = self._injected_failures(plan.work, failed)
        sampled: dict[str, int] = {}
        if work:
            self._forward(work, failed, sampled, outs)
        for rid, exc in failed.items():
            outs.finish(self._lives[rid], FinishReason.ERROR, f"{type(exc).__name__}: {exc}")
        ended = [rid for rid in outs.finished() if rid in self._lives]
        for rid in self.sched.finish_step(sampled, ended):  # stop requests during the step
            outs.finish(self._pop_live(rid), FinishReason.STOPPED)
        for rid in ended:
            del self._lives[rid]
        self.steps += 1
        self.last_step_ms = (time.perf_counter() - started) * 1000.0
        self._aloop.call_soon_threadsafe(self._dispatch, outs.items())
        return True

    def _injected_failures(self, work: Sequence[Work], failed: Failed) -> list[Work]:
        """Run the fault hook for the prompt chunks and the single-token rows; the replies
        of a phase whose hook raises drop out of this step's batch and end with ERROR."""
        if self.fault_hook is None:
            return list(work)
        for phase, part in (
            ("prefill", [w for w in work if w.start < w.prompt_len]),
            ("decode", [w for w in work if w.start >= w.prompt_len]),
        ):
            ids = tuple(w.reply_id for w in part)
            if not ids:
                continue
            try:
                self._hook(phase, ids)
            except Exception as exc:
                log.exception("%s failed for %s", phase, ids)
                failed.update(dict.fromkeys(ids, exc))
        return [w for w in work if w.reply_id not in failed]

    def _forward(
        self, work: list[Work], failed: Failed, sampled: dict[str, int], outs: Outputs
    ) -> None:
        try:
            logits, ids = self.runner.forward(work)
        except Exception as exc:
            everyone = tuple(w.reply_id for w in work)
            log.exception("forward failed for %s", everyone)
            failed.update(dict.fromkeys(everyone, exc))
            return
        for w in work:
            if w.start < w.prompt_len:
                self.prefill_tokens += len(w.tokens)
            else:
                self.decode_tokens += len(w.tokens)
        if not ids:
            return
        lives = [self._lives[rid] for rid in ids]
        try:
            tokens, refused = sample_rows(logits, [lv.sampling for lv in lives])
        except Exception as exc:
            log.exception("sampling failed")
            failed.update({lv.reply_id: exc for lv in lives})
            return
        for row, error in refused.items():
            log.error("the output constraint of %s failed: %s", lives[row].reply_id, error)
            failed[lives[row].reply_id] = error
        for row, (live, token) in enumerate(zip(lives, tokens, strict=True)):
            if row in refused:
                continue
            try:
                self._hook("token", (live.reply_id,))
                live.accept(token, self.context, outs)
                sampled[live.reply_id] = token
            except Exception as exc:
                log.exception("token handling failed for %s", live.reply_id)
                failed[live.reply_id] = exc
